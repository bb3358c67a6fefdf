package pgtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
)

func TestStartServer(t *testing.T) {
	t.Parallel()
	s := pgtest.StartServer(t)
	require.Equal(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port()), s.URL())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	connect := func() *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, s.URL())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	conn := connect()
	var fsync, listen string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('listen_addresses')`).Scan(&fsync, &listen))
	require.Equal(t, "on", fsync, "durable")
	require.Equal(t, "127.0.0.1", listen)
	_, err := conn.Exec(ctx, `CREATE TABLE t (x int); INSERT INTO t VALUES (42)`)
	require.NoError(t, err)

	s.Stop()
	require.Error(t, conn.Ping(ctx), "the stop ended the session")
	_, err = pgx.Connect(ctx, s.URL())
	require.Error(t, err, "stopped: nothing listens")

	s.Start()
	var x int
	require.NoError(t, connect().QueryRow(ctx, `SELECT x FROM t`).Scan(&x))
	require.Equal(t, 42, x, "committed data survives a stop")

	s.Restart()
	require.NoError(t, connect().QueryRow(ctx, `SELECT x FROM t`).Scan(&x))
	require.Equal(t, 42, x)
}
