package pagetoken

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

var (
	testKey     = []byte("0123456789abcdef0123456789abcdef")
	testBinding = "projects/p\x00done = true"
	testID      = "01890a5d-ac96-774b-bcce-b302099a8057"
	// canonicalID is what Decode returns: a lower-case UUID.
	canonicalID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

func encode(t testing.TB, key []byte, binding, id string) string {
	t.Helper()
	token, err := Encode(key, binding, id)
	require.NoError(t, err)
	return token
}

// raw returns the bytes of a token.
func raw(t testing.TB, token string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	require.Len(t, b, rawLen)
	return b
}

// withMAC returns the token for payload (version and ID bytes), signed
// properly: a token that only the checks other than the MAC can reject.
func withMAC(key []byte, binding string, payload []byte) string {
	b := append(append([]byte(nil), payload...), sum(key, payload, binding)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, binding, id, want string
		key                     []byte
	}{
		{name: "typical", key: testKey, binding: testBinding, id: testID, want: testID},
		{name: "upper case ID", key: testKey, binding: testBinding, id: strings.ToUpper(testID), want: testID},
		{name: "urn ID", key: testKey, binding: testBinding, id: "urn:uuid:" + testID, want: testID},
		{name: "empty binding", key: testKey, binding: "", id: testID, want: testID},
		{name: "nil key", key: nil, binding: testBinding, id: testID, want: testID},
		{name: "nil UUID", key: testKey, binding: testBinding, id: uuid.Nil.String(), want: uuid.Nil.String()},
		{name: "max UUID", key: testKey, binding: testBinding, id: "ffffffff-ffff-ffff-ffff-ffffffffffff", want: "ffffffff-ffff-ffff-ffff-ffffffffffff"},
		{name: "binding with NUL and unicode", key: testKey, binding: "a\x00b\x00é", id: testID, want: testID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := encode(t, tc.key, tc.binding, tc.id)
			require.Len(t, token, base64.RawURLEncoding.EncodedLen(rawLen))
			require.Regexp(t, `^[A-Za-z0-9_-]+$`, token, "URL-safe, no padding")
			got, err := Decode(tc.key, tc.binding, token)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			again := encode(t, tc.key, tc.binding, tc.id)
			require.Equal(t, token, again, "deterministic")
		})
	}
}

func TestEncodeRejectsBadID(t *testing.T) {
	for _, id := range []string{"", "xyz", testID[:35], testID + "0", "operations/" + testID} {
		_, err := Encode(testKey, testBinding, id)
		require.Error(t, err, "%q", id)
	}
}

func TestTokenHidesPlainID(t *testing.T) {
	token := encode(t, testKey, testBinding, testID)
	for _, s := range []string{testID, strings.ReplaceAll(testID, "-", ""), testID[:8], testID[len(testID)-12:]} {
		require.NotContains(t, strings.ToLower(token), s)
	}
}

func TestDecodeInvalid(t *testing.T) {
	valid := encode(t, testKey, testBinding, testID)
	payload := raw(t, valid)[:1+16]
	wrongVersion := func(v byte) string {
		p := append([]byte(nil), payload...)
		p[0] = v
		return withMAC(testKey, testBinding, p)
	}
	otherKey := append([]byte(nil), testKey...)
	otherKey[0] ^= 1
	for _, tc := range []struct {
		name, binding, token string
		key                  []byte
	}{
		{name: "other binding", key: testKey, binding: "projects/q\x00done = true", token: valid},
		{name: "other filter", key: testKey, binding: "projects/p\x00done = false", token: valid},
		{name: "binding prefix", key: testKey, binding: "projects/p", token: valid},
		{name: "binding suffix", key: testKey, binding: testBinding + " ", token: valid},
		{name: "empty binding", key: testKey, binding: "", token: valid},
		{name: "other key", key: otherKey, binding: testBinding, token: valid},
		{name: "nil key", key: nil, binding: testBinding, token: valid},
		{name: "empty", key: testKey, binding: testBinding, token: ""},
		{name: "truncated by one char", key: testKey, binding: testBinding, token: valid[:len(valid)-1]},
		{name: "truncated by 4 chars", key: testKey, binding: testBinding, token: valid[:len(valid)-4]},
		{name: "one extra char", key: testKey, binding: testBinding, token: valid + "A"},
		{name: "one extra byte", key: testKey, binding: testBinding, token: base64.RawURLEncoding.EncodeToString(append(raw(t, valid), 0))},
		{name: "payload without MAC", key: testKey, binding: testBinding, token: base64.RawURLEncoding.EncodeToString(payload)},
		{name: "doubled", key: testKey, binding: testBinding, token: valid + valid},
		{name: "padded", key: testKey, binding: testBinding, token: valid + "="},
		{name: "standard alphabet", key: testKey, binding: testBinding, token: stdAlphabet(t)},
		{name: "not base64", key: testKey, binding: testBinding, token: "!!!!"},
		{name: "space inside", key: testKey, binding: testBinding, token: valid[:10] + " " + valid[10:]},
		{name: "plain ID", key: testKey, binding: testBinding, token: testID},
		{name: "version 0", key: testKey, binding: testBinding, token: wrongVersion(0)},
		{name: "version 2", key: testKey, binding: testBinding, token: wrongVersion(2)},
		{name: "version 255", key: testKey, binding: testBinding, token: wrongVersion(255)},
		{name: "zero MAC", key: testKey, binding: testBinding, token: base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), payload...), make([]byte, macLen)...))},
		{name: "other ID, same MAC", key: testKey, binding: testBinding, token: func() string {
			b := raw(t, valid)
			copy(b[1:], raw(t, encode(t, testKey, testBinding, uuid.Nil.String()))[1:1+16])
			return base64.RawURLEncoding.EncodeToString(b)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.key, tc.binding, tc.token)
			require.Equal(t, ErrInvalid, err) // exactly the sentinel
			require.Empty(t, got)
		})
	}
	// withMAC signs as Encode does, so the wrong-version tokens are rejected
	// for their version alone.
	require.Equal(t, valid, withMAC(testKey, testBinding, payload))
}

// stdAlphabet returns a token in the standard base64 alphabet rather than
// the URL one, with a '+' or a '/' (it needs an ID whose token has a '-' or
// '_'), with the binding testBinding.
func stdAlphabet(t *testing.T) string {
	for i := range 256 {
		id := uuid.MustParse(testID)
		id[15] = byte(i)
		token := encode(t, testKey, testBinding, id.String())
		if strings.ContainsAny(token, "-_") {
			return strings.NewReplacer("-", "+", "_", "/").Replace(token)
		}
	}
	t.Fatal("no token with - or _")
	return ""
}

func TestDecodeRejectsEveryFlippedBit(t *testing.T) {
	valid := encode(t, testKey, testBinding, testID)
	b := raw(t, valid)
	for i := range b {
		for bit := range 8 {
			flipped := append([]byte(nil), b...)
			flipped[i] ^= 1 << bit
			token := base64.RawURLEncoding.EncodeToString(flipped)
			got, err := Decode(testKey, testBinding, token)
			require.Equal(t, ErrInvalid, err, "byte %d bit %d", i, bit)
			require.Empty(t, got)
		}
	}
	// And every bit of the text: each char either stops being base64 or
	// changes the bytes.
	for i := range len(valid) {
		for bit := range 8 {
			flipped := []byte(valid)
			flipped[i] ^= 1 << bit
			got, err := Decode(testKey, testBinding, string(flipped))
			require.Equal(t, ErrInvalid, err, "char %d bit %d: %q", i, bit, flipped)
			require.Empty(t, got)
		}
	}
}

func TestDecodeRejectsEveryOtherBinding(t *testing.T) {
	valid := encode(t, testKey, testBinding, testID)
	// Each one-byte change of the binding.
	for i := range len(testBinding) {
		other := []byte(testBinding)
		other[i] ^= 0x20
		_, err := Decode(testKey, string(other), valid)
		require.Equal(t, ErrInvalid, err, "%q", other)
	}
}

// fuzzKey and fuzzBinding are what FuzzDecode decodes with; its valid seeds
// are encoded with them.
var (
	fuzzKey     = []byte("fuzz key")
	fuzzBinding = "operations\x00kind = demo.sleep"
)

func FuzzDecode(f *testing.F) {
	for _, id := range []string{testID, uuid.Nil.String(), "ffffffff-ffff-ffff-ffff-ffffffffffff", "01890A5D-AC96-774B-BCCE-B302099A8057"} {
		token := encode(f, fuzzKey, fuzzBinding, id)
		f.Add(token, fuzzBinding)
		f.Add(token, "operations\x00")
		f.Add(token[:len(token)-1], fuzzBinding)
		f.Add(token+"A", fuzzBinding)
		f.Add("\n"+token, fuzzBinding)
		f.Add(strings.ToUpper(token), fuzzBinding)
	}
	for _, token := range []string{"", "=", "!!!!", "AAAA", "AQ", strings.Repeat("A", 44), strings.Repeat("_", 44), strings.Repeat("A", 1000),
		hex.EncodeToString(make([]byte, rawLen)), testID} {
		f.Add(token, fuzzBinding)
	}
	f.Fuzz(func(t *testing.T, token, binding string) {
		id, err := Decode(fuzzKey, binding, token)
		if err != nil {
			require.Equal(t, ErrInvalid, err)
			require.Empty(t, id)
			return
		}
		require.Regexp(t, canonicalID, id)
		_, perr := uuid.Parse(id)
		require.NoError(t, perr)
		// A token that decodes was made by Encode with this key and binding.
		again, err := Encode(fuzzKey, binding, id)
		require.NoError(t, err)
		got, err := Decode(fuzzKey, binding, again)
		require.NoError(t, err)
		require.Equal(t, id, got)
		require.Equal(t, raw(t, again), decodeLenient(t, token), "the same bytes as a token that Encode makes")
	})
}

// decodeLenient decodes a token as Decode does (base64 ignores \r and \n).
func decodeLenient(t *testing.T, token string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	return b
}
