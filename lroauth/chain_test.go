package lroauth

import (
	"context"
	"crypto/x509/pkix"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

// authFixture is a TokenFile and a JWTVerifier, with credentials for them.
type authFixture struct {
	tokens      *TokenFile
	jwts        *JWTVerifier
	staticToken string // ci-bot: starter:projects/p1/locations/*, reader:*
	jwt         string // alice: reader:*, worker:images.*
	key         testKey
}

const workerSubject = "CN=worker-1,O=Example"

func newAuthFixture(t testing.TB) *authFixture {
	f := &authFixture{staticToken: "0123456789abcdef0123456789abcdef"}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	content := `
tokens:
  - principal: ci-bot
    sha256: ` + hashOf(f.staticToken) + `
    grants: ["starter:projects/p1/locations/*", "reader:*"]
certificates:
  - subject: "` + workerSubject + `"
    grants: ["worker:images.*"]
`
	writeFile(t, path, content)
	var err error
	f.tokens, err = LoadTokenFile(path)
	require.NoError(t, err)
	f.key = newKey(t, "k1", jose.ES256, 0)
	f.jwts, err = newJWTVerifier(context.Background(), JWTConfig{JWKS: jwksFile(t, f.key), Issuer: testIssuer, Audience: testAudience}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { f.jwts.Close() })
	f.jwt = mint(t, f.key, validClaims())
	return f
}

func TestNew(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	ctx := context.Background()
	worker := verifiedTLS(pkix.Name{CommonName: "worker-1", Organization: []string{"Example"}})
	stranger := verifiedTLS(pkix.Name{CommonName: "stranger"})
	both := New(f.tokens, f.jwts)

	tests := []struct {
		name   string
		a      Authenticator
		c      *Credentials
		want   string // principal name
		reason string
	}{
		{"Static", both, bearer(f.staticToken), "ci-bot", ""},
		{"JWT", both, bearer(f.jwt), "alice", ""},
		{"StaticUnknown", both, bearer("nope"), "", "TOKEN_INVALID"},
		{"JWTBadSignature", both, bearer(f.jwt[:len(f.jwt)-4] + "AAAA"), "", "TOKEN_INVALID"},
		{"Certificate", both, &Credentials{TLS: worker}, workerSubject, ""},
		{"CertificateUnknown", both, &Credentials{TLS: stranger}, "CN=stranger", ""},
		{"TokenOverCertificate", both, &Credentials{Authorization: "Bearer " + f.jwt, TLS: worker}, "alice", ""},
		{"BadTokenWithCertificate", both, &Credentials{Authorization: "Bearer nope", TLS: worker}, "", "TOKEN_INVALID"},
		{"Nothing", both, &Credentials{}, "", "CREDENTIALS_MISSING"},
		{"Basic", both, &Credentials{Authorization: "Basic eDp5"}, "", "UNSUPPORTED_SCHEME"},
		{"StaticOnlyGetsJWT", New(f.tokens, nil), bearer(f.jwt), "", "TOKEN_INVALID"},
		{"StaticOnly", New(f.tokens, nil), bearer(f.staticToken), "ci-bot", ""},
		{"JWTOnlyGetsStatic", New(nil, f.jwts), bearer(f.staticToken), "", "TOKEN_INVALID"},
		{"JWTOnlyCertificate", New(nil, f.jwts), &Credentials{TLS: worker}, workerSubject, ""},
		{"NoneGetsToken", New(nil, nil), bearer(f.staticToken), "", "TOKEN_INVALID"},
		{"NoneCertificate", New(nil, nil), &Credentials{TLS: worker}, workerSubject, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.a.Authenticate(ctx, tt.c)
			if tt.reason != "" {
				requireUnauthenticated(t, err, tt.reason)
				require.Nil(t, p)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, p.Name)
		})
	}

	p, err := both.Authenticate(ctx, &Credentials{TLS: worker})
	require.NoError(t, err)
	require.True(t, p.Can(RoleWorker, "images.resize"), "the file's grants for the subject")
	p, err = New(nil, nil).Authenticate(ctx, &Credentials{TLS: worker})
	require.NoError(t, err)
	require.Empty(t, p.Grants)
}

// FuzzAuthenticate feeds authorization headers to static tokens and JWTs
// together: whatever comes, an answer and no panic.
func FuzzAuthenticate(f *testing.F) {
	fx := newAuthFixture(f)
	a := New(fx.tokens, fx.jwts)
	expired := validClaims()
	expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	for _, s := range []string{
		"", "Bearer " + fx.staticToken, "Bearer " + fx.jwt, "bearer " + fx.jwt + "=",
		"Bearer " + mint(f, fx.key, expired), "Bearer a.b.c", "Bearer ..", "Basic x",
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + strings.Repeat("a.", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		p, err := a.Authenticate(context.Background(), &Credentials{Authorization: header})
		if err != nil {
			require.Nil(t, p)
			var reason string
			for _, r := range []string{"CREDENTIALS_MISSING", "UNSUPPORTED_SCHEME", "MALFORMED_TOKEN", "TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_NOT_YET_VALID", "WRONG_ISSUER", "WRONG_AUDIENCE", "UNKNOWN_KEY"} {
				if isReason(err, r) {
					reason = r
				}
			}
			require.NotEmpty(t, reason, "unexpected error %v", err)
			return
		}
		require.NotNil(t, p)
		require.NotEmpty(t, p.Name)
	})
}
