package lro_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/slogtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
)

type (
	str  = *wrapperspb.StringValue
	job  = lro.Job[str, str]
	kind = lro.Kind[str, str, str]
)

// probe lets a test follow and steer handler runs: each run announces
// itself on started, and returns when the test sends to release (or
// according to the handler under test).
type probe struct {
	started chan *run
}

type run struct {
	job     *job
	ctx     context.Context
	release chan result
}

type result struct {
	resp str
	err  error
}

func newProbe() *probe { return &probe{started: make(chan *run, 100)} }

// blocking is a handler that waits for the test's release, or for its
// context to end (then it returns the context's cause).
func (p *probe) blocking(ctx context.Context, j *job) (str, error) {
	r := &run{job: j, ctx: ctx, release: make(chan result, 1)}
	p.started <- r
	select {
	case res := <-r.release:
		return res.resp, res.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// stubborn ignores its context and returns only when released.
func (p *probe) stubborn(ctx context.Context, j *job) (str, error) {
	r := &run{job: j, ctx: ctx, release: make(chan result, 1)}
	p.started <- r
	res := <-r.release
	return res.resp, res.err
}

func (p *probe) next(t *testing.T) *run {
	t.Helper()
	select {
	case r := <-p.started:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no handler started")
		return nil
	}
}

func openStore(t *testing.T) lrostore.Store {
	t.Helper()
	s, err := lrosqlite.Open(context.Background(), ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func testLogger(t testing.TB) *slog.Logger { return slogtest.Logger(t) }

// newClient starts a client over store with fast timings, registering kinds
// with register, and stops it when the test ends.
func newClient(t *testing.T, store lrostore.Store, config *lro.Config, register func(c *lro.Client)) *lro.Client {
	t.Helper()
	cfg := lro.Config{Logger: testLogger(t), LeaseTTL: time.Second, RescueInterval: 50 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, MetadataInterval: 10 * time.Millisecond, ShutdownGrace: 200 * time.Millisecond}
	if config != nil {
		merge(&cfg, config)
	}
	c, err := lro.NewClient(store, &cfg)
	require.NoError(t, err)
	if register != nil {
		register(c)
	}
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func merge(dst, src *lro.Config) {
	dst.Workers = cmp.Or(src.Workers, dst.Workers)
	dst.LeaseTTL = cmp.Or(src.LeaseTTL, dst.LeaseTTL)
	dst.HeartbeatInterval = cmp.Or(src.HeartbeatInterval, dst.HeartbeatInterval)
	dst.MaxAttempts = cmp.Or(src.MaxAttempts, dst.MaxAttempts)
	dst.ShutdownGrace = cmp.Or(src.ShutdownGrace, dst.ShutdownGrace)
	dst.WaitMax = cmp.Or(src.WaitMax, dst.WaitMax)
	dst.ID = cmp.Or(src.ID, dst.ID)
	dst.PollInterval = cmp.Or(src.PollInterval, dst.PollInterval)
	dst.DisableEagerStart = src.DisableEagerStart || dst.DisableEagerStart
	dst.MetadataBytesMax = cmp.Or(src.MetadataBytesMax, dst.MetadataBytesMax)
	dst.ResponseBytesMax = cmp.Or(src.ResponseBytesMax, dst.ResponseBytesMax)
	dst.MetadataBytesMax = cmp.Or(src.MetadataBytesMax, dst.MetadataBytesMax)
	dst.ResponseBytesMax = cmp.Or(src.ResponseBytesMax, dst.ResponseBytesMax)
	dst.ErrorBytesMax = cmp.Or(src.ErrorBytesMax, dst.ErrorBytesMax)
	if src.TracerProvider != nil {
		dst.TracerProvider = src.TracerProvider
	}
	if src.Metrics != nil {
		dst.Metrics = src.Metrics
	}
}

func start(t *testing.T, c *lro.Client, kindName, value string) *longrunningpb.Operation {
	t.Helper()
	op, err := c.StartOperation(context.Background(), kindName, wrapperspb.String(value), nil)
	require.NoError(t, err)
	require.False(t, op.GetDone())
	return op
}

// waitDone waits for the operation to end, through WaitOperation.
func waitDone(t *testing.T, c *lro.Client, name string) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		op, err := c.WaitOperation(ctx, name, 10*time.Second)
		require.NoError(t, err)
		if op.GetDone() {
			return op
		}
	}
}

func responseValue(t *testing.T, op *longrunningpb.Operation) string {
	t.Helper()
	require.NotNil(t, op.GetResponse(), "operation %s: %v", op.GetName(), op.GetError())
	v := &wrapperspb.StringValue{}
	require.NoError(t, op.GetResponse().UnmarshalTo(v))
	return v.GetValue()
}

func storedOp(t *testing.T, s lrostore.Store, name string) *lrostore.Operation {
	t.Helper()
	id := name[len(name)-36:]
	op, err := s.OperationGet(context.Background(), &lrostore.OperationGetParams{ID: id})
	require.NoError(t, err)
	return op
}

func TestRunAndResult(t *testing.T) {
	t.Parallel()
	t.Run("SuccessCarriesTypedResponseAndLastMetadata", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "echo", Run: func(ctx context.Context, j *job) (str, error) {
				for i := range 50 {
					require.NoError(t, j.SetMetadata(wrapperspb.String(fmt.Sprint(i))))
				}
				return wrapperspb.String("echo " + j.Request.GetValue()), nil
			}})
		})
		op := waitDone(t, c, start(t, c, "echo", "hi").GetName())
		require.Equal(t, "echo hi", responseValue(t, op))
		meta := &wrapperspb.StringValue{}
		require.NoError(t, op.GetMetadata().UnmarshalTo(meta))
		require.Equal(t, "49", meta.GetValue(), "the last metadata set is written with the result")
	})
	t.Run("NilResponseIsEmptyMessage", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) {
			lro.MustRegister(c, lro.Kind[str, *emptypb.Empty, *emptypb.Empty]{Name: "nothing",
				Run: func(ctx context.Context, j *lro.Job[str, *emptypb.Empty]) (*emptypb.Empty, error) { return nil, nil }})
		})
		op := waitDone(t, c, start(t, c, "nothing", "").GetName())
		require.NotNil(t, op.GetResponse())
		require.True(t, op.GetResponse().MessageIs(&emptypb.Empty{}))
		require.Nil(t, op.GetMetadata())
	})
	t.Run("StatusErrorKeepsCodeMessageDetails", func(t *testing.T) {
		t.Parallel()
		st, err := status.New(codes.FailedPrecondition, "boom").WithDetails(wrapperspb.String("detail"))
		require.NoError(t, err)
		c := newClient(t, openStore(t), nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "fail", Run: func(ctx context.Context, j *job) (str, error) {
				return nil, fmt.Errorf("wrapped: %w", st.Err())
			}})
		})
		op := waitDone(t, c, start(t, c, "fail", "").GetName())
		require.Nil(t, op.GetResponse())
		require.Equal(t, int32(codes.FailedPrecondition), op.GetError().GetCode())
		require.Equal(t, "wrapped: rpc error: code = FailedPrecondition desc = boom", op.GetError().GetMessage())
		require.Len(t, op.GetError().GetDetails(), 1)
		require.True(t, proto.Equal(st.Proto().GetDetails()[0], op.GetError().GetDetails()[0]))
	})
	t.Run("PlainErrorIsUnknown", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "fail", Run: func(ctx context.Context, j *job) (str, error) {
				return nil, errors.New("disk full")
			}})
		})
		op := waitDone(t, c, start(t, c, "fail", "").GetName())
		require.Equal(t, int32(codes.Unknown), op.GetError().GetCode())
		require.Equal(t, "disk full", op.GetError().GetMessage())
	})
	t.Run("PanicIsInternal", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "panic", Run: func(ctx context.Context, j *job) (str, error) {
				panic("oops")
			}})
		})
		op := waitDone(t, c, start(t, c, "panic", "").GetName())
		require.Equal(t, int32(codes.Internal), op.GetError().GetCode())
		require.Contains(t, op.GetError().GetMessage(), "oops")
	})
	t.Run("WorkersBoundConcurrency", func(t *testing.T) {
		t.Parallel()
		p := newProbe()
		c := newClient(t, openStore(t), &lro.Config{Workers: 3}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "block", Run: p.blocking})
		})
		var names []string
		for i := range 5 {
			names = append(names, start(t, c, "block", fmt.Sprint(i)).GetName())
		}
		runs := []*run{p.next(t), p.next(t), p.next(t)}
		select {
		case r := <-p.started:
			t.Fatalf("a fourth handler started with 3 workers: %s", r.job.Name)
		case <-time.After(200 * time.Millisecond):
		}
		for _, r := range runs {
			r.release <- result{resp: wrapperspb.String("ok")}
		}
		p.next(t).release <- result{resp: wrapperspb.String("ok")}
		p.next(t).release <- result{resp: wrapperspb.String("ok")}
		for _, n := range names {
			require.Equal(t, "ok", responseValue(t, waitDone(t, c, n)))
		}
	})
}

func TestStart(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	c := newClient(t, store, &lro.Config{Workers: -1}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: newProbe().blocking, Validate: func(r str) error {
			if r.GetValue() == "bad" {
				return errors.New("value must not be bad")
			}
			return nil
		}})
	})
	ctx := context.Background()
	t.Run("UnknownKind", func(t *testing.T) {
		_, err := c.StartOperation(ctx, "nope", wrapperspb.String(""), nil)
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
		require.Equal(t, codes.InvalidArgument, status.Code(err))
		require.ErrorContains(t, err, `unknown kind "nope"`)
	})
	t.Run("WrongRequestType", func(t *testing.T) {
		_, err := c.StartOperation(ctx, "k", &emptypb.Empty{}, nil)
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
	})
	t.Run("ValidationRejects", func(t *testing.T) {
		_, err := c.StartOperation(ctx, "k", wrapperspb.String("bad"), nil)
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
		require.ErrorContains(t, err, "value must not be bad")
	})
	t.Run("BadParent", func(t *testing.T) {
		for _, parent := range []string{"projects", "projects//x", "a/b/c", "projects/p q", "../..", "projects/p/locations/*", "x?y/z#w", "projects/\xff"} {
			_, err := c.StartOperation(ctx, "k", wrapperspb.String(""), &lro.StartOptions{Parent: parent})
			require.ErrorIs(t, err, lro.ErrInvalidArgument, parent)
		}
	})
	t.Run("ParentNamesTheOperation", func(t *testing.T) {
		op, err := c.StartOperation(ctx, "k", wrapperspb.String(""), &lro.StartOptions{Parent: "projects/p/locations/l"})
		require.NoError(t, err)
		require.Regexp(t, `^projects/p/locations/l/operations/[0-9a-f-]{36}$`, op.GetName())
		got, err := c.GetOperation(ctx, op.GetName())
		require.NoError(t, err)
		require.True(t, proto.Equal(op, got))
		_, err = c.GetOperation(ctx, "operations/"+op.GetName()[len(op.GetName())-36:])
		require.ErrorIs(t, err, lro.ErrNotFound, "the same ID under another parent is not found")
	})
	t.Run("RequestIDIsIdempotent", func(t *testing.T) {
		first, err := c.StartOperation(ctx, "k", wrapperspb.String("x"), &lro.StartOptions{RequestID: "req-1"})
		require.NoError(t, err)
		again, err := c.StartOperation(ctx, "k", wrapperspb.String("x"), &lro.StartOptions{RequestID: "req-1"})
		require.NoError(t, err)
		require.Equal(t, first.GetName(), again.GetName())
		_, err = c.StartOperation(ctx, "k", wrapperspb.String("y"), &lro.StartOptions{RequestID: "req-1"})
		require.ErrorIs(t, err, lro.ErrAlreadyExists)
		require.Equal(t, codes.AlreadyExists, status.Code(err))
		other, err := c.StartOperation(ctx, "k", wrapperspb.String("x"), &lro.StartOptions{RequestID: "req-1", Parent: "projects/p"})
		require.NoError(t, err)
		require.NotEqual(t, first.GetName()[len(first.GetName())-36:], other.GetName()[len(other.GetName())-36:])
	})
	t.Run("OnlyARequestIDKeepsAHash", func(t *testing.T) {
		with, err := c.StartOperation(ctx, "k", wrapperspb.String("x"), &lro.StartOptions{RequestID: "req-hash"})
		require.NoError(t, err)
		require.Len(t, storedOp(t, store, with.GetName()).RequestHash, 32, "the hash that tells a retry from a reuse")
		without, err := c.StartOperation(ctx, "k", wrapperspb.String("x"), nil)
		require.NoError(t, err)
		require.Nil(t, storedOp(t, store, without.GetName()).RequestHash, "nothing compares a start's hash without a request ID")
	})
	t.Run("ConcurrentStartsWithOneRequestID", func(t *testing.T) {
		var wg sync.WaitGroup
		names := make([]string, 20)
		for i := range names {
			wg.Go(func() {
				op, err := c.StartOperation(ctx, "k", wrapperspb.String("x"), &lro.StartOptions{RequestID: "req-2"})
				if err == nil {
					names[i] = op.GetName()
				} else {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, n := range names {
			require.Equal(t, names[0], n)
		}
	})
	t.Run("BadRequestID", func(t *testing.T) {
		for _, id := range []string{"has space", "not-utf8-\xff"} {
			_, err := c.StartOperation(ctx, "k", wrapperspb.String(""), &lro.StartOptions{RequestID: id})
			require.ErrorIs(t, err, lro.ErrInvalidArgument, id)
		}
	})
}

func TestStartOperations(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	c := newClient(t, store, nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "echo", Run: func(ctx context.Context, j *job) (str, error) {
			return wrapperspb.String("echo " + j.Request.GetValue()), nil
		}, Validate: func(r str) error {
			if r.GetValue() == "bad" {
				return errors.New("value must not be bad")
			}
			return nil
		}})
	})
	ctx := context.Background()
	countAll := func() int {
		resp, err := c.ListOperations(ctx, "operations", &lro.ListOptions{PageSize: 1000})
		require.NoError(t, err)
		return len(resp.GetOperations())
	}
	t.Run("AllRunInOrder", func(t *testing.T) {
		reqs := make([]lro.StartRequest, 50)
		for i := range reqs {
			reqs[i] = lro.StartRequest{Kind: "echo", Request: wrapperspb.String(fmt.Sprint(i))}
		}
		ops, err := c.StartOperations(ctx, reqs)
		require.NoError(t, err)
		require.Len(t, ops, len(reqs))
		for i, op := range ops {
			require.False(t, op.GetDone())
			require.Equal(t, fmt.Sprintf("echo %d", i), responseValue(t, waitDone(t, c, op.GetName())))
		}
	})
	t.Run("OneRefusedRefusesAll", func(t *testing.T) {
		before := countAll()
		_, err := c.StartOperations(ctx, []lro.StartRequest{
			{Kind: "echo", Request: wrapperspb.String("ok")},
			{Kind: "echo", Request: wrapperspb.String("bad")},
		})
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
		require.ErrorContains(t, err, "requests[1]: ")
		var e *lro.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "requests[1].input", e.Field)
		_, err = c.StartOperations(ctx, []lro.StartRequest{{Kind: "echo"}, {Kind: "nope"}})
		require.ErrorContains(t, err, `requests[1]: unknown kind "nope"`)
		require.Equal(t, before, countAll(), "nothing was stored")
	})
	t.Run("TooMany", func(t *testing.T) {
		_, err := c.StartOperations(ctx, make([]lro.StartRequest, lro.StartOperationsMax+1))
		require.Equal(t, codes.InvalidArgument, status.Code(err))
	})
	t.Run("Empty", func(t *testing.T) {
		ops, err := c.StartOperations(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, ops)
	})
	t.Run("RequestIDs", func(t *testing.T) {
		opts := &lro.StartOptions{RequestID: "batch-1"}
		ops, err := c.StartOperations(ctx, []lro.StartRequest{
			{Kind: "echo", Request: wrapperspb.String("x"), Options: opts},
			{Kind: "echo", Request: wrapperspb.String("x"), Options: opts},
			{Kind: "echo", Request: wrapperspb.String("y")},
		})
		require.NoError(t, err)
		require.Equal(t, ops[0].GetName(), ops[1].GetName(), "a request ID repeated in one call starts one operation")
		again, err := c.StartOperations(ctx, []lro.StartRequest{{Kind: "echo", Request: wrapperspb.String("x"), Options: opts}})
		require.NoError(t, err)
		require.Equal(t, ops[0].GetName(), again[0].GetName())
		_, err = c.StartOperations(ctx, []lro.StartRequest{
			{Kind: "echo", Request: wrapperspb.String("z")},
			{Kind: "echo", Request: wrapperspb.String("other"), Options: opts},
		})
		require.ErrorIs(t, err, lro.ErrAlreadyExists)
		require.ErrorContains(t, err, "requests[1]: ")
	})
}

func TestRegister(t *testing.T) {
	t.Parallel()
	c, err := lro.NewClient(openStore(t), &lro.Config{Logger: testLogger(t)})
	require.NoError(t, err)
	run := newProbe().blocking
	require.NoError(t, lro.Register(c, kind{Name: "a.b", Run: run}))
	require.ErrorContains(t, lro.Register(c, kind{Name: "a.b", Run: run}), "already registered")
	require.ErrorContains(t, lro.Register(c, kind{Name: "1bad", Run: run}), "must match")
	require.NoError(t, lro.Register(c, kind{Name: "no.run"}), "a kind that remote workers run")
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background())
	require.ErrorContains(t, lro.Register(c, kind{Name: "late", Run: run}), "already started")
	require.Equal(t, []lro.KindInfo{
		{Name: "a.b", RequestType: "google.protobuf.StringValue", MetadataType: "google.protobuf.StringValue",
			ResponseType: "google.protobuf.StringValue", MaxAttempts: lro.MaxAttemptsDefault, LeaseTTL: lro.LeaseTTLDefault, Handled: true,
			Retry: defaultRetry()},
		{Name: "no.run", RequestType: "google.protobuf.StringValue", MetadataType: "google.protobuf.StringValue",
			ResponseType: "google.protobuf.StringValue", MaxAttempts: lro.MaxAttemptsDefault, LeaseTTL: lro.LeaseTTLDefault,
			Retry: defaultRetry()},
	}, c.Kinds())
}

// defaultRetry is the policy of a kind that sets none.
func defaultRetry() *lro.RetryPolicy {
	return &lro.RetryPolicy{InitialDelay: lro.RetryInitialDelayDefault, Multiplier: lro.RetryMultiplierDefault,
		MaxDelay: lro.RetryMaxDelayDefault, Jitter: lro.RetryJitterDefault}
}

func TestRegisterRefusesBadRetriesAndTimeouts(t *testing.T) {
	t.Parallel()
	c, err := lro.NewClient(openStore(t), &lro.Config{Logger: testLogger(t)})
	require.NoError(t, err)
	run := newProbe().blocking
	require.ErrorContains(t, lro.Register(c, kind{Name: "a", Run: run, Retry: &lro.RetryPolicy{Multiplier: 0.5}}), "Retry: the multiplier 0.5 is below 1")
	require.ErrorContains(t, lro.Register(c, kind{Name: "a", Run: run, Timeout: -time.Second}), "must not be negative")
	require.ErrorContains(t, lro.Declare(c, lro.DeclaredKind{Name: "a", AttemptTimeout: -time.Second}), "must not be negative")
	require.NoError(t, lro.Register(c, kind{Name: "a", Run: run, Retry: lro.NoRetry, Timeout: time.Hour, AttemptTimeout: time.Minute}))
	info := c.Kinds()[0]
	require.Equal(t, time.Hour, info.Timeout)
	require.Equal(t, time.Minute, info.AttemptTimeout)
	info.Retry.Codes = append(info.Retry.Codes, codes.Aborted) // a copy: the kind's policy is unchanged
	require.Empty(t, c.Kinds()[0].Retry.Codes)
}

func TestNotStarted(t *testing.T) {
	t.Parallel()
	c, err := lro.NewClient(openStore(t), &lro.Config{Logger: testLogger(t)})
	require.NoError(t, err)
	lro.MustRegister(c, kind{Name: "k", Run: newProbe().blocking})
	_, err = c.StartOperation(context.Background(), "k", wrapperspb.String(""), nil)
	require.ErrorIs(t, err, lro.ErrClosed)
	require.Equal(t, codes.Unavailable, status.Code(err))
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []lro.Config{
		{LeaseTTL: time.Millisecond},
		{LeaseTTL: time.Second, HeartbeatInterval: time.Second},
		{MaxAttempts: -1},
		{PageSize: 10, PageSizeMax: 5},
		{WaitMax: -time.Second},
	} {
		_, err := lro.NewClient(openStore(t), &cfg)
		require.Error(t, err, "%+v", cfg)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	t.Run("PendingEndsAtOnce", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, openStore(t), &lro.Config{Workers: -1}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: newProbe().blocking})
		})
		op := start(t, c, "k", "")
		waiting := make(chan *longrunningpb.Operation)
		go func() {
			got, err := c.WaitOperation(context.Background(), op.GetName(), 10*time.Second)
			if err != nil {
				t.Error(err)
			}
			waiting <- got
		}()
		got, err := c.CancelOperation(context.Background(), op.GetName())
		require.NoError(t, err)
		require.True(t, got.GetDone())
		require.Equal(t, int32(codes.Canceled), got.GetError().GetCode())
		require.Equal(t, int32(codes.Canceled), (<-waiting).GetError().GetCode(), "the cancel wakes waiters")
	})
	t.Run("RunningHandlerSeesCancel", func(t *testing.T) {
		t.Parallel()
		p := newProbe()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
		op := start(t, c, "k", "")
		r := p.next(t)
		began := time.Now()
		_, err := c.CancelOperation(context.Background(), op.GetName())
		require.NoError(t, err)
		<-r.ctx.Done()
		require.Less(t, time.Since(began), time.Second)
		require.ErrorIs(t, context.Cause(r.ctx), lro.ErrCancelRequested)
		done := waitDone(t, c, op.GetName())
		require.Equal(t, int32(codes.Canceled), done.GetError().GetCode())
		require.Equal(t, "operation cancelled", done.GetError().GetMessage())
	})
	t.Run("HandlerThatFinishesAnywayKeepsItsResult", func(t *testing.T) {
		t.Parallel()
		p := newProbe()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.stubborn}) })
		op := start(t, c, "k", "")
		r := p.next(t)
		_, err := c.CancelOperation(context.Background(), op.GetName())
		require.NoError(t, err)
		<-r.ctx.Done()
		r.release <- result{resp: wrapperspb.String("finished")}
		require.Equal(t, "finished", responseValue(t, waitDone(t, c, op.GetName())))
	})
	t.Run("DoneStaysAsItIs", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, openStore(t), nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: func(ctx context.Context, j *job) (str, error) { return wrapperspb.String("v"), nil }})
		})
		done := waitDone(t, c, start(t, c, "k", "").GetName())
		got, err := c.CancelOperation(context.Background(), done.GetName())
		require.NoError(t, err)
		require.True(t, proto.Equal(done, got))
	})
	t.Run("CancelSeenOnHeartbeat", func(t *testing.T) {
		// A cancellation recorded by another client (node) reaches the
		// handler through the heartbeat.
		t.Parallel()
		store := openStore(t)
		p := newProbe()
		c := newClient(t, store, &lro.Config{LeaseTTL: 600 * time.Millisecond}, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
		other := newClient(t, store, &lro.Config{Workers: -1}, nil)
		op := start(t, c, "k", "")
		r := p.next(t)
		_, err := other.CancelOperation(context.Background(), op.GetName())
		require.NoError(t, err)
		<-r.ctx.Done()
		require.ErrorIs(t, context.Cause(r.ctx), lro.ErrCancelRequested)
		require.Equal(t, int32(codes.Canceled), waitDone(t, c, op.GetName()).GetError().GetCode())
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	p := newProbe()
	c := newClient(t, openStore(t), nil, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
	op := start(t, c, "k", "")
	r := p.next(t)
	err := c.DeleteOperation(context.Background(), op.GetName())
	require.ErrorIs(t, err, lro.ErrFailedPrecondition)
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	r.release <- result{resp: wrapperspb.String("v")}
	waitDone(t, c, op.GetName())
	require.NoError(t, c.DeleteOperation(context.Background(), op.GetName()))
	_, err = c.GetOperation(context.Background(), op.GetName())
	require.ErrorIs(t, err, lro.ErrNotFound)
	require.ErrorIs(t, c.DeleteOperation(context.Background(), op.GetName()), lro.ErrNotFound)
}

func TestWait(t *testing.T) {
	t.Parallel()
	p := newProbe()
	c := newClient(t, openStore(t), &lro.Config{WaitMax: 300 * time.Millisecond}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	ctx := context.Background()
	t.Run("WakesWhenDone", func(t *testing.T) {
		op := start(t, c, "k", "")
		r := p.next(t)
		got := make(chan time.Time, 1)
		go func() {
			done, err := c.WaitOperation(ctx, op.GetName(), 10*time.Second)
			if err != nil || !done.GetDone() {
				t.Errorf("wait: %v %v", done, err)
			}
			got <- time.Now()
		}()
		// Give the waiter time to subscribe; the result must not depend on it.
		time.Sleep(20 * time.Millisecond)
		released := time.Now()
		r.release <- result{resp: wrapperspb.String("v")}
		require.Less(t, (<-got).Sub(released), 100*time.Millisecond)
	})
	t.Run("TimeoutReturnsLatestState", func(t *testing.T) {
		op := start(t, c, "k", "")
		r := p.next(t)
		defer func() { r.release <- result{resp: wrapperspb.String("v")} }()
		began := time.Now()
		got, err := c.WaitOperation(ctx, op.GetName(), 100*time.Millisecond)
		require.NoError(t, err)
		require.False(t, got.GetDone())
		require.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond)
		began = time.Now()
		got, err = c.WaitOperation(ctx, op.GetName(), time.Hour)
		require.NoError(t, err)
		require.False(t, got.GetDone())
		require.Less(t, time.Since(began), time.Second, "capped by WaitMax")
		deadline, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		got, err = c.WaitOperation(deadline, op.GetName(), 0)
		require.NoError(t, err, "returns before the deadline")
		require.False(t, got.GetDone())
	})
	t.Run("BadArguments", func(t *testing.T) {
		_, err := c.WaitOperation(ctx, "operations/x", time.Second)
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
		_, err = c.WaitOperation(ctx, "operations/01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a", -time.Second)
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
		_, err = c.WaitOperation(ctx, "operations/01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a", time.Second)
		require.ErrorIs(t, err, lro.ErrNotFound)
	})
}

// flakyStore fails the calls of a node's background work while failing is
// set, as a database that the node cannot reach would.
type flakyStore struct {
	lrostore.Store
	failing atomic.Bool
}

var errUnreachable = errors.New("database unreachable")

func (s *flakyStore) OperationHeartbeat(ctx context.Context, p *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	if s.failing.Load() {
		return nil, errUnreachable
	}
	return s.Store.OperationHeartbeat(ctx, p)
}

func (s *flakyStore) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	if s.failing.Load() {
		return nil, errUnreachable
	}
	return s.Store.OperationClaim(ctx, p)
}

func (s *flakyStore) OperationRescue(ctx context.Context, p *lrostore.OperationRescueParams) (*lrostore.OperationRescueResult, error) {
	if s.failing.Load() {
		return nil, errUnreachable
	}
	return s.Store.OperationRescue(ctx, p)
}

func TestLeases(t *testing.T) {
	t.Parallel()
	t.Run("HeartbeatsKeepALongHandler", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		p := newProbe()
		// A TTL of a second: heartbeats every third of it, which a machine
		// loaded by the whole suite under -race keeps (300 ms did not,
		// once).
		c := newClient(t, store, &lro.Config{LeaseTTL: time.Second}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
		})
		op := start(t, c, "k", "")
		r := p.next(t)
		first := storedOp(t, store, op.GetName()).LeaseExpireTime
		require.Eventually(t, func() bool {
			return storedOp(t, store, op.GetName()).LeaseExpireTime.After(first.Add(1200 * time.Millisecond))
		},
			5*time.Second, 20*time.Millisecond, "the lease is renewed well past its first expiry")
		require.NoError(t, r.ctx.Err())
		r.release <- result{resp: wrapperspb.String("v")}
		done := waitDone(t, c, op.GetName())
		require.Equal(t, "v", responseValue(t, done))
		require.Equal(t, int32(1), storedOp(t, store, op.GetName()).Attempt, "ran once")
	})
	t.Run("TakeOverAfterCrash", func(t *testing.T) {
		// A worker that died: its claim stands in the store, with no
		// heartbeat. Once the lease expires, the client runs it again.
		t.Parallel()
		store := openStore(t)
		p := newProbe()
		starter := newClient(t, store, &lro.Config{Workers: -1}, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
		op := start(t, starter, "k", "x")
		claimed, err := store.OperationClaim(context.Background(), &lrostore.OperationClaimParams{
			Owner: "dead", Kinds: []string{"k"}, Max: 1, LeaseTTL: 200 * time.Millisecond})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		c := newClient(t, store, nil, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
		r := p.next(t)
		require.Equal(t, 2, r.job.Attempt)
		r.release <- result{resp: wrapperspb.String("second")}
		require.Equal(t, "second", responseValue(t, waitDone(t, c, op.GetName())))
		// The dead worker's late result is rejected.
		res, err := store.OperationFinishMany(context.Background(), &lrostore.OperationFinishManyParams{
			Finishes: []*lrostore.OperationFinishParams{{Lease: lrostore.Lease{ID: claimed[0].ID, Token: claimed[0].LeaseToken},
				State: lrostore.StateSucceeded, Response: []byte("late")}}})
		require.NoError(t, err)
		require.False(t, res[0].Finished)
		require.Equal(t, "second", responseValue(t, waitDone(t, c, op.GetName())))
	})
	t.Run("LostLeaseStopsHandlerAndDropsItsWrites", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		flaky := &flakyStore{Store: store}
		pa, pb := newProbe(), newProbe()
		a := newClient(t, flaky, &lro.Config{LeaseTTL: 300 * time.Millisecond, ID: "a"}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: pa.stubborn})
		})
		op := start(t, a, "k", "")
		ra := pa.next(t)
		flaky.failing.Store(true)
		// a cannot renew: its handler is cancelled once the lease runs out.
		<-ra.ctx.Done()
		require.ErrorIs(t, context.Cause(ra.ctx), lro.ErrLeaseLost)
		require.ErrorIs(t, ra.job.SetMetadata(wrapperspb.String("late")), lro.ErrLeaseLost)
		// b rescues and runs it.
		b := newClient(t, store, &lro.Config{ID: "b"}, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: pb.blocking}) })
		rb := pb.next(t)
		require.Equal(t, 2, rb.job.Attempt)
		rb.release <- result{resp: wrapperspb.String("from b")}
		require.Equal(t, "from b", responseValue(t, waitDone(t, b, op.GetName())))
		// a's handler, which ignored its context, returns late: dropped.
		ra.release <- result{resp: wrapperspb.String("from a")}
		flaky.failing.Store(false)
		require.Equal(t, "from b", responseValue(t, waitDone(t, a, op.GetName())))
	})
	t.Run("ReclaimCancelsTheOldRun", func(t *testing.T) {
		// Heartbeats fail but claims work: the client's own rescuer puts the
		// operation back and the client claims it again. The old run, which
		// ignores its context, must count as lost, and only the new run's
		// result is written.
		t.Parallel()
		p := newProbe()
		c := newClient(t, heartbeatlessStore{openStore(t)}, &lro.Config{LeaseTTL: 400 * time.Millisecond}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: p.stubborn})
		})
		op := start(t, c, "k", "")
		first := p.next(t)
		second := p.next(t)
		require.Equal(t, 2, second.job.Attempt)
		<-first.ctx.Done()
		require.ErrorIs(t, context.Cause(first.ctx), lro.ErrLeaseLost)
		first.release <- result{resp: wrapperspb.String("old")}
		second.release <- result{resp: wrapperspb.String("new")}
		require.Equal(t, "new", responseValue(t, waitDone(t, c, op.GetName())))
	})
	t.Run("AttemptLimit", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		c := newClient(t, store, &lro.Config{Workers: -1, MaxAttempts: 2}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: newProbe().blocking})
		})
		op := start(t, c, "k", "")
		for attempt := int32(1); attempt <= 2; attempt++ {
			var claimed []*lrostore.Operation
			require.Eventually(t, func() bool {
				var err error
				claimed, err = store.OperationClaim(context.Background(), &lrostore.OperationClaimParams{
					Owner: "crashing", Kinds: []string{"k"}, Max: 1, LeaseTTL: 50 * time.Millisecond})
				require.NoError(t, err)
				return len(claimed) == 1
			}, 5*time.Second, 10*time.Millisecond, "the rescuer puts it back to pending")
			require.Equal(t, attempt, claimed[0].Attempt)
		}
		done := waitDone(t, c, op.GetName())
		require.Equal(t, int32(codes.Aborted), done.GetError().GetCode())
		require.Contains(t, done.GetError().GetMessage(), "attempt limit")
	})
}

// heartbeatlessStore fails every heartbeat.
type heartbeatlessStore struct{ lrostore.Store }

func (heartbeatlessStore) OperationHeartbeat(context.Context, *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	return nil, errUnreachable
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	t.Run("ReleasesWhatDidNotFinish", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		p := newProbe()
		c, err := lro.NewClient(store, &lro.Config{Logger: testLogger(t), ShutdownGrace: 100 * time.Millisecond})
		require.NoError(t, err)
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
		require.NoError(t, c.Start(context.Background()))
		quick, slow := start(t, c, "k", "quick"), start(t, c, "k", "slow")
		runs := map[string]*run{}
		for range 2 {
			r := p.next(t)
			runs[r.job.Request.GetValue()] = r
		}
		stopped := make(chan struct{})
		go func() {
			c.Stop(context.Background())
			close(stopped)
		}()
		runs["quick"].release <- result{resp: wrapperspb.String("made it")}
		<-runs["slow"].ctx.Done()
		require.ErrorIs(t, context.Cause(runs["slow"].ctx), lro.ErrShutdown)
		<-stopped
		require.Equal(t, lrostore.StateSucceeded, storedOp(t, store, quick.GetName()).State)
		released := storedOp(t, store, slow.GetName())
		require.Equal(t, lrostore.StatePending, released.State)
		require.Equal(t, int32(0), released.Attempt, "a release does not count an attempt")

		// The next client runs it at once, not after a lease expiry.
		p2 := newProbe()
		c2 := newClient(t, store, &lro.Config{LeaseTTL: time.Hour}, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p2.blocking}) })
		r := p2.next(t)
		require.Equal(t, 1, r.job.Attempt)
		r.release <- result{resp: wrapperspb.String("after restart")}
		require.Equal(t, "after restart", responseValue(t, waitDone(t, c2, slow.GetName())))
	})
	t.Run("NegativeGraceReleasesAtOnce", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		p := newProbe()
		c, err := lro.NewClient(store, &lro.Config{Logger: testLogger(t), ShutdownGrace: -1})
		require.NoError(t, err)
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
		require.NoError(t, c.Start(context.Background()))
		op := start(t, c, "k", "")
		r := p.next(t)
		stopped := make(chan struct{})
		go func() {
			c.Stop(context.Background())
			close(stopped)
		}()
		select {
		case <-r.ctx.Done():
		case <-time.After(lro.ShutdownGraceDefault / 2):
			t.Fatal("the handler still runs: Stop gave it a grace")
		}
		require.ErrorIs(t, context.Cause(r.ctx), lro.ErrShutdown)
		<-stopped
		released := storedOp(t, store, op.GetName())
		require.Equal(t, lrostore.StatePending, released.State)
		require.Equal(t, int32(0), released.Attempt, "a release does not count an attempt")
	})
	t.Run("StubbornHandlerIsReleasedAnyway", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		p := newProbe()
		c, err := lro.NewClient(store, &lro.Config{Logger: testLogger(t), ShutdownGrace: 50 * time.Millisecond})
		require.NoError(t, err)
		lro.MustRegister(c, kind{Name: "k", Run: p.stubborn})
		require.NoError(t, c.Start(context.Background()))
		op := start(t, c, "k", "")
		r := p.next(t)
		require.NoError(t, c.Stop(context.Background()))
		require.Equal(t, lrostore.StatePending, storedOp(t, store, op.GetName()).State)
		r.release <- result{resp: wrapperspb.String("too late")}
		_, err = c.StartOperation(context.Background(), "k", wrapperspb.String(""), nil)
		require.ErrorIs(t, err, lro.ErrClosed)
	})
	t.Run("StopWakesWaiters", func(t *testing.T) {
		t.Parallel()
		p := newProbe()
		c, err := lro.NewClient(openStore(t), &lro.Config{Logger: testLogger(t), ShutdownGrace: 50 * time.Millisecond})
		require.NoError(t, err)
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
		require.NoError(t, c.Start(context.Background()))
		op := start(t, c, "k", "")
		p.next(t)
		waited := make(chan error, 1)
		go func() {
			_, err := c.WaitOperation(context.Background(), op.GetName(), time.Minute)
			waited <- err
		}()
		time.Sleep(20 * time.Millisecond) // let the wait subscribe; correctness does not depend on it
		require.NoError(t, c.Stop(context.Background()))
		select {
		case err := <-waited:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Stop did not wake the waiter")
		}
	})
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	return nil
}

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

func TestStoreErrorsAreLoggedOnce(t *testing.T) {
	// A store that does not answer is said once, not at every retry of
	// every background task.
	t.Parallel()
	logs := &countingHandler{counts: map[string]int{}}
	p := newProbe()
	c, err := lro.NewClient(heartbeatlessStore{openStore(t)}, &lro.Config{Logger: slog.New(logs),
		LeaseTTL: 300 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond, ShutdownGrace: 50 * time.Millisecond})
	require.NoError(t, err)
	lro.MustRegister(c, kind{Name: "k", Run: p.stubborn})
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background())
	start(t, c, "k", "")
	r := p.next(t)
	<-r.ctx.Done() // many heartbeats failed by now: at least TTL/interval
	r.release <- result{resp: wrapperspb.String("v")}
	require.Equal(t, 1, logs.count("heartbeat"))
}

// finishFailingStore fails the first n result writes, as a database that
// restarts would; with lost set, the first failed write lands all the same
// (its answer is what is lost).
type finishFailingStore struct {
	lrostore.Store
	mu    sync.Mutex
	fails int
	lost  bool
}

func (s *finishFailingStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	s.mu.Lock()
	fail, lost := s.fails > 0, s.lost
	if fail {
		s.fails--
		s.lost = false
	}
	s.mu.Unlock()
	if !fail {
		return s.Store.OperationFinishMany(ctx, p)
	}
	if lost {
		if _, err := s.Store.OperationFinishMany(ctx, p); err != nil {
			return nil, err
		}
	}
	return nil, errUnreachable
}

func TestResultSurvivesFailedWrites(t *testing.T) {
	// A finished result is not given up for a failed write: it is written
	// when the store answers again, and the operation does not run again.
	t.Parallel()
	for _, lost := range []bool{false, true} {
		t.Run(map[bool]string{false: "WriteFailed", true: "AnswerLost"}[lost], func(t *testing.T) {
			t.Parallel()
			store := &finishFailingStore{Store: openStore(t), fails: 3, lost: lost}
			runs := atomic.Int32{}
			c := newClient(t, store, nil, func(c *lro.Client) {
				lro.MustRegister(c, kind{Name: "k", Run: func(ctx context.Context, j *job) (str, error) {
					runs.Add(1)
					return wrapperspb.String("kept"), nil
				}})
			})
			op := waitDone(t, c, start(t, c, "k", "").GetName())
			require.Equal(t, "kept", responseValue(t, op))
			require.Equal(t, int32(1), runs.Load(), "ran once")
			require.Equal(t, int32(1), storedOp(t, store, op.GetName()).Attempt)
		})
	}
}

// finishHoldingStore holds every result write until the test releases it.
type finishHoldingStore struct {
	lrostore.Store
	held    chan struct{} // a write arrived
	release chan struct{} // closed: writes go on
}

func (s *finishHoldingStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	select {
	case s.held <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.OperationFinishMany(ctx, p)
}

// A job's goroutine is kept for the next job once its result is written,
// also when more jobs wrote at once than there are worker slots: jobs give
// their slot back while they write, so that a slow write does not hold up
// the next handlers, and a goroutine that exited for each would leave the
// next claims to start new ones, whose stacks grow again.
func TestJobGoroutinesAreKeptAfterTheirWrites(t *testing.T) {
	t.Parallel()
	store := &finishHoldingStore{Store: openStore(t), held: make(chan struct{}, 1), release: make(chan struct{})}
	const workers, n = 2, 10
	ran := make(chan struct{}, n)
	c := newClient(t, store, &lro.Config{Workers: workers}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: func(context.Context, *job) (str, error) {
			ran <- struct{}{}
			return wrapperspb.String("done"), nil
		}})
	})
	// Each goroutine reports once its job has ended: kept (false) or gone
	// (true). Room for every report, those of Stop's exits included.
	ended := make(chan bool, 2*n)
	lro.ObserveJobGoroutines(c, func() { ended <- false }, func() { ended <- true })

	for i := range n {
		start(t, c, "k", fmt.Sprint(i))
	}
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-ran:
		case <-timeout:
			t.Fatalf("%d of %d handlers ran while the writes waited", i, n)
		}
	}
	// All n ran in 2 slots: n goroutines wait for their writes.
	close(store.release)
	exited := 0
	for i := range n {
		select {
		case gone := <-ended:
			if gone {
				exited++
			}
		case <-timeout:
			t.Fatalf("%d of %d jobs ended", i, n)
		}
	}
	require.Zero(t, exited, "every goroutine is kept for the next jobs")
}

func TestWorkerSlotIsFreedWhileTheResultIsWritten(t *testing.T) {
	// A handler that returned gives its worker slot to the next operation;
	// its result is written meanwhile, and the operation ends once it is.
	t.Parallel()
	store := &finishHoldingStore{Store: openStore(t), held: make(chan struct{}, 1), release: make(chan struct{})}
	p := newProbe()
	c := newClient(t, store, &lro.Config{Workers: 1}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	first := start(t, c, "k", "1")
	p.next(t).release <- result{resp: wrapperspb.String("one")}
	select {
	case <-store.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the result was not written")
	}
	second := start(t, c, "k", "2")
	r := p.next(t) // runs on the only worker while the first result is held
	require.Equal(t, "2", r.job.Request.GetValue())
	op, err := c.GetOperation(context.Background(), first.GetName())
	require.NoError(t, err)
	require.False(t, op.GetDone(), "not done before its result is written")
	close(store.release)
	require.Equal(t, "one", responseValue(t, waitDone(t, c, first.GetName())))
	r.release <- result{resp: wrapperspb.String("two")}
	require.Equal(t, "two", responseValue(t, waitDone(t, c, second.GetName())))
}

// eagerStore records the starts and claims that reach the store, and can
// hold claims and inserts until the test lets them go on.
type eagerStore struct {
	lrostore.Store
	claims     atomic.Int32
	holdClaims atomic.Pointer[chan struct{}] // set: claims wait until it is closed
	holdInsert atomic.Pointer[chan struct{}] // set: inserts wait until it is closed
	held       chan struct{}                 // a call is being held

	mu     sync.Mutex
	owners map[string]string // the lease owner each start was inserted with, by request value
}

func newEagerStore(t *testing.T) *eagerStore {
	return &eagerStore{Store: openStore(t), held: make(chan struct{}, 100), owners: map[string]string{}}
}

func (s *eagerStore) hold(ctx context.Context, gate *atomic.Pointer[chan struct{}]) error {
	if g := gate.Load(); g != nil {
		s.held <- struct{}{}
		select {
		case <-*g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *eagerStore) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	if err := s.hold(ctx, &s.holdClaims); err != nil {
		return nil, err
	}
	s.claims.Add(1)
	return s.Store.OperationClaim(ctx, p)
}

func (s *eagerStore) OperationInsertMany(ctx context.Context, p *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	s.mu.Lock()
	for _, op := range p.Operations {
		var v wrapperspb.StringValue
		var input anypb.Any
		if proto.Unmarshal(op.Input, &input) == nil && input.UnmarshalTo(&v) == nil {
			s.owners[v.GetValue()] = op.LeaseOwner
		}
	}
	s.mu.Unlock()
	if err := s.hold(ctx, &s.holdInsert); err != nil {
		return nil, err
	}
	return s.Store.OperationInsertMany(ctx, p)
}

func (s *eagerStore) owner(value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owners[value]
}

func (s *eagerStore) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-s.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no call was held")
	}
}

// newEagerClient starts a client over an eagerStore, and waits for its
// first claim: a client starts operations claimed only once a claim has
// found no more pending operations than it could take.
func newEagerClient(t *testing.T, config *lro.Config) (*eagerStore, *lro.Client, *probe) {
	t.Helper()
	store, p := newEagerStore(t), newProbe()
	config.ID, config.PollInterval = "eager", time.Hour
	c := newClient(t, store, config, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
		lro.ClaimedSignal(c).Init()
	})
	lro.ClaimedSignal(c).Wait(t)
	return store, c, p
}

func TestEagerStart(t *testing.T) {
	t.Parallel()
	t.Run("RunsWithoutAClaim", func(t *testing.T) {
		t.Parallel()
		store, c, p := newEagerClient(t, &lro.Config{Workers: 2})
		claims := store.claims.Load()
		op := start(t, c, "k", "a")
		require.Equal(t, "eager", store.owner("a"), "stored claimed by the client that started it")
		r := p.next(t)
		require.Equal(t, 1, r.job.Attempt)
		require.Equal(t, claims, store.claims.Load(), "no claim ran")
		r.release <- result{resp: wrapperspb.String("done")}
		require.Equal(t, "done", responseValue(t, waitDone(t, c, op.GetName())))
		stored := storedOp(t, store, op.GetName())
		require.Equal(t, int32(1), stored.Attempt)
		require.Equal(t, int64(1), stored.LeaseToken)
	})
	t.Run("Disabled", func(t *testing.T) {
		t.Parallel()
		store, c, p := newEagerClient(t, &lro.Config{DisableEagerStart: true})
		claims := store.claims.Load()
		op := start(t, c, "k", "a")
		require.Equal(t, "", store.owner("a"))
		r := p.next(t)
		require.Greater(t, store.claims.Load(), claims, "claimed after it was stored pending")
		r.release <- result{resp: wrapperspb.String("done")}
		require.Equal(t, "done", responseValue(t, waitDone(t, c, op.GetName())))
	})
	t.Run("OlderPendingOperationsGoFirst", func(t *testing.T) {
		// With every slot taken, a start is stored pending; and while
		// pending operations wait, later starts do not jump ahead of them
		// into a slot that frees.
		t.Parallel()
		store, c, p := newEagerClient(t, &lro.Config{Workers: 1})
		start(t, c, "k", "a")
		ra := p.next(t)
		require.Equal(t, "eager", store.owner("a"))
		start(t, c, "k", "b")
		require.Equal(t, "", store.owner("b"), "no free slot")
		hold := make(chan struct{})
		store.holdClaims.Store(&hold)
		ra.release <- result{}
		store.waitHeld(t) // the claim for the freed slot
		start(t, c, "k", "c")
		require.Equal(t, "", store.owner("c"), "b waits: c is stored pending")
		store.holdClaims.Store(nil)
		close(hold)
		rb := p.next(t)
		require.Equal(t, "b", rb.job.Request.GetValue())
		rb.release <- result{}
		require.Equal(t, "c", p.next(t).job.Request.GetValue())
	})
	t.Run("RepeatedRequestIDGivesTheSlotBack", func(t *testing.T) {
		t.Parallel()
		store, c, p := newEagerClient(t, &lro.Config{Workers: 2})
		opts := &lro.StartOptions{RequestID: "r"}
		first, err := c.StartOperation(context.Background(), "k", wrapperspb.String("a"), opts)
		require.NoError(t, err)
		require.Equal(t, "a", p.next(t).job.Request.GetValue())
		again, err := c.StartOperation(context.Background(), "k", wrapperspb.String("a"), opts)
		require.NoError(t, err)
		require.Equal(t, first.GetName(), again.GetName())
		start(t, c, "k", "b")
		require.Equal(t, "eager", store.owner("b"), "the repeat's slot is free again")
		require.Equal(t, "b", p.next(t).job.Request.GetValue())
	})
	t.Run("StartsStoredDuringStopAreReleased", func(t *testing.T) {
		t.Parallel()
		store, c, p := newEagerClient(t, &lro.Config{Workers: 2})
		running := start(t, c, "k", "running")
		r := p.next(t)
		hold := make(chan struct{})
		store.holdInsert.Store(&hold)
		started := make(chan *longrunningpb.Operation, 1)
		go func() {
			op, err := c.StartOperation(context.Background(), "k", wrapperspb.String("late"), nil)
			if err != nil {
				t.Error(err)
			}
			started <- op
		}()
		store.waitHeld(t)
		require.Equal(t, "eager", store.owner("late"))
		stopped := make(chan struct{})
		go func() {
			c.Stop(context.Background())
			close(stopped)
		}()
		<-r.ctx.Done() // Stop has begun: it cancels the running handler
		close(hold)
		late := <-started
		<-stopped
		for _, op := range []*longrunningpb.Operation{running, late} {
			stored := storedOp(t, store, op.GetName())
			require.Equal(t, lrostore.StatePending, stored.State, "released, to run again at once")
			require.Equal(t, int32(0), stored.Attempt)
		}
	})
}
