package lrosqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// An attempts column that does not hold a JSON array (a database edited by
// hand) reads as no closed records, next to the current claim read from its
// columns; the retry that ends the claim appends its record, readable,
// rather than failing.
func TestAttemptsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "lro.db"))
	require.NoError(t, err)
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	bad := []string{`[{"n": 1,`, `not json`, `{"n": 1}`}
	params := &lrostore.OperationInsertManyParams{Now: now}
	for range bad {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k",
			MaxAttempts: 3, Input: []byte("x")})
	}
	_, err = s.OperationInsertMany(ctx, params)
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
	open := func(n int32) lrostore.Attempt {
		return lrostore.Attempt{Number: n, Worker: "w", StartTime: now, DueTime: now}
	}

	for i, value := range bad {
		op := claim()
		require.Equal(t, params.Operations[i].ID, op.ID)
		_, err = s.write.ExecContext(ctx, `UPDATE lro_operation SET attempts = ? WHERE id = ?`, value, op.ID)
		require.NoError(t, err)
		require.Equal(t, []lrostore.Attempt{open(1)}, get(op.ID), value)
		finish(op, lrostore.StatePending)
		retried := open(1)
		retried.EndTime, retried.Outcome = now, lrostore.OutcomeRetry
		require.Equal(t, []lrostore.Attempt{retried}, get(op.ID), "%s: the retry's record reads", value)
		op = claim()
		finish(op, lrostore.StateSucceeded)
		succeeded := open(2)
		succeeded.EndTime, succeeded.Outcome = now, lrostore.OutcomeSucceeded
		require.Equal(t, []lrostore.Attempt{retried, succeeded}, get(op.ID), value)
	}
}
