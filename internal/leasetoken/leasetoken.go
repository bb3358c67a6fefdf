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
)

const (
	version = 1
	macLen  = 16
	headLen = 1 + 8 // version, fencing token
	kindMax = 128   // as lro's kind names
)

// ErrInvalid is returned for a token that does not decode.
var ErrInvalid = errors.New("invalid lease token")

// Encode returns the token of a claim of the operation name, of the given
// kind, with the store's fencing token fence.
func Encode(key []byte, name string, fence int64, kind string) string {
	raw := make([]byte, headLen, headLen+len(kind)+macLen)
	raw[0] = version
	binary.BigEndian.PutUint64(raw[1:], uint64(fence))
	raw = append(raw, kind...)
	raw = append(raw, sum(key, raw, name)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// Decode returns the fencing token and the kind that a token of the
// operation name holds, or ErrInvalid.
func Decode(key []byte, name, token string) (fence int64, kind string, err error) {
	if len(token) > base64.RawURLEncoding.EncodedLen(headLen+kindMax+macLen) {
		return 0, "", ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) <= headLen+macLen || raw[0] != version {
		return 0, "", ErrInvalid
	}
	payload := raw[:len(raw)-macLen]
	if !hmac.Equal(raw[len(raw)-macLen:], sum(key, payload, name)) {
		return 0, "", ErrInvalid
	}
	return int64(binary.BigEndian.Uint64(payload[1:headLen])), string(payload[headLen:]), nil
}

func sum(key, payload []byte, name string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	m.Write([]byte{0})
	m.Write([]byte(name))
	return m.Sum(nil)[:macLen]
}
