package server_test

// Tests of the server's connection boundary, in-process on 127.0.0.1:0:
// which connections go to gRPC and which to HTTP, what requests HTTP
// accepts, and how connections are bounded.

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lro"
	"lro.dev/lro/lropb"
)

// newServer runs the server assembly in-process on 127.0.0.1:0 over a
// SQLite file of the test's, with the demo kind, until the test ends.
// Zero fields of config get test values.
func newServer(t *testing.T, config server.Config) *server.Server {
	t.Helper()
	config.Addr = cmp.Or(config.Addr, "127.0.0.1:0")
	config.DB = cmp.Or(config.DB, "sqlite:"+filepath.Join(t.TempDir(), "lro.db"))
	config.Client.ShutdownGrace = cmp.Or(config.Client.ShutdownGrace, 100*time.Millisecond)
	if config.Register == nil {
		config.Register = demo.Register
	}
	if config.Logger == nil {
		config.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, config)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
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
	return srv
}

// TestGRPCContentSubtypes: a gRPC client whose first request on a fresh
// connection says content-type application/grpc+proto (grpc-go sends it
// with CallContentSubtype or ForceCodec) reaches the gRPC server, not HTTP.
func TestGRPCContentSubtypes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1}})
	for _, c := range []struct {
		name string
		opt  grpc.CallOption
	}{
		{"plain", nil},
		{"CallContentSubtype", grpc.CallContentSubtype("proto")},
		{"ForceCodecV2", grpc.ForceCodecV2(encoding.GetCodecV2("proto"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []grpc.DialOption
			opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if c.opt != nil {
				opts = append(opts, grpc.WithDefaultCallOptions(c.opt))
			}
			// A fresh connection per case: cmux sorts a connection by its
			// first request.
			conn, err := grpc.NewClient(srv.Addr().String(), opts...)
			require.NoError(t, err)
			defer conn.Close()
			kinds, err := lropb.NewLroClient(conn).ListKinds(t.Context(), &lropb.ListKindsRequest{})
			require.NoError(t, err)
			require.NotEmpty(t, kinds.GetKinds())
			_, err = longrunningpb.NewOperationsClient(conn).ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
			require.NoError(t, err)
		})
	}
}

// httpGet sends GET path to srv with the Host header host ("" leaves the
// address), and returns the status and body.
func httpGet(t *testing.T, srv *server.Server, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.Addr().String()+path, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestHostCheck: HTTP requests must name the server in their Host (an IP
// address, localhost, or an allowed name), so that a web page whose name
// was rebound to the server's address cannot use it through a browser.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1}, AllowedHosts: []string{"lro.example.com"}})
	port := strconv.Itoa(srv.Addr().(*net.TCPAddr).Port)
	for _, host := range []string{
		"", "127.0.0.1:" + port, "127.0.0.1", "[::1]:" + port, "[::1]", "10.1.2.3:8080",
		"localhost:" + port, "LOCALHOST", "localhost.", "app.localhost:" + port,
		"lro.example.com", "LRO.Example.COM:" + port, "lro.example.com.:443",
	} {
		for _, path := range []string{"/v1/operations", "/healthz"} {
			status, body := httpGet(t, srv, host, path)
			require.Equal(t, http.StatusOK, status, "Host %q, %s: %s", host, path, body)
		}
	}
	for _, host := range []string{
		"attacker.example:" + port, "attacker.example", "example.com", "sub.lro.example.com",
		"localhost.attacker.example", "127.0.0.1.nip.io:" + port,
	} {
		for _, path := range []string{"/v1/operations", "/healthz", "/v1/kinds"} {
			status, body := httpGet(t, srv, host, path)
			require.Equal(t, http.StatusForbidden, status, "Host %q, %s: %s", host, path, body)
			require.Contains(t, body, `"status":"PERMISSION_DENIED"`)
			require.Contains(t, body, `"reason":"HOST_NOT_ALLOWED"`)
			require.NotContains(t, body, "operations/", "nothing of the store is shown")
		}
	}

	// gRPC does not check :authority (no browser speaks it).
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("attacker.example"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = lropb.NewLroClient(conn).ListKinds(t.Context(), &lropb.ListKindsRequest{})
	require.NoError(t, err)

	// "*" allows any name.
	open := newServer(t, server.Config{Client: lro.Config{Workers: -1}, AllowedHosts: []string{"*"}})
	status, body := httpGet(t, open, "attacker.example", "/v1/operations")
	require.Equal(t, http.StatusOK, status, body)
}
