package lropgx_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// An attempts column that does not hold an array of records (a database
// edited by hand) reads as no closed records, next to the current claim read from its
// columns; the retry that ends the claim appends its record, readable,
// rather than failing.
func TestAttemptsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	pool := lropgx.Pool(s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	bad := []string{`[1, "a"]`, `{"n": 1}`, `"text"`}
	params := &lrostore.OperationInsertManyParams{Now: now}
	for range bad {
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

	for i, value := range bad {
		op := claim()
		require.Equal(t, params.Operations[i].ID, op.ID)
		_, err = pool.Exec(ctx, `UPDATE lro_operation SET attempts = $1::jsonb WHERE id = $2`, value, op.ID)
		require.NoError(t, err)
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
