// Package leasetoken makes the opaque lease tokens of the Workers service.
//
// A token holds the store's fencing token of a claim and the operation's
// kind, and an HMAC over them and the operation's name under a key that
// every node sharing the store has. A token that was altered or forged, or
// that is sent with another operation's name, fails to decode; the server
// learns the kind of the operation (its lease TTL, its metadata and
// response types) from the token alone, without reading the operation.
package leasetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
)

const (
	version = 1
	macLen  = 16
	headLen = 1 + 8 // version, fencing token
	kindMax = 128   // as lro's kind names
	rawMax  = headLen + kindMax + macLen
)

// ErrInvalid is returned for a token that does not decode.
var ErrInvalid = errors.New("invalid lease token")

// Codec encodes and decodes the tokens of one key. It is safe for
// concurrent use; it keeps its HMAC states for reuse, since every claimed
// operation and every item of a worker's calls needs one.
type Codec struct {
	key  []byte
	pool sync.Pool // of *scratch
}

// scratch is what one encoding or decoding works in.
type scratch struct {
	mac  hash.Hash
	in   []byte // what the MAC covers
	raw  [rawMax]byte
	sum  [sha256.Size]byte
	text [rawMax * 2]byte // the token's text
}

// New returns the codec of key.
func New(key []byte) *Codec {
	c := &Codec{key: key}
	c.pool.New = func() any { return &scratch{mac: hmac.New(sha256.New, c.key)} }
	return c
}

// Encode returns the token of a claim of the operation name, of the given
// kind, with the store's fencing token fence.
func (c *Codec) Encode(name string, fence int64, kind string) string {
	s := c.pool.Get().(*scratch)
	defer c.pool.Put(s)
	raw := s.raw[:headLen]
	raw[0] = version
	binary.BigEndian.PutUint64(raw[1:], uint64(fence))
	raw = append(raw, kind...)
	raw = append(raw, c.sum(s, raw, name)...)
	var text []byte
	if n := base64.RawURLEncoding.EncodedLen(len(raw)); n <= len(s.text) {
		text = s.text[:n]
	} else {
		text = make([]byte, n) // a kind longer than lro's names allow
	}
	base64.RawURLEncoding.Encode(text, raw)
	return string(text)
}

// Decode returns the fencing token and the kind that a token of the
// operation name holds, or ErrInvalid.
func (c *Codec) Decode(name, token string) (fence int64, kind string, err error) {
	if len(token) > base64.RawURLEncoding.EncodedLen(rawMax) {
		return 0, "", ErrInvalid
	}
	s := c.pool.Get().(*scratch)
	defer c.pool.Put(s)
	text := append(s.text[:0], token...)
	n, err := base64.RawURLEncoding.Decode(s.raw[:], text)
	raw := s.raw[:n]
	if err != nil || n <= headLen+macLen || raw[0] != version {
		return 0, "", ErrInvalid
	}
	payload := raw[:n-macLen]
	if !hmac.Equal(raw[n-macLen:], c.sum(s, payload, name)) {
		return 0, "", ErrInvalid
	}
	return int64(binary.BigEndian.Uint64(payload[1:headLen])), string(payload[headLen:]), nil
}

// sum is the MAC of payload and name, in s.
func (c *Codec) sum(s *scratch, payload []byte, name string) []byte {
	s.mac.Reset()
	s.in = append(append(append(s.in[:0], payload...), 0), name...)
	s.mac.Write(s.in)
	return s.mac.Sum(s.sum[:0])[:macLen]
}
