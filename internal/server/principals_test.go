package server_test

// Tests of what the server does with the caller's principal: per-principal
// limits, authorization, the audit log; and of CORS and the request cap.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lropb"
)

// principalHeader names the principal of a test call (metadata over gRPC,
// a header over HTTP); testAuthentication gives it the grants of
// testGrants.
const principalHeader = "X-Test-Principal"

var testGrants = map[string][]string{
	"alice":  {"admin:*"},
	"bob":    {"admin:*"},
	"reader": {"reader:*"},
}

// kindRemote is run by workers of the Workers service only.
const kindRemote = "test.remote"

// authServer is newServer with testAuthentication and the remote kind
// besides the demo one.
func authServer(t *testing.T, config server.Config) *server.Server {
	t.Helper()
	server.SetTestAuthentication(&config, func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if names := md.Get(principalHeader); len(names) == 1 {
			grants, err := lroauth.ParseGrants(testGrants[names[0]])
			if err != nil {
				return nil, err
			}
			ctx = lroauth.NewContext(ctx, &lroauth.Principal{Name: names[0], Grants: grants})
		}
		return handler(ctx, req)
	})
	config.Register = func(c *lro.Client) error {
		if err := demo.Register(c); err != nil {
			return err
		}
		return lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{Name: kindRemote})
	}
	return newServer(t, config)
}

func dial(t *testing.T, srv *server.Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func as(ctx context.Context, principal string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, principalHeader, principal)
}

// errorReason returns the ErrorInfo reason of a status error.
func errorReason(t *testing.T, err error) string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
	return ""
}

// startSleep starts a demo.sleep operation that sleeps a minute.
func startSleep(t *testing.T, conn *grpc.ClientConn, ctx context.Context) *longrunningpb.Operation {
	t.Helper()
	input, err := structpb.NewValue(map[string]any{"duration": "60s"})
	require.NoError(t, err)
	op, err := lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{
		Kind: demo.KindSleep, KindInput: &lropb.StartOperationRequest_Input{Input: input}})
	require.NoError(t, err)
	return op
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	srv := authServer(t, server.Config{Limits: server.PrincipalLimits{Rate: 0.01, Burst: 2}})
	kinds := lropb.NewLroClient(dial(t, srv))
	ctx := t.Context()
	for range 2 {
		_, err := kinds.ListKinds(as(ctx, "alice"), &lropb.ListKindsRequest{})
		require.NoError(t, err)
	}
	_, err := kinds.ListKinds(as(ctx, "alice"), &lropb.ListKindsRequest{})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.Equal(t, "RATE_LIMITED", errorReason(t, err))
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	require.NotNil(t, retry, "the error says when to retry")
	require.Greater(t, retry.GetRetryDelay().AsDuration(), 90*time.Second, "at 0.01/s, a token comes in 100s")
	require.LessOrEqual(t, retry.GetRetryDelay().AsDuration(), 100*time.Second)

	// Each principal has its own bucket; calls without one have none.
	_, err = kinds.ListKinds(as(ctx, "bob"), &lropb.ListKindsRequest{})
	require.NoError(t, err)
	for range 5 {
		_, err = kinds.ListKinds(ctx, &lropb.ListKindsRequest{})
		require.NoError(t, err)
	}

	// Over HTTP: 429 with Retry-After, in seconds.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr().String()+"/v1/kinds", nil)
	require.NoError(t, err)
	req.Header.Set(principalHeader, "alice")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), `"reason":"RATE_LIMITED"`)
	require.Contains(t, string(b), `google.rpc.RetryInfo`)
	require.Equal(t, "100", resp.Header.Get("Retry-After"))
}

func TestPrincipalWaits(t *testing.T) {
	t.Parallel()
	srv := authServer(t, server.Config{Limits: server.PrincipalLimits{Waits: 1}})
	conn := dial(t, srv)
	ops := longrunningpb.NewOperationsClient(conn)
	ctx := t.Context()
	op := startSleep(t, conn, as(ctx, "alice"))

	held := make(chan error, 1)
	go func() {
		for {
			// Refused while a probe below holds the place: try again.
			_, err := ops.WaitOperation(as(ctx, "alice"), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(30 * time.Second)})
			if status.Code(err) != codes.ResourceExhausted {
				held <- err
				return
			}
		}
	}()
	// Once alice's wait is under way, her next one is refused; nothing
	// tells the test when it is, so it polls.
	var err error
	require.Eventually(t, func() bool {
		_, err = ops.WaitOperation(as(ctx, "alice"), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Millisecond)})
		return status.Code(err) == codes.ResourceExhausted
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "TOO_MANY_WAITS", errorReason(t, err))
	_, err = lropb.NewWorkersClient(conn).ClaimOperations(as(ctx, "alice"), &lropb.ClaimOperationsRequest{
		Kinds: []string{kindRemote}, Max: 1, Wait: durationpb.New(time.Millisecond)})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "a claim that waits is a long poll: %v", err)
	_, err = lropb.NewWorkersClient(conn).ClaimOperations(as(ctx, "alice"), &lropb.ClaimOperationsRequest{
		Kinds: []string{kindRemote}, Max: 1, Wait: durationpb.New(0)})
	require.NoError(t, err, "a claim that does not wait is no long poll")
	_, err = ops.WaitOperation(as(ctx, "bob"), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Millisecond)})
	require.NoError(t, err, "bob's waits are his own")

	_, err = ops.CancelOperation(as(ctx, "alice"), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	select {
	case err := <-held:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the held wait did not end with its operation")
	}
	_, err = ops.WaitOperation(as(ctx, "alice"), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Millisecond)})
	require.NoError(t, err, "the place is given back")
}

func TestMaxClaims(t *testing.T) {
	t.Parallel()
	srv := authServer(t, server.Config{Limits: server.PrincipalLimits{Claims: 2}})
	for range 3 {
		_, err := srv.Client().StartOperation(t.Context(), kindRemote, wrapperspb.String("x"), nil)
		require.NoError(t, err)
	}
	resp, err := lropb.NewWorkersClient(dial(t, srv)).ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{
		Kinds: []string{kindRemote}, Max: 10, Wait: durationpb.New(0)})
	require.NoError(t, err)
	require.Len(t, resp.GetOperations(), 2, "a claim takes at most --max-claims")
}

// syncBuffer is a bytes.Buffer that a logger may write from several
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was logged so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the audit records logged so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		if r["msg"] == "audit" {
			delete(r, "time")
			delete(r, "level")
			delete(r, "msg")
			out = append(out, r)
		}
	}
	return out
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	srv := authServer(t, server.Config{
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Authorize: lroauth.Grants,
	})
	conn := dial(t, srv)
	ops := longrunningpb.NewOperationsClient(conn)
	work := lropb.NewWorkersClient(conn)
	ctx := as(t.Context(), "alice")

	op := startSleep(t, conn, ctx)
	_, err := ops.CancelOperation(as(t.Context(), "reader"), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	done, err := ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(10 * time.Second)})
	require.NoError(t, err)
	require.True(t, done.GetDone())
	_, err = ops.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	remote, err := srv.Client().StartOperation(t.Context(), kindRemote, wrapperspb.String("x"), nil)
	require.NoError(t, err)
	claimed, err := work.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{kindRemote}, Max: 1, Wait: durationpb.New(0)})
	require.NoError(t, err)
	require.Len(t, claimed.GetOperations(), 1)
	c := claimed.GetOperations()[0]
	_, err = work.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
		{Name: c.GetName(), LeaseToken: c.GetLeaseToken()}, {Name: c.GetName(), LeaseToken: "forged"}}})
	require.NoError(t, err)
	_, err = ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: remote.GetName()})
	require.NoError(t, err)

	require.Equal(t, []map[string]any{
		{"principal": "alice", "method": lroauth.MethodStartOperation, "name": op.GetName(), "kind": demo.KindSleep, "parent": ""},
		{"principal": "reader", "method": lroauth.MethodCancelOperation, "name": op.GetName(), "code": "PERMISSION_DENIED"},
		{"principal": "alice", "method": lroauth.MethodCancelOperation, "name": op.GetName()},
		{"principal": "alice", "method": lroauth.MethodDeleteOperation, "name": op.GetName()},
		{"principal": "alice", "method": lroauth.MethodFinishOperations, "names": []any{remote.GetName(), remote.GetName()},
			"outcomes": []any{"OK", "INVALID_ARGUMENT"}},
	}, logs.records(t), "one line per mutating call, none for reads or claims")
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	// answer is what the test reads of a response, whose body is closed.
	type answer struct {
		StatusCode int
		Header     http.Header
	}
	preflight := func(srv *server.Server, origin string) answer {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, "http://"+srv.Addr().String()+"/v1/operations:start", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-goog-api-client")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return answer{resp.StatusCode, resp.Header}
	}
	get := func(srv *server.Server, origin string) answer {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.Addr().String()+"/v1/kinds", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return answer{resp.StatusCode, resp.Header}
	}
	accessControl := func(h http.Header) []string {
		var out []string
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				out = append(out, k)
			}
		}
		return out
	}

	t.Run("Off", func(t *testing.T) {
		srv := newServer(t, server.Config{})
		resp := preflight(srv, origin)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("Allow"), "lrohttp answers OPTIONS")
		require.Empty(t, accessControl(resp.Header))
		require.Empty(t, accessControl(get(srv, origin).Header))
	})

	t.Run("On", func(t *testing.T) {
		srv := newServer(t, server.Config{CORSOrigins: []string{origin}})
		resp := preflight(srv, origin)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), http.MethodPost)
		require.Equal(t, "authorization,content-type,x-goog-api-client", strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")))
		require.Empty(t, resp.Header.Get("Allow"), "preflights go to CORS, not to lrohttp")

		simple := get(srv, origin)
		require.Equal(t, origin, simple.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, simple.Header.Get("Access-Control-Expose-Headers"), "Lro-State")

		require.Empty(t, preflight(srv, "https://evil.example.com").Header.Get("Access-Control-Allow-Origin"))
		require.Empty(t, accessControl(get(srv, "https://evil.example.com").Header))
	})

	t.Run("Any", func(t *testing.T) {
		srv := newServer(t, server.Config{CORSOrigins: []string{"*"}})
		require.Equal(t, "*", get(srv, "https://anywhere.example").Header.Get("Access-Control-Allow-Origin"))
	})
}

func TestMaxRequestBytes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{MaxRequestBytes: 1000})
	big := strings.Repeat("x", 2000)
	input, err := structpb.NewValue(map[string]any{"duration": "1s", "pad": big})
	require.NoError(t, err)
	_, err = lropb.NewLroClient(dial(t, srv)).StartOperation(t.Context(), &lropb.StartOperationRequest{
		Kind: demo.KindSleep, KindInput: &lropb.StartOperationRequest_Input{Input: input}})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	code, body := httpPost(t, "http://"+srv.Addr().String()+"/v1/operations:start", `{"kind":"demo.sleep","input":{"pad":"`+big+`"}}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"reason":"REQUEST_TOO_LARGE"`)
	code, body = httpPost(t, "http://"+srv.Addr().String()+"/v1/operations:start", `{"kind":"demo.sleep","input":{"duration":"1s"}}`)
	require.Equal(t, http.StatusOK, code, body)
}
