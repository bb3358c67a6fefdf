package lropgx_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// open opens a store on dsn, closed when the test ends.
func open(t *testing.T, dsn string, opts ...lropgx.Option) *lropgx.Store {
	t.Helper()
	s, err := lropgx.Open(context.Background(), dsn, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNewLeavesThePoolOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.Schema(t))
	require.NoError(t, err)
	defer pool.Close()
	s, err := lropgx.New(ctx, pool)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.OperationGet(ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
	require.ErrorIs(t, err, lrostore.ErrClosed)
	require.NoError(t, pool.Ping(ctx), "the embedder's pool stays open")
}

func TestClosedPoolIsErrClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.Schema(t))
	require.NoError(t, err)
	s, err := lropgx.New(ctx, pool)
	require.NoError(t, err)
	pool.Close()
	_, err = s.OperationGet(ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
	require.ErrorIs(t, err, lrostore.ErrClosed)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = lropgx.Migrate(ctx, dsn)
				return
			}
			s, err := lropgx.Open(ctx, dsn)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "node %d", i)
	}
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version FROM lro_migration ORDER BY version`)
	require.NoError(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Equal(t, []int32{1, 2, 3, 4, 5, 6, 7}, versions, "each migration applied once")
}

func TestReopenKeepsOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s, err := lropgx.Open(ctx, dsn)
	require.NoError(t, err)
	id := uuid.Must(uuid.NewV7()).String()
	_, err = s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
		{ID: id, Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, lropgx.Migrate(ctx, dsn), "migrations run again without harm")
	s = open(t, dsn)
	op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id})
	require.NoError(t, err)
	require.Equal(t, []byte("x"), op.Input)
}

// The statement that concurrent brief reads share returns each ID's
// operation in the order asked, nil for a missing one, and a copy of its
// own for an ID asked for twice.
func TestBriefReadsShareAStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	var ids []string
	for i := range 3 {
		id := uuid.Must(uuid.NewV7()).String()
		ids = append(ids, id)
		_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
			{ID: id, Parent: fmt.Sprintf("projects/p%d", i), Kind: "k", Input: []byte("x"), Metadata: []byte{byte(i)}, MetadataType: "t", MaxAttempts: 1}}})
		require.NoError(t, err)
	}
	missing := uuid.Must(uuid.NewV7()).String()
	for _, ask := range [][]string{
		{ids[0]},
		{missing},
		{ids[2], missing, ids[0], ids[2]},
		append(slices.Repeat([]string{ids[1]}, 15), ids[0]), // the most that share one statement
	} {
		got, err := lropgx.BriefGetMany(s, ctx, ask)
		require.NoError(t, err)
		require.Len(t, got, len(ask))
		for i, id := range ask {
			if id == missing {
				require.Nil(t, got[i])
				continue
			}
			want, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Brief: true})
			require.NoError(t, err)
			require.Equal(t, want.Parent, got[i].Parent)
			require.Equal(t, want.Metadata, got[i].Metadata)
			for j := range i {
				if got[j] != nil && got[i] != nil {
					require.NotSame(t, got[j], got[i])
					if len(got[i].Metadata) > 0 && len(got[j].Metadata) > 0 {
						require.NotSame(t, &got[j].Metadata[0], &got[i].Metadata[0], "a repeated ID shares no memory")
					}
				}
			}
		}
	}
	_, err := lropgx.BriefGetMany(s, ctx, slices.Repeat([]string{ids[0]}, 17))
	require.ErrorContains(t, err, "more than 16")
}

func TestOpenRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := lropgx.Open(ctx, "postgres://[bad")
	require.Error(t, err)
	_, err = lropgx.Open(ctx, pgtest.Schema(t), lropgx.WithChannel(""))
	require.ErrorContains(t, err, "channel")
}

// Four nodes, each with its own pool, claim from one table: FOR UPDATE SKIP
// LOCKED gives each operation to one of them.
func TestClaimAcrossNodesTakesEachOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	nodes := make([]*lropgx.Store, 4)
	for i := range nodes {
		nodes[i] = open(t, dsn)
	}
	const n = 1000
	params := &lrostore.OperationInsertManyParams{}
	for range n {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{
			ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1})
	}
	_, err := nodes[0].OperationInsertMany(ctx, params)
	require.NoError(t, err)

	var mu sync.Mutex
	seen := map[string]int{}
	perNode := make([]int, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		for range 4 { // workers per node
			wg.Go(func() {
				for {
					ops, err := node.OperationClaim(ctx, &lrostore.OperationClaimParams{
						Owner: "node", Kinds: []string{"k"}, Max: 10, LeaseTTL: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if len(ops) == 0 {
						return
					}
					mu.Lock()
					for _, op := range ops {
						seen[op.ID]++
					}
					perNode[i] += len(ops)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Len(t, seen, n)
	for id, c := range seen {
		require.Equal(t, 1, c, id)
	}
	t.Logf("claims per node: %v", perNode)
}

// A node's heartbeats and finishes, in batches that overlap and list their
// leases in random orders, lock rows in one order: none deadlocks.
func TestOverlappingLeaseWritesDoNotDeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	const n = 300
	params := &lrostore.OperationInsertManyParams{}
	for range n {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{
			ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1})
	}
	_, err := s.OperationInsertMany(ctx, params)
	require.NoError(t, err)
	ops, err := s.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: "w", Kinds: []string{"k"}, Max: n, LeaseTTL: time.Minute})
	require.NoError(t, err)
	leases := make([]lrostore.Lease, n)
	for i, op := range ops {
		leases[i] = lrostore.Lease{ID: op.ID, Token: op.LeaseToken}
	}
	shuffled := func() []lrostore.Lease {
		l := slices.Clone(leases)
		rand.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		return l
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 10 {
				if _, err := s.OperationHeartbeat(ctx, &lrostore.OperationHeartbeatParams{Leases: shuffled(), LeaseTTL: time.Minute}); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 10 {
				var updates []*lrostore.OperationSetMetadataParams
				for _, l := range shuffled()[:n/2] {
					updates = append(updates, &lrostore.OperationSetMetadataParams{Lease: l, Metadata: []byte("m"), MetadataType: "t"})
				}
				if _, err := s.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{Updates: updates}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		l := shuffled()
		for len(l) > 0 {
			batch := l[:min(30, len(l))]
			l = l[len(batch):]
			var finishes []*lrostore.OperationFinishParams
			for _, lease := range batch {
				finishes = append(finishes, &lrostore.OperationFinishParams{Lease: lease, State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
			}
			if _, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: finishes}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

// After the server ends the store's connections (as a restart does), reads
// still answer: the first dead connection is retried on a new one.
func TestReadsSurviveKilledConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app := pgtest.Name("lro_test_")
	dsn := pgtest.Schema(t) + "&application_name=" + app
	s := open(t, dsn)
	id := uuid.Must(uuid.NewV7()).String()
	_, err := s.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
		{ID: id, Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
	require.NoError(t, err)
	// Use several connections, so that the pool holds them.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := s.OperationList(ctx, &lrostore.OperationListParams{Limit: 10})
			require.NoError(t, err)
		})
	}
	wg.Wait()

	// End every connection of this store's pool, as a restart would.
	admin, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	var ended int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, app).Scan(&ended))
	require.Positive(t, ended)

	for range 3 {
		op, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id})
		require.NoError(t, err)
		require.Equal(t, id, op.ID)
		_, err = s.OperationList(ctx, &lrostore.OperationListParams{Limit: 10})
		require.NoError(t, err)
	}
}

// TestWriteCheckOnReadOnlyDatabase: a database that answers reads but takes
// no writes (here every transaction is read-only, as on a standby or after
// an operator set default_transaction_read_only) fails the write check.
func TestWriteCheckOnReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	config, err := pgxpool.ParseConfig(pgtest.Schema(t))
	require.NoError(t, err)
	var readOnly atomic.Bool
	config.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if readOnly.Load() {
			_, err := conn.Exec(ctx, `SET default_transaction_read_only = on`)
			return err
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	require.NoError(t, err)
	defer pool.Close()
	s, err := lropgx.New(ctx, pool) // migrates while it may write
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.WriteCheck(ctx))

	readOnly.Store(true)
	pool.Reset() // every connection from now on is read-only
	_, err = s.OperationGet(ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String(), Brief: true})
	require.ErrorIs(t, err, lrostore.ErrNotFound, "reads work")
	require.ErrorContains(t, s.WriteCheck(ctx), "read-only transaction")
}

func TestMissingSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, err := pgtest.WithSearchPath(pgtest.URL(t), "lro_test_missing")
	require.NoError(t, err)
	_, err = lropgx.Open(ctx, dsn)
	require.ErrorContains(t, err, `no schema of the search_path "lro_test_missing" exists: create it first (CREATE SCHEMA lro_test_missing;)`)
	err = lropgx.Migrate(ctx, dsn)
	require.ErrorContains(t, err, "CREATE SCHEMA lro_test_missing;")
}

func TestMigrateVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	from, to, err := lropgx.MigrateVersions(ctx, dsn)
	require.NoError(t, err)
	require.Equal(t, 0, from, "no schema before")
	require.Equal(t, 7, to)
	from, to, err = lropgx.MigrateVersions(ctx, dsn)
	require.NoError(t, err)
	require.Equal(t, [2]int{7, 7}, [2]int{from, to}, "nothing to do")
}
