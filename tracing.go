package lro

import (
	"context"
	"encoding/hex"
	"reflect"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/status"

	"lro.dev/lro/lrostore"
)

// Traces: a start records a span, "lro.start {kind}", child of the
// caller's span, and stores that span's W3C trace context with the
// operation (lrostore.Operation.TraceParent). Each attempt runs in a span,
// "lro.attempt {kind}", whose parent is the stored context, so that the
// trace goes on on whichever node claims the operation, or in a remote
// worker (the Workers service hands the context on with each claimed
// operation). The handler's context carries the attempt's span, so that
// the handler's own spans nest under it.
//
// Off costs nothing: with a no-op provider (or the global provider while
// none is set) no span is started, nothing is allocated, and the
// operation's trace context is stored as NULL.

// TracerName is the instrumentation scope of lro's spans.
const TracerName = "lro.dev/lro"

// The attributes of lro's spans.
const (
	// AttrOperationName is the operation's resource name,
	// "operations/{id}" or "{parent}/operations/{id}".
	AttrOperationName = attribute.Key("lro.operation.name")
	// AttrOperationKind is the operation's kind.
	AttrOperationKind = attribute.Key("lro.operation.kind")
	// AttrOperationCount is how many operations a StartOperations call
	// was asked to start.
	AttrOperationCount = attribute.Key("lro.operation.count")
	// AttrAttempt is the attempt's number, from 1.
	AttrAttempt = attribute.Key("lro.attempt")
	// AttrAttemptOutcome is how the attempt ended: "succeeded", "failed"
	// (the operation failed), "retried" (it failed and runs again),
	// "lost" (the lease was lost: another worker may run it now), or "released" (the
	// worker stopped: it runs again, the attempt not counted).
	AttrAttemptOutcome = attribute.Key("lro.attempt.outcome")
	// AttrCode is the google.rpc.Code of a failure, by name, such as
	// "UNAVAILABLE".
	AttrCode = attribute.Key("lro.code")
)

// traceContext is the W3C propagator: lro stores and hands on trace
// contexts in its format (traceparent and tracestate), whatever the
// global propagator is.
var traceContext propagation.TraceContext

// tracing is a client's tracer.
type tracing struct {
	tracer trace.Tracer
	// global: the tracer is the global provider's, which is a no-op while
	// no provider is set (see on).
	global bool
	// off: the configured provider is a no-op.
	off bool
}

func newTracing(tp trace.TracerProvider) *tracing {
	if tp == nil || isGlobalDefault(tp) {
		// The global tracer delegates to the provider set later, if it was
		// not set yet.
		return &tracing{tracer: otel.GetTracerProvider().Tracer(TracerName), global: true}
	}
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return &tracing{tracer: noop.Tracer{}, off: true}
	}
	return &tracing{tracer: tp.Tracer(TracerName)}
}

// isGlobalDefault reports whether tp is the global provider that
// otel.GetTracerProvider returns while no provider is set: it delegates to
// the one set later, and until then starts no span.
func isGlobalDefault(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// on reports whether spans are recorded: cheaply, as each start and each
// attempt asks.
func (t *tracing) on() bool {
	if t.global {
		return !isGlobalDefault(otel.GetTracerProvider())
	}
	return !t.off
}

// callerSpanKey marks a context whose span stands for the start (see
// StartInCallerSpan).
type callerSpanKey struct{}

// StartInCallerSpan returns ctx marked so that StartOperation, called in
// it, records the start on ctx's span, when that span records, rather
// than on a span of its own: the operation stores that span's context,
// and its attempts are that span's children. It is for a server whose
// span of the call, such as otelgrpc's or otelhttp's, already stands for
// the start, as lrogrpc's StartOperation does: a span of lro's under it
// would only repeat it, at the cost of a span per start. The caller's
// span gets the start's attributes (lro.operation.kind,
// lro.operation.name and, when refused, lro.code); its caller sets its
// status and ends it.
func StartInCallerSpan(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerSpanKey{}, true)
}

// callerSpan is the caller's span that stands for a start: lro sets its
// attributes, and leaves its status and end to its caller.
type callerSpan struct{ trace.Span }

func (callerSpan) SetStatus(otelcodes.Code, string) {}
func (callerSpan) End(...trace.SpanEndOption)       {}

// startSpan starts the span of a start of kind, child of ctx's span, and
// returns it with ctx carrying it; nil when tracing is off. In a context
// marked by StartInCallerSpan whose span records, it is that span. The
// span is "lro.start {kind}" for a kind of kinds, "lro.start" for any
// other: what a caller sends does not name spans, whose names a tracing
// backend expects to be few.
func (t *tracing) startSpan(ctx context.Context, kinds *kindSet, kind string) (context.Context, trace.Span) {
	if !t.on() {
		return ctx, nil
	}
	if ctx.Value(callerSpanKey{}) != nil {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			return ctx, callerSpan{span}
		}
	}
	name := "lro.start"
	if k := kinds.get(kind); k != nil {
		name = k.startSpanName
	}
	// The attributes are set at the end, in one call, as an attempt's
	// (see attemptSpan).
	return t.tracer.Start(ctx, name, producerSpan...)
}

// The options of lro's spans, made once: an option made for each span is
// two allocations (the option and the slice of options) of the few that a
// span costs.
var (
	producerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

// startBatchSpan starts the span of a StartOperations call, child of
// ctx's span, and returns it with ctx carrying it; nil when tracing is
// off. One span stands for the whole call, as the call is one: every
// operation it starts stores its context, and their attempts are its
// children. A span per operation would double what tracing costs a batch,
// for spans that would all share the call's outcome and times.
func (t *tracing) startBatchSpan(ctx context.Context) (context.Context, trace.Span) {
	if !t.on() {
		return ctx, nil
	}
	return t.tracer.Start(ctx, "lro.start_operations", producerSpan...)
}

// storedTraceContext is the trace context that the operations a span
// starts store: "" for none. The context of a span that is not sampled is
// not stored: it would cost every start of a sampled fraction of them a
// column, and its attempts follow the start's decision without it (see
// attemptSpan).
func storedTraceContext(span trace.Span) (traceParent, traceState string) {
	if span == nil {
		return "", ""
	}
	sc := span.SpanContext()
	if !sc.IsValid() || !sc.IsSampled() {
		return "", ""
	}
	return formatTraceParent(sc), sc.TraceState().String()
}

// unsampledParent is the span context, not sampled, that stands for the
// start of the operation id when none was stored: the trace ID is the
// operation's UUID, the span ID its last 8 bytes.
func unsampledParent(id string) trace.SpanContext {
	var tid trace.TraceID
	if u, err := uuid.Parse(id); err == nil {
		tid = trace.TraceID(u)
	}
	var sid trace.SpanID
	copy(sid[:], tid[8:])
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true})
}

// formatTraceParent is the W3C traceparent header of sc (version 00), as
// propagation.TraceContext writes it, in one allocation: each start of a
// traced client makes one.
func formatTraceParent(sc trace.SpanContext) string {
	var b [55]byte
	copy(b[:], "00-")
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}

// parseTraceParent is the span context of a stored traceparent and
// tracestate: version 00 parsed here without allocating, as each attempt
// of a traced operation asks; anything else by propagation.TraceContext.
// Invalid when they do not parse.
func parseTraceParent(traceParent, traceState string) trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	var flags [1]byte
	if len(traceParent) != 55 || traceParent[:3] != "00-" || traceParent[35] != '-' || traceParent[52] != '-' ||
		!decodeLowerHex(tid[:], traceParent[3:35]) || !decodeLowerHex(sid[:], traceParent[36:52]) ||
		!decodeLowerHex(flags[:], traceParent[53:55]) {
		carrier := propagation.MapCarrier{"traceparent": traceParent}
		if traceState != "" {
			carrier["tracestate"] = traceState
		}
		return trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier))
	}
	if flags[0] > 3 {
		return trace.SpanContext{} // reserved flags, which version 00 does not allow
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), Remote: true}
	if traceState != "" {
		// A trace state that does not parse leaves the context valid, as
		// W3C asks.
		cfg.TraceState, _ = trace.ParseTraceState(traceState)
	}
	if sc := trace.NewSpanContext(cfg); sc.IsValid() {
		return sc
	}
	return trace.SpanContext{}
}

// decodeLowerHex decodes s, lower-case hex as W3C trace context writes
// it, into dst, which it fills exactly.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// endStart ends the span of a start of kind, which started the operation
// name ("" when refused), with err as its status (nil: unset, which is
// success).
func endStart(span trace.Span, kind, name string, err error) {
	if span == nil {
		return
	}
	attrs := [2]attribute.KeyValue{AttrOperationKind.String(kind)}
	n := 1
	if name != "" {
		attrs[n] = AttrOperationName.String(name)
		n++
	}
	endSpan(span, err, attrs[:n]...)
}

// endSpan ends a span of lro with its attributes attrs, and err as its
// status (nil: unset, which is success).
func endSpan(span trace.Span, err error, attrs ...attribute.KeyValue) {
	if span == nil {
		return
	}
	if err != nil {
		st := status.Convert(err)
		attrs = append(attrs, AttrCode.String(code.Code(st.Code()).String()))
		span.SetStatus(otelcodes.Error, st.Message())
	}
	span.SetAttributes(attrs...)
	span.End()
}

// attemptSpan starts the span of an attempt at op, named spanName
// ("lro.attempt {kind}", made once per kind): its parent is the trace
// context stored with op, or, when op has none (its start was not
// sampled, or not traced), a context that is not sampled. It returns
// ctx carrying the span, or, while tracing is off, carrying the stored
// context alone (so that a handler that traces with its own tracer still
// continues the start's trace), and the span, nil when off or when the
// span does not record (it is not sampled).
func (t *tracing) attemptSpan(ctx context.Context, op *lrostore.Operation, name, spanName string) (context.Context, trace.Span) {
	on := t.on()
	if op.TraceParent != "" {
		if sc := parseTraceParent(op.TraceParent, op.TraceState); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	} else if on {
		// No stored context: the start was not sampled, or not traced.
		// The attempt follows that decision: its parent is a remote
		// context, not sampled, of a trace named by the operation's ID,
		// which samplers that follow their parent (the default) do not
		// sample either.
		ctx = trace.ContextWithRemoteSpanContext(ctx, unsampledParent(op.ID))
	}
	if !on {
		return ctx, nil
	}
	// The attributes are set when the span ends, all in one call (see
	// endAttempt): the SDK's span then grows its attributes once, which
	// costs each attempt about two fifths less than some set at the start
	// and the outcome at the end. A sampler sees the span's name, which
	// carries the kind.
	ctx, span := t.tracer.Start(ctx, spanName, consumerSpan...)
	if !span.IsRecording() {
		// Not sampled: ctx carries the span, so that the handler's spans
		// follow the decision, but its attributes would be built for
		// nothing when it ends.
		return ctx, nil
	}
	return ctx, span
}

// endAttempt ends the span of an attempt at op, the operation name, with
// its attributes: its outcome, and the failure f that ended it, if any.
func endAttempt(span trace.Span, op *lrostore.Operation, name, outcome string, f *lrostore.Failure) {
	if span == nil {
		return
	}
	attrs := [5]attribute.KeyValue{
		AttrOperationName.String(name),
		AttrOperationKind.String(op.Kind),
		AttrAttempt.Int(int(op.Attempt)),
		AttrAttemptOutcome.String(outcome),
	}
	n := 4
	if f != nil {
		attrs[n] = AttrCode.String(code.Code(f.Code).String())
		n++
	}
	span.SetAttributes(attrs[:n]...)
	switch {
	case f != nil:
		span.SetStatus(otelcodes.Error, f.Message)
	case outcome == outcomeLost:
		span.SetStatus(otelcodes.Error, "the lease was lost")
	}
	span.End()
}

// TraceContext returns the W3C trace context (the traceparent and
// tracestate headers) of ctx's span, "" for none. A handler that hands
// its work on to another process passes them on, as `lro work` does in
// its command's environment (TRACEPARENT and TRACESTATE).
func TraceContext(ctx context.Context) (traceParent, traceState string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", ""
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier["traceparent"], carrier["tracestate"]
}
