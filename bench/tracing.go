package main

import (
	"context"
	"os"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracingEnv turns tracing on in the lro clients of every case (and of
// their child processes, which inherit it): LRO_BENCH_TRACING=1 records
// every span with the OpenTelemetry SDK, sampled, and sends them in batches
// to an exporter that drops them, so that the run measures what tracing
// costs lro, not an exporter's network. Unset, tracing is off (a no-op
// provider), as in lro serve without OTEL_* variables.
const tracingEnv = "LRO_BENCH_TRACING"

// benchTracer is the tracer provider of the cases' lro clients.
var benchTracer = newBenchTracer()

func newBenchTracer() trace.TracerProvider {
	if os.Getenv(tracingEnv) != "1" {
		return noop.NewTracerProvider()
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
}

// observed is set in the process of an "_observed" case, which runs as
// its plain case with metrics and tracing on (every span sampled, unless
// OTEL_TRACES_SAMPLER says otherwise), so that the run measures what they
// cost against the plain case's run in the same round.
var observed bool

// observeEnv, set to "metrics" or "tracing", has the "_observed" cases
// turn on that one alone, so that a run can tell what each costs.
const observeEnv = "LRO_BENCH_OBSERVE"

// observe turns metrics and tracing on for the rest of the case's process
// (and its children's, which inherit the environment), or the one that
// observeEnv names.
func observe() {
	observed = true
	only := os.Getenv(observeEnv)
	if only != "tracing" {
		os.Setenv(metricsEnv, "1")
	}
	if only != "metrics" {
		os.Setenv(tracingEnv, "1")
	}
	benchTracer = newBenchTracer()
}

func observedSuffix() string {
	if observed {
		return "_observed"
	}
	return ""
}

// discardExporter drops the spans it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
