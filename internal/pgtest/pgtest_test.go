package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
)

func TestWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?options=-c%20search_path%3Ds&sslmode=disable"},
		{"postgresql://u@h/db?options=-c%20work_mem%3D1MB", "postgresql://u@h/db?options=-c%20work_mem%3D1MB%20-c%20search_path%3Ds"},
		{"host=h user=u dbname=db", "host=h user=u dbname=db options='-c search_path=s'"},
	} {
		got, err := pgtest.WithSearchPath(tc.in, "s")
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}

func TestSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var schema string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema))
	require.Regexp(t, `^lro_test_[0-9a-f]{12}$`, schema)
	_, err = conn.Exec(ctx, `CREATE TABLE t (x int)`)
	require.NoError(t, err)
	var where string
	require.NoError(t, conn.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 't' AND table_schema = $1`, schema).Scan(&where))
}
