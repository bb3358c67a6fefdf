package lro

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
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
			_, span := tr.startSpan(ctx, "k")
			endSpan(span, nil)
			_, span = tr.attemptSpan(ctx, op)
			endAttempt(span, outcomeSucceeded, nil)
		})
		require.Zero(t, allocs, name)
	}
}
