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
// edited by hand) reads as no history, and fails neither the end of an
// attempt nor the next claim, which starts the history anew.
func TestAttemptsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	pool := lropgx.Pool(s)
	now := time.Now()
	ids := []string{uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()}
	params := &lrostore.OperationInsertManyParams{Now: now}
	for _, id := range ids {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{ID: id, Kind: "k", MaxAttempts: 3, Input: []byte("x")})
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
	get := func(id string) []lrostore.Attempt {
		op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Attempts: true})
		require.NoError(t, err)
		return op.Attempts
	}
	set := func(id, value string) {
		_, err := pool.Exec(ctx, `UPDATE lro_operation SET attempts = $1::jsonb WHERE id = $2`, value, id)
		require.NoError(t, err)
	}

	first := claim()
	set(first.ID, `[1, "a"]`)
	require.Nil(t, get(first.ID))
	res, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Now: now,
		Finishes: []*lrostore.OperationFinishParams{{Lease: lrostore.Lease{ID: first.ID, Token: first.LeaseToken},
			State: lrostore.StateSucceeded}}})
	require.NoError(t, err)
	require.True(t, res[0].Finished)
	require.Nil(t, get(first.ID))

	set(ids[1], `{"n": 1}`)
	require.Nil(t, get(ids[1]))
	require.Len(t, get(claim().ID), 1, "the claim starts the history anew")
}
