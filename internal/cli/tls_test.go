package cli

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/internal/tlstest"
)

// startTLSServer runs a real server with TLS on 127.0.0.1, and mTLS when
// clientCA is set; it stops when the test ends.
func startTLSServer(t *testing.T, ca *tlstest.CA, clientCA string) string {
	t.Helper()
	return startTLSServerWith(t, ca, clientCA, demo.Register)
}

// startTLSServerWith is startTLSServer with the kinds that register
// registers, run by the server's workers.
func startTLSServerWith(t *testing.T, ca *tlstest.CA, clientCA string, register func(*lro.Client) error) string {
	t.Helper()
	cert := ca.Server(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		Addr:     "127.0.0.1:0",
		DB:       "sqlite:" + filepath.Join(t.TempDir(), "lro.db"),
		Client:   lro.Config{Workers: -1, ShutdownGrace: 100 * time.Millisecond},
		Register: register,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		TLS:      &server.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: clientCA},
	})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
	})
	return srv.Addr().String()
}

// TestTLSClient: start, get and list against a server with TLS, trusting
// its CA with --tls-ca; and with mTLS, where a client certificate is needed.
func TestTLSClient(t *testing.T) {
	ca := tlstest.NewCA(t, "server")
	addr := startTLSServer(t, ca, "")

	r := runCLI(t, nil, "start", "demo.sleep", "--addr", addr, "--tls-ca", ca.File)
	wantCode(t, r, 0)
	name := strings.TrimSpace(r.stdout)
	require.True(t, strings.HasPrefix(name, "operations/"), "%q", name)
	r = runCLI(t, nil, "get", name, "--addr", addr, "--tls-ca", ca.File)
	wantCode(t, r, 0)
	require.Contains(t, r.stdout, name)
	r = runCLI(t, nil, "list", "--addr", addr, "-o", "json", "--tls-ca", ca.File)
	wantCode(t, r, 0)
	require.Contains(t, r.stdout, name)

	// The CA comes from $LRO_TLS_CA too.
	t.Setenv(tlsCAEnv, ca.File)
	r = runCLI(t, nil, "get", name, "--addr", addr)
	wantCode(t, r, 0)
	t.Setenv(tlsCAEnv, "")

	// Without TLS, or trusting the system's CAs only, the call fails; the
	// first says what to try.
	r = runCLI(t, nil, "get", name, "--addr", addr)
	wantCode(t, r, 1)
	require.Contains(t, r.stderr, "if the server uses TLS, give --tls-ca FILE")
	r = runCLI(t, nil, "get", name, "--addr", addr, "--tls")
	wantCode(t, r, 1)
	require.Contains(t, r.stderr, "certificate")
	// --tls-server-name must match the certificate.
	r = runCLI(t, nil, "get", name, "--addr", addr, "--tls-ca", ca.File, "--tls-server-name", "localhost")
	wantCode(t, r, 0)
	r = runCLI(t, nil, "get", name, "--addr", addr, "--tls-ca", ca.File, "--tls-server-name", "lro.example.com")
	wantCode(t, r, 1)

	t.Run("mTLS", func(t *testing.T) {
		clients := tlstest.NewCA(t, "clients")
		addr := startTLSServer(t, ca, clients.File)
		alice := clients.Client(t, "alice")
		r := runCLI(t, nil, "list", "--addr", addr, "--tls-ca", ca.File, "--tls-cert", alice.CertFile, "--tls-key", alice.KeyFile)
		wantCode(t, r, 0)
		r = runCLI(t, nil, "list", "--addr", addr, "--tls-ca", ca.File)
		wantCode(t, r, 1)
		other := tlstest.NewCA(t, "other").Client(t, "mallory")
		r = runCLI(t, nil, "list", "--addr", addr, "--tls-ca", ca.File, "--tls-cert", other.CertFile, "--tls-key", other.KeyFile)
		wantCode(t, r, 1)
	})
}

// TestTLSClientFlags: flags that cannot work are usage errors, and a token
// is never sent in the clear beyond loopback.
func TestTLSClientFlags(t *testing.T) {
	const secret = "s3cr3t-token"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-server-name", "x"}, "--tls-server-name needs TLS"},
		{[]string{"--addr", "192.0.2.1:8080", "--token", secret}, "refusing to send --token in the clear to 192.0.2.1:8080"},
		{[]string{"--addr", "lro.example.com:8080", "--token", secret}, "refusing to send --token in the clear"},
		{[]string{"--addr", "127.0.0.1:1", "--token", "a b"}, "invalid --token"},
	} {
		for _, cmd := range [][]string{{"list"}, {"get", "operations/x"}, {"work", "k"}} {
			args := append(append(cmd, c.args...), "--", "true")
			if cmd[0] != "work" {
				args = append(cmd, c.args...)
			}
			r := runCLI(t, nil, args...)
			wantCode(t, r, 2)
			require.Contains(t, r.stderr, c.want, "%v", r)
			require.NotContains(t, r.stderr, secret)
		}
	}
	t.Setenv(tokenEnv, secret)
	r := runCLI(t, nil, "list", "--addr", "192.0.2.1:8080")
	wantCode(t, r, 2)
	require.Contains(t, r.stderr, "refusing to send --token in the clear")
	require.NotContains(t, r.stderr, secret)
}

// authRecorder is a gRPC interceptor that keeps the authorization headers
// of the calls.
type authRecorder struct {
	mu     sync.Mutex
	values []string
}

func (a *authRecorder) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	a.mu.Lock()
	a.values = append(a.values, strings.Join(md.Get("authorization"), ","))
	a.mu.Unlock()
	return handler(ctx, req)
}

func (a *authRecorder) last(t *testing.T) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	require.NotEmpty(t, a.values)
	return a.values[len(a.values)-1]
}

// TestToken: --token and $LRO_TOKEN are sent as a bearer token, over TLS,
// and in the clear to loopback.
func TestToken(t *testing.T) {
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	auth := &authRecorder{}
	tlsFake := newFakeServerWith(t, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert.TLS(t)}})),
		grpc.UnaryInterceptor(auth.intercept))
	r := runCLI(t, tlsFake, "list", "--tls-ca", ca.File, "--token", "abc")
	wantCode(t, r, 0)
	require.Equal(t, "Bearer abc", auth.last(t))
	// Through "localhost" the name is checked against the certificate as
	// well.
	r = runCLI(t, nil, "list", "--tls-ca", ca.File, "--addr", "localhost"+tlsFake.addr[strings.LastIndex(tlsFake.addr, ":"):])
	wantCode(t, r, 0)
	require.Equal(t, "", auth.last(t))

	plainAuth := &authRecorder{}
	plain := newFakeServerWith(t, grpc.UnaryInterceptor(plainAuth.intercept))
	t.Setenv(tokenEnv, "from-env\n")
	r = runCLI(t, plain, "list")
	wantCode(t, r, 0)
	require.Equal(t, "Bearer from-env", plainAuth.last(t))
	r = runCLI(t, plain, "list", "--token", "flag")
	wantCode(t, r, 0)
	require.Equal(t, "Bearer flag", plainAuth.last(t))
}

// TestBearerTokenRequiresTLS: the token's credentials refuse a connection
// without TLS beyond loopback, should Validate let one through.
func TestBearerTokenRequiresTLS(t *testing.T) {
	require.True(t, bearerToken{token: "x", secure: !loopbackAddr("192.0.2.1:8080")}.RequireTransportSecurity())
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "dns:///localhost:8080": true,
		"192.0.2.1:8080": false, ":8080": false, "0.0.0.0:8080": false, "lro.example.com:443": false, "127.0.0.1": false,
	} {
		require.Equal(t, want, loopbackAddr(addr), addr)
	}
}

// TestListNextPageHidesToken: the next page's command, printed on stderr,
// does not show --token.
func TestListNextPageHidesToken(t *testing.T) {
	f := newSeededFakeServer(t)
	r := runCLI(t, f, "list", "--page-size", "2", "--token", "s3cr3t")
	wantCode(t, r, 0)
	require.Contains(t, r.stderr, "next page: lro list")
	require.NotContains(t, r.stderr, "s3cr3t")
	require.NotContains(t, r.stderr, "--token")
}

// TestServeTLSFlags: lro serve's TLS flags go together, and the server
// refuses to listen beyond loopback without TLS and authentication, before
// it opens the store.
func TestServeTLSFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lro.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-client-ca", "ca.pem"}, "--tls-client-ca needs --tls-cert and --tls-key"},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + db}, c.args...)...)
		wantCode(t, r, 2)
		require.Contains(t, r.stderr, c.want)
	}
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "without TLS (--tls-cert and --tls-key) and authentication (--auth-tokens, --auth-jwks or --tls-client-ca)"},
		{[]string{"--addr", ":0", "--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile}, "without authentication"},
		{[]string{"--addr", "127.0.0.1:0", "--tls-cert", cert.CertFile, "--tls-key", ca.File}, "--tls-cert/--tls-key"},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--db", "sqlite:" + db}, c.args...)...)
		wantCode(t, r, 1)
		require.Contains(t, r.stderr, c.want)
	}
	_, err := os.Stat(db)
	require.True(t, os.IsNotExist(err), "the store was opened: %v", err)
}

// TestWorkTLS: lro work claims and finishes operations over mTLS.
func TestWorkTLS(t *testing.T) {
	ca, clients := tlstest.NewCA(t, "server"), tlstest.NewCA(t, "clients")
	addr := startTLSServerWith(t, ca, clients.File, func(c *lro.Client) error {
		return lro.Declare(c, lro.DeclaredKind{Name: "report"})
	})
	worker := clients.Client(t, "worker")
	tlsArgs := []string{"--addr", addr, "--tls-ca", ca.File, "--tls-cert", worker.CertFile, "--tls-key", worker.KeyFile}
	r := runCLI(t, nil, append([]string{"start", "report", "--input", `{"n": 21}`}, tlsArgs...)...)
	wantCode(t, r, 0)
	name := strings.TrimSpace(r.stdout)

	script := writeScript(t, t.TempDir(), "report", `n=$(sed 's/.*"n": *\([0-9]*\).*/\1/'); echo "{\"lines\": $((n * 2))}"`)
	stop, done := startWork(t, &fakeWorkers{addr: addr}, append(append([]string{"report"}, tlsArgs[2:]...), "--", script)...)
	r = runCLI(t, nil, append([]string{"wait", name, "-o", "json", "--timeout", "20s"}, tlsArgs...)...)
	wantCode(t, r, 0)
	require.Contains(t, strings.ReplaceAll(r.stdout, " ", ""), `"lines":42`)
	stop()
	wantCode(t, waitResult(t, done), 0)
}

// TLS to a server without it fails, saying to leave the TLS flags out.
func TestTLSToPlainServer(t *testing.T) {
	f := newFakeServer(t)
	ca := tlstest.NewCA(t, "server")
	r := runCLI(t, nil, "list", "--addr", f.addr, "--tls-ca", ca.File)
	wantCode(t, r, 1)
	require.Contains(t, r.stderr, "the server does not use TLS")
}
