package lrostoretest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func runCountPending(t *testing.T, newStore NewStore) {
	t.Run("ByKindWithWaiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		counts, err := b.store.OperationCountPending(b.ctx)
		require.NoError(t, err)
		require.Empty(t, counts)

		b.insert(t, 3) // kind "k", due at once
		b.insert(t, 2, func(p *lrostore.OperationInsertParams) { p.Kind = "other" })
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "other"; p.NotBefore = b.now.Add(time.Hour) })
		claimed := b.claim(t, 1, b.now) // one "k" running: not pending
		require.Len(t, claimed, 1)
		done := b.claim(t, 1, b.now)
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(done[0]), State: lrostore.StateSucceeded,
			Response: []byte("r"), ResponseType: "type/r"}).Finished)

		counts, err = b.store.OperationCountPending(b.ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"k": 1, "other": 3}, counts)
	})
	t.Run("AfterCloseFails", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		require.NoError(t, b.store.Close())
		_, err := b.store.OperationCountPending(b.ctx)
		require.ErrorIs(t, err, lrostore.ErrClosed)
	})
}

func runSchemaVersion(t *testing.T, newStore NewStore) {
	t.Run("Current", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		have, want, err := b.store.SchemaVersion(b.ctx)
		require.NoError(t, err)
		require.Positive(t, want)
		require.Equal(t, want, have)
	})
}
