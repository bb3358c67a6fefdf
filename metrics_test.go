package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

// After a known workload, the metrics count exactly what happened: 5
// succeeded, 2 failed with INVALID_ARGUMENT, 2 cancelled (one running, one
// pending, the latter cancelled twice), 1 retried then succeeded, 1 past
// its deadline, 1 whose worker was lost with its attempts used up, 1
// rescued, and pending operations by kind.
func TestMetricsCountAKnownWorkload(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		ctx := context.Background()
		reg := prometheus.NewPedanticRegistry()
		p := newProbe()
		c := newClient(t, store, &lro.Config{Metrics: reg, Workers: 10}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "ok", Run: p.blocking})
			lro.MustRegister(c, kind{Name: "bad", Run: p.blocking})
			lro.MustRegister(c, kind{Name: "flaky", Run: p.blocking, Retry: fastRetry})
			lro.MustRegister(c, kind{Name: "timed", Run: p.blocking, Timeout: 300 * time.Millisecond})
			lro.MustRegister(c, kind{Name: "lost", MaxAttempts: 1})  // no Run: a dead worker claims it
			lro.MustRegister(c, kind{Name: "lost2", MaxAttempts: 2}) // rescued once, then pending
		})
		// A second client on the same registry does not panic.
		_, err := lro.NewClient(store, &lro.Config{Metrics: reg, Logger: testLogger(t)})
		require.NoError(t, err)

		run := func(kindName string, res result) {
			t.Helper()
			op := start(t, c, kindName, "")
			r := p.next(t)
			r.release <- res
			waitDone(t, c, op.GetName())
		}
		for range 5 {
			run("ok", result{resp: wrapperspb.String("v")})
		}
		for range 2 {
			run("bad", result{err: status.Error(codes.InvalidArgument, "no")})
		}

		// Cancelled while it runs; a WaitOperation in flight meanwhile.
		cancelled := start(t, c, "ok", "")
		r := p.next(t)
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			_, _ = c.WaitOperation(ctx, cancelled.GetName(), 10*time.Second)
		}()
		waits := scrape(t, reg)
		require.Eventually(t, func() bool { // the earlier jobs end just after their waiters wake
			waits = scrape(t, reg)
			return value(waits, "lro_wait_operations_in_flight", nil) == 1 && total(waits, "lro_operations_running") == 1
		}, 5*time.Second, 5*time.Millisecond)
		require.Equal(t, 1.0, value(waits, "lro_operations_running", map[string]string{"kind": "ok"}))
		require.Equal(t, 1.0, value(waits, "lro_worker_slots", map[string]string{"state": "busy"}))
		require.Equal(t, 9.0, value(waits, "lro_worker_slots", map[string]string{"state": "free"}))
		_, err = c.CancelOperation(ctx, cancelled.GetName())
		require.NoError(t, err)
		<-r.ctx.Done()
		<-waited
		require.Equal(t, int32(codes.Canceled), waitDone(t, c, cancelled.GetName()).GetError().GetCode())

		// Retried once, then succeeded.
		flaky := start(t, c, "flaky", "")
		p.next(t).release <- result{err: lro.Retryable(status.Error(codes.Unavailable, "later"), 10*time.Millisecond)}
		p.next(t).release <- result{resp: wrapperspb.String("v")}
		waitDone(t, c, flaky.GetName())

		// Past its deadline while it runs.
		timed := start(t, c, "timed", "")
		p.next(t)
		require.Equal(t, int32(codes.DeadlineExceeded), waitDone(t, c, timed.GetName()).GetError().GetCode())

		// A worker that dies with the only attempt; one that dies with one
		// of two, rescued to pending.
		lost := start(t, c, "lost", "")
		lost2 := start(t, c, "lost2", "")
		for _, k := range []string{"lost", "lost2"} {
			claimed, err := store.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: "dead", Kinds: []string{k}, Max: 1, LeaseTTL: 50 * time.Millisecond})
			require.NoError(t, err)
			require.Len(t, claimed, 1)
		}
		require.Equal(t, int32(codes.Aborted), waitDone(t, c, lost.GetName()).GetError().GetCode())
		require.Eventually(t, func() bool {
			return storedOp(t, store, lost2.GetName()).State == lrostore.StatePending
		}, 5*time.Second, 10*time.Millisecond)

		// Three delayed starts wait, pending; a fourth is cancelled while
		// pending, which ends it at once, and cancelled again, which
		// counts it no more.
		for range 3 {
			_, err := c.StartOperation(ctx, "ok", wrapperspb.String(""), &lro.StartOptions{Delay: time.Hour})
			require.NoError(t, err)
		}
		pendingCancelled, err := c.StartOperation(ctx, "ok", wrapperspb.String(""), &lro.StartOptions{Delay: time.Hour})
		require.NoError(t, err)
		for range 2 {
			op, err := c.CancelOperation(ctx, pendingCancelled.GetName())
			require.NoError(t, err)
			require.Equal(t, int32(codes.Canceled), op.GetError().GetCode())
		}

		var got map[string]*dto.MetricFamily
		require.Eventually(t, func() bool { // the last slot goes back just after the last result is stored
			got = scrape(t, reg)
			return value(got, "lro_worker_slots", map[string]string{"state": "busy"}) == 0 && total(got, "lro_operations_running") == 0
		}, 5*time.Second, 5*time.Millisecond)
		finished := func(k, outcome, code string) float64 {
			return value(got, "lro_operations_finished_total", map[string]string{"kind": k, "outcome": outcome, "code": code})
		}
		require.Equal(t, 5.0, finished("ok", "succeeded", "OK"))
		require.Equal(t, 2.0, finished("bad", "failed", "INVALID_ARGUMENT"))
		require.Equal(t, 2.0, finished("ok", "cancelled", "CANCELLED"), "one while running, one while pending")
		require.Equal(t, 1.0, finished("flaky", "succeeded", "OK"))
		require.Equal(t, 1.0, finished("timed", "deadline_exceeded", "DEADLINE_EXCEEDED"))
		require.Equal(t, 1.0, finished("lost", "attempts_exhausted", "ABORTED"))
		require.Equal(t, 12.0, total(got, "lro_operations_finished_total"), "nothing else ended")

		require.Equal(t, 1.0, value(got, "lro_operations_retried_total", map[string]string{"kind": "flaky"}))
		require.Equal(t, 1.0, total(got, "lro_operations_retried_total"))
		require.Equal(t, 1.0, value(got, "lro_operations_rescued_total", nil))
		for k, n := range map[string]float64{"ok": 10, "bad": 2, "flaky": 1, "timed": 1, "lost": 1, "lost2": 1} {
			require.Equal(t, n, value(got, "lro_operations_started_total", map[string]string{"kind": k}), k)
		}
		for k, n := range map[string]uint64{"ok": 6, "bad": 2, "flaky": 1, "timed": 1} {
			require.Equal(t, n, histCount(got, "lro_operation_queue_wait_seconds", map[string]string{"kind": k}), k)
			if k == "ok" {
				n++ // the one cancelled while pending ended, never claimed
			}
			require.Equal(t, n, histCount(got, "lro_operation_duration_seconds", map[string]string{"kind": k}), k)
		}
		require.Equal(t, uint64(1), histCount(got, "lro_operation_duration_seconds", map[string]string{"kind": "lost"}))
		require.Equal(t, uint64(5), histCount(got, "lro_attempt_duration_seconds", map[string]string{"kind": "ok", "outcome": "succeeded"}))
		require.Equal(t, uint64(1), histCount(got, "lro_attempt_duration_seconds", map[string]string{"kind": "ok", "outcome": "cancelled"}))
		require.Equal(t, uint64(2), histCount(got, "lro_attempt_duration_seconds", map[string]string{"kind": "bad", "outcome": "failed"}))
		require.Equal(t, uint64(1), histCount(got, "lro_attempt_duration_seconds", map[string]string{"kind": "flaky", "outcome": "retried"}))
		require.Equal(t, uint64(1), histCount(got, "lro_attempt_duration_seconds", map[string]string{"kind": "flaky", "outcome": "succeeded"}))
		// The timed attempt ends as deadline_exceeded if its handler's
		// result is stored first, as lost if the deadline's expiry is.
		require.Equal(t, uint64(1), histCount(got, "lro_attempt_duration_seconds", map[string]string{"kind": "timed"}))

		// The pending gauge serves a sample for 10s: a new registry's first
		// scrape samples the store now.
		fresh := prometheus.NewPedanticRegistry()
		newClient(t, store, &lro.Config{Metrics: fresh, Workers: -1}, func(c *lro.Client) {
			for _, k := range []string{"ok", "bad", "flaky", "timed", "lost", "lost2"} {
				lro.MustRegister(c, kind{Name: k})
			}
		})
		pending := scrape(t, fresh)
		for k, n := range map[string]float64{"ok": 3, "lost2": 1, "bad": 0, "flaky": 0, "timed": 0, "lost": 0} {
			require.Equal(t, n, value(pending, "lro_operations_pending", map[string]string{"kind": k}), k)
			require.Len(t, find(pending, "lro_operations_pending", map[string]string{"kind": k}), 1, k)
			require.Equal(t, 0.0, value(got, "lro_operations_running", map[string]string{"kind": k}), k)
		}
		require.Equal(t, 10.0, value(got, "lro_worker_slots", map[string]string{"state": "free"}))
		require.Equal(t, 0.0, value(got, "lro_wait_operations_in_flight", nil))
		require.Equal(t, 0.0, value(got, "lro_remote_workers", nil))
		require.NotZero(t, histCount(got, "lro_store_statement_duration_seconds", map[string]string{"statement": "OperationInsertMany"}))
		require.NotZero(t, histCount(got, "lro_store_statement_duration_seconds", map[string]string{"statement": "OperationCountPending"}))
		require.NotZero(t, histCount(got, "lro_store_statement_duration_seconds", map[string]string{"statement": "OperationRescue"}))
	})
}

// A registry that holds another collector of the same name, with other
// labels, is refused with an error, not a panic.
func TestMetricsConflictIsAnError(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lro_operations_started_total", Help: "other"}, []string{"queue"}))
	_, err := lro.NewClient(openStore(t), &lro.Config{Metrics: reg, Logger: testLogger(t)})
	require.ErrorContains(t, err, "lro: Config.Metrics")
}

func scrape(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// find returns the metric of a family whose labels include labels.
func find(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) []*dto.Metric {
	var out []*dto.Metric
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// value sums the counters or gauges of a family that match labels.
func value(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var v float64
	for _, m := range find(mfs, name, labels) {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return v
}

func total(mfs map[string]*dto.MetricFamily, name string) float64 { return value(mfs, name, nil) }

// histCount sums the sample counts of the histograms that match labels.
func histCount(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	var n uint64
	for _, m := range find(mfs, name, labels) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// Remote workers' claims and results are counted by the server that
// serves them; the worker's own registry measures its handlers only, so
// that a server and its workers, summed, count each end once.
func TestMetricsOfRemoteWorkers(t *testing.T) {
	t.Parallel()
	eachStore(t, testMetricsOfRemoteWorkers)
}

func testMetricsOfRemoteWorkers(t *testing.T, store lrostore.Store) {
	serverReg, workerReg := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	server, dial := newServerNode(t, store, &lro.Config{Metrics: serverReg})
	p := newProbe()
	remoteWorker(t, dial(), &lro.Config{Metrics: workerReg}, p.blocking)

	for i, res := range []result{{resp: wrapperspb.String("a")}, {resp: wrapperspb.String("b")}, {err: status.Error(codes.InvalidArgument, "no")}} {
		op := start(t, server, remoteKind, "")
		r := p.next(t)
		r.release <- res
		done := waitDone(t, server, op.GetName())
		require.Equal(t, i == 2, done.GetError() != nil)
	}
	kindLabel := map[string]string{"kind": remoteKind}
	var got map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		got = scrape(t, serverReg)
		// The worker waits in its next claim, and the server has counted
		// the last end: with PostgreSQL, its notification may wake the
		// waiter before the server counts it (the count comes first, the
		// duration last).
		return value(got, "lro_remote_workers", nil) == 1 && histCount(got, "lro_operation_duration_seconds", kindLabel) >= 3
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 3.0, value(got, "lro_remote_claimed_total", kindLabel))
	require.Equal(t, uint64(3), histCount(got, "lro_operation_queue_wait_seconds", kindLabel))
	// The finish returns each operation's creation time: its duration is
	// observed where it ended, on the server.
	require.Equal(t, uint64(3), histCount(got, "lro_operation_duration_seconds", kindLabel))
	require.Equal(t, 2.0, value(got, "lro_operations_finished_total", map[string]string{"kind": remoteKind, "outcome": "succeeded", "code": "OK"}))
	require.Equal(t, 1.0, value(got, "lro_operations_finished_total", map[string]string{"kind": remoteKind, "outcome": "failed", "code": "INVALID_ARGUMENT"}), "%v", got["lro_operations_finished_total"])
	require.Zero(t, histCount(got, "lro_attempt_duration_seconds", nil), "the server runs no handler")

	// The worker measures an attempt once the server has answered its
	// finish, after the server woke the waiters.
	var worker map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		worker = scrape(t, workerReg)
		return histCount(worker, "lro_attempt_duration_seconds", nil) == 3
	}, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, total(worker, "lro_operations_finished_total"), "the server counts the ends")
	require.Zero(t, histCount(worker, "lro_operation_duration_seconds", nil), "and their durations")
	require.Equal(t, uint64(2), histCount(worker, "lro_attempt_duration_seconds", map[string]string{"kind": remoteKind, "outcome": "succeeded"}))
	require.Equal(t, uint64(1), histCount(worker, "lro_attempt_duration_seconds", map[string]string{"kind": remoteKind, "outcome": "failed"}))
	require.Nil(t, worker["lro_operations_pending"], "a remote client has no store to sample")
}
