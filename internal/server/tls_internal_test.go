package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/vanguard"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/tlsconn"
	"lro.dev/lro/internal/tlstest"
	"lro.dev/lro/lroauth"
)

func TestCheckExposure(t *testing.T) {
	t.Parallel()
	tlsOnly := &TLSConfig{CertFile: "c", KeyFile: "k"}
	mtls := &TLSConfig{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}
	var auth lroauth.Authenticator = fakeAuthenticator{}
	for _, c := range []struct {
		name  string
		cfg   Config
		wants []string // substrings of the error; none: no error
	}{
		{"loopback v4", Config{Addr: "127.0.0.1:0"}, nil},
		{"loopback v4 other", Config{Addr: "127.0.0.2:8080"}, nil},
		{"loopback v6", Config{Addr: "[::1]:0"}, nil},
		{"localhost", Config{Addr: "localhost:8080"}, nil},
		{"LOCALHOST.", Config{Addr: "LOCALHOST.:8080"}, nil},
		{"empty host", Config{Addr: ":8080"}, []string{"every interface", "--tls-cert and --tls-key", "--auth-tokens, --auth-jwks or --tls-client-ca", "--insecure"}},
		{"any v4", Config{Addr: "0.0.0.0:8080"}, []string{"0.0.0.0", "--tls-cert", "--auth-tokens", "--insecure"}},
		{"any v6", Config{Addr: "[::]:8080"}, []string{"::", "--tls-cert", "--insecure"}},
		{"other IP", Config{Addr: "192.0.2.7:8080"}, []string{"192.0.2.7", "--tls-cert"}},
		{"name", Config{Addr: "lro.example.com:8080"}, []string{"lro.example.com", "--tls-cert"}},
		{"localhost lookalike", Config{Addr: "localhost.example.com:8080"}, []string{"--tls-cert"}},
		{"TLS without auth", Config{Addr: ":8080", TLS: tlsOnly}, []string{"without authentication (--auth-tokens"}},
		{"auth without TLS", Config{Addr: ":8080", Authenticator: auth}, []string{"without TLS (--tls-cert and --tls-key)"}},
		{"TLS and auth", Config{Addr: ":8080", TLS: tlsOnly, Authenticator: auth}, nil},
		{"mTLS", Config{Addr: ":8080", TLS: mtls}, nil},
		{"insecure", Config{Addr: ":8080", Insecure: true}, nil},
		{"insecure with TLS", Config{Addr: "0.0.0.0:8080", TLS: tlsOnly, Insecure: true}, nil},
		{"insecure, secured", Config{Addr: ":8080", TLS: tlsOnly, Authenticator: auth, Insecure: true}, nil},
		{"insecure on loopback", Config{Addr: "127.0.0.1:8080", Insecure: true}, nil},
		{"no port", Config{Addr: "127.0.0.1"}, []string{"HOST:PORT"}},
	} {
		// The cases that --insecure lets through with a warning.
		warns := map[string]bool{"insecure": true, "insecure with TLS": true}
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := checkExposure(c.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if c.wants == nil {
				require.NoError(t, err)
				// --insecure is said in the log, where it lets in what
				// would have been refused, and only there.
				warned := strings.Contains(logs.String(), "serving beyond loopback without")
				require.Equal(t, warns[c.name], warned, "log: %s", logs.String())
				return
			}
			require.Error(t, err)
			for _, want := range c.wants {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

// fakeAuthenticator stands for any lroauth.Authenticator: checkExposure
// only looks whether there is one.
type fakeAuthenticator struct{ lroauth.Authenticator }

// peerRecorder is the gRPC test service; EmptyCall keeps the caller's peer.
type peerRecorder struct {
	testgrpc.UnimplementedTestServiceServer
	mu    sync.Mutex
	peers []*peer.Peer
}

func (r *peerRecorder) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no peer")
	}
	r.mu.Lock()
	r.peers = append(r.peers, p)
	r.mu.Unlock()
	return &testgrpc.Empty{}, nil
}

func (r *peerRecorder) last(t *testing.T) *peer.Peer {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.peers)
	return r.peers[len(r.peers)-1]
}

// tlsBundle is a TLS server with a gRPC test service, and the TLS state of
// the HTTP requests it served, as ConnContext stored them.
type tlsBundle struct {
	srv     *Server
	ca      *tlstest.CA
	cert    *tlstest.Cert
	grpc    *peerRecorder
	httpMu  sync.Mutex
	httpTLS []*tls.ConnectionState // per HTTP request, nil without TLS
}

func startTLS(t *testing.T, clientCA string, logger *slog.Logger) *tlsBundle {
	t.Helper()
	b := &tlsBundle{ca: tlstest.NewCA(t, "server"), grpc: &peerRecorder{}}
	b.cert = b.ca.Server(t)
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, Config{
		Addr:     "127.0.0.1:0",
		DB:       "sqlite:" + filepath.Join(t.TempDir(), "lro.db"),
		Client:   lro.Config{Workers: -1, ShutdownGrace: 100 * time.Millisecond},
		Register: demo.Register,
		Logger:   logger,
		TLS:      &TLSConfig{CertFile: b.cert.CertFile, KeyFile: b.cert.KeyFile, ClientCAFile: clientCA},
	})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	b.srv = srv
	testgrpc.RegisterTestServiceServer(srv.grpc, b.grpc)
	// The test service over HTTP, as lrohttp transcodes the lro services:
	// vanguard hands the call to the grpc.Server in-process.
	testTranscoder, err := vanguard.NewTranscoder([]*vanguard.Service{vanguard.NewService(
		testgrpc.TestService_ServiceDesc.ServiceName, srv.grpc, vanguard.WithTargetProtocols(vanguard.ProtocolGRPC), vanguard.WithTargetCodecs(vanguard.CodecProto))})
	require.NoError(t, err)
	inner := srv.http.Handler
	srv.http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.httpMu.Lock()
		b.httpTLS = append(b.httpTLS, tlsconn.State(r.Context()))
		b.httpMu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/grpc.testing.TestService/") {
			tlsconn.Handler(testTranscoder).ServeHTTP(w, r) // as New wraps its handler
			return
		}
		inner.ServeHTTP(w, r)
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop within 30s")
		}
	})
	return b
}

func (b *tlsBundle) lastHTTPTLS(t *testing.T) *tls.ConnectionState {
	t.Helper()
	b.httpMu.Lock()
	defer b.httpMu.Unlock()
	require.NotEmpty(t, b.httpTLS)
	return b.httpTLS[len(b.httpTLS)-1]
}

// emptyCall calls the test service over gRPC with TLS config c.
func emptyCall(t *testing.T, addr string, c *tls.Config) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = testgrpc.NewTestServiceClient(conn).EmptyCall(ctx, &testgrpc.Empty{})
	return err
}

// httpsGet gets /healthz over HTTPS, with HTTP/2 if h2, else HTTP/1.1.
// httpsAnswer is what httpsGet returns of a response, whose body it has
// closed.
type httpsAnswer struct{ StatusCode, ProtoMajor int }

func httpsGet(t *testing.T, addr string, c *tls.Config, h2 bool) (httpsAnswer, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: c}
	if h2 {
		tr.ForceAttemptHTTP2 = true
	} else {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+addr+"/healthz", nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return httpsAnswer{}, err
	}
	resp.Body.Close()
	return httpsAnswer{resp.StatusCode, resp.ProtoMajor}, nil
}

// TestMTLSPeer: with a client CA, a client without a certificate is refused
// at the handshake, over gRPC and HTTPS; one with a certificate is served,
// and its subject reaches gRPC's peer info and the HTTP handlers.
func TestMTLSPeer(t *testing.T) {
	t.Parallel()
	clients := tlstest.NewCA(t, "clients")
	b := startTLS(t, clients.File, nil)
	addr := b.srv.Addr().String()
	alice := clients.Client(t, "alice")

	anonymous := &tls.Config{RootCAs: b.ca.Pool()}
	err := emptyCall(t, addr, anonymous)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	_, err = httpsGet(t, addr, anonymous, false)
	require.Error(t, err)

	// A certificate of another CA is refused as well.
	mallory := tlstest.NewCA(t, "other").Client(t, "mallory")
	err = emptyCall(t, addr, &tls.Config{RootCAs: b.ca.Pool(), Certificates: []tls.Certificate{mallory.TLS(t)}})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	withCert := &tls.Config{RootCAs: b.ca.Pool(), Certificates: []tls.Certificate{alice.TLS(t)}}
	require.NoError(t, emptyCall(t, addr, withCert))
	info, ok := b.grpc.last(t).AuthInfo.(credentials.TLSInfo)
	require.True(t, ok, "AuthInfo %T", b.grpc.last(t).AuthInfo)
	require.Equal(t, credentials.PrivacyAndIntegrity, info.SecurityLevel)
	require.NotEmpty(t, info.State.PeerCertificates)
	require.Equal(t, "alice", info.State.PeerCertificates[0].Subject.CommonName)
	require.NotEmpty(t, info.State.VerifiedChains)

	// Over HTTP (Connect's JSON, transcoded by vanguard), the gRPC service
	// sees the client's certificate in its peer as well.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+addr+"/grpc.testing.TestService/EmptyCall", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: withCert}, Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	b.grpc.mu.Lock()
	require.Len(t, b.grpc.peers, 2)
	b.grpc.mu.Unlock()
	info, ok = b.grpc.last(t).AuthInfo.(credentials.TLSInfo)
	require.True(t, ok, "AuthInfo %T over HTTP", b.grpc.last(t).AuthInfo)
	require.Equal(t, "alice", info.State.PeerCertificates[0].Subject.CommonName)

	for _, h2 := range []bool{false, true} {
		resp, err := httpsGet(t, addr, withCert, h2)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, map[bool]int{false: 1, true: 2}[h2], resp.ProtoMajor)
		state := b.lastHTTPTLS(t)
		require.NotNil(t, state)
		require.Equal(t, "alice", state.PeerCertificates[0].Subject.CommonName)
	}
}

// recordLogs is a slog handler that sends the messages of error records.
type recordLogs struct {
	slog.Handler
	errors chan string
}

func (h *recordLogs) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		select {
		case h.errors <- r.Message:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

// servedSerial returns the serial number of the certificate that the
// server at addr presents to a new connection.
func servedSerial(t *testing.T, addr string, c *tls.Config) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, c)
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// TestTLSReload: a changed certificate is served to new connections without
// a restart; a broken one is logged and the last good one is kept.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	logs := &recordLogs{Handler: slog.NewTextHandler(t.Output(), nil), errors: make(chan string, 1)}
	b := startTLS(t, "", slog.New(logs))
	addr := b.srv.Addr().String()
	c := &tls.Config{RootCAs: b.ca.Pool()}
	require.Equal(t, b.cert.Serial(), servedSerial(t, addr, c))

	next := b.ca.Server(t)
	require.NoError(t, os.WriteFile(b.cert.KeyFile, next.KeyPEM, 0o600))
	require.NoError(t, os.WriteFile(b.cert.CertFile, next.CertPEM, 0o600))
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(t, addr, c).Cmp(next.Serial()) != 0 {
		require.True(t, time.Now().Before(deadline), "the new certificate is not served within 10s")
		time.Sleep(50 * time.Millisecond)
	}

	require.NoError(t, os.WriteFile(b.cert.CertFile, []byte("not a certificate\n"), 0o600))
	deadline = time.Now().Add(10 * time.Second)
	for done := false; !done; {
		// Handshakes make the check; the error is logged once it ran.
		require.Equal(t, next.Serial(), servedSerial(t, addr, c))
		select {
		case msg := <-logs.errors:
			require.Contains(t, msg, "do not load")
			done = true
		case <-time.After(50 * time.Millisecond):
			require.True(t, time.Now().Before(deadline), "the broken certificate is not reported within 10s")
		}
	}
	require.Equal(t, next.Serial(), servedSerial(t, addr, c))
	require.NoError(t, emptyCall(t, addr, c))
}

// TestTLSBadFiles: files that do not load stop New, with a message that
// names the flag.
func TestTLSBadFiles(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("secret garbage"), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, c := range []struct {
		name string
		tls  TLSConfig
		want string
	}{
		{"no key", TLSConfig{CertFile: cert.CertFile}, "--tls-cert and --tls-key"},
		{"missing cert", TLSConfig{CertFile: missing, KeyFile: cert.KeyFile}, "--tls-cert/--tls-key"},
		{"garbage cert", TLSConfig{CertFile: garbage, KeyFile: cert.KeyFile}, "--tls-cert/--tls-key"},
		{"wrong key", TLSConfig{CertFile: cert.CertFile, KeyFile: ca.Server(t).KeyFile}, "--tls-cert/--tls-key"},
		{"garbage client CA", TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: garbage}, "--tls-client-ca"},
		{"missing client CA", TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: missing}, "--tls-client-ca"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(t.Context(), Config{Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "lro.db"), TLS: &c.tls})
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			require.NotContains(t, err.Error(), "secret garbage")
		})
	}
	_, err := New(t.Context(), Config{Addr: "0.0.0.0:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "lro.db")})
	require.Error(t, err)
	require.Contains(t, err.Error(), "--insecure")
	require.False(t, errors.Is(err, context.Canceled))
}

// TestClientCAReload: a changed client CA file decides the next handshakes:
// certificates of the old CA are refused, those of the new one accepted.
func TestClientCAReload(t *testing.T) {
	t.Parallel()
	oldCA, newCA := tlstest.NewCA(t, "old"), tlstest.NewCA(t, "new")
	caFile := filepath.Join(t.TempDir(), "clients.pem")
	require.NoError(t, os.WriteFile(caFile, oldCA.PEM, 0o600))
	b := startTLS(t, caFile, nil)
	addr := b.srv.Addr().String()
	withCert := func(c *tlstest.Cert) *tls.Config {
		return &tls.Config{RootCAs: b.ca.Pool(), Certificates: []tls.Certificate{c.TLS(t)}}
	}
	alice, bob := withCert(oldCA.Client(t, "alice")), withCert(newCA.Client(t, "bob"))
	require.NoError(t, emptyCall(t, addr, alice))
	require.Equal(t, codes.Unavailable, status.Code(emptyCall(t, addr, bob)))

	require.NoError(t, os.WriteFile(caFile, newCA.PEM, 0o600))
	deadline := time.Now().Add(10 * time.Second)
	for emptyCall(t, addr, bob) != nil {
		require.True(t, time.Now().Before(deadline), "the new client CA is not used within 10s")
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, codes.Unavailable, status.Code(emptyCall(t, addr, alice)))
	require.Equal(t, "bob", b.grpc.last(t).AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0].Subject.CommonName)
}
