package lrostoretest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func runConcurrency(t *testing.T, newStore NewStore) {
	t.Run("ReadsDuringWrites", func(t *testing.T) {
		t.Parallel()
		// Readers and writers at once, on every path that prepares or
		// reuses statements: nothing may wait for ever.
		b := setup(t, newStore)
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		first := b.insert(t, 1)[0]
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 50 {
					_, err := b.store.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
						{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte(fmt.Sprint(w, i)), MaxAttempts: 1}}})
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := b.store.OperationClaim(ctx, &lrostore.OperationClaimParams{
						Owner: "w", Kinds: []string{"k"}, Max: 1, LeaseTTL: time.Minute}); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Go(func() {
				for range 50 {
					if _, err := b.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: first.ID}); err != nil {
						t.Error(err)
						return
					}
					if _, err := b.store.OperationList(ctx, &lrostore.OperationListParams{Limit: 5}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		require.NoError(t, ctx.Err(), "calls waited for each other until the deadline")
	})
}

func runKeyGetOrCreate(t *testing.T, newStore NewStore) {
	t.Run("FirstWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		k1, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: "n", New: []byte("one")})
		require.NoError(t, err)
		require.Equal(t, []byte("one"), k1)
		k2, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: "n", New: []byte("two")})
		require.NoError(t, err)
		require.Equal(t, []byte("one"), k2)
	})
}

func runWriteCheck(t *testing.T, newStore NewStore) {
	t.Run("RewritesOneRow", func(t *testing.T) {
		t.Parallel()
		// Checks write, and leave one row of their own however many run.
		b := setup(t, newStore)
		for range 3 {
			require.NoError(t, b.store.WriteCheck(b.ctx))
		}
		first, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: lrostore.WriteCheckKey, New: []byte("none")})
		require.NoError(t, err)
		require.NotEqual(t, []byte("none"), first, "no check was written")
		require.NoError(t, b.store.WriteCheck(b.ctx))
		second, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: lrostore.WriteCheckKey, New: []byte("none")})
		require.NoError(t, err)
		require.NotEqual(t, first, second, "a check that is not written again checks nothing")
		// The other named values are untouched.
		k, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: "n", New: []byte("one")})
		require.NoError(t, err)
		require.Equal(t, []byte("one"), k)
	})
	t.Run("AfterCloseFails", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		require.NoError(t, b.store.Close())
		require.ErrorIs(t, b.store.WriteCheck(b.ctx), lrostore.ErrClosed)
	})
}

func runClose(t *testing.T, newStore NewStore) {
	t.Run("CallsAfterCloseFail", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		require.NoError(t, b.store.Close())
		_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
		require.ErrorIs(t, err, lrostore.ErrClosed)
		_, err = b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{Owner: "w", Kinds: []string{"k"}, Max: 1, LeaseTTL: time.Second})
		require.ErrorIs(t, err, lrostore.ErrClosed)
	})
}
