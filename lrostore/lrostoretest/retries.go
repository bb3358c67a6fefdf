package lrostoretest

import (
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"lro.dev/lro/lrostore"

	"github.com/stretchr/testify/require"
)

// failureOf is a Failure whose Status is a google.rpc.Status encoded, as
// the stores decode a last error.
func failureOf(t *testing.T, code int32, message string) *lrostore.Failure {
	t.Helper()
	b, err := proto.Marshal(&spb.Status{Code: code, Message: message})
	require.NoError(t, err)
	return &lrostore.Failure{Code: code, Message: message, Status: b}
}

func runRetries(t *testing.T, newStore NewStore) {
	t.Run("BackToPendingWithLastError", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Metadata, p.MetadataType = []byte("m0"), "t" })
		op := b.claim(t, 1, b.now)[0]
		down := failureOf(t, 14, "down")
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StatePending,
			NotBefore: b.now.Add(time.Minute), Error: down, Metadata: []byte("m1"), MetadataType: "t"})
		require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StatePending}, res)
		got := b.get(t, op.ID)
		require.Equal(t, lrostore.StatePending, got.State)
		require.Nil(t, got.Error, "the error stays empty until the operation is done")
		require.Equal(t, down, got.LastError)
		require.Equal(t, []byte("m1"), got.Metadata)
		require.Equal(t, int32(1), got.Attempt, "the failed attempt counts")
		require.Empty(t, got.LeaseOwner)
		require.True(t, got.LeaseExpireTime.IsZero())
		require.True(t, got.EndTime.IsZero())

		again := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StatePending,
			NotBefore: b.now, Error: down})
		require.False(t, again.Finished, "the lease ended with the retry")
		require.Equal(t, got, b.get(t, op.ID))
	})
	t.Run("AfterCancelRequestIsCancellation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
		require.NoError(t, err)
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StatePending,
			NotBefore: b.now.Add(time.Minute), Error: failureOf(t, 14, "down")})
		require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StateCancelled}, res)
		got := b.get(t, op.ID)
		require.Equal(t, cancelled, got.Error)
		require.Equal(t, b.now.Add(time.Second), got.EndTime)
	})
	t.Run("StaleTokenRejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 1)
		op := b.claim(t, 1, b.now)[0]
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken + 1},
			State: lrostore.StatePending, NotBefore: b.now, Error: failureOf(t, 14, "down")})
		require.False(t, res.Finished)
		require.Equal(t, lrostore.StateRunning, b.get(t, op.ID).State)
	})
	t.Run("MixedWithFinishesInInputOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 3)
		ops := b.claim(t, 3, b.now)
		down := failureOf(t, 14, "down")
		res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
			Finishes: []*lrostore.OperationFinishParams{
				{Lease: lease(ops[2]), State: lrostore.StatePending, NotBefore: b.now.Add(time.Minute), Error: down},
				{Lease: lrostore.Lease{ID: ops[1].ID, Token: ops[1].LeaseToken + 1}, State: lrostore.StatePending, Error: down},
				{Lease: lease(ops[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
			}, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.Equal(t, []*lrostore.OperationFinishResult{
			{Finished: true, State: lrostore.StatePending}, {}, {Finished: true, State: lrostore.StateSucceeded},
		}, res)
		require.Equal(t, lrostore.StatePending, b.get(t, ops[2].ID).State)
		require.Equal(t, lrostore.StateRunning, b.get(t, ops[1].ID).State)
	})
}

func runOperationExpire(t *testing.T, newStore NewStore) {
	expired := failureOf(t, 4, "out of time")
	t.Run("EndsWhatIsPastItsDeadlineWhateverItsState", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		past := b.now.Add(-time.Second)
		ops := b.insert(t, 4, func(p *lrostore.OperationInsertParams) { p.Deadline = past })
		require.Equal(t, past, ops[0].Deadline)
		running := b.claim(t, 1, b.now)[0] // ops[0]
		waiting := b.claim(t, 1, b.now)[0] // ops[1], put back to wait for a retry
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(waiting), State: lrostore.StatePending,
			NotBefore: b.now.Add(time.Hour), Error: failureOf(t, 14, "down")}).Finished)
		done := b.claim(t, 1, b.now)[0] // ops[2], done before its deadline is looked at
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(done), State: lrostore.StateSucceeded,
			Response: []byte("r"), ResponseType: "t"}).Finished)
		later := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Deadline = b.now.Add(time.Hour) })[0]
		none := b.insert(t, 1)[0]
		require.True(t, none.Deadline.IsZero())

		ended, err := b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: expired, Max: 10, Now: b.now})
		require.NoError(t, err)
		want := []string{running.ID, waiting.ID, ops[3].ID}
		require.ElementsMatch(t, want, ended)
		for _, id := range want {
			got := b.get(t, id)
			require.Equal(t, lrostore.StateFailed, got.State, id)
			require.Equal(t, expired, got.Error)
			require.Equal(t, b.now, got.EndTime)
			require.Empty(t, got.LeaseOwner)
			require.Equal(t, past, got.Deadline)
		}
		require.Equal(t, lrostore.StateSucceeded, b.get(t, done.ID).State)
		require.Equal(t, lrostore.StatePending, b.get(t, later.ID).State)
		require.Equal(t, lrostore.StatePending, b.get(t, none.ID).State)

		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(running), State: lrostore.StateSucceeded,
			Response: []byte("late"), ResponseType: "t"})
		require.False(t, res.Finished, "the worker of an expired operation finds its lease gone")

		ended, err = b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: expired, Max: 10, Now: b.now})
		require.NoError(t, err)
		require.Empty(t, ended)
	})
	t.Run("Max", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 3, func(p *lrostore.OperationInsertParams) { p.Deadline = b.now })
		for _, max := range []int{0, -1} {
			ended, err := b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: expired, Max: max, Now: b.now})
			require.NoError(t, err)
			require.Empty(t, ended)
		}
		ended, err := b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: expired, Max: 2, Now: b.now})
		require.NoError(t, err)
		require.Len(t, ended, 2)
		ended, err = b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: expired, Max: 2, Now: b.now})
		require.NoError(t, err)
		require.Len(t, ended, 1)
	})
}
