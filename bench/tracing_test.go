package main

import (
	"context"
	"testing"
)

// LRO_BENCH_TRACING=1 gives the cases a provider that records spans;
// unset, one that records none.
func TestBenchTracer(t *testing.T) {
	for _, tt := range []struct {
		env       string
		recording bool
	}{{"", false}, {"1", true}} {
		t.Setenv(tracingEnv, tt.env)
		_, span := newBenchTracer().Tracer("bench").Start(context.Background(), "case")
		if span.IsRecording() != tt.recording {
			t.Errorf("%s=%q: recording %v, want %v", tracingEnv, tt.env, span.IsRecording(), tt.recording)
		}
		span.End()
	}
}
