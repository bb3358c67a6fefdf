// Package pagetoken makes the opaque page tokens of ListOperations (AIP-158).
//
// A token holds the position where the next page starts (the last operation
// ID of the page before) and an HMAC over that position and the request's
// binding (its parent and filter) under a key that every node sharing the
// store has. A token that was altered or forged, or that is used with
// another parent or filter than the one it came from, fails to decode.
package pagetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/google/uuid"
)

const (
	version = 1
	macLen  = 16
	rawLen  = 1 + 16 + macLen
)

// ErrInvalid is returned for a token that does not decode.
var ErrInvalid = errors.New("invalid page token")

// Encode returns the token for a page that starts after the operation
// lastID, for a request with the given binding.
func Encode(key []byte, binding, lastID string) (string, error) {
	id, err := uuid.Parse(lastID)
	if err != nil {
		return "", err
	}
	raw := make([]byte, 0, rawLen)
	raw = append(raw, version)
	raw = append(raw, id[:]...)
	raw = append(raw, sum(key, raw, binding)...)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// Decode returns the last ID that the token holds, or ErrInvalid.
func Decode(key []byte, binding, token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != rawLen || raw[0] != version {
		return "", ErrInvalid
	}
	if !hmac.Equal(raw[1+16:], sum(key, raw[:1+16], binding)) {
		return "", ErrInvalid
	}
	id, err := uuid.FromBytes(raw[1 : 1+16])
	if err != nil {
		return "", ErrInvalid
	}
	return id.String(), nil
}

func sum(key, payload []byte, binding string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	m.Write([]byte{0})
	m.Write([]byte(binding))
	return m.Sum(nil)[:macLen]
}
