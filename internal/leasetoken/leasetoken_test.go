package leasetoken

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestRoundTripAndTampering(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	name := "operations/0190a000-0000-7000-8000-000000000001"
	tok := Encode(key, name, 42, "demo.sleep")
	fence, kind, err := Decode(key, name, tok)
	if err != nil || fence != 42 || kind != "demo.sleep" {
		t.Fatalf("Decode = %d, %q, %v; want 42, demo.sleep, nil", fence, kind, err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 1
		if _, _, err := Decode(key, name, base64.RawURLEncoding.EncodeToString(bad)); err == nil {
			t.Errorf("a token with byte %d altered decodes", i)
		}
	}
	for _, c := range []struct{ what, key, name, token string }{
		{"another operation", string(key), name + "2", tok},
		{"another key", "other", name, tok},
		{"empty", string(key), name, ""},
		{"not base64", string(key), name, "!!!"},
		{"too long", string(key), name, strings.Repeat("A", 1000)},
		{"truncated", string(key), name, tok[:len(tok)-2]},
	} {
		if _, _, err := Decode([]byte(c.key), c.name, c.token); err != ErrInvalid {
			t.Errorf("%s: Decode err = %v, want ErrInvalid", c.what, err)
		}
	}
}
