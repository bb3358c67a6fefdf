package server_test

// Tests of the server's connection boundary, in-process on 127.0.0.1:0:
// which connections go to gRPC and which to HTTP, what requests HTTP
// accepts, and how connections are bounded.

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
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
			status, body := httpGet(t.Context(), t, srv.Addr().String(), host, path)
			require.Equal(t, http.StatusOK, status, "Host %q, %s: %s", host, path, body)
		}
	}
	for _, host := range []string{
		"attacker.example:" + port, "attacker.example", "example.com", "sub.lro.example.com",
		"localhost.attacker.example", "127.0.0.1.nip.io:" + port,
	} {
		for _, path := range []string{"/v1/operations", "/healthz", "/v1/kinds"} {
			status, body := httpGet(t.Context(), t, srv.Addr().String(), host, path)
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
	status, body := httpGet(t.Context(), t, open.Addr().String(), "attacker.example", "/v1/operations")
	require.Equal(t, http.StatusOK, status, body)
}

// rawConn dials srv over TCP, closed when the test ends.
func rawConn(t *testing.T, srv *server.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads c until the server closes it, and fails if that
// takes longer than within. It returns what was read.
func readUntilClosed(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
	b, err := io.ReadAll(c)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the server kept the connection open for %v (read so far: %q)", within, b)
	}
	return string(b)
}

// TestSlowBodyIsCut: a request whose body does not arrive within the read
// timeout is answered and its connection closed, instead of holding it.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{HTTPTimeouts: server.HTTPTimeouts{Read: 300 * time.Millisecond}})
	c := rawConn(t, srv)
	started := time.Now()
	_, err := io.WriteString(c, "POST /v1/operations:start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\"")
	require.NoError(t, err)
	got := readUntilClosed(t, c, 10*time.Second)
	require.GreaterOrEqual(t, time.Since(started), 300*time.Millisecond)
	if got != "" {
		require.Contains(t, got, "HTTP/1.1 400 ")
		require.Contains(t, got, "BODY_TIMEOUT")
	}
}

// TestIdleConnectionClosed: a kept-alive connection that sends no next
// request is closed after the idle timeout.
func TestIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{HTTPTimeouts: server.HTTPTimeouts{Idle: 300 * time.Millisecond}})
	c := rawConn(t, srv)
	// The connection goes idle after the response, so after this.
	sent := time.Now()
	_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	readUntilClosed(t, c, 10*time.Second)
	require.GreaterOrEqual(t, time.Since(sent), 300*time.Millisecond)
}

// TestWaitCap: waits beyond --max-waits are RESOURCE_EXHAUSTED (HTTP 429)
// at once, while the held waits go on, and a Get and /healthz still
// answer; once the held waits end, waits are taken again.
func TestWaitCap(t *testing.T) {
	t.Parallel()
	const maxWaits = 3
	srv := newServer(t, server.Config{MaxWaits: maxWaits, MaxConnections: 16})
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ops := longrunningpb.NewOperationsClient(conn)
	input, err := structpb.NewValue(map[string]any{"duration": "60s"})
	require.NoError(t, err)
	op, err := lropb.NewLroClient(conn).StartOperation(t.Context(), &lropb.StartOperationRequest{
		Kind: demo.KindSleep, KindInput: &lropb.StartOperationRequest_Input{Input: input}})
	require.NoError(t, err)
	base := "http://" + srv.Addr().String() + "/v1/" + op.GetName()

	// The held waits: over HTTP, each on a connection of its own. One that
	// comes while the probe below holds a place is refused: it tries
	// again.
	held := make(chan error, maxWaits)
	for range maxWaits {
		go func() {
			client := &http.Client{Transport: &http.Transport{}}
			for {
				resp, err := client.Post(base+":wait", "application/json", strings.NewReader(`{"timeout":"30s"}`))
				if err != nil {
					held <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusTooManyRequests:
					time.Sleep(time.Millisecond)
					continue
				case http.StatusOK:
					held <- nil
				default:
					held <- fmt.Errorf("held wait: %d %s", resp.StatusCode, b)
				}
				return
			}
		}()
	}
	// Once every held wait is under way, one more is refused at once.
	require.Eventually(t, func() bool {
		_, err := ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Millisecond)})
		return status.Code(err) == codes.ResourceExhausted
	}, 10*time.Second, 5*time.Millisecond, "a wait beyond the cap is refused")
	_, err = ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName()})
	st := status.Convert(err)
	require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
	require.Contains(t, st.Message(), "at most 3")
	require.Len(t, st.Details(), 1)
	require.Equal(t, "TOO_MANY_WAITS", st.Details()[0].(*errdetails.ErrorInfo).GetReason())

	resp, err := http.Post(base+":wait", "application/json", strings.NewReader(`{"timeout":"30s"}`))
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), `"status":"RESOURCE_EXHAUSTED"`)
	require.Contains(t, string(b), `"reason":"TOO_MANY_WAITS"`)
	require.True(t, resp.Close, "a wait refused closes its connection, for others to use")

	// Everything else still answers, over HTTP and gRPC.
	code, body := httpGet(t.Context(), t, srv.Addr().String(), "", "/v1/"+op.GetName())
	require.Equal(t, http.StatusOK, code, body)
	code, body = httpGet(t.Context(), t, srv.Addr().String(), "", "/healthz")
	require.Equal(t, http.StatusOK, code, body)
	_, err = ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
	require.NoError(t, err)

	// The held waits end with the operation; then waits are taken again.
	_, err = ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	for range maxWaits {
		select {
		case err := <-held:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("a held wait did not end with its operation")
		}
	}
	done, err := ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	require.True(t, done.GetDone())
}

func httpPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestConnectionCap: a connection beyond --max-connections is closed at
// once; when one of the open ones closes, a new one is served.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	const maxConns = 3
	srv := newServer(t, server.Config{MaxConnections: maxConns, MaxWaits: 1})
	get := func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	var open []net.Conn
	for range maxConns {
		c := rawConn(t, srv)
		require.NoError(t, get(c))
		open = append(open, c)
	}
	extra := rawConn(t, srv)
	require.NoError(t, extra.SetDeadline(time.Now().Add(10*time.Second)))
	require.Error(t, get(extra), "a connection beyond the cap is refused")

	open[0].Close()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return get(c) == nil
	}, 10*time.Second, 10*time.Millisecond, "a place freed by a closed connection is taken again")
	for _, c := range open[1:] {
		require.NoError(t, get(c), "the open connections are still served")
	}
}

// TestLongWaitOutlivesWriteTimeout: the write timeout does not cut an
// HTTP wait's response, which may come up to --wait-max later.
func TestLongWaitOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{HTTPTimeouts: server.HTTPTimeouts{Write: 200 * time.Millisecond}})
	code, body := httpPost(t, "http://"+srv.Addr().String()+"/v1/operations:start", `{"kind":"demo.sleep","input":{"duration":"60s"}}`)
	require.Equal(t, http.StatusOK, code, body)
	var op struct{ Name string }
	require.NoError(t, json.Unmarshal([]byte(body), &op))
	started := time.Now()
	code, body = httpPost(t, "http://"+srv.Addr().String()+"/v1/"+op.Name+":wait", `{"timeout":"0.6s"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.GreaterOrEqual(t, time.Since(started), 600*time.Millisecond)
	require.Contains(t, body, op.Name)
}
