package lroauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/slogtest"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "lro-api"
)

// testKey is a private signing key with its kid and algorithm.
type testKey struct {
	jwk jose.JSONWebKey
}

var (
	rsaKeyOnce sync.Once
	rsaKeys    [3]*rsa.PrivateKey
)

// rsaKey returns one of three RSA keys, generated once for the package's
// tests (RSA generation is slow).
func rsaKey(i int) *rsa.PrivateKey {
	rsaKeyOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func newKey(t testing.TB, kid string, alg jose.SignatureAlgorithm, i int) testKey {
	t.Helper()
	var key any
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256:
		key = rsaKey(i)
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		key = k
	case jose.ES384:
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		key = k
	case jose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		key = k
	}
	return testKey{jwk: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg), Use: "sig"}}
}

// jwksOf returns the public key set of keys, as JSON.
func jwksOf(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk.Public())
	}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	return b
}

// claims are a test token's claims, valid by default.
type claims struct {
	jwt.Claims
	Permissions any `json:"permissions,omitempty"`
}

func validClaims() claims {
	now := time.Now()
	return claims{
		Claims: jwt.Claims{
			Issuer:    testIssuer,
			Subject:   "alice",
			Audience:  jwt.Audience{"other-api", testAudience},
			Expiry:    jwt.NewNumericDate(now.Add(time.Hour)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		},
		Permissions: []string{"reader:*", "worker:images.*"},
	}
}

func mint(t testing.TB, k testKey, c claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.jwk.Algorithm), Key: k.jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	require.NoError(t, err)
	return s
}

// jwksFile writes keys to a JWKS file and returns its path.
func jwksFile(t testing.TB, keys ...testKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(path, jwksOf(t, keys...), 0o600))
	return path
}

func newTestVerifier(t *testing.T, cfg JWTConfig, setup func(*JWTVerifier)) *JWTVerifier {
	t.Helper()
	cfg.Issuer, cfg.Audience = testIssuer, testAudience
	cfg.Logger = slogtest.Logger(t)
	v, err := newJWTVerifier(context.Background(), cfg, setup)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, v.Close()) })
	return v
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestJWTVerifier(t *testing.T) {
	t.Parallel()
	rs := newKey(t, "rs", jose.RS256, 0)
	es := newKey(t, "es", jose.ES256, 0)
	es384 := newKey(t, "es384", jose.ES384, 0)
	ps := newKey(t, "ps", jose.PS256, 1)
	ed := newKey(t, "ed", jose.EdDSA, 0)
	v := newTestVerifier(t, JWTConfig{JWKS: jwksFile(t, rs, es, es384, ps, ed)}, nil)
	ctx := context.Background()

	for _, k := range []testKey{rs, es, es384, ps, ed} {
		t.Run("Valid/"+k.jwk.Algorithm, func(t *testing.T) {
			p, err := v.Authenticate(ctx, bearer(mint(t, k, validClaims())))
			require.NoError(t, err)
			require.Equal(t, "alice", p.Name)
			require.True(t, p.Can(RoleReader, "projects/p"))
			require.True(t, p.Can(RoleWorker, "images.resize"))
			require.False(t, p.Can(RoleStarter, "projects/p"))
		})
	}

	t.Run("GrantsAsString", func(t *testing.T) {
		c := validClaims()
		c.Permissions = "operator:projects/p1  reader:*"
		p, err := v.Authenticate(ctx, bearer(mint(t, rs, c)))
		require.NoError(t, err)
		require.True(t, p.Can(RoleOperator, "projects/p1"))
	})
	t.Run("NoGrants", func(t *testing.T) {
		c := validClaims()
		c.Permissions = nil
		p, err := v.Authenticate(ctx, bearer(mint(t, rs, c)))
		require.NoError(t, err)
		require.Empty(t, p.Grants)
	})
	t.Run("NoKID", func(t *testing.T) {
		k := es
		k.jwk.KeyID = ""
		p, err := v.Authenticate(ctx, bearer(mint(t, k, validClaims())))
		require.NoError(t, err)
		require.Equal(t, "alice", p.Name)
	})

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		reason  string
		message string
	}{
		{"Expired", func(t *testing.T) string {
			c := validClaims()
			c.Expiry = jwt.NewNumericDate(time.Now().Add(-2 * time.Minute))
			return mint(t, rs, c)
		}, "TOKEN_EXPIRED", "the token expired at 20"},
		{"NotYetValid", func(t *testing.T) string {
			c := validClaims()
			c.NotBefore = jwt.NewNumericDate(time.Now().Add(5 * time.Minute))
			return mint(t, rs, c)
		}, "TOKEN_NOT_YET_VALID", "not valid before 20"},
		{"IssuedInTheFuture", func(t *testing.T) string {
			c := validClaims()
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(5 * time.Minute))
			return mint(t, rs, c)
		}, "TOKEN_INVALID", "issued in the future"},
		{"NoExpiry", func(t *testing.T) string {
			c := validClaims()
			c.Expiry = nil
			return mint(t, rs, c)
		}, "TOKEN_INVALID", "no expiry"},
		{"WrongIssuer", func(t *testing.T) string {
			c := validClaims()
			c.Issuer = "https://evil.example"
			return mint(t, rs, c)
		}, "WRONG_ISSUER", `issuer is not "https://idp.example"`},
		{"WrongAudience", func(t *testing.T) string {
			c := validClaims()
			c.Audience = jwt.Audience{"other-api"}
			return mint(t, rs, c)
		}, "WRONG_AUDIENCE", `audience is not "lro-api"`},
		{"NoSubject", func(t *testing.T) string {
			c := validClaims()
			c.Subject = ""
			return mint(t, rs, c)
		}, "TOKEN_INVALID", `no claim "sub"`},
		{"BadGrant", func(t *testing.T) string {
			c := validClaims()
			c.Permissions = []string{"reader:*", "owner:*"}
			return mint(t, rs, c)
		}, "TOKEN_INVALID", `grant "owner:*"`},
		{"GrantsNotStrings", func(t *testing.T) string {
			c := validClaims()
			c.Permissions = []any{"reader:*", 3}
			return mint(t, rs, c)
		}, "TOKEN_INVALID", "must hold strings"},
		{"GrantsObject", func(t *testing.T) string {
			c := validClaims()
			c.Permissions = map[string]string{"a": "b"}
			return mint(t, rs, c)
		}, "TOKEN_INVALID", "array of grants"},
		{"WronglySigned", func(t *testing.T) string {
			// Another key, under the kid of a key of the set.
			k := newKey(t, "rs", jose.RS256, 2)
			return mint(t, k, validClaims())
		}, "TOKEN_INVALID", "signature does not verify"},
		{"WronglySignedNoKID", func(t *testing.T) string {
			k := newKey(t, "", jose.ES256, 0)
			return mint(t, k, validClaims())
		}, "TOKEN_INVALID", "signature does not verify"},
		{"UnknownKey", func(t *testing.T) string {
			return mint(t, newKey(t, "nope", jose.ES256, 0), validClaims())
		}, "UNKNOWN_KEY", `kid "nope"`},
		{"AlgNone", func(t *testing.T) string {
			payload, err := json.Marshal(validClaims())
			require.NoError(t, err)
			return b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(string(payload)) + "."
		}, "TOKEN_INVALID", "not a JWT signed with one of"},
		{"HS256WithPublicKey", func(t *testing.T) string {
			// The classic confusion: the RSA public key as an HMAC secret.
			der, err := x509.MarshalPKIXPublicKey(&rsaKey(0).PublicKey)
			require.NoError(t, err)
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: der}, (&jose.SignerOptions{}).WithHeader("kid", "rs"))
			require.NoError(t, err)
			s, err := jwt.Signed(signer).Claims(validClaims()).Serialize()
			require.NoError(t, err)
			return s
		}, "TOKEN_INVALID", "not a JWT signed with one of"},
		{"AlgOfAnotherKey", func(t *testing.T) string {
			// The header says ES256, the kid is an RSA key's.
			k := newKey(t, "rs", jose.ES256, 0)
			return mint(t, k, validClaims())
		}, "UNKNOWN_KEY", `kid "rs", ES256`},
		{"NotAJWT", func(t *testing.T) string { return "abc.def.ghi" }, "TOKEN_INVALID", "not a JWT"},
		{"Tampered", func(t *testing.T) string {
			s := mint(t, rs, validClaims())
			parts := strings.Split(s, ".")
			c := validClaims()
			c.Subject = "root"
			payload, err := json.Marshal(c)
			require.NoError(t, err)
			return parts[0] + "." + b64(string(payload)) + "." + parts[2]
		}, "TOKEN_INVALID", "signature does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token(t)
			_, err := v.Authenticate(ctx, bearer(token))
			requireUnauthenticated(t, err, tt.reason)
			require.ErrorContains(t, err, tt.message)
			for _, part := range strings.Split(token, ".") {
				if len(part) > 8 {
					require.NotContains(t, err.Error(), part, "the message echoes the token")
				}
			}
		})
	}
}

func TestJWTVerifierLeeway(t *testing.T) {
	t.Parallel()
	rs := newKey(t, "rs", jose.RS256, 0)
	v := newTestVerifier(t, JWTConfig{JWKS: jwksFile(t, rs), Leeway: 10 * time.Minute}, nil)
	c := validClaims()
	c.Expiry = jwt.NewNumericDate(time.Now().Add(-5 * time.Minute))
	_, err := v.Authenticate(context.Background(), bearer(mint(t, rs, c)))
	require.NoError(t, err, "expired 5 min ago, within the leeway")
}

func TestJWTVerifierClaims(t *testing.T) {
	t.Parallel()
	rs := newKey(t, "rs", jose.RS256, 0)
	v := newTestVerifier(t, JWTConfig{JWKS: jwksFile(t, rs), PrincipalClaim: "email", GrantsClaim: "lro"}, nil)
	type custom struct {
		jwt.Claims
		Email string   `json:"email"`
		LRO   []string `json:"lro"`
	}
	c := validClaims()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rs.jwk}, nil)
	require.NoError(t, err)
	token, err := jwt.Signed(signer).Claims(custom{Claims: c.Claims, Email: "a@example.com", LRO: []string{"admin:*"}}).Serialize()
	require.NoError(t, err)
	p, err := v.Authenticate(context.Background(), bearer(token))
	require.NoError(t, err)
	require.Equal(t, "a@example.com", p.Name)
	require.True(t, p.Can(RoleAdmin, "x/y"))
}

func TestNewJWTVerifierErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := jwksFile(t, newKey(t, "es", jose.ES256, 0))
	for _, tt := range []struct {
		cfg     JWTConfig
		wantErr string
	}{
		{JWTConfig{Issuer: "i", Audience: "a"}, "JWKS is required"},
		{JWTConfig{JWKS: path, Audience: "a"}, "Issuer is required"},
		{JWTConfig{JWKS: path, Issuer: "i"}, "Audience is required"},
		{JWTConfig{JWKS: path, Issuer: "i", Audience: "a", Leeway: -1}, "Leeway"},
		{JWTConfig{JWKS: filepath.Join(t.TempDir(), "missing.json"), Issuer: "i", Audience: "a"}, "no such file"},
	} {
		_, err := NewJWTVerifier(ctx, tt.cfg)
		require.ErrorContains(t, err, tt.wantErr)
	}
	bad := filepath.Join(t.TempDir(), "jwks.json")
	for content, wantErr := range map[string]string{
		"not json":    "not a JSON Web Key Set",
		`{"keys":[]}`: "no public signing key",
		`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`: "no public signing key",
		`{"keys":[{"kty":"weird"}]}`:              "no public signing key",
	} {
		require.NoError(t, os.WriteFile(bad, []byte(content), 0o600))
		_, err := NewJWTVerifier(ctx, JWTConfig{JWKS: bad, Issuer: "i", Audience: "a", Logger: slogtest.Logger(t)})
		require.ErrorContains(t, err, wantErr, content)
	}
}

// jwksServer serves a key set that a test may change, and counts the
// fetches.
type jwksServer struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	fail    atomic.Bool
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...testKey) *jwksServer {
	s := &jwksServer{}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys ...testKey) {
	b := jwksOf(t, keys...)
	s.body.Store(&b)
}

func TestJWTVerifierRotation(t *testing.T) {
	t.Parallel()
	k1 := newKey(t, "k1", jose.ES256, 0)
	k2 := newKey(t, "k2", jose.ES256, 0)
	srv := newJWKSServer(t, k1)
	v := newTestVerifier(t, JWTConfig{JWKS: srv.URL + "/jwks.json", Refresh: time.Hour}, func(v *JWTVerifier) {
		v.unknownKeyRetry = 0
	})
	ctx := context.Background()
	_, err := v.Authenticate(ctx, bearer(mint(t, k1, validClaims())))
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.fetches.Load())

	// The issuer rotates in k2: a token it signs fetches the set at once.
	srv.set(t, k1, k2)
	_, err = v.Authenticate(ctx, bearer(mint(t, k2, validClaims())))
	require.NoError(t, err)
	require.EqualValues(t, 2, srv.fetches.Load())

	// A fetch that fails keeps the keys fetched before.
	srv.fail.Store(true)
	_, err = v.Authenticate(ctx, bearer(mint(t, newKey(t, "k3", jose.ES256, 0), validClaims())))
	requireUnauthenticated(t, err, "UNKNOWN_KEY")
	require.EqualValues(t, 3, srv.fetches.Load())
	_, err = v.Authenticate(ctx, bearer(mint(t, k2, validClaims())))
	require.NoError(t, err)
}

func TestJWTVerifierUnknownKeyRateLimit(t *testing.T) {
	t.Parallel()
	k1 := newKey(t, "k1", jose.ES256, 0)
	srv := newJWKSServer(t, k1)
	v := newTestVerifier(t, JWTConfig{JWKS: srv.URL, Refresh: time.Hour}, nil)
	for i := range 20 {
		_, err := v.Authenticate(context.Background(), bearer(mint(t, newKey(t, "made-up-"+string(rune('a'+i)), jose.ES256, 0), validClaims())))
		requireUnauthenticated(t, err, "UNKNOWN_KEY")
	}
	require.EqualValues(t, 1, srv.fetches.Load(), "unknown keys fetched the set within JWTUnknownKeyRefreshMin")
}

func TestJWTVerifierBackgroundRefresh(t *testing.T) {
	t.Parallel()
	k1 := newKey(t, "k1", jose.ES256, 0)
	k2 := newKey(t, "k2", jose.ES256, 0)
	srv := newJWKSServer(t, k1)
	v := newTestVerifier(t, JWTConfig{JWKS: srv.URL, Refresh: 10 * time.Millisecond}, func(v *JWTVerifier) {
		v.testSignals.refreshed.Init()
		v.unknownKeyRetry = time.Hour // only the background refresh fetches
	})
	ctx := context.Background()

	// k1 retired, k2 in: awaited through the background refresh.
	srv.set(t, k2)
	for v.testSignals.refreshed.Wait(t) != nil || v.keys.Load().byKID["k2"] == nil {
	}
	_, err := v.Authenticate(ctx, bearer(mint(t, k2, validClaims())))
	require.NoError(t, err)
	_, err = v.Authenticate(ctx, bearer(mint(t, k1, validClaims())))
	requireUnauthenticated(t, err, "UNKNOWN_KEY")

	// Failed refreshes keep k2.
	srv.fail.Store(true)
	// A refresh already under way may still succeed; from the first
	// failure on, every one fails.
	for v.testSignals.refreshed.Wait(t) == nil {
	}
	require.Error(t, v.testSignals.refreshed.Wait(t))
	_, err = v.Authenticate(ctx, bearer(mint(t, k2, validClaims())))
	require.NoError(t, err)
}

func TestJWTVerifierCloseOnContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	v, err := NewJWTVerifier(ctx, JWTConfig{JWKS: jwksFile(t, newKey(t, "k", jose.ES256, 0)), Issuer: "i", Audience: "a", Refresh: time.Millisecond})
	require.NoError(t, err)
	cancel()
	<-v.done
	require.NoError(t, v.Close())
	require.NoError(t, v.Close())
}

func TestJWTVerifierKeySetFiltering(t *testing.T) {
	t.Parallel()
	signing := newKey(t, "priv", jose.ES256, 0)
	enc := newKey(t, "enc", jose.ES256, 0)
	enc.jwk.Use = "enc"
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		signing.jwk, // a private key: its public half is used
		enc.jwk.Public(),
		{Key: []byte("a shared secret"), KeyID: "oct", Algorithm: "HS256"},
	}}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	v := newTestVerifier(t, JWTConfig{JWKS: path}, nil)
	keys := v.keys.Load()
	require.Len(t, keys.all, 1)
	require.True(t, keys.all[0].IsPublic())
	ctx := context.Background()
	_, err = v.Authenticate(ctx, bearer(mint(t, signing, validClaims())))
	require.NoError(t, err)
	_, err = v.Authenticate(ctx, bearer(mint(t, enc, validClaims())))
	requireUnauthenticated(t, err, "UNKNOWN_KEY")
}
