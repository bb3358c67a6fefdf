package lrostoretest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// Database is one new, empty database of a store, for RunMigrations.
type Database struct {
	// Migrate migrates the database as the store's own Migrate function
	// does, and returns the schema's version before and after.
	Migrate func(ctx context.Context) (from, to int, err error)
	// Open opens the store on the database; the suite closes it.
	Open func(t *testing.T) lrostore.Store
}

// RunMigrations runs the suite of a store's migrations: newDatabase
// returns a new, empty database for each test, and latest is the version
// of the store's newest migration.
func RunMigrations(t *testing.T, newDatabase func(t *testing.T) *Database, latest int) {
	ctx := context.Background()
	t.Run("FirstRunAppliesAll", func(t *testing.T) {
		t.Parallel()
		from, to, err := newDatabase(t).Migrate(ctx)
		require.NoError(t, err)
		require.Equal(t, [2]int{0, latest}, [2]int{from, to})
	})
	t.Run("RerunDoesNothing", func(t *testing.T) {
		t.Parallel()
		db := newDatabase(t)
		_, _, err := db.Migrate(ctx)
		require.NoError(t, err)
		for range 2 {
			from, to, err := db.Migrate(ctx)
			require.NoError(t, err)
			require.Equal(t, [2]int{latest, latest}, [2]int{from, to}, "nothing to do")
		}
	})
	t.Run("OpenAfterMigrateKeepsOperations", func(t *testing.T) {
		t.Parallel()
		db := newDatabase(t)
		_, _, err := db.Migrate(ctx)
		require.NoError(t, err)
		s := db.Open(t)
		b := &bundle{ctx: ctx, store: s}
		op := b.insert(t, 1)[0]
		require.NoError(t, s.Close())
		from, to, err := db.Migrate(ctx)
		require.NoError(t, err)
		require.Equal(t, [2]int{latest, latest}, [2]int{from, to})
		s = db.Open(t)
		t.Cleanup(func() { s.Close() })
		got, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: op.ID})
		require.NoError(t, err)
		require.Equal(t, op.Input, got.Input)
	})
}
