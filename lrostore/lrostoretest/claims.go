package lrostoretest

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func runOperationClaim(t *testing.T, newStore NewStore) {
	t.Run("OldestFirstWithLease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 3)
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "other" })
		claimed := b.claim(t, 2, b.now)
		require.Equal(t, ids(ops[:2]), ids(claimed))
		for _, op := range claimed {
			require.Equal(t, lrostore.StateRunning, op.State)
			require.Equal(t, int32(1), op.Attempt)
			require.Equal(t, int64(1), op.LeaseToken)
			require.Equal(t, "worker-1", op.LeaseOwner)
			require.Equal(t, b.now.Add(10*time.Second), op.LeaseExpireTime)
		}
		require.Equal(t, ids(ops[2:]), ids(b.claim(t, 5, b.now)), "only kind k, and not the claimed ones")
		require.Empty(t, b.claim(t, 5, b.now))
	})
	t.Run("ReturnsTraceContext", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		const (
			parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			state  = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"
		)
		// In one batch: with a tracestate, without one, and not traced.
		n := 0
		b.insert(t, 3, func(p *lrostore.OperationInsertParams) {
			switch n++; n {
			case 1:
				p.TraceParent, p.TraceState = parent, state
			case 2:
				p.TraceParent = parent
			}
		})
		// A batch with no traced start, one whose starts share one span,
		// and one whose first start is not traced.
		b.insert(t, 1)
		b.insert(t, 2, func(p *lrostore.OperationInsertParams) {
			p.TraceParent, p.TraceState = parent, state
		})
		n = 0
		b.insert(t, 2, func(p *lrostore.OperationInsertParams) {
			if n++; n == 2 {
				p.TraceParent = parent
			}
		})
		claimed := b.claim(t, 8, b.now)
		require.Len(t, claimed, 8)
		got := make([][2]string, len(claimed))
		for i, op := range claimed {
			got[i] = [2]string{op.TraceParent, op.TraceState}
		}
		require.Equal(t, [][2]string{{parent, state}, {parent, ""}, {}, {}, {parent, state}, {parent, state}, {}, {parent, ""}}, got)
		op := b.get(t, claimed[0].ID)
		require.Equal(t, [2]string{parent, state}, [2]string{op.TraceParent, op.TraceState}, "a full read has it too")
	})
	t.Run("ConcurrentClaimsTakeEachOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 200)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					ops, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
						Owner: "w", Kinds: []string{"k"}, Max: 7, LeaseTTL: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if len(ops) == 0 {
						return
					}
					mu.Lock()
					for _, op := range ops {
						seen[op.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, 200)
		for id, n := range seen {
			require.Equal(t, 1, n, id)
		}
	})
}

func runOperationHeartbeat(t *testing.T, newStore NewStore) {
	t.Run("RenewsHeldLeasesOnly", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 2)
		claimed := b.claim(t, 2, b.now)
		_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: claimed[1].ID, CancelledError: cancelled})
		require.NoError(t, err)
		stale := lrostore.Lease{ID: claimed[0].ID, Token: claimed[0].LeaseToken + 1}
		res, err := b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
			Leases: []lrostore.Lease{lease(claimed[0]), lease(claimed[1]), stale}, LeaseTTL: time.Minute, Now: b.now.Add(time.Second)})
		require.NoError(t, err)
		sort.Slice(res, func(i, j int) bool { return res[i].ID < res[j].ID })
		require.Equal(t, []*lrostore.OperationHeartbeatResult{
			{ID: claimed[0].ID}, {ID: claimed[1].ID, CancelRequested: true},
		}, res)
		require.Equal(t, b.now.Add(time.Second+time.Minute), b.get(t, claimed[0].ID).LeaseExpireTime)
	})
}

func runOperationReleaseMany(t *testing.T, newStore NewStore) {
	t.Run("BackToPendingWithoutCountingTheAttempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{
			Leases: []lrostore.Lease{lease(op), {ID: op.ID, Token: 99}}})
		require.NoError(t, err)
		require.Equal(t, []string{op.ID}, released)
		got := b.get(t, op.ID)
		require.Equal(t, lrostore.StatePending, got.State)
		require.Equal(t, int32(0), got.Attempt)
		again := b.claim(t, 1, b.now)[0]
		require.Equal(t, int32(1), again.Attempt)
		require.Equal(t, op.LeaseToken+1, again.LeaseToken, "each claim has its own token")
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
		require.False(t, res.Finished, "the released worker's late write is rejected")
	})
}

func runDelayedOperations(t *testing.T, newStore NewStore) {
	t.Run("InsertKeepsNotBefore", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		at := b.now.Add(time.Minute)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.NotBefore = at })[0]
		require.Equal(t, at, op.NotBefore)
		got := b.get(t, op.ID)
		require.Equal(t, lrostore.StatePending, got.State)
		require.True(t, at.Equal(got.NotBefore), "%v, not %v", got.NotBefore, at)
		immediate := b.insert(t, 1)[0]
		require.True(t, immediate.NotBefore.IsZero())
		require.True(t, b.get(t, immediate.ID).NotBefore.IsZero(), "NULL for a start without a delay")
	})
	t.Run("ClaimSkipsUntilDue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		at := b.now.Add(time.Minute)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.NotBefore = at })[0]
		require.Empty(t, b.claim(t, 5, b.now))
		require.Empty(t, b.claim(t, 5, at.Add(-time.Microsecond)), "not yet due")
		claimed := b.claim(t, 5, at)
		require.Equal(t, []string{op.ID}, ids(claimed), "due at its time")
		require.Equal(t, lrostore.StateRunning, claimed[0].State)
		require.True(t, claimed[0].NotBefore.IsZero(), "a claim clears it")
		require.Empty(t, b.claim(t, 5, at.Add(time.Hour)))
	})
	t.Run("ClaimTakesDueAndImmediateOldestFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		soon, later := b.now.Add(time.Second), b.now.Add(time.Hour)
		var ops []*lrostore.Operation
		for i := range 6 {
			ops = append(ops, b.insert(t, 1, func(p *lrostore.OperationInsertParams) {
				switch i % 3 {
				case 1:
					p.NotBefore = soon
				case 2:
					p.NotBefore = later
				}
			})[0])
		}
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind, p.NotBefore = "other", soon })
		// At soon: ops 0, 1, 3, 4 are due, the oldest first, up to Max.
		now := soon.Add(time.Millisecond)
		require.Equal(t, ids([]*lrostore.Operation{ops[0], ops[1], ops[3]}), ids(b.claim(t, 3, now)))
		require.Equal(t, ids([]*lrostore.Operation{ops[4]}), ids(b.claim(t, 3, now)), "only kind k")
		require.Equal(t, ids([]*lrostore.Operation{ops[2], ops[5]}), ids(b.claim(t, 3, later)))
	})
	t.Run("ReleasedAfterDelayIsClaimedAgain", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		at := b.now.Add(time.Second)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.NotBefore = at })[0]
		claimed := b.claim(t, 1, at)
		require.Len(t, claimed, 1)
		_, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{
			Leases: []lrostore.Lease{lease(claimed[0])}, Now: at})
		require.NoError(t, err)
		require.Equal(t, []string{op.ID}, ids(b.claim(t, 1, at)))
	})
	t.Run("CancelWhileWaiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		at := b.now.Add(time.Hour)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.NotBefore = at })[0]
		got, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.Equal(t, lrostore.StateCancelled, got.Operation.State, "cancelled at once, as any pending operation")
		require.True(t, got.Ended)
		require.Empty(t, b.claim(t, 5, at.Add(time.Second)))
	})
}

func runOperationRescue(t *testing.T, newStore NewStore) {
	t.Run("RetriesFailsAndCancels", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 4, func(p *lrostore.OperationInsertParams) { p.MaxAttempts = 2 })
		claimed := b.claim(t, 4, b.now) // attempt 1 each
		_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[2].ID, CancelledError: cancelled})
		require.NoError(t, err)
		// ops[3] keeps a fresh lease.
		_, err = b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
			Leases: []lrostore.Lease{lease(claimed[3])}, LeaseTTL: time.Hour, Now: b.now})
		require.NoError(t, err)

		later := b.now.Add(11 * time.Second)
		res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 100, Now: later})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{ops[0].ID, ops[1].ID}, res.Retried)
		require.Equal(t, []string{ops[2].ID}, res.Ended)
		require.Equal(t, cancelled, b.get(t, ops[2].ID).Error)
		require.Equal(t, lrostore.StateRunning, b.get(t, ops[3].ID).State)

		again := b.claim(t, 4, later) // attempt 2 of ops[0] and ops[1]
		require.Equal(t, ids(ops[:2]), ids(again))
		require.Equal(t, int32(2), again[0].Attempt)
		res, err = b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 100, Now: later.Add(11 * time.Second)})
		require.NoError(t, err)
		require.Empty(t, res.Retried)
		require.ElementsMatch(t, []string{ops[0].ID, ops[1].ID}, res.Ended)
		got := b.get(t, ops[0].ID)
		require.Equal(t, lrostore.StateFailed, got.State)
		require.Equal(t, exhausted, got.Error)
		require.False(t, got.EndTime.IsZero())

		late := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(again[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
		require.False(t, late.Finished, "the lost worker's late result is rejected")
	})
	t.Run("EarliestExpiryFirstUpToMax", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 3)
		var claimed []*lrostore.Operation
		for i := range 3 { // leases expire 10s, 11s and 12s after now
			claimed = append(claimed, b.claim(t, 1, b.now.Add(time.Duration(i)*time.Second))...)
		}
		res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 2, Now: b.now.Add(time.Minute)})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{claimed[0].ID, claimed[1].ID}, res.Retried)
		require.Empty(t, res.Ended)
		require.Equal(t, lrostore.StateRunning, b.get(t, claimed[2].ID).State)
	})
}

func runOperationDeleteDoneBefore(t *testing.T, newStore NewStore) {
	t.Run("OldDoneOnly", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 4)
		for _, op := range ops[:3] {
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
		}
		n, err := b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Second), Max: 2})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Second), Max: 2})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Second), Max: 2})
		require.NoError(t, err)
		require.Equal(t, 0, n)
		require.Equal(t, lrostore.StatePending, b.get(t, ops[3].ID).State)
	})
}
