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
// hand) reads as no history, and fails neither the end of an attempt nor
// the next claim, which starts the history anew.
func TestAttemptsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "lro.db"))
	require.NoError(t, err)
	defer s.Close()
	now := time.Now()
	ids := []string{uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()}
	params := &lrostore.OperationInsertManyParams{Now: now}
	for _, id := range ids {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{ID: id, Kind: "k", MaxAttempts: 3, Input: []byte("x")})
	}
	_, err = s.OperationInsertMany(ctx, params)
	require.NoError(t, err)
	claim := func() []*lrostore.Operation {
		ops, err := s.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: "w", Kinds: []string{"k"}, Max: 1,
			LeaseTTL: time.Minute, Now: now})
		require.NoError(t, err)
		require.Len(t, ops, 1)
		return ops
	}
	get := func(id string) []lrostore.Attempt {
		op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Attempts: true})
		require.NoError(t, err)
		return op.Attempts
	}

	first := claim()[0]
	_, err = s.write.ExecContext(ctx, `UPDATE lro_operation SET attempts = ? WHERE id = ?`, `[{"n": 1,`, first.ID)
	require.NoError(t, err)
	require.Nil(t, get(first.ID))
	res, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Now: now,
		Finishes: []*lrostore.OperationFinishParams{{Lease: lrostore.Lease{ID: first.ID, Token: first.LeaseToken},
			State: lrostore.StateSucceeded}}})
	require.NoError(t, err)
	require.True(t, res[0].Finished)
	require.Nil(t, get(first.ID))

	for _, bad := range []string{`not json`, `{"n": 1}`} {
		_, err = s.write.ExecContext(ctx, `UPDATE lro_operation SET attempts = ? WHERE id = ?`, bad, ids[1])
		require.NoError(t, err)
		require.Nil(t, get(ids[1]), bad)
		if bad == `not json` {
			second := claim()[0]
			require.Len(t, get(second.ID), 1, "the claim starts the history anew")
			released, err := s.OperationReleaseMany(ctx, &lrostore.OperationReleaseManyParams{Now: now,
				Leases: []lrostore.Lease{{ID: second.ID, Token: second.LeaseToken}}})
			require.NoError(t, err)
			require.Len(t, released, 1)
		}
	}
	require.Len(t, get(claim()[0].ID), 1, "the claim starts the history anew")
}
