package lro_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// newRecorder returns a tracer provider that records its spans in memory.
func newRecorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// spansNamed returns the ended spans of rec with that name.
func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

// requireChild checks that child's parent is parent's span context.
func requireChild(t *testing.T, parent trace.SpanContext, child sdktrace.ReadOnlySpan, remote bool) {
	t.Helper()
	require.Equal(t, parent.TraceID(), child.SpanContext().TraceID(), "%s: one trace", child.Name())
	require.Equal(t, parent.SpanID(), child.Parent().SpanID(), "%s: its parent", child.Name())
	require.Equal(t, remote, child.Parent().IsRemote(), "%s: a parent from the store is remote", child.Name())
}

// One operation started in the caller's span fails its first attempt
// (UNAVAILABLE, retried) on node A, and succeeds on node B, which shares
// A's PostgreSQL database: every span is in the caller's trace, the start
// a child of the caller's span, each attempt a child of the start's
// context that the store kept, on either node, and the handler's own span
// a child of its attempt's.
func TestTraceFollowsAnOperationThroughARetryOnAnotherNode(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	open := func() lrostore.Store {
		s, err := lropgx.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	tpA, recA := newRecorder(t)
	tpB, recB := newRecorder(t)
	pa, pb := newProbe(), newProbe()
	retry := &lro.RetryPolicy{InitialDelay: 50 * time.Millisecond, Jitter: -1}
	storeA := open()
	a := newClient(t, storeA, &lro.Config{ID: "node-a", TracerProvider: tpA}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "flaky", Run: pa.blocking, Retry: retry})
	})

	ctx, caller := tpA.Tracer("test").Start(context.Background(), "caller")
	op, err := a.StartOperation(ctx, "flaky", wrapperspb.String(""), nil)
	require.NoError(t, err)
	caller.End()
	first := pa.next(t)
	require.True(t, trace.SpanFromContext(first.ctx).IsRecording(), "the handler's context carries its attempt's span")
	first.release <- result{err: status.Error(codes.Unavailable, "node a is going away")}
	require.Eventually(t, func() bool {
		_, info, err := a.GetOperationInfo(context.Background(), op.GetName())
		require.NoError(t, err)
		return info.State == "pending"
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, a.Stop(context.Background()))

	b := newClient(t, open(), &lro.Config{ID: "node-b", TracerProvider: tpB}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "flaky", Run: pb.blocking, Retry: retry})
	})
	second := pb.next(t)
	require.Equal(t, 2, second.job.Attempt)
	_, own := tpB.Tracer("handler").Start(second.ctx, "handler's own work")
	own.End()
	second.release <- result{resp: wrapperspb.String("done on b")}
	require.NotNil(t, wait(t, b, op).GetResponse())
	require.NoError(t, b.Stop(context.Background()))

	starts := spansNamed(recA, "lro.start flaky")
	require.Len(t, starts, 1)
	start := starts[0]
	requireChild(t, caller.SpanContext(), start, false)
	require.Equal(t, trace.SpanKindProducer, start.SpanKind())
	require.Equal(t, otelcodes.Unset, start.Status().Code)
	require.Equal(t, op.GetName(), attrs(start)["lro.operation.name"].AsString())
	require.Equal(t, "flaky", attrs(start)["lro.operation.kind"].AsString())

	stored, err := storeA.OperationGet(context.Background(), &lrostore.OperationGetParams{ID: op.GetName()[len("operations/"):]})
	require.NoError(t, err)
	wantParent := "00-" + start.SpanContext().TraceID().String() + "-" + start.SpanContext().SpanID().String() + "-01"
	require.Equal(t, wantParent, stored.TraceParent, "the store keeps the start's context")

	attemptsA := spansNamed(recA, "lro.attempt flaky")
	require.Len(t, attemptsA, 1)
	onA := attemptsA[0]
	requireChild(t, start.SpanContext(), onA, true)
	require.Equal(t, trace.SpanKindConsumer, onA.SpanKind())
	require.Equal(t, map[attribute.Key]attribute.Value{
		"lro.operation.name":  attribute.StringValue(op.GetName()),
		"lro.operation.kind":  attribute.StringValue("flaky"),
		"lro.attempt":         attribute.IntValue(1),
		"lro.attempt.outcome": attribute.StringValue("retried"),
		"lro.code":            attribute.StringValue("UNAVAILABLE"),
	}, attrs(onA))
	require.Equal(t, sdktrace.Status{Code: otelcodes.Error, Description: "node a is going away"}, onA.Status())

	attemptsB := spansNamed(recB, "lro.attempt flaky")
	require.Len(t, attemptsB, 1)
	onB := attemptsB[0]
	requireChild(t, start.SpanContext(), onB, true)
	require.Equal(t, map[attribute.Key]attribute.Value{
		"lro.operation.name":  attribute.StringValue(op.GetName()),
		"lro.operation.kind":  attribute.StringValue("flaky"),
		"lro.attempt":         attribute.IntValue(2),
		"lro.attempt.outcome": attribute.StringValue("succeeded"),
	}, attrs(onB))
	require.Equal(t, otelcodes.Unset, onB.Status().Code)
	require.True(t, onA.EndTime().Before(onB.StartTime()), "B's attempt follows A's")

	owns := spansNamed(recB, "handler's own work")
	require.Len(t, owns, 1)
	requireChild(t, onB.SpanContext(), owns[0], false)
}

// A failed attempt that ends the operation, and a start refused, carry
// their code; StartOperations records one span, child of the caller's,
// and each operation's attempts are its children.
func TestTraceStatuses(t *testing.T) {
	t.Parallel()
	tp, rec := newRecorder(t)
	p := newProbe()
	c := newClient(t, openStore(t), &lro.Config{TracerProvider: tp}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking, Retry: lro.NoRetry})
	})
	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	ops, err := c.StartOperations(ctx, []lro.StartRequest{{Kind: "k"}, {Kind: "k"}})
	require.NoError(t, err)
	_, err = c.StartOperation(ctx, "nope", nil, nil)
	require.Error(t, err)
	caller.End()
	for range ops {
		p.next(t).release <- result{err: status.Error(codes.PermissionDenied, "not allowed")}
	}
	for _, op := range ops {
		require.NotNil(t, wait(t, c, op).GetError())
	}
	require.NoError(t, c.Stop(context.Background()))

	require.Empty(t, spansNamed(rec, "lro.start k"))
	batch := spansNamed(rec, "lro.start_operations")
	require.Len(t, batch, 1)
	requireChild(t, caller.SpanContext(), batch[0], false)
	require.Equal(t, int64(2), attrs(batch[0])["lro.operation.count"].AsInt64())
	require.Equal(t, otelcodes.Unset, batch[0].Status().Code)
	require.Empty(t, spansNamed(rec, "lro.start nope"), "a kind that is not registered does not name a span")
	refused := spansNamed(rec, "lro.start")
	require.Len(t, refused, 1)
	require.Equal(t, "nope", attrs(refused[0])["lro.operation.kind"].AsString())
	require.Equal(t, otelcodes.Error, refused[0].Status().Code)
	require.Equal(t, "INVALID_ARGUMENT", attrs(refused[0])["lro.code"].AsString())

	attempts := spansNamed(rec, "lro.attempt k")
	require.Len(t, attempts, 2)
	names := map[string]bool{}
	for _, s := range attempts {
		requireChild(t, batch[0].SpanContext(), s, true)
		names[attrs(s)["lro.operation.name"].AsString()] = true
		require.Equal(t, "failed", attrs(s)["lro.attempt.outcome"].AsString())
		require.Equal(t, "PERMISSION_DENIED", attrs(s)["lro.code"].AsString())
		require.Equal(t, otelcodes.Error, s.Status().Code)
	}
	require.Equal(t, map[string]bool{ops[0].GetName(): true, ops[1].GetName(): true}, names)
}

// With tracing off (a no-op provider, or the global one while none is
// set), nothing is recorded and no trace context is stored, even for a
// start whose caller traces with a provider of its own.
func TestTraceOffStoresNothing(t *testing.T) {
	t.Parallel()
	for name, tp := range map[string]trace.TracerProvider{"noop": noop.NewTracerProvider(), "global": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			callerTP, rec := newRecorder(t)
			store := openStore(t)
			p := newProbe()
			c := newClient(t, store, &lro.Config{TracerProvider: tp}, func(c *lro.Client) {
				lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
			})
			ctx, caller := callerTP.Tracer("test").Start(context.Background(), "caller")
			op, err := c.StartOperation(ctx, "k", nil, nil)
			require.NoError(t, err)
			caller.End()
			r := p.next(t)
			require.False(t, trace.SpanContextFromContext(r.ctx).IsValid(), "no span in the handler's context")
			r.release <- result{}
			wait(t, c, op)
			stored, err := store.OperationGet(context.Background(), &lrostore.OperationGetParams{ID: op.GetName()[len("operations/"):]})
			require.NoError(t, err)
			require.Empty(t, stored.TraceParent, "NULL")
			require.Len(t, rec.Ended(), 1, "the caller's span alone")
		})
	}
}

// A handler on a client whose tracing is off still sees the trace context
// stored with its operation, so that its own spans, or a process it hands
// the work to, continue the start's trace.
func TestTraceOffHandlerSeesTheStoredContext(t *testing.T) {
	t.Parallel()
	tp, _ := newRecorder(t)
	store := openStore(t)
	idle := newProbe()
	starter := newClient(t, store, &lro.Config{Workers: -1, TracerProvider: tp}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: idle.blocking})
	})
	op, err := starter.StartOperation(context.Background(), "k", nil, nil)
	require.NoError(t, err)
	stored, err := store.OperationGet(context.Background(), &lrostore.OperationGetParams{ID: op.GetName()[len("operations/"):]})
	require.NoError(t, err)
	require.NotEmpty(t, stored.TraceParent, "a start without a parent span starts a trace")

	p := newProbe()
	newClient(t, store, &lro.Config{TracerProvider: noop.NewTracerProvider()}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	r := p.next(t)
	parent, _ := lro.TraceContext(r.ctx)
	require.Equal(t, stored.TraceParent, parent)
	r.release <- result{}
}

// A remote worker continues the trace of a start on the server: the
// Workers service hands it the stored context with the claim, and its
// attempt's span is a child of the server's start span.
func TestTraceContinuesInARemoteWorker(t *testing.T) {
	t.Parallel()
	serverTP, serverRec := newRecorder(t)
	workerTP, workerRec := newRecorder(t)
	server, dial := newServerNode(t, openStore(t), &lro.Config{TracerProvider: serverTP})
	p := newProbe()
	remoteWorker(t, dial(), &lro.Config{TracerProvider: workerTP}, p.blocking)

	ctx, caller := serverTP.Tracer("test").Start(context.Background(), "caller")
	op, err := server.StartOperation(ctx, remoteKind, wrapperspb.String("x"), nil)
	require.NoError(t, err)
	caller.End()
	r := p.next(t)
	require.True(t, trace.SpanFromContext(r.ctx).IsRecording(), "the handler's context carries its attempt's span")
	r.release <- result{resp: wrapperspb.String("done")}
	wait(t, server, op)

	starts := spansNamed(serverRec, "lro.start "+remoteKind)
	require.Len(t, starts, 1)
	requireChild(t, caller.SpanContext(), starts[0], false)
	require.Eventually(t, func() bool { return len(spansNamed(workerRec, "lro.attempt "+remoteKind)) == 1 },
		10*time.Second, time.Millisecond, "the worker's attempt span ends once its result is written")
	attempt := spansNamed(workerRec, "lro.attempt "+remoteKind)[0]
	requireChild(t, starts[0].SpanContext(), attempt, true)
	require.Equal(t, op.GetName(), attrs(attempt)["lro.operation.name"].AsString())
	require.Equal(t, "succeeded", attrs(attempt)["lro.attempt.outcome"].AsString())
	require.Empty(t, spansNamed(serverRec, "lro.attempt "+remoteKind), "the server runs no attempt")
}

// A start that its sampler does not sample stores no trace context, and
// its attempts follow that decision: a sampler that follows its parent
// records none of them, while a sampled start's attempt is recorded.
func TestTraceUnsampledStartStoresNothing(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	var sampleNext atomic.Bool
	// Roots are sampled as sampleNext says, but an attempt's always: an
	// attempt that did not follow its start's decision would be recorded.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sdktrace.ParentBased(samplerFunc(func(name string) bool {
			return sampleNext.Load() || strings.HasPrefix(name, "lro.attempt")
		}))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	store := openStore(t)
	p := newProbe()
	c := newClient(t, store, &lro.Config{TracerProvider: tp}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	run := func(sampled bool) *lrostore.Operation {
		sampleNext.Store(sampled)
		op, err := c.StartOperation(context.Background(), "k", nil, nil)
		require.NoError(t, err)
		r := p.next(t)
		require.Equal(t, sampled, trace.SpanContextFromContext(r.ctx).IsSampled())
		r.release <- result{}
		wait(t, c, op)
		stored, err := store.OperationGet(context.Background(), &lrostore.OperationGetParams{ID: op.GetName()[len("operations/"):]})
		require.NoError(t, err)
		return stored
	}
	require.Empty(t, run(false).TraceParent, "not sampled: NULL")
	require.Empty(t, rec.Ended(), "nothing recorded of an unsampled start or its attempt")
	require.NotEmpty(t, run(true).TraceParent)
	require.Len(t, spansNamed(rec, "lro.start k"), 1)
	require.Len(t, spansNamed(rec, "lro.attempt k"), 1)
}

// samplerFunc samples the roots whose names it says to.
type samplerFunc func(name string) bool

func (f samplerFunc) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	d := sdktrace.Drop
	if f(p.Name) {
		d = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: d, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

func (samplerFunc) Description() string { return "samplerFunc" }

// In a context marked by StartInCallerSpan, the caller's span is the
// start's: lro records no span of its own, names the operation on the
// caller's, leaves its status and end to the caller, and the attempt is
// the caller's span's child. A caller's span that does not record (not
// sampled) leaves the start to a span of lro's, as an unmarked context.
func TestTraceStartInCallerSpan(t *testing.T) {
	t.Parallel()
	tp, rec := newRecorder(t)
	p := newProbe()
	c := newClient(t, openStore(t), &lro.Config{TracerProvider: tp}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	ctx, call := tp.Tracer("test").Start(context.Background(), "call")
	op, err := c.StartOperation(lro.StartInCallerSpan(ctx), "k", nil, nil)
	require.NoError(t, err)
	_, err = c.StartOperation(lro.StartInCallerSpan(ctx), "nope", nil, nil)
	require.Error(t, err)
	require.True(t, call.IsRecording(), "lro does not end the caller's span")
	call.End()
	p.next(t).release <- result{}
	wait(t, c, op)
	require.NoError(t, c.Stop(context.Background()))

	require.Empty(t, spansNamed(rec, "lro.start k"))
	require.Empty(t, spansNamed(rec, "lro.start"))
	calls := spansNamed(rec, "call")
	require.Len(t, calls, 1)
	a := attrs(calls[0])
	require.Equal(t, op.GetName(), a["lro.operation.name"].AsString())
	require.Equal(t, "INVALID_ARGUMENT", a["lro.code"].AsString(), "the refused start's")
	require.Equal(t, otelcodes.Unset, calls[0].Status().Code, "the caller sets the status")
	attempts := spansNamed(rec, "lro.attempt k")
	require.Len(t, attempts, 1)
	requireChild(t, call.SpanContext(), attempts[0], true)

	// An unsampled caller: the start is a span of lro's, which this
	// sampler, deciding by name alone, samples.
	unsampled := trace.SpanContextFromContext(trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})))
	rec2 := tracetest.NewSpanRecorder()
	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec2),
		sdktrace.WithSampler(samplerFunc(func(name string) bool { return name == "lro.start k" })))
	t.Cleanup(func() { _ = tp2.Shutdown(context.Background()) })
	c2 := newClient(t, openStore(t), &lro.Config{TracerProvider: tp2}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	_, err = c2.StartOperation(lro.StartInCallerSpan(trace.ContextWithSpanContext(context.Background(), unsampled)), "k", nil, nil)
	require.NoError(t, err)
	p.next(t).release <- result{}
	require.NoError(t, c2.Stop(context.Background()))
	starts := spansNamed(rec2, "lro.start k")
	require.Len(t, starts, 1)
	requireChild(t, unsampled, starts[0], false)
}
