package lropgx_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// The store's statements whose plan depends on the table are planned for
// their arguments at every execution: none of them runs as a prepared
// statement, whose generic plan PostgreSQL could keep (see the package
// documentation). Point reads by ID, and the insert, may.
func TestStatementsThatDependOnTheTableAreNotPrepared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, err := withParam(pgtest.Schema(t), "pool_max_conns", "1")
	require.NoError(t, err)
	s := open(t, dsn)
	for i := range 7 { // past the five custom plans after which a prepared statement may go generic
		ins := make([]*lrostore.OperationInsertParams, 3)
		for j := range ins {
			ins[j] = &lrostore.OperationInsertParams{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte{1}, MaxAttempts: 1, RequestID: fmt.Sprint("r", i, j)}
		}
		_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ins})
		require.NoError(t, err)
		again := *ins[0]
		again.ID = uuid.Must(uuid.NewV7()).String()
		_, err = s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{&again}}) // reads the request ID's holder
		require.NoError(t, err)
		claimed, err := s.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: "o", Kinds: []string{"k"}, Max: 3, LeaseTTL: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 3)
		var leases []lrostore.Lease
		for _, op := range claimed {
			leases = append(leases, lrostore.Lease{ID: op.ID, Token: op.LeaseToken})
		}
		_, err = s.OperationHeartbeat(ctx, &lrostore.OperationHeartbeatParams{Leases: leases, LeaseTTL: time.Minute})
		require.NoError(t, err)
		_, err = s.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{Updates: []*lrostore.OperationSetMetadataParams{{Lease: leases[0], Metadata: []byte{2}, MetadataType: "t"}}})
		require.NoError(t, err)
		_, err = s.OperationReleaseMany(ctx, &lrostore.OperationReleaseManyParams{Leases: leases[2:]})
		require.NoError(t, err)
		_, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{
			{Lease: leases[0], State: lrostore.StateSucceeded, Response: []byte{3}, ResponseType: "t"},
			{Lease: leases[1], State: lrostore.StateSucceeded, Response: []byte{3}, ResponseType: "t"},
		}})
		require.NoError(t, err)
		_, err = s.OperationRescue(ctx, &lrostore.OperationRescueParams{Max: 10})
		require.NoError(t, err)
		_, err = s.OperationDeleteDoneBefore(ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: time.Now().Add(-time.Hour), Max: 10})
		require.NoError(t, err)
		expr, err := lrostore.ParseFilter(`done = true AND kind = "k"`)
		require.NoError(t, err)
		_, err = s.OperationList(ctx, &lrostore.OperationListParams{Filter: expr, Limit: 10})
		require.NoError(t, err)
		_, err = s.OperationGet(ctx, &lrostore.OperationGetParams{ID: claimed[0].ID})
		require.NoError(t, err)
	}
	rows, err := lropgx.Pool(s).Query(ctx, `SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%lro_operation%' AND statement NOT LIKE '%pg_prepared_statements%'`)
	require.NoError(t, err)
	prepared, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, prepared, "the point read is prepared")
	for _, stmt := range prepared {
		require.Regexp(t, `(?s)^(SELECT .* FROM lro_operation o WHERE o\.id = \$1|WITH ins AS \(\s+INSERT INTO lro_operation .*)$`, stmt,
			"only point reads by ID, and the insert, whose plan does not depend on the table, are prepared")
	}
}

func withParam(dsn, key, value string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), nil
}

// A claim reads the pending operations of its kinds in ID order from the
// index on (kind, id), even when the statistics are stale: here the table was
// analyzed while empty, then filled, which made the claim of the earlier
// index fetch and sort every pending row.
func TestClaimPlanSurvivesStaleStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	pool := lropgx.Pool(s)
	_, err := pool.Exec(ctx, `ANALYZE lro_operation`)
	require.NoError(t, err)
	for range 10 {
		ins := make([]*lrostore.OperationInsertParams, 2000)
		for j := range ins {
			ins[j] = &lrostore.OperationInsertParams{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte{1}, MaxAttempts: 1}
		}
		_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ins})
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, `EXPLAIN `+lropgx.ClaimQuery, pgx.QueryExecModeExec, []string{"k", "other"}, 100, "owner", int64(30e6), nil)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	plan := strings.Join(lines, "\n")
	requirePendingIndexClaim(t, plan)

	// Statistics that say every row is pending (an ANALYZE during a burst
	// of starts), once most rows are done: walking the primary key from the
	// oldest operation looks as cheap as the pending index, and reads every
	// done row on the way.
	_, err = pool.Exec(ctx, `ANALYZE lro_operation`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE lro_operation SET state = 2 WHERE id IN (SELECT id FROM lro_operation ORDER BY id LIMIT 19000)`)
	require.NoError(t, err)
	rows, err = pool.Query(ctx, `EXPLAIN `+lropgx.ClaimQuery, pgx.QueryExecModeExec, []string{"k"}, 100, "owner", int64(30e6), nil)
	require.NoError(t, err)
	lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	requirePendingIndexClaim(t, strings.Join(lines, "\n"))
}

// requirePendingIndexClaim checks that a claim's plan reads the oldest
// pending rows of each kind through the pending index, in order, up to the
// limit: not every row (a scan of the table, or a bitmap of the index and a
// sort), nor the primary key from the oldest operation on.
func requirePendingIndexClaim(t *testing.T, plan string) {
	t.Helper()
	require.Regexp(t, `Limit .*\n.*LockRows .*\n.*Index Scan using lro_operation_pending_kind on lro_operation`, plan)
	require.NotContains(t, plan, "Bitmap Index Scan on lro_operation_pending_kind", plan)
	require.NotContains(t, plan, "Seq Scan on lro_operation", plan)
}

// TestPlansSurviveGrowthWithoutStatistics: on a database whose autovacuum
// is off, nothing analyzes lro_operation for PostgreSQL. A prepared point
// read whose generic plan was made while the table was small (a sequential
// scan, cheapest then) kept that plan as the table grew, until the next
// ANALYZE: Gets turned into scans of the whole table. The store analyzes
// the table as it grows, which also makes PostgreSQL plan prepared
// statements again.
func TestPlansSurviveGrowthWithoutStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	var ids []pgtype.UUID
	insert := func(n int) {
		for n > 0 {
			ins := make([]*lrostore.OperationInsertParams, min(n, 2000))
			for j := range ins {
				id := uuid.Must(uuid.NewV7())
				ins[j] = &lrostore.OperationInsertParams{ID: id.String(), Kind: "k", Input: []byte{1}, MaxAttempts: 1}
				ids = append(ids, pgtype.UUID{Bytes: id, Valid: true})
			}
			_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ins})
			require.NoError(t, err)
			n -= len(ins)
		}
	}
	insert(10)

	// A connection of the test's own holds the store's statements,
	// prepared while the table is small, with generic plans.
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	explain := func(name string) string {
		t.Helper()
		sd, err := conn.Prepare(ctx, name, lropgx.PreparedQueries[name])
		require.NoError(t, err)
		nulls := strings.TrimSuffix(strings.Repeat("NULL, ", len(sd.ParamOIDs)), ", ")
		rows, err := conn.Query(ctx, `EXPLAIN EXECUTE "`+name+`"(`+nulls+`)`, pgx.QueryExecModeSimpleProtocol)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return strings.Join(lines, "\n")
	}
	for name := range lropgx.PreparedQueries {
		t.Logf("%s, on a table of 10 operations:\n%s", name, explain(name))
	}

	insert(100_000)
	lropgx.WaitAnalyzed(s)
	for name := range lropgx.PreparedQueries {
		plan := explain(name)
		require.NotContains(t, plan, "Seq Scan on lro_operation", "%s, on a table of 100,010 operations:\n%s", name, plan)
		require.Contains(t, plan, "Index", "%s:\n%s", name, plan)
	}

	// The statements planned at each execution, for their arguments.
	pool := lropgx.Pool(s)
	leases, tokens := ids[:100], make([]int64, 100)
	n := len(leases)
	for name, args := range map[string][]any{
		"claim":     {[]string{"k", "other"}, 100, "owner", int64(30e6), nil},
		"heartbeat": {leases, tokens},
		"finish": {"channel", leases, tokens, make([]int16, n), make([][]byte, n), make([]pgtype.Int4, n), make([]pgtype.Text, n),
			make([][]byte, n), make([]string, n), make([]bool, n), make([][]byte, n), make([]string, n), nil, []byte{1}, 1, "cancelled",
			make([]string, n), make([]string, n)},
		"rescue": {"channel", []byte{1}, 1, "cancelled", []byte{2}, 10, "exhausted", nil, 100, "cancelled", "exhausted"},
	} {
		rows, err := pool.Query(ctx, `EXPLAIN `+lropgx.PlannedQueries[name], append([]any{pgx.QueryExecModeExec}, args...)...)
		require.NoError(t, err, name)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, name)
		plan := strings.Join(lines, "\n")
		require.NotContains(t, plan, "Seq Scan on lro_operation", "%s:\n%s", name, plan)
	}
}

// Operations that wait (not_before in the future) cost a claim nothing:
// with many of them, the claim reads the due ones only, through the range
// not_before <= now of lro_operation_waiting_kind, and the others through
// lro_operation_pending_kind as before, whatever the statistics say.
func TestClaimPlanSkipsWaitingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	pool := lropgx.Pool(s)
	_, err := pool.Exec(ctx, `ANALYZE lro_operation`)
	require.NoError(t, err)
	later := time.Now().Add(time.Hour)
	for i := range 10 {
		ins := make([]*lrostore.OperationInsertParams, 2000)
		for j := range ins {
			ins[j] = &lrostore.OperationInsertParams{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte{1}, MaxAttempts: 1,
				NotBefore: later}
			if i == 9 && j%100 == 0 { // a few that do not wait, and a few due
				ins[j].NotBefore = time.Time{}
			} else if i == 9 && j%100 == 1 {
				ins[j].NotBefore = time.Now().Add(-time.Second)
			}
		}
		_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ins})
		require.NoError(t, err)
	}
	for _, analyze := range []bool{false, true} {
		if analyze {
			_, err = pool.Exec(ctx, `ANALYZE lro_operation`)
			require.NoError(t, err)
		}
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) `+lropgx.ClaimQuery, pgx.QueryExecModeExec,
			[]string{"k", "other"}, 100, "owner", int64(30e6), nil)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.NoError(t, tx.Rollback(ctx))
		plan := strings.Join(lines, "\n")
		t.Logf("analyzed %v:\n%s", analyze, plan)
		// 20 rows of kind "k", none of "other": the due ones only.
		require.Regexp(t, `Index Scan using lro_operation_waiting_kind on lro_operation .*rows=10 loops=2\)\n\s*Index Cond: \(.*not_before <= `, plan)
		require.Regexp(t, `Index Scan using lro_operation_pending_kind on lro_operation .*rows=10 loops=2\)`, plan)
		require.Contains(t, plan, "Update on lro_operation o (actual rows=40 loops=1)", "20 due, 20 that do not wait")
		require.NotContains(t, plan, "Rows Removed by Filter", plan)
		require.NotContains(t, plan, "Seq Scan on lro_operation", plan)
		require.NotContains(t, plan, "Bitmap", plan)
	}
}

// The count of pending operations that metrics sample reads the two
// partial indexes of pending operations only (index-only scans), never
// the rows of running or done operations, which a table holds most of.
func TestCountPendingPlanReadsPendingIndexesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A server of its own: on the shared one, other tests' transactions
	// keep VACUUM from removing the index entries of the rows updated to
	// done below, and with them in the partial indexes a sequential scan
	// is cheaper.
	s := open(t, pgtest.StartServer(t).URL())
	pool := lropgx.Pool(s)
	// 20,000 rows, of which about 1.4% pending (1 in 100 waiting, 1 in
	// 256 of the others due).
	for range 4 {
		ins := make([]*lrostore.OperationInsertParams, 5000)
		for j := range ins {
			ins[j] = &lrostore.OperationInsertParams{ID: uuid.Must(uuid.NewV7()).String(), Kind: fmt.Sprint("k", j%3), Input: []byte{1}, MaxAttempts: 1}
			if j%100 == 0 {
				ins[j].NotBefore = time.Now().Add(time.Hour)
			}
		}
		_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ins})
		require.NoError(t, err)
	}
	// Most rows done: the count must not read them.
	_, err := pool.Exec(ctx, `UPDATE lro_operation SET state = 2, end_time = now() WHERE not_before IS NULL AND right(id::text, 2) <> '00'`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `VACUUM ANALYZE lro_operation`)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `EXPLAIN (COSTS OFF) `+lropgx.CountPendingQuery, pgx.QueryExecModeExec)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	plan := strings.Join(lines, "\n")
	t.Logf("plan:\n%s", plan)
	// Through the two partial indexes, whether the planner reads them
	// alone (an index-only scan) or with the pending rows' pages (a bitmap
	// scan): either way no done row is read.
	require.Regexp(t, `(Index Only Scan using|Bitmap Index Scan on) lro_operation_pending_kind`, plan)
	require.Regexp(t, `(Index Only Scan using|Bitmap Index Scan on) lro_operation_waiting_kind`, plan)
	require.NotContains(t, plan, "Seq Scan on lro_operation")

	counts, err := s.OperationCountPending(ctx)
	require.NoError(t, err)
	var total int64
	for _, n := range counts {
		total += n
	}
	var want int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM lro_operation WHERE state = 0`).Scan(&want))
	require.Equal(t, want, total)
}
