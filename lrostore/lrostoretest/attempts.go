package lrostoretest

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// attempts reads an operation's attempt history.
func (b *bundle) attempts(t *testing.T, id string) []lrostore.Attempt {
	t.Helper()
	op, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: id, Attempts: true})
	require.NoError(t, err)
	return op.Attempts
}

// finishAt ends an attempt at now.
func (b *bundle) finishAt(t *testing.T, now time.Time, f *lrostore.OperationFinishParams) *lrostore.OperationFinishResult {
	t.Helper()
	res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
		Finishes: []*lrostore.OperationFinishParams{f}, CancelledError: cancelled, Now: now})
	require.NoError(t, err)
	return res[0]
}

// ms is a time as attempt records keep it.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

// open is the record of an attempt that runs.
func open(n int32, start, due time.Time) lrostore.Attempt {
	return lrostore.Attempt{Number: n, Worker: "worker-1", StartTime: ms(start), DueTime: ms(due)}
}

// ended is r ended at end with an outcome and a failure's code and message.
func ended(r lrostore.Attempt, end time.Time, outcome string, code int32, message string) lrostore.Attempt {
	r.EndTime, r.Outcome, r.Code, r.Message = ms(end), outcome, code, message
	return r
}

func runAttempts(t *testing.T, newStore NewStore) {
	t.Run("ClaimOpensARecord", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		at := b.now.Add(2500 * time.Millisecond)
		claimed := b.claim(t, 1, at)
		require.Len(t, claimed, 1)
		require.Nil(t, claimed[0].Attempts, "claims do not read the history")
		require.Equal(t, []lrostore.Attempt{open(1, at, b.now)}, b.attempts(t, op.ID))
		require.Nil(t, b.get(t, op.ID).Attempts, "a read without Attempts returns none")
		list, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10})
		require.NoError(t, err)
		require.Nil(t, list[0].Attempts, "lists do not read the history")
	})
	t.Run("ClaimNotBeforeItsDueTime", func(t *testing.T) {
		// A claim whose clock reads a little before the operation's
		// creation: PostgreSQL's now() is its transaction's start, which
		// may precede an insert that commits before the claim's snapshot.
		// The claim is recorded at the due time, never before it.
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now.Add(-5*time.Millisecond))
		require.Len(t, claimed, 1)
		require.Equal(t, []lrostore.Attempt{open(1, b.now, b.now)}, b.attempts(t, op.ID))
	})
	t.Run("NoneBeforeTheFirstClaim", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		require.Empty(t, b.attempts(t, op.ID))
	})
	t.Run("InsertedClaimed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.LeaseOwner, p.LeaseTTL = "worker-1", time.Minute })[0]
		require.Equal(t, []lrostore.Attempt{open(1, b.now, b.now)}, b.attempts(t, op.ID))
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded}).Finished)
		require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), b.now.Add(time.Second), lrostore.OutcomeSucceeded, 0, "")},
			b.attempts(t, op.ID))
	})
	t.Run("Succeeded", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now)[0]
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed), State: lrostore.StateSucceeded,
			Response: []byte("r"), ResponseType: "t"}).Finished)
		require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), b.now.Add(time.Second), lrostore.OutcomeSucceeded, 0, "")},
			b.attempts(t, op.ID))
	})
	t.Run("Failed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now)[0]
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed), State: lrostore.StateFailed,
			Error: failureOf(t, 5, "not found")}).Finished)
		require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), b.now.Add(time.Second), lrostore.OutcomeFailed, 5, "not found")},
			b.attempts(t, op.ID))
	})
	t.Run("RetryThenClaimAgain", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now)[0]
		due := b.now.Add(time.Minute)
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed), State: lrostore.StatePending,
			NotBefore: due, Error: failureOf(t, 14, "down")}).Finished)
		first := ended(open(1, b.now, b.now), b.now.Add(time.Second), lrostore.OutcomeRetry, 14, "down")
		require.Equal(t, []lrostore.Attempt{first}, b.attempts(t, op.ID))
		again := b.now.Add(2 * time.Minute)
		require.Len(t, b.claim(t, 1, again), 1)
		require.Equal(t, []lrostore.Attempt{first, open(2, again, due)}, b.attempts(t, op.ID),
			"the second is due when the retry was")
	})
	t.Run("Released", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now)[0]
		at := b.now.Add(3 * time.Second)
		released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{
			Leases: []lrostore.Lease{lease(claimed)}, Now: at})
		require.NoError(t, err)
		require.Equal(t, []string{op.ID}, released)
		first := ended(open(1, b.now, b.now), at, lrostore.OutcomeReleased, 0, "")
		require.Equal(t, []lrostore.Attempt{first}, b.attempts(t, op.ID))
		require.Len(t, b.claim(t, 1, at), 1)
		require.Equal(t, []lrostore.Attempt{first, open(1, at, b.now)}, b.attempts(t, op.ID),
			"a released attempt does not count")
	})
	t.Run("ReleasedAndClaimedAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now)[0]
		released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{
			Leases: []lrostore.Lease{lease(claimed)}, Now: b.now})
		require.NoError(t, err)
		require.Equal(t, []string{op.ID}, released)
		again := b.claim(t, 1, b.now)[0]
		first := ended(open(1, b.now, b.now), b.now, lrostore.OutcomeReleased, 0, "")
		require.Equal(t, []lrostore.Attempt{first, open(1, b.now, b.now)}, b.attempts(t, op.ID),
			"a claim in the millisecond of the one before is a record of its own")
		require.True(t, b.finishAt(t, b.now, &lrostore.OperationFinishParams{Lease: lease(again), State: lrostore.StateSucceeded}).Finished)
		require.Equal(t, []lrostore.Attempt{first, ended(open(1, b.now, b.now), b.now, lrostore.OutcomeSucceeded, 0, "")},
			b.attempts(t, op.ID))
	})
	t.Run("RetryThenCancelledOrExpired", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 2, func(p *lrostore.OperationInsertParams) { p.Deadline = b.now.Add(time.Hour) })
		claimed := b.claim(t, 2, b.now)
		var want [][]lrostore.Attempt
		for _, c := range claimed {
			require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(c), State: lrostore.StatePending,
				NotBefore: b.now.Add(time.Minute), Error: failureOf(t, 14, "down")}).Finished)
			want = append(want, []lrostore.Attempt{ended(open(1, b.now, b.now), b.now.Add(time.Second), lrostore.OutcomeRetry, 14, "down")})
		}
		res, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, CancelledError: cancelled, Now: b.now})
		require.NoError(t, err)
		require.True(t, res.Ended)
		got, err := b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: failureOf(t, 4, "late"), Max: 10,
			Now: b.now.Add(2 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []string{ops[1].ID}, got)
		for i, op := range ops {
			require.Equal(t, want[i], b.attempts(t, op.ID), "no attempt ran when it ended")
		}
	})
	t.Run("Lost", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		retried := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.MaxAttempts = 2 })[0]
		failed := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.MaxAttempts = 1 })[0]
		require.Len(t, b.claim(t, 2, b.now), 2)
		later := b.now.Add(11 * time.Second)
		res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 10, Now: later})
		require.NoError(t, err)
		require.Equal(t, []string{retried.ID}, res.Retried)
		require.Equal(t, []string{failed.ID}, res.Ended)
		require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), later, lrostore.OutcomeLost, 0, "")},
			b.attempts(t, retried.ID))
		require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), later, lrostore.OutcomeLost, exhausted.Code, exhausted.Message)},
			b.attempts(t, failed.ID))
	})
	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 2, func(p *lrostore.OperationInsertParams) { p.Deadline = b.now.Add(5 * time.Second) })
		b.claim(t, 1, b.now) // ops[0]; ops[1] stays pending
		at := b.now.Add(6 * time.Second)
		expired := failureOf(t, 4, "out of time")
		got, err := b.store.OperationExpire(b.ctx, &lrostore.OperationExpireParams{Error: expired, Max: 10, Now: at})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), at, lrostore.OutcomeDeadline, 4, "out of time")},
			b.attempts(t, ops[0].ID))
		require.Empty(t, b.attempts(t, ops[1].ID), "a pending operation has no attempt to end")
	})
	t.Run("CancelledWhileRunning", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ops := b.insert(t, 2)
		claimed := b.claim(t, 2, b.now)
		for _, op := range ops {
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
			require.Equal(t, []lrostore.Attempt{open(1, b.now, b.now)}, b.attempts(t, op.ID), "a request leaves the attempt running")
		}
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateCancelled,
			Error: cancelled}).Finished)
		require.Equal(t, lrostore.StateCancelled, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[1]),
			State: lrostore.StateFailed, Error: failureOf(t, 13, "internal")}).State)
		for _, op := range ops {
			require.Equal(t, []lrostore.Attempt{ended(open(1, b.now, b.now), b.now.Add(time.Second), lrostore.OutcomeCancelled,
				cancelled.Code, cancelled.Message)}, b.attempts(t, op.ID))
		}
	})
	t.Run("KeepsTheLatest100", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.MaxAttempts = 1000 })[0]
		down := failureOf(t, 14, "down")
		for i := range lrostore.MaxAttemptRecords + 1 {
			at := b.now.Add(time.Duration(i) * time.Second)
			claimed := b.claim(t, 1, at)
			require.Len(t, claimed, 1, i)
			require.True(t, b.finishAt(t, at, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StatePending,
				Error: down}).Finished)
		}
		got := b.attempts(t, op.ID)
		require.Len(t, got, lrostore.MaxAttemptRecords)
		require.Equal(t, int32(2), got[0].Number, "the oldest was dropped")
		require.Equal(t, int32(lrostore.MaxAttemptRecords+1), got[len(got)-1].Number)
		require.Equal(t, lrostore.OutcomeRetry, got[len(got)-1].Outcome)
	})
	t.Run("StaleLeaseLeavesTheRecord", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		first := b.claim(t, 1, b.now)[0]
		later := b.now.Add(11 * time.Second)
		res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 10, Now: later})
		require.NoError(t, err)
		require.Equal(t, []string{op.ID}, res.Retried)
		require.Len(t, b.claim(t, 1, later), 1)
		want := []lrostore.Attempt{ended(open(1, b.now, b.now), later, lrostore.OutcomeLost, 0, ""), open(2, later, b.now)}
		require.Equal(t, want, b.attempts(t, op.ID))
		require.False(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(first), State: lrostore.StateSucceeded}).Finished)
		released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{
			Leases: []lrostore.Lease{lease(first)}, Now: later})
		require.NoError(t, err)
		require.Empty(t, released)
		require.Equal(t, want, b.attempts(t, op.ID), "the lost lease's writes touch no record")
	})
	t.Run("MessageClipped", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		claimed := b.claim(t, 1, b.now)[0]
		long := strings.Repeat("é", 300) // 600 bytes
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed), State: lrostore.StateFailed,
			Error: failureOf(t, 3, long)}).Finished)
		got := b.attempts(t, op.ID)[0].Message
		require.Equal(t, strings.Repeat("é", 256), got, "clipped to 512 bytes")
		require.True(t, utf8.ValidString(got))
		require.Equal(t, long, b.get(t, op.ID).Error.Message, "the failure keeps its message")
	})
}

// SetAttempts writes value, as it is, into the attempts column of the
// operation id: a database edited by hand, which RunAttemptsThatDoNotDecode
// reads back.
type SetAttempts func(ctx context.Context, id, value string) error

// RunAttemptsThatDoNotDecode checks that an attempts column that does not
// hold an array of records (each of values, written by set into a claimed
// operation of s) reads as no closed records, next to the current claim
// read from its columns, and that the retry that ends the claim appends
// its record, readable, rather than failing.
func RunAttemptsThatDoNotDecode(t *testing.T, s lrostore.Store, set SetAttempts, values []string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	params := &lrostore.OperationInsertManyParams{Now: now}
	for range values {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k",
			MaxAttempts: 3, Input: []byte("x")})
	}
	_, err := s.OperationInsertMany(ctx, params)
	require.NoError(t, err)
	claim := func() *lrostore.Operation {
		ops, err := s.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: "w", Kinds: []string{"k"}, Max: 1,
			LeaseTTL: time.Minute, Now: now})
		require.NoError(t, err)
		require.Len(t, ops, 1)
		return ops[0]
	}
	finish := func(op *lrostore.Operation, state lrostore.State) {
		res, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Now: now,
			Finishes: []*lrostore.OperationFinishParams{{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken}, State: state}}})
		require.NoError(t, err)
		require.True(t, res[0].Finished)
	}
	get := func(id string) []lrostore.Attempt {
		op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Attempts: true})
		require.NoError(t, err)
		return op.Attempts
	}
	opened := func(n int32) lrostore.Attempt {
		return lrostore.Attempt{Number: n, Worker: "w", StartTime: now, DueTime: now}
	}

	for i, value := range values {
		op := claim()
		require.Equal(t, params.Operations[i].ID, op.ID)
		require.NoError(t, set(ctx, op.ID, value))
		require.Equal(t, []lrostore.Attempt{opened(1)}, get(op.ID), value)
		finish(op, lrostore.StatePending)
		retried := opened(1)
		retried.EndTime, retried.Outcome = now, lrostore.OutcomeRetry
		require.Equal(t, []lrostore.Attempt{retried}, get(op.ID), "%s: the retry's record reads", value)
		op = claim()
		finish(op, lrostore.StateSucceeded)
		succeeded := opened(2)
		succeeded.EndTime, succeeded.Outcome = now, lrostore.OutcomeSucceeded
		require.Equal(t, []lrostore.Attempt{retried, succeeded}, get(op.ID), value)
	}
}
