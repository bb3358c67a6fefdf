package lroauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"lro.dev/lro"
	"lro.dev/lro/internal/slogtest"
)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func tokenFileYAMLFor(entries ...[2]string) string {
	s := "tokens:\n"
	for _, e := range entries {
		s += "  - principal: " + e[0] + "\n    sha256: " + hashOf(e[1]) + "\n    grants: [\"reader:*\"]\n"
	}
	return s
}

func bearer(token string) *Credentials { return &Credentials{Authorization: "Bearer " + token} }

func requireUnauthenticated(t *testing.T, err error, reason string) {
	t.Helper()
	var e *lro.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, codes.Unauthenticated, e.Code, "%v", err)
	require.Equal(t, reason, e.Reason, "%v", err)
}

// verifiedTLS is the state of a connection whose client presented a
// verified certificate with subject.
func verifiedTLS(subject pkix.Name) *tls.ConnectionState {
	leaf := &x509.Certificate{Subject: subject}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
}

func TestTokenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeFile(t, path, `
tokens:
  - principal: ci-bot
    sha256: `+hashOf("s3cret")+`
    grants: ["starter:projects/p1/locations/*", "reader:*"]
  - principal: worker
    sha256: `+hashOf("w0rk")+`
    grants:
      - worker:images.*
certificates:
  - subject: "CN=worker-1,O=Example"
    grants: ["worker:images.*"]
`)
	f, err := LoadTokenFile(path)
	require.NoError(t, err)
	ctx := context.Background()

	p, err := f.Authenticate(ctx, bearer("s3cret"))
	require.NoError(t, err)
	require.Equal(t, "ci-bot", p.Name)
	require.True(t, p.Can(RoleStarter, "projects/p1/locations/l"))
	require.False(t, p.Can(RoleStarter, "projects/p2/locations/l"))

	p, err = f.Authenticate(ctx, &Credentials{Authorization: "bearer   w0rk"})
	require.NoError(t, err)
	require.Equal(t, "worker", p.Name)

	_, err = f.Authenticate(ctx, bearer("S3cret"))
	requireUnauthenticated(t, err, "TOKEN_INVALID")
	_, err = f.Authenticate(ctx, &Credentials{})
	requireUnauthenticated(t, err, "CREDENTIALS_MISSING")
	_, err = f.Authenticate(ctx, &Credentials{Authorization: "Basic eDp5"})
	requireUnauthenticated(t, err, "UNSUPPORTED_SCHEME")

	t.Run("Certificate", func(t *testing.T) {
		known := verifiedTLS(pkix.Name{CommonName: "worker-1", Organization: []string{"Example"}})
		p, err := f.Authenticate(ctx, &Credentials{TLS: known})
		require.NoError(t, err)
		require.Equal(t, "CN=worker-1,O=Example", p.Name)
		require.True(t, p.Can(RoleWorker, "images.resize"))

		// Unknown subject: a principal without grants.
		p, err = f.Authenticate(ctx, &Credentials{TLS: verifiedTLS(pkix.Name{CommonName: "stranger"})})
		require.NoError(t, err)
		require.Equal(t, "CN=stranger", p.Name)
		require.Empty(t, p.Grants)

		// A certificate that was not verified does not count.
		unverified := &tls.ConnectionState{PeerCertificates: known.PeerCertificates}
		_, err = f.Authenticate(ctx, &Credentials{TLS: unverified})
		requireUnauthenticated(t, err, "CREDENTIALS_MISSING")

		// The token decides when both are there.
		p, err = f.Authenticate(ctx, &Credentials{Authorization: "Bearer s3cret", TLS: known})
		require.NoError(t, err)
		require.Equal(t, "ci-bot", p.Name)
		_, err = f.Authenticate(ctx, &Credentials{Authorization: "Bearer nope", TLS: known})
		requireUnauthenticated(t, err, "TOKEN_INVALID")
	})
}

func TestLoadTokenFileErrors(t *testing.T) {
	t.Parallel()
	h := hashOf("x")
	tests := []struct {
		name, content, wantErr string
	}{
		{"BadYAML", "tokens: [", "did not find expected"},
		{"UnknownField", "tokens:\n  - principal: a\n    sha256: " + h + "\n    grant: [reader:*]\n", "line 4: field grant not found"},
		{"UnknownTopField", "token: []\n", "field token not found"},
		{"BadHex", "tokens:\n  - principal: a\n    sha256: zz\n    grants: [reader:*]\n", "tokens[0] (line 2): sha256 must be the 64 hex digits"},
		{"ShortHex", "tokens:\n  - principal: a\n    sha256: abcd\n    grants: [reader:*]\n", "tokens[0] (line 2): sha256"},
		{"DuplicateHash", "tokens:\n  - principal: a\n    sha256: " + h + "\n    grants: [reader:*]\n  - principal: b\n    sha256: " + h + "\n    grants: [reader:*]\n", `tokens[1] (line 5): this sha256 is already the token of principal "a"`},
		{"DuplicatePrincipal", "tokens:\n  - principal: a\n    sha256: " + h + "\n    grants: [reader:*]\n  - principal: a\n    sha256: " + hashOf("y") + "\n    grants: [reader:*]\n", `tokens[1] (line 5): principal "a" is already tokens[0] (line 2)`},
		{"NoPrincipal", "tokens:\n  - sha256: " + h + "\n    grants: [reader:*]\n", "tokens[0] (line 2): principal is missing"},
		{"BadGrant", "tokens:\n  - principal: a\n    sha256: " + h + "\n    grants: [\"reader:*\", \"owner:*\"]\n", `tokens[0] (line 2): grant "owner:*": unknown role`},
		{"NoGrants", "tokens:\n  - principal: a\n    sha256: " + h + "\n", "tokens[0] (line 2): grants are missing"},
		{"CertNoSubject", "certificates:\n  - grants: [reader:*]\n", "certificates[0] (line 2): subject is missing"},
		{"CertDuplicate", "certificates:\n  - subject: CN=a\n    grants: [reader:*]\n  - subject: CN=a\n    grants: [reader:*]\n", `certificates[1] (line 4): subject "CN=a" is listed twice`},
		{"CertNoGrants", "certificates:\n  - subject: CN=a\n", "certificates[0] (line 2): grants are missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.yaml")
			writeFile(t, path, tt.content)
			_, err := LoadTokenFile(path)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err := LoadTokenFile(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadTokenFileEmpty(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeFile(t, path, "")
	_, err := LoadTokenFile(path)
	require.ErrorContains(t, err, "the file is empty")
	writeFile(t, path, "tokens: []\n")
	f, err := LoadTokenFile(path)
	require.NoError(t, err)
	_, err = f.Authenticate(context.Background(), bearer("x"))
	requireUnauthenticated(t, err, "TOKEN_INVALID")
}

// awaitReload waits for reloads until one ends with ok(err) true: a file
// written in place may be read half written first.
func awaitReload(t *testing.T, f *TokenFile, ok func(err error) bool) {
	t.Helper()
	for !ok(f.testSignals.reloaded.Wait(t)) {
	}
}

func loads(t *testing.T, f *TokenFile, token string) func(error) bool {
	return func(err error) bool {
		_, aerr := f.Authenticate(context.Background(), bearer(token))
		return err == nil && aerr == nil
	}
}

func fails(err error) bool { return err != nil }

func TestTokenFileWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.yaml")
	writeFile(t, path, tokenFileYAMLFor([2]string{"a", "token-a"}))
	f, err := LoadTokenFile(path)
	require.NoError(t, err)
	f.testSignals.reloaded.Init()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, 10*time.Millisecond, slogtest.Logger(t))
	}()
	t.Cleanup(func() { cancel(); <-done })
	bg := context.Background()

	// A rewrite in place: token-a revoked, token-b added.
	writeFile(t, path, tokenFileYAMLFor([2]string{"b", "token-b"}, [2]string{"c", "token-c"}))
	awaitReload(t, f, loads(t, f, "token-c"))
	_, err = f.Authenticate(bg, bearer("token-a"))
	requireUnauthenticated(t, err, "TOKEN_INVALID")
	p, err := f.Authenticate(bg, bearer("token-b"))
	require.NoError(t, err)
	require.Equal(t, "b", p.Name)

	// A file that does not load keeps the table in use.
	writeFile(t, path, "tokens: [\n")
	awaitReload(t, f, fails)
	_, err = f.Authenticate(bg, bearer("token-b"))
	require.NoError(t, err)

	// A replacement by rename (a new inode), as editors and config
	// managers do.
	tmp := filepath.Join(dir, "tokens.yaml.tmp")
	writeFile(t, tmp, tokenFileYAMLFor([2]string{"d", "token-d"}))
	require.NoError(t, os.Rename(tmp, path))
	require.NoError(t, f.testSignals.reloaded.Wait(t))
	_, err = f.Authenticate(bg, bearer("token-b"))
	requireUnauthenticated(t, err, "TOKEN_INVALID")
	_, err = f.Authenticate(bg, bearer("token-d"))
	require.NoError(t, err)

	// Removed, then back.
	require.NoError(t, os.Remove(path))
	require.Error(t, f.testSignals.reloaded.Wait(t))
	_, err = f.Authenticate(bg, bearer("token-d"))
	require.NoError(t, err, "a removed file keeps the table in use")
	writeFile(t, path, tokenFileYAMLFor([2]string{"e", "token-e"}))
	awaitReload(t, f, loads(t, f, "token-e"))
	_, err = f.Authenticate(bg, bearer("token-e"))
	require.NoError(t, err)
}

func TestTokenFileReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeFile(t, path, tokenFileYAMLFor([2]string{"a", "token-a"}))
	f, err := LoadTokenFile(path)
	require.NoError(t, err)
	writeFile(t, path, "tokens: 3\n")
	require.Error(t, f.Reload())
	_, err = f.Authenticate(context.Background(), bearer("token-a"))
	require.NoError(t, err)
	writeFile(t, path, tokenFileYAMLFor([2]string{"b", "token-b"}))
	require.NoError(t, f.Reload())
	_, err = f.Authenticate(context.Background(), bearer("token-b"))
	require.NoError(t, err)
}
