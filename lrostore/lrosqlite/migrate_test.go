package lrosqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
)

// A database that an older lro made, whose lro_migration had no name
// column, opens with this one: its table gains the names in place, and no
// migration runs again.
func TestMigrateUpgradesTheOldMigrationTable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lro.db")
	body, err := os.ReadFile("migration/001_operations.sql")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	// What the store wrote before lro_migration had one schema in both
	// stores.
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS lro_migration (
		version INTEGER PRIMARY KEY NOT NULL, applied_time INTEGER NOT NULL)`,
		string(body),
		`INSERT INTO lro_migration (version, applied_time) VALUES (1, 1767225600000000)`,
		`INSERT INTO lro_operation (id, parent, kind, state, input, request_hash, max_attempts, attempt, lease_token, create_time, update_time)
		VALUES ('01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a', '', 'k', 0, x'78', NULL, 1, 0, 0, 1, 1)`,
	} {
		_, err := db.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	from, to, err := lrosqlite.Migrate(ctx, path)
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 6}, [2]int{from, to}, "only the later migrations")

	s, err := lrosqlite.Open(ctx, path)
	require.NoError(t, err)
	op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: "01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a"})
	require.NoError(t, err)
	require.Equal(t, []byte("x"), op.Input)
	require.NoError(t, s.Close())

	db, err = sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	var version int
	var name string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT version, name FROM lro_migration ORDER BY version LIMIT 1`).Scan(&version, &name))
	require.Equal(t, 1, version)
	require.Equal(t, "001_operations", name)
}

// Migrate reports the schema's version before and after, and running it
// again does nothing.
func TestMigrateVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lro.db")
	from, to, err := lrosqlite.Migrate(ctx, path)
	require.NoError(t, err)
	require.Equal(t, [2]int{0, 6}, [2]int{from, to})
	from, to, err = lrosqlite.Migrate(ctx, path)
	require.NoError(t, err)
	require.Equal(t, [2]int{6, 6}, [2]int{from, to}, "nothing to do")
}
