package lrogrpc_test

// The test environment: an lro client on an in-memory SQLite store, served by
// a real gRPC server on 127.0.0.1, and followed with Google's own Go client
// for google.longrunning.Operations.

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"testing"
	"time"

	autogen "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/testkinds"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore/lrosqlite"
)

// The test kinds.
const (
	// kindEcho (SleepRequest → StringValue) returns the request's
	// fail_message at once.
	kindEcho = "test.echo"
	// kindBlock (StringValue → StringValue) blocks until the test releases
	// the gate named by the request's value, or its context ends.
	kindBlock = "test.block"
	// kindMeta (StringValue → StringValue, metadata SleepMetadata) sets its
	// metadata, then blocks like kindBlock.
	kindMeta = "test.meta"
	// kindFail (StringValue) fails with testkinds.FailStatus(value).
	kindFail = "test.fail"
	// kindPlain (StringValue) fails with a plain error, "plain failure: " +
	// value.
	kindPlain = "test.plain"
	// kindEmpty (Empty → Empty) returns a nil response.
	kindEmpty = "test.empty"
	// kindRetried (StringValue) fails with UNAVAILABLE and the value as its
	// message, to run again in an hour.
	kindRetried = "test.retried"
	// kindStubborn (StringValue → StringValue) blocks until released, and
	// succeeds even when its context is cancelled.
	kindStubborn = "test.stubborn"
	// kindRemote (StringValue → StringValue, metadata SleepMetadata) is
	// run by workers of the Workers service only.
	kindRemote = "test.remote"
)

const (
	metaProgress = 42 // the progress kindMeta reports
	awaitTimeout = 10 * time.Second
)

// env is one server with its clients.
type env struct {
	client *lro.Client
	ops    *autogen.OperationsClient
	lro    lropb.LroClient
	work   lropb.WorkersClient
	raw    longrunningpb.OperationsClient // the generated stub, for what the wrapper hides
	gates  testkinds.Gates
	// waitCalls receives the name of each WaitOperation call as it reaches
	// the server, so a test knows a wait is under way.
	waitCalls chan string
}

// newEnv starts an environment. Zero fields of cfg get test-friendly
// values; cfg.Workers -1 gives a server that runs nothing, so that its
// operations stay pending.
func newEnv(t *testing.T, cfg lro.Config) *env {
	t.Helper()
	ctx := t.Context()
	store, err := lrosqlite.Open(ctx, ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.PollInterval = cmp.Or(cfg.PollInterval, 50*time.Millisecond)
	cfg.ShutdownGrace = cmp.Or(cfg.ShutdownGrace, 100*time.Millisecond)
	cfg.MetadataInterval = cmp.Or(cfg.MetadataInterval, 20*time.Millisecond)
	client, err := lro.NewClient(store, &cfg)
	require.NoError(t, err)
	e := &env{client: client, waitCalls: make(chan string, 64)}
	e.register(t)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, client.Stop(stopCtx))
	})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer(append(lrogrpc.ServerOptions(), grpc.ChainUnaryInterceptor(e.observe))...)
	lrogrpc.Register(s, client)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		require.NoError(t, <-served)
	})

	addr := lis.Addr().String()
	e.ops, err = autogen.NewOperationsClient(ctx,
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	require.NoError(t, err)
	t.Cleanup(func() { e.ops.Close() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	e.lro = lropb.NewLroClient(conn)
	e.work = lropb.NewWorkersClient(conn)
	e.raw = longrunningpb.NewOperationsClient(conn)
	return e
}

// observe is a server interceptor that reports WaitOperation calls.
func (e *env) observe(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if r, ok := req.(*longrunningpb.WaitOperationRequest); ok {
		select {
		case e.waitCalls <- r.GetName():
		default:
		}
	}
	return handler(ctx, req)
}

func (e *env) register(t *testing.T) {
	t.Helper()
	c := e.client
	require.NoError(t, demo.Register(c))
	require.NoError(t, lro.Register(c, lro.Kind[*demopb.SleepRequest, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: kindEcho,
		Run: func(ctx context.Context, job *lro.Job[*demopb.SleepRequest, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return wrapperspb.String(job.Request.GetFailMessage()), nil
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: kindBlock,
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return e.gates.Get(job.Request.GetValue()).Hold(ctx, false)
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: kindStubborn,
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return e.gates.Get(job.Request.GetValue()).Hold(ctx, true)
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *demopb.SleepMetadata, *wrapperspb.StringValue]{
		Name: kindMeta,
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *demopb.SleepMetadata]) (*wrapperspb.StringValue, error) {
			if err := job.SetMetadata(&demopb.SleepMetadata{ProgressPercent: metaProgress, Attempt: int32(job.Attempt)}); err != nil {
				return nil, err
			}
			return e.gates.Get(job.Request.GetValue()).Hold(ctx, false)
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: kindFail,
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return nil, testkinds.FailStatus(job.Request.GetValue()).Err()
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: kindPlain,
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return nil, errors.New("plain failure: " + job.Request.GetValue())
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *demopb.SleepMetadata, *wrapperspb.StringValue]{Name: kindRemote}))
	require.NoError(t, lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: kindRetried,
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return nil, lro.Retryable(status.Error(codes.Unavailable, job.Request.GetValue()), time.Hour)
		},
	}))
	require.NoError(t, lro.Register(c, lro.Kind[*emptypb.Empty, *emptypb.Empty, *emptypb.Empty]{
		Name: kindEmpty,
		Run: func(ctx context.Context, job *lro.Job[*emptypb.Empty, *emptypb.Empty]) (*emptypb.Empty, error) {
			return nil, nil
		},
	}))
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	require.NoError(t, err)
	return a
}

// startReq starts an operation and checks that it comes back not done.
func (e *env) startReq(t *testing.T, req *lropb.StartOperationRequest) *longrunningpb.Operation {
	t.Helper()
	op, err := e.lro.StartOperation(t.Context(), req)
	require.NoError(t, err)
	require.False(t, op.GetDone(), "a start returns the operation not done: %v", op)
	require.Nil(t, op.GetResult(), "a start returns no result: %v", op)
	return op
}

// start starts an operation of kind with a typed input.
func (e *env) start(t *testing.T, kind string, in proto.Message) *longrunningpb.Operation {
	t.Helper()
	return e.startReq(t, &lropb.StartOperationRequest{Kind: kind, KindInput: &lropb.StartOperationRequest_TypedInput{TypedInput: mustAny(t, in)}})
}

// startHeld starts an operation of a blocking kind (kindBlock, kindMeta,
// kindStubborn) on gate key and waits until its handler runs.
func (e *env) startHeld(t *testing.T, kind, key string) (*longrunningpb.Operation, *testkinds.Gate) {
	t.Helper()
	g := e.gates.Get(key)
	op := e.start(t, kind, wrapperspb.String(key))
	await(t, g.Started, "the handler of "+op.GetName()+" to start")
	return op, g
}

func (e *env) get(t *testing.T, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
	require.NoError(t, err)
	require.Equal(t, name, op.GetName())
	return op
}

// awaitMetadata polls GetOperation until the operation has metadata, and
// returns it: the metadata a handler sets has no other signal.
func (e *env) awaitMetadata(t *testing.T, name string) *longrunningpb.Operation {
	t.Helper()
	var op *longrunningpb.Operation
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
		if assert.NoError(c, err) && assert.NotNil(c, got.GetMetadata(), "metadata of %s", name) {
			op = got
		}
	}, awaitTimeout, 10*time.Millisecond, "the metadata set by the handler of %s becomes visible", name)
	return op
}

// waitDone waits until the operation is done, and returns it.
func (e *env) waitDone(t *testing.T, name string) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), awaitTimeout)
	defer cancel()
	for {
		op, err := e.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(awaitTimeout)})
		require.NoError(t, err, "wait for %s", name)
		require.Equal(t, name, op.GetName())
		if op.GetDone() {
			return op
		}
		require.NoError(t, ctx.Err(), "%s is not done after %v", name, awaitTimeout)
	}
}

// names lists the collection with a filter and returns the names, in order.
func (e *env) names(t *testing.T, collection, filter string) []string {
	t.Helper()
	var names []string
	req := &longrunningpb.ListOperationsRequest{Name: collection, Filter: filter, PageSize: 1000}
	for {
		resp, err := e.listPage(t.Context(), req)
		require.NoError(t, err, "list %q with filter %q", collection, filter)
		for _, op := range resp.GetOperations() {
			names = append(names, op.GetName())
		}
		if resp.GetNextPageToken() == "" {
			return names
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// listPage returns one page. It goes through the generated gRPC stub:
// the iterator of Google's client hides the page boundaries.
func (e *env) listPage(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	return e.raw.ListOperations(ctx, req)
}

// pages lists every page of req, following its next_page_token, and
// returns them in order; it fails on an error, and after maxPages pages.
func (e *env) pages(t *testing.T, req *longrunningpb.ListOperationsRequest, maxPages int) []*longrunningpb.ListOperationsResponse {
	t.Helper()
	req = proto.Clone(req).(*longrunningpb.ListOperationsRequest)
	var out []*longrunningpb.ListOperationsResponse
	for {
		resp, err := e.listPage(t.Context(), req)
		require.NoError(t, err, "page %d", len(out))
		out = append(out, resp)
		if resp.GetNextPageToken() == "" {
			return out
		}
		require.Less(t, len(out), maxPages, "the pages do not end")
		req.PageToken = resp.GetNextPageToken()
	}
}

// await receives from ch or fails after awaitTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(awaitTimeout):
		t.Fatalf("timed out after %v waiting for %s", awaitTimeout, what)
		panic("unreachable")
	}
}

var reasonPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

// requireErrorInfo checks that err is a gRPC status with code that carries
// exactly one google.rpc.ErrorInfo (AIP-193) with domain "lro.dev" and an
// UPPER_SNAKE_CASE reason of at most 63 characters. It returns the status.
func requireErrorInfo(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	require.Error(t, err, "want %v", code)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status: %v", err)
	require.Equal(t, code, st.Code(), "status: %v", st.Proto())
	require.NotEmpty(t, st.Message(), "status: %v", st.Proto())
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, info)
		}
	}
	require.Len(t, infos, 1, "want one ErrorInfo in %v", st.Proto())
	require.Equal(t, "lro.dev", infos[0].GetDomain())
	require.Regexp(t, reasonPattern, infos[0].GetReason())
	require.LessOrEqual(t, len(infos[0].GetReason()), 63, "reason %q", infos[0].GetReason())
	return st
}

// requireFieldViolation checks that st has a BadRequest naming field.
func requireFieldViolation(t *testing.T, st *status.Status, field string) {
	t.Helper()
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	require.Contains(t, fields, field, "field violations of %v", st.Proto())
}

// errorInfo returns the ErrorInfo in a google.rpc.Status proto's details.
func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", st.Proto())
	return nil
}
