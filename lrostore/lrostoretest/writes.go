package lrostoretest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func runOperationInsertMany(t *testing.T, newStore NewStore) {
	t.Run("StoresEveryField", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		id := uuid.Must(uuid.NewV7()).String()
		res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
			Operations: []*lrostore.OperationInsertParams{{
				ID: id, Parent: "projects/p/locations/l", Kind: "k", Input: []byte{1, 2, 3},
				Metadata: []byte{4}, MetadataType: "type.googleapis.com/m", RequestID: "r-1",
				RequestHash: []byte{9}, MaxAttempts: 7,
			}}})
		require.NoError(t, err)
		require.Len(t, res, 1)
		require.False(t, res[0].Existing)
		op := b.get(t, id)
		require.Equal(t, res[0].Operation, op)
		require.Equal(t, &lrostore.Operation{
			ID: id, Parent: "projects/p/locations/l", Kind: "k", State: lrostore.StatePending,
			Input: []byte{1, 2, 3}, Metadata: []byte{4}, MetadataType: "type.googleapis.com/m",
			RequestID: "r-1", RequestHash: []byte{9}, MaxAttempts: 7, CreateTime: b.now, UpdateTime: b.now,
		}, op)
	})
	t.Run("RequestIDReturnsExisting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		first := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "same" })[0]
		other := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "same"; p.Parent = "projects/q" })[0]
		require.NotEqual(t, first.ID, other.ID, "request IDs are scoped by parent")
		res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
			{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), RequestID: "same", RequestHash: []byte("other"), MaxAttempts: 1},
			{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("y"), MaxAttempts: 1},
		}})
		require.NoError(t, err)
		require.True(t, res[0].Existing)
		require.Equal(t, first.ID, res[0].Operation.ID)
		require.Equal(t, []byte("hash"), res[0].Operation.RequestHash)
		require.False(t, res[1].Existing)
	})
	t.Run("RequestIDTwiceInOneBatch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		id1, id2 := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
		res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
			{ID: id1, Kind: "k", Input: []byte("x"), RequestID: "r", MaxAttempts: 1},
			{ID: id2, Kind: "k", Input: []byte("x"), RequestID: "r", MaxAttempts: 1},
		}})
		require.NoError(t, err)
		require.False(t, res[0].Existing)
		require.True(t, res[1].Existing)
		require.Equal(t, id1, res[1].Operation.ID)
	})
	t.Run("UnsetFieldsStayEmpty", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		id := uuid.Must(uuid.NewV7()).String()
		res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
			Operations: []*lrostore.OperationInsertParams{{ID: id, Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
		require.NoError(t, err)
		want := &lrostore.Operation{ID: id, Kind: "k", State: lrostore.StatePending, Input: []byte("x"),
			MaxAttempts: 1, CreateTime: b.now, UpdateTime: b.now}
		require.Equal(t, want, res[0].Operation)
		require.Equal(t, want, b.get(t, id))
	})
	t.Run("LeaseOwnerInsertsClaimed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		pending := b.insert(t, 1)[0]
		claimed := b.insert(t, 2, func(p *lrostore.OperationInsertParams) {
			p.LeaseOwner, p.LeaseTTL, p.MaxAttempts = "worker-1", 10*time.Second, 2
		})
		want := &lrostore.Operation{ID: claimed[0].ID, Kind: "k", State: lrostore.StateRunning,
			Input: []byte("input-0"), RequestHash: []byte("hash"), Attempt: 1, MaxAttempts: 2,
			LeaseOwner: "worker-1", LeaseToken: 1, LeaseExpireTime: b.now.Add(10 * time.Second),
			CreateTime: b.now, UpdateTime: b.now}
		require.Equal(t, want, claimed[0])
		require.Equal(t, want, b.get(t, claimed[0].ID))
		require.Equal(t, []string{pending.ID}, ids(b.claim(t, 10, b.now)), "a claimed insert is not claimed again")

		// The lease is an ordinary one: heartbeats renew it, finishes
		// end the operation under it, and a rescue takes it back once
		// it expires (attempt 2 then has a new token).
		held, err := b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
			Leases: []lrostore.Lease{lease(claimed[0]), lease(claimed[1])}, LeaseTTL: 10 * time.Second, Now: b.now})
		require.NoError(t, err)
		require.Len(t, held, 2)
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded,
			Response: []byte("r"), ResponseType: "t"}).Finished)
		later := b.now.Add(11 * time.Second)
		res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 100, Now: later})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{pending.ID, claimed[1].ID}, res.Retried)
		again, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
			Owner: "worker-2", Kinds: []string{"k"}, Max: 10, LeaseTTL: 10 * time.Second, Now: later})
		require.NoError(t, err)
		require.Equal(t, []string{pending.ID, claimed[1].ID}, ids(again))
		require.Equal(t, int32(2), again[1].Attempt)
		require.Equal(t, int64(2), again[1].LeaseToken)
	})
	t.Run("LeaseOwnerOfATakenRequestIDClaimsNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		first := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "r" })[0]
		res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
			Operations: []*lrostore.OperationInsertParams{{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k",
				Input: []byte("x"), RequestID: "r", RequestHash: []byte("hash"), MaxAttempts: 1,
				LeaseOwner: "worker-1", LeaseTTL: time.Minute}}})
		require.NoError(t, err)
		require.True(t, res[0].Existing)
		require.Equal(t, first, res[0].Operation)
		require.Equal(t, first, b.get(t, first.ID), "the operation that holds the request ID is unchanged")
	})
	t.Run("ZeroNowIsTheCurrentTime", func(t *testing.T) {
		t.Parallel()
		// Stores may read another clock than the caller's (a database
		// server's), so the times are compared loosely.
		b := setup(t, newStore)
		before := time.Now()
		res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
			{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
		require.NoError(t, err)
		op := res[0].Operation
		require.WithinDuration(t, before, op.CreateTime, 5*time.Second)
		require.Equal(t, op.CreateTime, op.UpdateTime)
		require.Equal(t, b.get(t, op.ID), op, "the inserted operation is the one stored")
		res, err = b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
			{ID: uuid.Must(uuid.NewV7()).String(), Kind: "other", Input: []byte("x"), MaxAttempts: 1, LeaseOwner: "w", LeaseTTL: time.Minute}}})
		require.NoError(t, err)
		require.Equal(t, b.get(t, res[0].Operation.ID), res[0].Operation, "the inserted claimed operation is the one stored")
		claimed, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
			Owner: "w", Kinds: []string{"k"}, Max: 1, LeaseTTL: time.Hour})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.WithinDuration(t, before.Add(time.Hour), claimed[0].LeaseExpireTime, 5*time.Second)
		require.Equal(t, claimed[0].UpdateTime.Add(time.Hour), claimed[0].LeaseExpireTime)
		res2, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{
			{Lease: lease(claimed[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"}}})
		require.NoError(t, err)
		require.True(t, res2[0].Finished)
		require.WithinDuration(t, before, b.get(t, op.ID).EndTime, 5*time.Second)
	})
}

func runOperationSetMetadataMany(t *testing.T, newStore NewStore) {
	t.Run("FencedByLease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
			Updates: []*lrostore.OperationSetMetadataParams{
				{Lease: lease(op), Metadata: []byte("m1"), MetadataType: "t1"},
				{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken - 1}, Metadata: []byte("stale"), MetadataType: "t0"},
			}, Now: b.now.Add(time.Second)})
		require.NoError(t, err)
		require.Equal(t, []bool{true, false}, written)
		got := b.get(t, op.ID)
		require.Equal(t, []byte("m1"), got.Metadata)
		require.Equal(t, "t1", got.MetadataType)
		require.Equal(t, b.now.Add(time.Second), got.UpdateTime)
	})
	t.Run("SameLeaseTwiceLastWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
			Updates: []*lrostore.OperationSetMetadataParams{
				{Lease: lease(op), Metadata: []byte("m1"), MetadataType: "t1"},
				{Lease: lease(op), Metadata: []byte("m2"), MetadataType: "t2"},
			}})
		require.NoError(t, err)
		require.Equal(t, []bool{true, true}, written)
		got := b.get(t, op.ID)
		require.Equal(t, []byte("m2"), got.Metadata)
		require.Equal(t, "t2", got.MetadataType)
	})
}

func runOperationFinishMany(t *testing.T, newStore NewStore) {
	t.Run("SucceedsOnceAndNeverChanges", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded,
			Response: []byte("resp"), ResponseType: "type.googleapis.com/R", Metadata: []byte("final"), MetadataType: "t"})
		require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StateSucceeded}, res)
		got := b.get(t, op.ID)
		require.Equal(t, lrostore.StateSucceeded, got.State)
		require.Equal(t, []byte("resp"), got.Response)
		require.Equal(t, []byte("final"), got.Metadata)
		require.Nil(t, got.Error)
		require.Equal(t, b.now.Add(time.Second), got.EndTime)
		require.Empty(t, got.LeaseOwner)

		again := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateFailed,
			Error: &lrostore.Failure{Code: 2, Message: "late", Status: []byte("x")}})
		require.False(t, again.Finished)
		require.Equal(t, got, b.get(t, op.ID))
		_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
		require.NoError(t, err)
		written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
			Updates: []*lrostore.OperationSetMetadataParams{{Lease: lease(op), Metadata: []byte("late")}}})
		require.NoError(t, err)
		require.Equal(t, []bool{false}, written)
		require.Equal(t, got, b.get(t, op.ID), "a done operation never changes")
	})
	t.Run("KeepsMetadataWhenNoneGiven", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Metadata, p.MetadataType = []byte("m"), "t" })
		op := b.claim(t, 1, b.now)[0]
		b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
		require.Equal(t, []byte("m"), b.get(t, op.ID).Metadata)
	})
	t.Run("StaleTokenRejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken + 1},
			State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
		require.False(t, res.Finished)
		require.Equal(t, lrostore.StateRunning, b.get(t, op.ID).State)
	})
	t.Run("FailureAfterCancelRequestIsCancellation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 2)
		ops := b.claim(t, 2, b.now)
		for _, op := range ops {
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
			require.NoError(t, err)
		}
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(ops[0]), State: lrostore.StateFailed,
			Error: &lrostore.Failure{Code: 2, Message: "context canceled", Status: []byte("x")}})
		require.Equal(t, lrostore.StateCancelled, res.State)
		require.Equal(t, cancelled, b.get(t, ops[0].ID).Error)
		res = b.finish(t, &lrostore.OperationFinishParams{Lease: lease(ops[1]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
		require.Equal(t, lrostore.StateSucceeded, res.State, "work that completed despite the request keeps its result")
	})
	t.Run("ResultsInInputOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 3)
		ops := b.claim(t, 3, b.now)
		res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
			Finishes: []*lrostore.OperationFinishParams{
				{Lease: lease(ops[2]), State: lrostore.StateFailed, Error: &lrostore.Failure{Code: 2, Message: "m", Status: []byte("s")}},
				{Lease: lrostore.Lease{ID: ops[1].ID, Token: ops[1].LeaseToken + 1}, State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
				{Lease: lease(ops[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
			}, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.Equal(t, []*lrostore.OperationFinishResult{
			{Finished: true, State: lrostore.StateFailed}, {}, {Finished: true, State: lrostore.StateSucceeded},
		}, res)
		require.Equal(t, &lrostore.Failure{Code: 2, Message: "m", Status: []byte("s")}, b.get(t, ops[2].ID).Error)
	})
	t.Run("CreateTimesWhenAsked", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 6)
		ops := b.claim(t, 6, b.now)
		require.Len(t, ops, 6)
		for _, op := range ops[3:5] {
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
			require.NoError(t, err)
		}
		down := failureOf(t, 14, "down")
		res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
			Finishes: []*lrostore.OperationFinishParams{
				{Lease: lease(ops[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
				{Lease: lease(ops[1]), State: lrostore.StateFailed, Error: down},
				{Lease: lease(ops[2]), State: lrostore.StatePending, NotBefore: b.now.Add(time.Minute), Error: down},
				{Lease: lease(ops[3]), State: lrostore.StateFailed, Error: down},
				{Lease: lease(ops[4]), State: lrostore.StatePending, NotBefore: b.now.Add(time.Minute), Error: down},
				{Lease: lrostore.Lease{ID: ops[5].ID, Token: ops[5].LeaseToken + 1}, State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
			}, CancelledError: cancelled, Now: b.now.Add(time.Second), CreateTimes: true})
		require.NoError(t, err)
		want := []lrostore.State{lrostore.StateSucceeded, lrostore.StateFailed, lrostore.StatePending,
			lrostore.StateCancelled, lrostore.StateCancelled}
		require.Len(t, res, 6)
		for i, state := range want {
			created := b.get(t, ops[i].ID).CreateTime
			require.False(t, created.IsZero())
			require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: state, CreateTime: created}, res[i], "finish %d", i)
		}
		require.Equal(t, &lrostore.OperationFinishResult{}, res[5], "the lease was not held")
	})
	t.Run("SameLeaseTwiceFirstWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
			Finishes: []*lrostore.OperationFinishParams{
				{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("first"), ResponseType: "t"},
				{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("second"), ResponseType: "t"},
			}, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.Equal(t, []*lrostore.OperationFinishResult{{Finished: true, State: lrostore.StateSucceeded}, {}}, res)
		require.Equal(t, []byte("first"), b.get(t, op.ID).Response)
	})
}

func runOperationCancel(t *testing.T, newStore NewStore) {
	t.Run("PendingRunningDoneAndMissing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 3)
		running := b.claim(t, 2, b.now)
		b.finish(t, &lrostore.OperationFinishParams{Lease: lease(running[1]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})

		res, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[2].ID, CancelledError: cancelled, Now: b.now.Add(time.Minute)})
		require.NoError(t, err)
		got := res.Operation
		require.True(t, res.Ended, "a pending operation ends at once")
		require.Equal(t, lrostore.StateCancelled, got.State)
		require.Equal(t, cancelled, got.Error)
		require.Equal(t, b.now.Add(time.Minute), got.EndTime)

		res, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, CancelledError: cancelled})
		require.NoError(t, err)
		require.False(t, res.Ended, "a running operation is only marked")
		require.Equal(t, lrostore.StateRunning, res.Operation.State)
		require.True(t, res.Operation.CancelRequested)

		done := b.get(t, ops[1].ID)
		res, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[1].ID, CancelledError: cancelled})
		require.NoError(t, err)
		require.False(t, res.Ended)
		require.Equal(t, done, res.Operation)

		_, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: uuid.Must(uuid.NewV7()).String(), CancelledError: cancelled})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
		_, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, Parent: "projects/other", CancelledError: cancelled})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
	})
	t.Run("EndedOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 2)
		running := b.claim(t, 1, b.now)[0]
		require.Equal(t, ops[0].ID, running.ID)

		first, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[1].ID, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.True(t, first.Ended)
		again, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[1].ID, CancelledError: cancelled, Now: b.now.Add(time.Minute)})
		require.NoError(t, err)
		require.False(t, again.Ended, "cancelled already: this request did not end it")
		require.Equal(t, first.Operation.EndTime, again.Operation.EndTime)

		// A running operation, marked twice, is not ended by either
		// request, nor by one after its worker failed it.
		for range 2 {
			res, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: running.ID, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
			require.False(t, res.Ended)
			require.Equal(t, lrostore.StateRunning, res.Operation.State)
			require.True(t, res.Operation.CancelRequested)
		}
		b.finish(t, &lrostore.OperationFinishParams{Lease: lease(running), State: lrostore.StateFailed, Error: cancelled})
		res, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: running.ID, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.False(t, res.Ended)
		require.Equal(t, lrostore.StateCancelled, res.Operation.State)
	})
}

func runOperationDelete(t *testing.T, newStore NewStore) {
	t.Run("DoneOnly", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 2)
		_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, CancelledError: cancelled})
		require.NoError(t, err)
		require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[1].ID}), lrostore.ErrNotDone)
		require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[0].ID, Parent: "projects/x"}), lrostore.ErrNotFound)
		require.NoError(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[0].ID}))
		_, err = b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: ops[0].ID})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
		require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[0].ID}), lrostore.ErrNotFound)
	})
	t.Run("RequestIDFreedWithTheOperation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "r" })[0]
		_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
		require.NoError(t, err)
		require.NoError(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: op.ID}))
		again := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "r" })[0]
		require.NotEqual(t, op.ID, again.ID)
	})
}
