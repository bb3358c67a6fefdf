package lrogrpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrohttp"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore/lrosqlite"
)

// The kinds and parents of the authorization tests; their kinds run on
// workers of the Workers service only, so operations stay pending until
// claimed.
const (
	kindResize = "images.resize"
	kindEncode = "video.encode"
	parentP1   = "projects/p1/locations/l1"
	parentP2   = "projects/p2/locations/l1"
)

// principalHeader names, in a test call's metadata (an HTTP header over
// HTTP), the principal of authzPrincipals that makes it.
const principalHeader = "X-Test-Principal"

var authzPrincipals = map[string][]string{
	"reader":   {"reader:*"},
	"starter":  {"starter:" + parentP1},
	"operator": {"operator:*"},
	"worker":   {"worker:images.*"},
	"admin":    {"admin:*"},
	"nobody":   nil,
}

// authzEnv is a server with WithAuthorize(lroauth.Grants), over gRPC and
// HTTP, whose calls carry the principal that principalHeader names.
type authzEnv struct {
	client *lro.Client
	conn   *grpc.ClientConn
	http   string // the HTTP server's URL
}

func newAuthzEnv(t *testing.T, authorize lroauth.AuthorizeFunc) *authzEnv {
	t.Helper()
	ctx := t.Context()
	store, err := lrosqlite.Open(ctx, ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	client, err := lro.NewClient(store, &lro.Config{Workers: -1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	for _, k := range []string{kindResize, kindEncode} {
		require.NoError(t, lro.Register(client, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{Name: k}))
	}
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, client.Stop(stopCtx))
	})

	authenticate := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if names := md.Get(principalHeader); len(names) == 1 {
			grants, err := lroauth.ParseGrants(authzPrincipals[names[0]])
			require.NoError(t, err)
			ctx = lroauth.NewContext(ctx, &lroauth.Principal{Name: names[0], Grants: grants})
		}
		return handler(ctx, req)
	}
	s := grpc.NewServer(grpc.ChainUnaryInterceptor(authenticate))
	lrogrpc.Register(s, client, lrogrpc.WithAuthorize(authorize))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		require.NoError(t, <-served)
	})
	h, err := lrohttp.NewHandler(s, &lrohttp.Config{Parents: []string{"projects/*/locations/*"}})
	require.NoError(t, err)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &authzEnv{client: client, conn: conn, http: hs.URL}
}

// as returns a context whose gRPC calls principal makes ("" for none).
func as(ctx context.Context, principal string) context.Context {
	if principal == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, principalHeader, principal)
}

func (e *authzEnv) ops() longrunningpb.OperationsClient {
	return longrunningpb.NewOperationsClient(e.conn)
}
func (e *authzEnv) lro() lropb.LroClient      { return lropb.NewLroClient(e.conn) }
func (e *authzEnv) work() lropb.WorkersClient { return lropb.NewWorkersClient(e.conn) }

// start starts an operation as admin.
func (e *authzEnv) start(t *testing.T, parent, kind string) *longrunningpb.Operation {
	t.Helper()
	op, err := e.client.StartOperation(t.Context(), kind, wrapperspb.String("in"), &lro.StartOptions{Parent: parent})
	require.NoError(t, err)
	return op
}

// state returns the operation's state as the client sees it: "pending",
// "running", or "done" when done.
func (e *authzEnv) state(t *testing.T, name string) string {
	t.Helper()
	op, info, err := e.client.GetOperationInfo(t.Context(), name)
	require.NoError(t, err)
	if op.GetDone() {
		return "done"
	}
	return info.State
}

func requireDenied(t *testing.T, err error, code codes.Code) {
	t.Helper()
	require.Equal(t, code, status.Code(err), "%v", err)
	st, _ := status.FromError(err)
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			reason = info.GetReason()
		}
	}
	require.NotEmpty(t, reason, "the error carries an ErrorInfo")
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, lroauth.Grants)
	ctx := t.Context()
	p1op := e.start(t, parentP1, kindResize)
	p2op := e.start(t, parentP2, kindResize)

	t.Run("Reader", func(t *testing.T) {
		ctx := as(ctx, "reader")
		_, err := e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p1op.GetName()})
		require.NoError(t, err)
		_, err = e.ops().ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parentP2 + "/operations"})
		require.NoError(t, err)
		_, err = e.ops().WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: p1op.GetName(), Timeout: durationpb.New(time.Millisecond)})
		require.NoError(t, err)
		kinds, err := e.lro().ListKinds(ctx, &lropb.ListKindsRequest{})
		require.NoError(t, err)
		require.Len(t, kinds.GetKinds(), 2)

		_, err = e.lro().StartOperation(ctx, &lropb.StartOperationRequest{Parent: parentP1, Kind: kindResize})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: p1op.GetName()})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: p1op.GetName()})
		requireDenied(t, err, codes.PermissionDenied)
		require.Equal(t, "pending", e.state(t, p1op.GetName()), "a refused cancel changes nothing")
		_, err = e.work().ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{kindResize}, Max: 1, Wait: durationpb.New(0)})
		requireDenied(t, err, codes.PermissionDenied)
		require.Equal(t, "pending", e.state(t, p1op.GetName()), "a refused claim claims nothing")
	})

	t.Run("Starter", func(t *testing.T) {
		ctx := as(ctx, "starter")
		op, err := e.lro().StartOperation(ctx, &lropb.StartOperationRequest{Parent: parentP1, Kind: kindResize})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(op.GetName(), parentP1+"/operations/"))
		_, err = e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p1op.GetName()})
		require.NoError(t, err, "a starter reads where it starts")

		list := func(parent string) int {
			resp, err := e.client.ListOperations(t.Context(), parent+"/operations", nil)
			require.NoError(t, err)
			return len(resp.GetOperations())
		}
		before := list(parentP2)
		_, err = e.lro().StartOperation(ctx, &lropb.StartOperationRequest{Parent: parentP2, Kind: kindResize})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.lro().StartOperation(ctx, &lropb.StartOperationRequest{Kind: kindResize})
		requireDenied(t, err, codes.PermissionDenied)
		require.Equal(t, before, list(parentP2), "a refused start starts nothing")

		_, err = e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p2op.GetName()})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parentP2})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()})
		requireDenied(t, err, codes.PermissionDenied)
	})

	t.Run("Operator", func(t *testing.T) {
		ctx := as(ctx, "operator")
		op := e.start(t, parentP2, kindResize)
		_, err := e.ops().CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		require.Equal(t, "done", e.state(t, op.GetName()))
		_, err = e.ops().DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		_, err = e.client.GetOperation(t.Context(), op.GetName())
		require.ErrorIs(t, err, lro.ErrNotFound)
		_, err = e.lro().StartOperation(ctx, &lropb.StartOperationRequest{Kind: kindResize})
		require.NoError(t, err, "an operator may start")
		_, err = e.work().ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{kindResize}, Max: 1, Wait: durationpb.New(0)})
		requireDenied(t, err, codes.PermissionDenied)
	})

	t.Run("Worker", func(t *testing.T) {
		ctx := as(ctx, "worker")
		w := e.work()
		_, err := w.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{kindEncode}, Max: 1, Wait: durationpb.New(0)})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = w.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{kindResize, kindEncode}, Max: 1, Wait: durationpb.New(0)})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = w.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Max: 1, Wait: durationpb.New(0)})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p1op.GetName()})
		requireDenied(t, err, codes.PermissionDenied)

		// A lease on an operation of a kind the worker lacks (claimed by
		// an admin) is not the worker's to renew, finish or release.
		encode := e.start(t, "", kindEncode)
		theirs, err := w.ClaimOperations(as(t.Context(), "admin"), &lropb.ClaimOperationsRequest{Kinds: []string{kindEncode}, Max: 1, Wait: durationpb.New(0)})
		require.NoError(t, err)
		require.Len(t, theirs.GetOperations(), 1)
		claimed := theirs.GetOperations()[0]
		require.Equal(t, encode.GetName(), claimed.GetName())
		lease := &lropb.Lease{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken()}
		_, err = w.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
			{Name: lease.Name, LeaseToken: lease.LeaseToken}}})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = w.RenewLeases(ctx, &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{{Name: lease.Name, LeaseToken: lease.LeaseToken}}})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = w.ReleaseOperations(ctx, &lropb.ReleaseOperationsRequest{Leases: []*lropb.Lease{lease}})
		requireDenied(t, err, codes.PermissionDenied)
		require.Equal(t, "running", e.state(t, encode.GetName()), "a refused finish or release changes nothing")

		// Its own kind it claims and finishes; a forged token skips the
		// check and fails on its own.
		mine, err := w.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{kindResize}, Max: 1, Wait: durationpb.New(0)})
		require.NoError(t, err)
		require.Len(t, mine.GetOperations(), 1)
		got := mine.GetOperations()[0]
		fin, err := w.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
			{Name: got.GetName(), LeaseToken: got.GetLeaseToken()},
			{Name: got.GetName(), LeaseToken: "forged"},
		}})
		require.NoError(t, err)
		require.Equal(t, int32(codes.OK), fin.GetResults()[0].GetCode())
		require.Equal(t, int32(codes.InvalidArgument), fin.GetResults()[1].GetCode())
		require.Equal(t, "done", e.state(t, got.GetName()))
	})

	t.Run("Admin", func(t *testing.T) {
		ctx := as(ctx, "admin")
		op, err := e.lro().StartOperation(ctx, &lropb.StartOperationRequest{Parent: parentP2, Kind: kindEncode})
		require.NoError(t, err)
		_, err = e.ops().CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		_, err = e.ops().DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		_, err = e.work().ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Max: 1, Wait: durationpb.New(0)})
		require.NotEqual(t, codes.PermissionDenied, status.Code(err), "%v", err)
	})

	t.Run("NoPrincipal", func(t *testing.T) {
		_, err := e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p1op.GetName()})
		requireDenied(t, err, codes.Unauthenticated)
	})

	t.Run("ExistenceNotLeaked", func(t *testing.T) {
		// AIP-211: an operation outside the caller's grants is
		// PERMISSION_DENIED whether it exists or not; a malformed name,
		// checked without reading anything, is INVALID_ARGUMENT.
		ctx := as(ctx, "nobody")
		_, err := e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p1op.GetName()})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: parentP1 + "/operations/00000000-0000-4000-8000-000000000000"})
		requireDenied(t, err, codes.PermissionDenied)
		_, err = e.ops().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "not/a/name"})
		requireDenied(t, err, codes.InvalidArgument)
		_, err = e.ops().ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "bad//parent"})
		requireDenied(t, err, codes.InvalidArgument)
	})

	t.Run("HTTP", func(t *testing.T) {
		call := func(principal, method, path, body string) int {
			req, err := http.NewRequestWithContext(ctx, method, e.http+path, strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if principal != "" {
				req.Header.Set(principalHeader, principal)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			t.Logf("%s %s %s: %d %s", principal, method, path, resp.StatusCode, b)
			return resp.StatusCode
		}
		p1op := e.start(t, parentP1, kindEncode)
		start := `{"kind":"` + kindResize + `","input":"x"}`
		require.Equal(t, http.StatusOK, call("reader", http.MethodGet, "/v1/"+p1op.GetName(), ""))
		require.Equal(t, http.StatusOK, call("reader", http.MethodGet, "/v1/"+parentP1+"/operations", ""))
		require.Equal(t, http.StatusForbidden, call("reader", http.MethodPost, "/v1/"+parentP1+"/operations:start", start))
		require.Equal(t, http.StatusOK, call("starter", http.MethodPost, "/v1/"+parentP1+"/operations:start", start))
		require.Equal(t, http.StatusForbidden, call("starter", http.MethodPost, "/v1/"+parentP2+"/operations:start", start))
		require.Equal(t, http.StatusForbidden, call("reader", http.MethodPost, "/v1/"+p1op.GetName()+":cancel", "{}"))
		require.Equal(t, "pending", e.state(t, p1op.GetName()))
		require.Equal(t, http.StatusForbidden, call("worker", http.MethodPost, "/v1/workers:claim",
			`{"kinds":["`+kindEncode+`"],"max":1,"wait":"0s"}`))
		require.Equal(t, http.StatusUnauthorized, call("", http.MethodGet, "/v1/"+p1op.GetName(), ""))
	})
}

// An AuthorizeFunc's own errors: an *lro.Error keeps its code, any other
// error is PERMISSION_DENIED.
func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	var refuse error
	e := newAuthzEnv(t, func(ctx context.Context, p *lroauth.Principal, call *lroauth.Call) error { return refuse })
	ctx := t.Context()
	refuse = errors.New("no")
	_, err := e.lro().ListKinds(ctx, &lropb.ListKindsRequest{})
	requireDenied(t, err, codes.PermissionDenied)
	refuse = &lro.Error{Code: codes.Unavailable, Reason: "POLICY_DOWN", Message: "the policy service is down"}
	_, err = e.lro().ListKinds(ctx, &lropb.ListKindsRequest{})
	requireDenied(t, err, codes.Unavailable)
}
