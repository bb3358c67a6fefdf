package lrosqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
	"lro.dev/lro/lrostore/lrostoretest"
)

func TestConformance(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		lrostoretest.Run(t, func(t *testing.T) lrostore.Store {
			s, err := lrosqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lro.db"))
			require.NoError(t, err)
			return s
		})
	})
	t.Run("Memory", func(t *testing.T) {
		lrostoretest.Run(t, func(t *testing.T) lrostore.Store {
			s, err := lrosqlite.Open(context.Background(), ":memory:")
			require.NoError(t, err)
			return s
		})
	})
	t.Run("Migrations", func(t *testing.T) {
		lrostoretest.RunMigrations(t, func(t *testing.T) *lrostoretest.Database {
			path := filepath.Join(t.TempDir(), "lro.db")
			return &lrostoretest.Database{
				Migrate: func(ctx context.Context) (int, int, error) { return lrosqlite.Migrate(ctx, path) },
				Open: func(t *testing.T) lrostore.Store {
					s, err := lrosqlite.Open(context.Background(), path)
					require.NoError(t, err)
					t.Cleanup(func() { s.Close() })
					return s
				},
			}
		}, 6)
	})
}

func TestOpenLocksTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lro.db")
	s, err := lrosqlite.Open(context.Background(), path)
	require.NoError(t, err)
	_, err = lrosqlite.Open(context.Background(), path)
	require.ErrorContains(t, err, "in use by another process")
	require.NoError(t, s.Close())
	s, err = lrosqlite.Open(context.Background(), path)
	require.NoError(t, err, "the lock goes with Close")
	require.NoError(t, s.Close())
}

func TestReopenKeepsOperations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lro.db")
	s, err := lrosqlite.Open(ctx, path)
	require.NoError(t, err)
	_, err = s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
		{ID: "01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a", Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s, err = lrosqlite.Open(ctx, path)
	require.NoError(t, err, "migrations run again without harm")
	defer s.Close()
	op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: "01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a"})
	require.NoError(t, err)
	require.Equal(t, []byte("x"), op.Input)
}

// TestFilesAreOwnerOnly: the database holds inputs, results and the page
// token key; it and every file SQLite and lro make beside it are readable
// by their owner only, whatever the umask allows.
func TestFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which would leave them world-readable
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lro.db")
	s, err := lrosqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
		{ID: "01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a", Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
	require.NoError(t, err)
	_, err = s.OperationGet(ctx, &lrostore.OperationGetParams{ID: "01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a"})
	require.NoError(t, err)
	for _, name := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		info, err := os.Stat(name)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
}

// TestExistingFileKeepsItsMode: Open leaves the mode of a database file
// that exists alone: its owner chose it.
func TestExistingFileKeepsItsMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lro.db")
	s, err := lrosqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, os.Chmod(path, 0o640))
	s, err = lrosqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), info.Mode().Perm())
}
