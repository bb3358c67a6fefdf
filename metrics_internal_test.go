package lro

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// measureOne records what one operation's life records, on its node.
func measureOne(km *kindMetrics, op *lrostore.Operation, f *lrostore.Failure) {
	km.started.Inc()
	now := time.Now()
	km.claimed(op, now)
	km.running.Inc()
	if f == nil {
		km.attemptEnded(outcomeSucceeded, time.Millisecond)
		km.ended(lrostore.StateSucceeded, nil, "", op.CreateTime, now)
	} else {
		km.attemptEnded(outcomeFailed, time.Millisecond)
		km.ended(lrostore.StateFailed, f, "", op.CreateTime, now)
	}
	km.running.Dec()
}

// Counting an operation allocates nothing once its label children are
// resolved: the hot path stays cheap.
func TestMetricsOfAnOperationAllocateNothing(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	km := m.forKind("k")
	op := &lrostore.Operation{Attempt: 1, CreateTime: time.Now()}
	failed := &lrostore.Failure{Code: 3}
	measureOne(km, op, nil) // resolves the children
	measureOne(km, op, failed)
	require.Zero(t, testing.AllocsPerRun(100, func() { measureOne(km, op, nil) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { measureOne(km, op, failed) }))
	var nilKind *kindMetrics
	require.NotPanics(t, func() {
		nilKind.claimed(op, time.Now())
		nilKind.attemptEnded(outcomeSucceeded, 0)
		nilKind.ended(lrostore.StateSucceeded, nil, "", op.CreateTime, time.Now())
	}, "metrics off: nil children")
}

func BenchmarkMetricsOfAnOperation(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry())
	require.NoError(b, err)
	km := m.forKind("k")
	op := &lrostore.Operation{Attempt: 1, CreateTime: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		measureOne(km, op, nil)
	}
}
