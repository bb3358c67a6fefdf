package lrostoretest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func runCountByState(t *testing.T, newStore NewStore) {
	t.Parallel()
	b := setup(t, newStore)
	b.insert(t, 3)
	others := b.insert(t, 2, func(p *lrostore.OperationInsertParams) { p.Kind = "other" })
	claimed := b.claim(t, 2, b.now)
	require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded}).Finished)
	_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: others[0].ID, CancelledError: cancelled})
	require.NoError(t, err)
	counts, err := b.store.OperationCountByState(b.ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]map[lrostore.State]int64{
		"k":     {lrostore.StatePending: 1, lrostore.StateRunning: 1, lrostore.StateSucceeded: 1},
		"other": {lrostore.StatePending: 1, lrostore.StateCancelled: 1},
	}, counts)
}

func runKindStats(t *testing.T, newStore NewStore) {
	t.Run("Buckets", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		base := b.now.Truncate(time.Second)
		b.now = base
		at := func(d time.Duration) time.Time { return base.Add(d) }
		ops := b.insert(t, 3) // a, b, c
		d := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Deadline = at(2 * time.Minute) })[0]
		e := b.insert(t, 1)[0]
		other := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "other" })[0]

		first := b.claim(t, 2, at(10*time.Second)) // a and b, each waited 10s
		require.Equal(t, ids(ops[:2]), ids(first))
		require.True(t, b.finishAt(t, at(30*time.Second), &lrostore.OperationFinishParams{Lease: lease(first[0]),
			State: lrostore.StateSucceeded}).Finished)
		require.True(t, b.finishAt(t, at(70*time.Second), &lrostore.OperationFinishParams{Lease: lease(first[1]),
			State: lrostore.StateFailed, Error: failureOf(t, 5, "not found")}).Finished)
		c := b.claim(t, 1, at(90*time.Second)) // c, waited 90s; its lease expires at 100s
		require.Equal(t, ids(ops[2:3]), ids(c))
		for _, cancel := range []struct {
			id  string
			now time.Time
		}{{e.ID, at(150 * time.Second)}, {other.ID, at(40 * time.Second)}} {
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: cancel.id, CancelledError: cancelled, Now: cancel.now})
			require.NoError(t, err)
		}

		stats, err := b.store.KindStats(b.ctx, &lrostore.KindStatsParams{Kind: "k", Since: base, Until: at(3 * time.Minute),
			Bucket: time.Minute, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, map[lrostore.State]int64{lrostore.StatePending: 1, lrostore.StateRunning: 1, lrostore.StateSucceeded: 1,
			lrostore.StateFailed: 1, lrostore.StateCancelled: 1}, stats.Counts)
		require.Equal(t, []lrostore.KindStatsBucket{
			{Start: base, Succeeded: 1, Claims: 2, QueueWaitSum: 20 * time.Second, QueueWaitMax: 10 * time.Second},
			{Start: at(time.Minute), Failed: 1, Claims: 1, QueueWaitSum: 90 * time.Second, QueueWaitMax: 90 * time.Second},
			{Start: at(2 * time.Minute), Cancelled: 1},
		}, stats.Buckets)
		require.Len(t, stats.PastDeadline, 1)
		require.Equal(t, d.ID, stats.PastDeadline[0].ID)
		require.Equal(t, lrostore.StatePending, stats.PastDeadline[0].State)
		require.Equal(t, at(2*time.Minute), stats.PastDeadline[0].Deadline)
		require.Len(t, stats.LeaseExpiring, 1)
		require.Equal(t, c[0].ID, stats.LeaseExpiring[0].ID)
		require.Equal(t, "worker-1", stats.LeaseExpiring[0].LeaseOwner)
		require.Equal(t, at(100*time.Second), stats.LeaseExpiring[0].LeaseExpireTime)

		// A window that ends before the lease expires, and one bucket.
		stats, err = b.store.KindStats(b.ctx, &lrostore.KindStatsParams{Kind: "k", Since: base, Until: at(time.Minute),
			Bucket: time.Minute, LeaseExpiringWithin: 39 * time.Second, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []lrostore.KindStatsBucket{
			{Start: base, Succeeded: 1, Claims: 2, QueueWaitSum: 20 * time.Second, QueueWaitMax: 10 * time.Second},
		}, stats.Buckets)
		require.Empty(t, stats.PastDeadline)
		require.Empty(t, stats.LeaseExpiring, "the lease expires after the window and 39s")
	})
	t.Run("Limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.now = b.now.Truncate(time.Millisecond) // as attempt records keep claims
		ops := b.insert(t, 3, func(p *lrostore.OperationInsertParams) { p.Deadline = b.now.Add(time.Second) })
		b.claim(t, 3, b.now)
		stats, err := b.store.KindStats(b.ctx, &lrostore.KindStatsParams{Kind: "k", Since: b.now, Until: b.now.Add(time.Hour),
			Bucket: time.Hour, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, ids(ops[:2]), ids(stats.PastDeadline))
		require.Len(t, stats.LeaseExpiring, 2)
		require.Equal(t, []lrostore.KindStatsBucket{{Start: b.now, Claims: 3}}, stats.Buckets)
	})
	t.Run("InvalidParams", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		valid := lrostore.KindStatsParams{Kind: "k", Since: b.now, Until: b.now.Add(time.Hour), Bucket: time.Minute, Limit: 10}
		for name, mutate := range map[string]func(p *lrostore.KindStatsParams){
			"no bucket":       func(p *lrostore.KindStatsParams) { p.Bucket = 0 },
			"too many":        func(p *lrostore.KindStatsParams) { p.Until = p.Since.Add(1441 * time.Minute) },
			"empty window":    func(p *lrostore.KindStatsParams) { p.Until = p.Since },
			"no limit":        func(p *lrostore.KindStatsParams) { p.Limit = 0 },
			"limit too large": func(p *lrostore.KindStatsParams) { p.Limit = 1001 },
		} {
			p := valid
			mutate(&p)
			_, err := b.store.KindStats(b.ctx, &p)
			require.True(t, errors.Is(err, lrostore.ErrInvalidArgument), "%s: %v", name, err)
		}
		p := valid
		p.Until = p.Since.Add(1440 * time.Minute)
		stats, err := b.store.KindStats(b.ctx, &p)
		require.NoError(t, err)
		require.Len(t, stats.Buckets, 1440)
	})
}
