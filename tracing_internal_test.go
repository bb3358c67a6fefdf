package lro

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"lro.dev/lro/lrostore"
)

// Tracing off costs a start and an attempt no allocation.
func TestTracingOffAllocatesNothing(t *testing.T) {
	op := &lrostore.Operation{ID: "0190", Kind: "k", Attempt: 1}
	ctx := context.Background()
	for name, tr := range map[string]*tracing{"noop": newTracing(noop.NewTracerProvider()), "global unset": newTracing(nil)} {
		require.False(t, tr.on(), name)
		allocs := testing.AllocsPerRun(100, func() {
			_, span := tr.startSpan(ctx, nil, "k")
			endStart(span, "k", "operations/x", nil)
			_, span = tr.attemptSpan(ctx, op, "operations/x", "lro.attempt k")
			endAttempt(span, op, "operations/x", outcomeSucceeded, nil)
		})
		require.Zero(t, allocs, name)
	}
}

// A traced attempt allocates what the SDK's span allocates, plus the
// remote parent that its stored context becomes: nothing of lro's own,
// with every span sampled as without.
func TestAttemptSpanAllocatesOnlyTheSDKs(t *testing.T) {
	for _, sampled := range []bool{true, false} {
		sampler := sdktrace.AlwaysSample()
		if !sampled {
			sampler = sdktrace.NeverSample()
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
		tr := newTracing(tp)
		parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
		op := &lrostore.Operation{ID: "0190", Kind: "k", Attempt: 1, TraceParent: formatTraceParent(parent)}
		ctx := context.Background()
		// The SDK's own: a span, child of a context that carries its
		// parent already, and the same attributes when it records.
		parentCtx := trace.ContextWithRemoteSpanContext(ctx, parent)
		sdks := testing.AllocsPerRun(200, func() {
			_, span := tr.tracer.Start(parentCtx, "lro.attempt k")
			if span.IsRecording() {
				span.SetAttributes(AttrOperationName.String("operations/x"), AttrOperationKind.String(op.Kind),
					AttrAttempt.Int(int(op.Attempt)), AttrAttemptOutcome.String(outcomeSucceeded))
			}
			span.End()
		})
		lros := testing.AllocsPerRun(200, func() {
			_, span := tr.attemptSpan(ctx, op, "operations/x", "lro.attempt k")
			endAttempt(span, op, "operations/x", outcomeSucceeded, nil)
		})
		// The remote parent: a span of the context, and the context.
		require.LessOrEqual(t, lros, sdks+2, "sampled %v", sampled)
	}
}

// An attempt whose start was not sampled gets no span to end (nothing to
// build its attributes for), but its context carries the span the
// sampler did not sample, so that the handler's spans follow the decision.
func TestAttemptNotSampled(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := newTracing(tp)
	op := &lrostore.Operation{ID: "0190a7e2-3b4c-7d5e-8f60-718293a4b5c6", Kind: "k", Attempt: 1}
	ctx, span := tr.attemptSpan(context.Background(), op, "operations/x", "lro.attempt k")
	require.Nil(t, span)
	sc := trace.SpanContextFromContext(ctx)
	require.True(t, sc.IsValid())
	require.False(t, sc.IsSampled())
	require.Equal(t, unsampledParent(op.ID).TraceID(), sc.TraceID(), "the operation's trace")
	_, child := tp.Tracer("handler").Start(ctx, "handler's")
	require.False(t, child.IsRecording(), "the handler's span follows the decision")
	child.End()
	require.Empty(t, rec.Ended())

	// Sampled, the attempt has its span.
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	op.TraceParent = formatTraceParent(sampled)
	_, span = tr.attemptSpan(context.Background(), op, "operations/x", "lro.attempt k")
	require.NotNil(t, span)
	endAttempt(span, op, "operations/x", outcomeSucceeded, nil)
	require.Len(t, rec.Ended(), 1)
}

// TestTraceParentAsThePropagator: the traceparent that a start stores, and
// the context that an attempt reads back, are those of OpenTelemetry's
// W3C propagator, valid or not.
func TestTraceParentAsThePropagator(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=a,other=b")
	require.NoError(t, err)
	for i, flags := range []trace.TraceFlags{0, trace.FlagsSampled, 0xff} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, byte(i + 1)},
			SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, byte(i)},
			TraceFlags: flags, TraceState: ts,
		})
		carrier := propagation.MapCarrier{}
		traceContext.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
		require.Equal(t, carrier["traceparent"], formatTraceParent(sc))
		require.Equal(t, carrier["tracestate"], sc.TraceState().String())
	}
	for _, tp := range []string{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
		"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", // upper case
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", // no trace ID
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // no span ID
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"garbage",
	} {
		for _, state := range []string{"", "vendor=a,other=b", "not a trace state"} {
			carrier := propagation.MapCarrier{"traceparent": tp}
			if state != "" {
				carrier["tracestate"] = state
			}
			want := trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier))
			got := parseTraceParent(tp, state)
			require.True(t, want.Equal(got), "%q %q: want %v, got %v", tp, state, want, got)
			require.Equal(t, want.IsRemote(), got.IsRemote(), "%q", tp)
		}
	}
}

// BenchmarkAttemptSpan is what tracing costs an attempt with every span
// sampled: its span, child of the stored context, started and ended with
// its attributes, batched to an exporter that drops them.
func BenchmarkAttemptSpan(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := newTracing(tp)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	op := &lrostore.Operation{ID: "0190", Kind: "k", Attempt: 1, TraceParent: formatTraceParent(sc)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, span := tr.attemptSpan(context.Background(), op, "operations/0190", "lro.attempt k")
			endAttempt(span, op, "operations/0190", outcomeSucceeded, nil)
		}
	})
}

// BenchmarkAttemptSpanUnsampled is what tracing costs an attempt whose
// start was not sampled (no stored context), with a sampler that follows
// the parent, as OpenTelemetry's default does.
func BenchmarkAttemptSpanUnsampled(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := newTracing(tp)
	op := &lrostore.Operation{ID: "0190a7e2-3b4c-7d5e-8f60-718293a4b5c6", Kind: "k", Attempt: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, span := tr.attemptSpan(context.Background(), op, "operations/0190", "lro.attempt k")
			endAttempt(span, op, "operations/0190", outcomeSucceeded, nil)
		}
	})
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
