package lropgx_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// A database that an older lro made opens with this one, and no migration
// runs again: lro_migration has kept its schema, which is now that of both
// stores.
func TestMigrateKeepsTheOldMigrationTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	// What the store wrote before lro_migration had one schema in both
	// stores.
	stmts := []string{`CREATE TABLE IF NOT EXISTS lro_migration (
			version      integer     PRIMARY KEY,
			name         text        NOT NULL,
			applied_time timestamptz NOT NULL DEFAULT now())`}
	for _, name := range []string{"001_operations", "002_pending_by_kind"} {
		body, err := os.ReadFile("migration/" + name + ".sql")
		require.NoError(t, err)
		stmts = append(stmts, string(body))
	}
	stmts = append(stmts,
		`INSERT INTO lro_migration (version, name) VALUES (1, '001_operations'), (2, '002_pending_by_kind')`,
		`INSERT INTO lro_operation (id, parent, kind, state, input, max_attempts, attempt, lease_token, create_time, update_time)
		VALUES ('01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a', '', 'k', 0, 'x', 1, 0, 0, now(), now())`)
	for _, stmt := range stmts {
		_, err := conn.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, conn.Close(ctx))

	from, to, err := lropgx.MigrateVersions(ctx, dsn)
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 7}, [2]int{from, to}, "only the later migrations")
	s := open(t, dsn)
	op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: "01a20d4b-cdd8-719f-86dd-cbf3a2f8ac8a"})
	require.NoError(t, err)
	require.Equal(t, []byte("x"), op.Input)
}
