package lropgx

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"lro.dev/lro/internal/batch"
	"lro.dev/lro/internal/filter"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

//go:embed migration/*.sql
var migrations embed.FS

// ChannelDefault is the notification channel of a store opened without
// [WithChannel].
const ChannelDefault = "lro_events"

// migrationLockKey is the key of the transaction-level advisory lock that
// migrations hold, so that nodes starting at once apply each migration once.
// It is fixed (the bytes of "lromigr8") and the same for every schema of a
// database: migrations of different schemas wait for each other, briefly.
const migrationLockKey int64 = 0x6c726f6d69677238

// Store is an lrostore.Store on PostgreSQL. All its methods are safe for
// concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	channel string
	closed  atomic.Bool
	// closing ends when the store is closed; it stops Listen.
	closing context.Context
	close   context.CancelFunc

	// onListen, when set (by tests), is called with the backend PID of the
	// listening connection each time it runs LISTEN.
	onListen func(pid uint32)

	// briefGets groups concurrent brief reads by ID.
	briefGets *batch.Group[pgtype.UUID, *lrostore.Operation]

	// The table's growth, for ANALYZE (see "Statistics" in the package
	// documentation): operations inserted since the last ANALYZE, how many
	// call for the next one, and the ANALYZE under way, if any.
	inserts      atomic.Int64
	analyzeAfter atomic.Int64
	analyzing    atomic.Bool
	analyzeMu    sync.Mutex // orders the start of an ANALYZE and Close
	analyzed     sync.WaitGroup
}

// analyzeInsertsMin is the fewest operations inserted after which the store
// analyzes lro_operation again: it does once it has inserted twice as many
// as the table held when last analyzed, and at least this many. Plans made
// from the statistics of a table stay good while it grows (PostgreSQL
// scales the row counts of its statistics by the table's current size);
// what goes bad is a generic plan kept from when the table was small, and
// an ANALYZE makes every session plan again. So growth is what counts, and
// a few ANALYZEs over a table's growth are enough: each one reads a sample
// of the table, CPU that the database would rather spend on lro's work.
const analyzeInsertsMin = 10_000

var (
	_ lrostore.Store    = (*Store)(nil)
	_ lrostore.Notifier = (*Store)(nil)
)

// Option configures a store in [Open] and [New].
type Option func(*options)

type options struct {
	channel    string
	channelSet bool
}

// WithChannel sets the PostgreSQL channel on which the store publishes its
// events and Listen listens. Every node sharing a database must use the same
// channel. The default is [ChannelDefault] for a store in the schema
// "public", and ChannelDefault + "_" + schema for a store in another schema
// (so that stores in separate schemas of one database do not hear each
// other), cut to 63 bytes, PostgreSQL's identifier length.
func WithChannel(name string) Option {
	return func(o *options) { o.channel, o.channelSet = name, true }
}

func buildOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if !o.channelSet {
		return o, nil // from the schema, once connected
	}
	if o.channel == "" || len(o.channel) > 63 || strings.ContainsRune(o.channel, 0) {
		return nil, fmt.Errorf("lropgx: channel %q: want 1 to 63 bytes, without NUL", o.channel)
	}
	return o, nil
}

// Open connects to the database that dsn names (a libpq URL such as
// postgres://user@host:5432/db?sslmode=disable, or key=value pairs), brings
// its schema up to date, and returns a store that owns its connection pool:
// Close closes the pool.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	config, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lropgx: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("lropgx: %w", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// New brings the schema of pool's database (the first schema of its
// search_path) up to date and returns a store that uses pool. Close does not
// close pool: the caller does, after closing the store.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	var rows int64 // in lro_operation, as its statistics say
	err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		if o.channel == "" {
			var schema string
			if err := c.QueryRow(ctx, `SELECT coalesce(current_schema(), 'public')`).Scan(&schema); err != nil {
				return err
			}
			o.channel = ChannelDefault
			if schema != "public" {
				o.channel = (ChannelDefault + "_" + schema)[:min(63, len(ChannelDefault)+1+len(schema))]
			}
		}
		if _, _, err := migrate(ctx, c.Conn()); err != nil {
			return err
		}
		rows, err = analyzeIfNever(ctx, c.Conn())
		return err
	})
	if err = interpretError(err); err != nil {
		if errors.Is(err, lrostore.ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("lropgx: migrate: %w", err)
	}
	s := &Store{pool: pool, channel: o.channel}
	s.analyzeAfter.Store(max(analyzeInsertsMin, 2*rows))
	s.closing, s.close = context.WithCancel(context.Background())
	s.briefGets = batch.NewGroup(s.closing, briefGetMax, max(2, int(pool.Config().MaxConns)/4), s.briefGetMany)
	return s, nil
}

// Migrate brings the schema of the database that dsn names up to date, and
// returns. Open and New migrate too; Migrate is for running migrations
// alone, such as before a deployment.
func Migrate(ctx context.Context, dsn string) error {
	_, _, err := MigrateVersions(ctx, dsn)
	return err
}

// MigrateVersions is Migrate, and returns the schema's version before and
// after: from is 0 when there was no schema, and equals to when there was
// nothing to do.
func MigrateVersions(ctx context.Context, dsn string) (from, to int, err error) {
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("lropgx: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return 0, 0, fmt.Errorf("lropgx: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if from, to, err = migrate(ctx, conn); err != nil {
		return 0, 0, fmt.Errorf("lropgx: migrate: %w", err)
	}
	return from, to, nil
}

// migrate applies the migrations that the lro_migration table does not
// list, in one transaction that holds an advisory lock: of several nodes
// starting at once, one migrates and the others then find nothing to do. It
// returns the schema's version before and after.
func migrate(ctx context.Context, conn *pgx.Conn) (from, to int, err error) {
	all, err := storekit.Migrations(migrations, "migration")
	if err != nil {
		return 0, 0, err
	}
	if err := checkSchema(ctx, conn); err != nil {
		return 0, 0, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		from, to, err = storekit.Migrate(ctx, migrationTx{tx}, all)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

// migrationTx is storekit.MigrationTx on PostgreSQL.
type migrationTx struct{ tx pgx.Tx }

func (m migrationTx) Applied(ctx context.Context, _ []storekit.Migration) ([]int, error) {
	if _, err := m.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return nil, err
	}
	// The table has had this schema from the first version.
	if _, err := m.tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS lro_migration (
		version      integer     PRIMARY KEY,
		name         text        NOT NULL,
		applied_time timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	rows, err := m.tx.Query(ctx, `SELECT version FROM lro_migration`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func (m migrationTx) Apply(ctx context.Context, mig storekit.Migration) error {
	// Without arguments, Exec uses the simple protocol, which runs the
	// file's several statements.
	if _, err := m.tx.Exec(ctx, mig.Body); err != nil {
		return err
	}
	_, err := m.tx.Exec(ctx, `INSERT INTO lro_migration (version, name) VALUES ($1, $2)`, mig.Version, mig.Name)
	return err
}

// checkSchema fails when the connection's search_path names no schema that
// exists, which PostgreSQL reports only as "no schema has been selected to
// create in", and says how to fix it.
func checkSchema(ctx context.Context, conn *pgx.Conn) error {
	var schema *string
	var searchPath string
	if err := conn.QueryRow(ctx, `SELECT current_schema(), current_setting('search_path')`).Scan(&schema, &searchPath); err != nil {
		return err
	}
	if schema != nil {
		return nil
	}
	first := "myschema"
	for name := range strings.SplitSeq(searchPath, ",") {
		if name = strings.TrimSpace(name); name != "" && name != `"$user"` && name != "$user" {
			first = name
			break
		}
	}
	return fmt.Errorf("no schema of the search_path %q exists: create it first (CREATE SCHEMA %s;), or set another in the DSN (options=-c%%20search_path%%3Dmyschema)",
		searchPath, first)
}

// analyzeQuery analyzes the table, and returns its rows as the new
// statistics count them.
const analyzeQuery = `ANALYZE lro_operation`

// tableRowsQuery returns the rows of lro_operation as its statistics count
// them: -1 if it was never analyzed (nor vacuumed), and whether it holds
// any row.
const tableRowsQuery = `SELECT c.reltuples::bigint, EXISTS (SELECT FROM lro_operation)
	FROM pg_class c WHERE c.oid = 'lro_operation'::regclass`

// analyzeIfNever analyzes lro_operation if it holds operations but was
// never analyzed (a database whose autovacuum is off), and returns its rows
// as its statistics count them.
func analyzeIfNever(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var (
		rows int64
		some bool
	)
	if err := conn.QueryRow(ctx, tableRowsQuery, pgx.QueryExecModeSimpleProtocol).Scan(&rows, &some); err != nil {
		return 0, err
	}
	if rows >= 0 || !some {
		return max(rows, 0), nil
	}
	if _, err := conn.Exec(ctx, analyzeQuery, pgx.QueryExecModeSimpleProtocol); err != nil {
		return 0, err
	}
	err := conn.QueryRow(ctx, tableRowsQuery, pgx.QueryExecModeSimpleProtocol).Scan(&rows, &some)
	return max(rows, 0), err
}

// inserted counts n operations inserted, and analyzes the table in the
// background once it has inserted twice as many as the table held at its
// last ANALYZE (see analyzeInsertsMin).
func (s *Store) inserted(n int) {
	if s.inserts.Add(int64(n)) < s.analyzeAfter.Load() || !s.analyzing.CompareAndSwap(false, true) {
		return
	}
	s.analyzeMu.Lock()
	defer s.analyzeMu.Unlock()
	if s.closed.Load() {
		return // and Close waits for no ANALYZE
	}
	s.analyzed.Add(1)
	go func() {
		defer s.analyzed.Done()
		defer s.analyzing.Store(false)
		s.inserts.Store(0)
		var rows int64
		err := s.pool.AcquireFunc(s.closing, func(c *pgxpool.Conn) error {
			if _, err := c.Exec(s.closing, analyzeQuery, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			var some bool
			return c.QueryRow(s.closing, tableRowsQuery, pgx.QueryExecModeSimpleProtocol).Scan(&rows, &some)
		})
		if err != nil {
			// Tried again after as many insertions: the store has no log,
			// and a store that fails says so in its other calls.
			return
		}
		s.analyzeAfter.Store(max(analyzeInsertsMin, 2*rows))
	}()
}

// Close stops Listen calls and, when the store was made by Open, closes its
// pool. Calls after Close return lrostore.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.close()
	s.analyzeMu.Lock() // an ANALYZE starts before this, or not at all
	s.analyzeMu.Unlock()
	s.analyzed.Wait()
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// driverErrors are pgx's and PostgreSQL's errors, for interpretError.
var driverErrors = storekit.Errors{
	NoRows:    pgx.ErrNoRows,
	Closed:    func(err error) bool { return errors.Is(err, puddle.ErrClosedPool) },
	Permanent: permanent,
}

// interpretError is the one place driver errors become store errors.
func interpretError(err error) error { return driverErrors.InterpretError(err) }

// permanent reports whether PostgreSQL refused the statement or its data
// for a reason that repeating it cannot change, by the class of its
// SQLSTATE: 0A feature not supported, 21 cardinality violation, 22 data
// exception (such as a NUL byte or invalid UTF-8 in text: 22021), 23
// integrity constraint violation, 42 syntax error or undefined object
// (but for 42501, a privilege that an operator may grant), 54 program
// limit exceeded (such as a row too big). Connection failures (08), lost
// transactions (40: serialization failures, deadlocks), a full disk or
// too many connections (53), shutdowns and cancelled statements (57) are
// not: they pass.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return false
	}
	switch pgErr.Code[:2] {
	case "0A", "21", "22", "23", "54":
		return true
	case "42":
		return pgErr.Code != "42501"
	}
	return false
}

// planned, passed as a statement's first argument, has PostgreSQL plan the
// statement for its arguments and the table as it is, at every execution:
// pgx sends it as an unnamed statement (its description cached), never as
// a prepared one whose generic plan PostgreSQL may keep. The statements that
// take it are those whose best plan depends on the table's contents or on
// the size of their arrays; point reads by ID and the insert (unnest, sort,
// insert: no plan to choose) go without, and keep their prepared plans. See
// "Plans" in the package documentation.
const planned = pgx.QueryExecModeCacheDescribe

// parseID returns the UUID of an operation ID in its canonical form (lower
// case, with hyphens), the only form the store holds: other strings name no
// operation.
//
// It returns a pgtype.UUID, which pgx binds directly (uuid.UUID goes
// through database/sql's Valuer, as text, at several times the cost).
func parseID(id string) (pgtype.UUID, bool) {
	u, err := uuid.Parse(id)
	return pgtype.UUID{Bytes: u, Valid: true}, err == nil && u.String() == id
}

// nowArg binds a params.Now: NULL for the zero time, which the statements
// replace with the database's now(), so that every node reads one clock.
func nowArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Truncate(time.Microsecond)
}

// micros binds a duration, added to a time in SQL as
// $n * interval '1 microsecond'.
func micros(d time.Duration) int64 { return d.Microseconds() }

func fromTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// columns are the operation's columns in the order scanOperation reads them,
// of the table under the alias o.
var columns = storekit.Columns("o.")

func scanOperation(row pgx.Row) (*lrostore.Operation, error) {
	return storekit.ScanOperation(row, fromTime, interpretError)
}

// briefColumns are the columns of a brief read (OperationGetParams.Brief),
// for scanBrief.
const briefColumns = storekit.BriefColumns

// scanBrief scans a row of the brief columns, after the leading columns
// that lead receives. The operation's ID is the caller's to set.
func scanBrief(row pgx.Row, lead ...any) (*lrostore.Operation, error) {
	return storekit.ScanBrief(row, fromTime, interpretError, lead...)
}

func scanOperations(rows pgx.Rows, err error) ([]*lrostore.Operation, error) {
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	return storekit.ScanOperations(rows, fromTime, interpretError)
}

// failureArgs binds a Failure as its status, code and message (made
// storable: text holds no NUL), all NULL for none.
func failureArgs(f *lrostore.Failure) (status []byte, code pgtype.Int4, message pgtype.Text) {
	status, c, m, ok := storekit.FailureColumns(f)
	return status, pgtype.Int4{Int32: c, Valid: ok}, pgtype.Text{String: m, Valid: ok}
}

// Notifications. Writes publish events with pg_notify in a CTE of their own
// statement, so that an event is sent if and only if the write commits; the
// final SELECT joins (SELECT count(*) FROM <cte>) so that PostgreSQL runs the
// CTE's every row. $1 is the channel in every statement that notifies.
//
// doneNotify publishes the IDs of the rows of cte that match cond as Done
// events, maxIDsPerEvent per notification; pendingNotify publishes one
// Pending event when a row matches.
func doneNotify(name, cte, cond string) string {
	return name + ` AS (
		SELECT pg_notify($1, '` + string(eventDone) + `' || string_agg(d.id::text, ','))
		FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / ` + strconv.Itoa(maxIDsPerEvent) + ` AS chunk
			FROM ` + cte + ` WHERE ` + cond + `) d
		GROUP BY d.chunk)`
}

func pendingNotify(name, cte, cond string) string {
	return name + ` AS (
		SELECT pg_notify($1, '` + string(eventPending) + `')
		FROM (SELECT FROM ` + cte + ` WHERE ` + cond + ` LIMIT 1) p)`
}

// checkOpen returns ErrClosed after Close.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return lrostore.ErrClosed
	}
	return nil
}

// insertQuery inserts the operations in the order of their (parent, request
// ID), and in input order among equals: the first of two inputs that share
// a request ID is inserted and the second is not, and concurrent batches
// wait for each other's request IDs in one order, so never in a cycle.
var insertQuery = storekit.States(`WITH ins AS (
		INSERT INTO lro_operation AS o (id, parent, kind, state, input, metadata, metadata_type, request_id,
			request_hash, max_attempts, attempt, lease_token, lease_owner, lease_expire_time, create_time, update_time)
		SELECT u.id, u.parent, u.kind, u.claimed::int, u.input, u.metadata, NULLIF(u.metadata_type, ''), NULLIF(u.request_id, ''),
			u.request_hash, u.max_attempts, u.claimed::int, u.claimed::int, NULLIF(u.lease_owner, ''),
			CASE WHEN u.claimed THEN t.now + u.lease_ttl * interval '1 microsecond' END, t.now, t.now
		FROM (SELECT *, lease_owner <> '' AS claimed
				FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::text[], $8::text[], $9::bytea[],
					$10::integer[], $12::text[], $13::bigint[])
				WITH ORDINALITY AS u(id, parent, kind, input, metadata, metadata_type, request_id, request_hash, max_attempts,
					lease_owner, lease_ttl, ord)) u,
			(SELECT COALESCE($11::timestamptz, now()) AS now) t
		ORDER BY u.parent, NULLIF(u.request_id, ''), u.ord
		ON CONFLICT (parent, request_id) WHERE request_id IS NOT NULL DO NOTHING
		RETURNING o.id, o.state, o.create_time
	), ` + pendingNotify("pending", "ins", "ins.state = {pending}") + `
	SELECT ins.id, ins.create_time FROM ins, (SELECT count(*) FROM pending) n`)

// OperationInsertMany implements lrostore.Store. It inserts in one
// statement, then reads in a second the operations that hold the request
// IDs of inputs that were not inserted. The inserted rows are built here
// rather than read back: every column is given or a default, but for the
// creation time, which may be the database's clock, and is returned.
func (s *Store) OperationInsertMany(ctx context.Context, params *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	results := make([]*lrostore.OperationInsertResult, len(params.Operations))
	if len(params.Operations) == 0 {
		return results, nil
	}
	byID := make(map[string]int, len(params.Operations))
	for i, p := range params.Operations {
		if _, ok := parseID(p.ID); !ok {
			return nil, fmt.Errorf("lropgx: operation ID %q is not a lower-case UUID", p.ID)
		}
		byID[p.ID] = i
	}
	pending := params.Operations
	// An input not inserted because its request ID was taken reads the
	// operation that took it. Should that one be deleted in between, the
	// input is inserted again: the loop ends when every input has a result.
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == 3 {
			return nil, errors.New("lropgx: insert: request IDs kept changing hands")
		}
		n := len(pending)
		var (
			ids            = make([]pgtype.UUID, n)
			parents, kinds = make([]string, n), make([]string, n)
			inputs, metas  = make([][]byte, n), make([][]byte, n)
			metaTypes      = make([]string, n)
			requestIDs     = make([]string, n)
			hashes         = make([][]byte, n)
			maxAttempts    = make([]int32, n)
			owners         = make([]string, n)
			ttls           = make([]int64, n)
		)
		for i, p := range pending {
			ids[i] = pgtype.UUID{Bytes: uuid.MustParse(p.ID), Valid: true}
			parents[i], kinds[i], inputs[i], metas[i] = p.Parent, p.Kind, p.Input, p.Metadata
			metaTypes[i], requestIDs[i], hashes[i], maxAttempts[i] = p.MetadataType, p.RequestID, p.RequestHash, p.MaxAttempts
			owners[i], ttls[i] = p.LeaseOwner, p.LeaseTTL.Microseconds()
		}
		rows, err := s.pool.Query(ctx, insertQuery, s.channel, ids, parents, kinds, inputs, metas,
			metaTypes, requestIDs, hashes, maxAttempts, nowArg(params.Now), owners, ttls)
		if err != nil {
			return nil, interpretError(err)
		}
		var (
			id      pgtype.UUID
			created pgtype.Timestamptz
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &created}, func() error {
			i := byID[uuid.UUID(id.Bytes).String()]
			results[i] = &lrostore.OperationInsertResult{Operation: params.Operations[i].Inserted(fromTime(created))}
			return nil
		})
		if err != nil {
			return nil, interpretError(err)
		}
		var missed []*lrostore.OperationInsertParams
		for _, p := range pending {
			if results[byID[p.ID]] == nil {
				if p.RequestID == "" {
					return nil, fmt.Errorf("lropgx: insert %s: not inserted", p.ID)
				}
				missed = append(missed, p)
			}
		}
		if len(missed) == 0 {
			break
		}
		parents, requestIDs = parents[:0], requestIDs[:0]
		for _, p := range missed {
			parents, requestIDs = append(parents, p.Parent), append(requestIDs, p.RequestID)
		}
		existing, err := scanOperations(s.pool.Query(ctx, `SELECT `+columns+` FROM lro_operation o
			WHERE (o.parent, o.request_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, planned, parents, requestIDs))
		if err != nil {
			return nil, err
		}
		type key struct{ parent, requestID string }
		holders := make(map[key]*lrostore.Operation, len(existing))
		for _, op := range existing {
			holders[key{op.Parent, op.RequestID}] = op
		}
		pending = pending[:0:0]
		for _, p := range missed {
			if op := holders[key{p.Parent, p.RequestID}]; op != nil {
				results[byID[p.ID]] = &lrostore.OperationInsertResult{Operation: op, Existing: true}
			} else {
				pending = append(pending, p)
			}
		}
	}
	s.inserted(len(params.Operations))
	return results, nil
}

// OperationGet implements lrostore.Store.
func (s *Store) OperationGet(ctx context.Context, params *lrostore.OperationGetParams) (*lrostore.Operation, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	id, ok := parseID(params.ID)
	if !ok {
		return nil, lrostore.ErrNotFound
	}
	if params.Brief {
		op, err := s.briefGets.Do(ctx, id)
		switch {
		case err == nil && op == nil:
			return nil, lrostore.ErrNotFound
		case err != nil && ctx.Err() == nil && s.closed.Load():
			return nil, lrostore.ErrClosed // a shared read ended by Close
		case err != nil:
			return nil, err
		}
		op.ID = params.ID
		return op, nil
	}
	return readTwice(s, func() (*lrostore.Operation, error) {
		return scanOperation(s.pool.QueryRow(ctx, getQuery, id))
	})
}

// The point reads by ID: prepared, with one generic plan each.
var (
	getQuery      = `SELECT ` + columns + ` FROM lro_operation o WHERE o.id = $1`
	briefGetQuery = `SELECT ` + briefColumns + ` FROM lro_operation WHERE id = $1`
)

// briefGetMax is the most brief reads that share a statement (see "Shared
// reads" in the package documentation).
const briefGetMax = 16

// briefGetManyQuery reads up to briefGetMax operations by ID. Its list has
// a fixed length (a short batch repeats its last ID), so that it is one
// prepared statement with one generic plan.
var briefGetManyQuery = func() string {
	var b strings.Builder
	b.WriteString(`SELECT id, ` + briefColumns + ` FROM lro_operation WHERE id IN (`)
	for i := range briefGetMax {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(")")
	return b.String()
}()

// briefGetMany is the function of the store's batch.Group of brief reads:
// for each ID, the operation, or nil if there is none.
func (s *Store) briefGetMany(ctx context.Context, ids []pgtype.UUID) ([]*lrostore.Operation, error) {
	return readTwice(s, func() ([]*lrostore.Operation, error) {
		out := make([]*lrostore.Operation, len(ids))
		if len(ids) == 1 {
			op, err := scanBrief(s.pool.QueryRow(ctx, briefGetQuery, ids[0]))
			if errors.Is(err, lrostore.ErrNotFound) {
				return out, nil
			}
			out[0] = op
			return out, err
		}
		if len(ids) > briefGetMax {
			return nil, fmt.Errorf("lropgx: %d brief reads in one statement, more than %d", len(ids), briefGetMax)
		}
		args := make([]any, briefGetMax)
		for i := range args {
			args[i] = ids[min(i, len(ids)-1)]
		}
		rows, err := s.pool.Query(ctx, briefGetManyQuery, args...)
		if err != nil {
			return nil, interpretError(err)
		}
		defer rows.Close()
		found := make(map[[16]byte]*lrostore.Operation, len(ids))
		for rows.Next() {
			var id pgtype.UUID
			op, err := scanBrief(rows, &id)
			if err != nil {
				return nil, err
			}
			found[id.Bytes] = op
		}
		if err := rows.Err(); err != nil {
			return nil, interpretError(err)
		}
		for i, id := range ids {
			op := found[id.Bytes]
			if op == nil {
				continue
			}
			if slices.ContainsFunc(ids[:i], func(u pgtype.UUID) bool { return u.Bytes == id.Bytes }) {
				op = cloneBrief(op) // each caller owns its operation
			}
			out[i] = op
		}
		return out, nil
	})
}

// cloneBrief returns a copy of a brief read that shares no memory with it.
func cloneBrief(op *lrostore.Operation) *lrostore.Operation {
	cp := *op
	cp.Metadata, cp.Response = slices.Clone(op.Metadata), slices.Clone(op.Response)
	if op.Error != nil {
		e := *op.Error
		e.Status = slices.Clone(e.Status)
		cp.Error = &e
	}
	return &cp
}

// readTwice runs a read, and runs it once more if it failed because its
// connection was lost (after the database restarted, every pooled
// connection that was in use recently is dead, and pgxpool pings only
// those idle for a second). The pool is reset first, so that the other dead
// connections go too. Writes are not repeated here: the client retries what
// it must, under its leases.
func readTwice[T any](s *Store, read func() (T, error)) (T, error) {
	v, err := read()
	if err != nil && connectionLost(err) {
		s.pool.Reset()
		v, err = read()
	}
	return v, err
}

// connectionLost reports whether err says that the connection died: the
// server shut it down, or it broke.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "08006" // admin or crash shutdown; connection failure
	case pgconn.SafeToRetry(err):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// nameExpr is an operation's full name in SQL, for filters on name. Its
// collation is "C", as that of parent, so that names compare byte-wise.
const nameExpr = `((CASE WHEN parent = '' THEN 'operations/' ELSE parent || '/operations/' END || id::text) COLLATE "C")`

// dialect compiles filters for PostgreSQL.
var dialect = filter.Dialect{
	Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
	NameExpr:    nameExpr,
	TimeArg:     func(t time.Time) any { return t },
}

// OperationList implements lrostore.Store.
func (s *Store) OperationList(ctx context.Context, params *lrostore.OperationListParams) ([]*lrostore.Operation, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if storekit.NoneSelected(params.Limit) {
		return nil, nil
	}
	args := []any{params.Parent}
	cols := columns
	if params.Brief {
		cols = `o.id, ` + briefColumns
	}
	query := ` FROM lro_operation o WHERE o.parent = $1`
	if params.BeforeID != "" {
		before, ok := parseID(params.BeforeID)
		if !ok {
			return nil, fmt.Errorf("lropgx: list: BeforeID %q is not an operation ID", params.BeforeID)
		}
		query += ` AND o.id < $2`
		args = append(args, before)
	}
	if params.Filter != nil {
		where, filterArgs := filter.SQL(params.Filter, dialect, len(args)+1)
		query += ` AND (` + where + `)`
		args = append(args, filterArgs...)
	}
	query += ` ORDER BY o.id DESC LIMIT $` + strconv.Itoa(len(args)+1)
	args = append(args, params.Limit)
	if params.MaxBytes > 0 {
		// Each row carries the size of the rows before it, and those
		// after the one that spends MaxBytes are left out: PostgreSQL
		// reads their sizes (from the TOAST pointers of large values,
		// without fetching them), but sends them neither to lro nor
		// through the network.
		size := `36 + octet_length(o.parent) + coalesce(octet_length(o.metadata), 0) +
			coalesce(octet_length(o.response), 0) + coalesce(octet_length(o.error), 0)`
		if !params.Brief {
			size += ` + octet_length(o.input)`
		}
		query = ` FROM (SELECT o.*, sum(` + size + `) OVER (ORDER BY o.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS read_before` +
			query + `) o WHERE o.read_before IS NULL OR o.read_before <= $` + strconv.Itoa(len(args)+1) + ` ORDER BY o.id DESC`
		args = append(args, params.MaxBytes)
	}
	query = `SELECT ` + cols + query
	return readTwice(s, func() ([]*lrostore.Operation, error) {
		rows, err := s.pool.Query(ctx, query, append([]any{planned}, args...)...)
		if !params.Brief {
			return scanOperations(rows, err)
		}
		if err != nil {
			return nil, interpretError(err)
		}
		defer rows.Close()
		var ops []*lrostore.Operation
		for rows.Next() {
			var id string
			op, err := scanBrief(rows, &id)
			if err != nil {
				return nil, err
			}
			op.ID = id
			ops = append(ops, op)
		}
		return ops, interpretError(rows.Err())
	})
}

// claimQuery takes the oldest pending operations of the given kinds: the
// oldest of each kind through lro_operation_pending_kind, then the oldest of
// those, skipping rows that another claim locked. Rows locked but not taken
// are unlocked when the statement ends.
//
// Its plan must not depend on statistics, which may say that most rows are
// pending long after most are done (an ANALYZE during a burst of starts):
//   - Each kind's rows are taken by a range on kind, in (kind, id) order,
//     which only the pending index gives. With kind = k.kind and ORDER BY
//     id, the primary key gives that order too, and with such statistics
//     PostgreSQL walked it from the oldest operation, skipping every done
//     one (a second a claim with 700,000 done).
//   - The update finds the rows picked by ID through an array, looked up in
//     the primary key: joined with the CTE instead, they were found by a
//     sequential scan of the table.
var claimQuery = storekit.States(`WITH picked AS (
		SELECT p.id FROM unnest($1::text[]) k(kind) CROSS JOIN LATERAL (
			SELECT id FROM lro_operation
			WHERE state = {pending} AND kind >= k.kind AND kind <= k.kind
			ORDER BY kind, id LIMIT $2
			FOR UPDATE SKIP LOCKED
		) p
		ORDER BY p.id LIMIT $2
	)
	UPDATE lro_operation o SET state = {running}, attempt = o.attempt + 1, lease_token = o.lease_token + 1,
		lease_owner = $3, lease_expire_time = t.now + $4::bigint * interval '1 microsecond', update_time = t.now
	FROM (SELECT COALESCE($5::timestamptz, now()) AS now) t
	WHERE o.id = ANY (ARRAY(SELECT id FROM picked))
	RETURNING ` + columns)

// OperationClaim implements lrostore.Store.
func (s *Store) OperationClaim(ctx context.Context, params *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if storekit.NoneSelected(params.Max) || len(params.Kinds) == 0 {
		return nil, nil
	}
	ops, err := scanOperations(s.pool.Query(ctx, claimQuery, planned, params.Kinds, params.Max, params.Owner,
		micros(params.LeaseTTL), nowArg(params.Now)))
	if err != nil {
		return nil, err
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	return ops, nil
}

// leaseArgs binds leases as parallel arrays of IDs and tokens, once each
// and without those whose ID names no operation (they hold nothing). first
// is the index in leases of each bound lease; index, that of every lease's
// first occurrence.
func leaseArgs(leases []lrostore.Lease) (ids []pgtype.UUID, tokens []int64, first []int, index map[lrostore.Lease]int) {
	index = make(map[lrostore.Lease]int, len(leases))
	for i, l := range leases {
		if _, seen := index[l]; seen {
			continue
		}
		id, ok := parseID(l.ID)
		if !ok {
			continue
		}
		index[l] = i
		ids, tokens, first = append(ids, id), append(tokens, l.Token), append(first, i)
	}
	return ids, tokens, first, index
}

// heldLeases returns the CTE "held" of the operations whose lease is among
// the arrays of IDs and tokens bound at placeholders $ids and $ids+1, and
// still held. It locks them in ID order, so that two statements on
// overlapping leases (a heartbeat and a finish of one node, say) wait for
// each other in one order, never in a cycle.
func heldLeases(ids int) string {
	return storekit.States(`held AS (
		SELECT o.id, o.lease_token FROM lro_operation o
		JOIN unnest($` + strconv.Itoa(ids) + `::uuid[], $` + strconv.Itoa(ids+1) + `::bigint[]) AS l(id, token)
			ON o.id = l.id AND o.lease_token = l.token
		WHERE o.state = {running}
		ORDER BY o.id
		FOR NO KEY UPDATE OF o
	)`)
}

// OperationHeartbeat implements lrostore.Store. The results are in the
// order of the leases.
func (s *Store) OperationHeartbeat(ctx context.Context, params *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ids, tokens, _, index := leaseArgs(params.Leases)
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH `+heldLeases(1)+`
		UPDATE lro_operation o SET lease_expire_time = COALESCE($3::timestamptz, now()) + $4::bigint * interval '1 microsecond'
		FROM held WHERE o.id = held.id
		RETURNING o.id, o.lease_token, o.cancel_requested`, planned,
		ids, tokens, nowArg(params.Now), micros(params.LeaseTTL))
	if err != nil {
		return nil, interpretError(err)
	}
	renewed := make([]*lrostore.OperationHeartbeatResult, len(params.Leases))
	var l lrostore.Lease
	var cancel bool
	_, err = pgx.ForEachRow(rows, []any{&l.ID, &l.Token, &cancel}, func() error {
		renewed[index[l]] = &lrostore.OperationHeartbeatResult{ID: l.ID, CancelRequested: cancel}
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	var results []*lrostore.OperationHeartbeatResult
	for _, r := range renewed {
		if r != nil {
			results = append(results, r)
		}
	}
	return results, nil
}

// OperationSetMetadataMany implements lrostore.Store. Of several updates of
// one lease, the last is written, and all report whether it was.
func (s *Store) OperationSetMetadataMany(ctx context.Context, params *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	written := make([]bool, len(params.Updates))
	leases := make([]lrostore.Lease, len(params.Updates))
	last := make(map[lrostore.Lease]*lrostore.OperationSetMetadataParams, len(params.Updates))
	for i, u := range params.Updates {
		leases[i] = u.Lease
		last[u.Lease] = u
	}
	ids, tokens, first, _ := leaseArgs(leases)
	if len(ids) == 0 {
		return written, nil
	}
	metas, types := make([][]byte, len(ids)), make([]string, len(ids))
	for i, j := range first {
		u := last[leases[j]]
		metas[i], types[i] = u.Metadata, u.MetadataType
	}
	rows, err := s.pool.Query(ctx, `WITH `+heldLeases(1)+`
		UPDATE lro_operation o SET metadata = u.metadata, metadata_type = NULLIF(u.metadata_type, ''),
			update_time = COALESCE($5::timestamptz, now())
		FROM held, unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::text[]) AS u(id, token, metadata, metadata_type)
		WHERE o.id = held.id AND u.id = held.id AND u.token = held.lease_token
		RETURNING o.id, o.lease_token`, planned,
		ids, tokens, metas, types, nowArg(params.Now))
	if err != nil {
		return nil, interpretError(err)
	}
	held := map[lrostore.Lease]bool{}
	var l lrostore.Lease
	if _, err := pgx.ForEachRow(rows, []any{&l.ID, &l.Token}, func() error { held[l] = true; return nil }); err != nil {
		return nil, interpretError(err)
	}
	for i, l := range leases {
		written[i] = held[l]
	}
	return written, nil
}

// rules writes storekit's rules in PostgreSQL's SQL, of the table under
// the alias o.
var rules = storekit.Dialect{
	Prefix:  "o.",
	IsTrue:  func(column string) string { return column },
	IsFalse: func(column string) string { return "NOT " + column },
	True:    "true",
	Indent:  "\t\t\t",
}

// finishQuery ends the operations. f.state is the state asked for; a
// failure (3) of an operation whose cancellation was requested becomes a
// cancellation (4) with the CancelledError, $14 to $16.
var finishQuery = storekit.States(`WITH ` + heldLeases(2) + `, fin AS (
		UPDATE lro_operation o SET
			` + rules.FinishStateSet("f.state", storekit.FailureArgs{"f.error", "f.error_code", "f.error_message"},
	storekit.FailureArgs{"$14::bytea", "$15::integer", "$16::text"}) + `,
			response = f.response, response_type = NULLIF(f.response_type, ''),
			metadata = CASE WHEN f.set_metadata THEN f.metadata ELSE o.metadata END,
			metadata_type = CASE WHEN f.set_metadata THEN NULLIF(f.metadata_type, '') ELSE o.metadata_type END,
			lease_owner = NULL, lease_expire_time = NULL, update_time = t.now, end_time = t.now
		FROM held,
			unnest($2::uuid[], $3::bigint[], $4::smallint[], $5::bytea[], $6::integer[], $7::text[], $8::bytea[],
				$9::text[], $10::boolean[], $11::bytea[], $12::text[])
				AS f(id, token, state, error, error_code, error_message, response, response_type, set_metadata, metadata, metadata_type),
			(SELECT COALESCE($13::timestamptz, now()) AS now) t
		WHERE o.id = held.id AND f.id = held.id AND f.token = held.lease_token
		RETURNING o.id, o.lease_token, o.state
	), ` + doneNotify("done", "fin", "true") + `
	SELECT fin.* FROM fin, (SELECT count(*) FROM done) n`)

// OperationFinishMany implements lrostore.Store. Of several finishes of one
// lease, the first is written; the others find the lease lost.
func (s *Store) OperationFinishMany(ctx context.Context, params *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	results := make([]*lrostore.OperationFinishResult, len(params.Finishes))
	leases := make([]lrostore.Lease, len(params.Finishes))
	for i, f := range params.Finishes {
		leases[i] = f.Lease
		results[i] = &lrostore.OperationFinishResult{}
	}
	ids, tokens, first, index := leaseArgs(leases)
	if len(ids) == 0 {
		return results, nil
	}
	n := len(ids)
	var (
		states                   = make([]int16, n)
		errStatus, responses     = make([][]byte, n), make([][]byte, n)
		errCodes                 = make([]pgtype.Int4, n)
		errMessages              = make([]pgtype.Text, n)
		responseTypes, metaTypes = make([]string, n), make([]string, n)
		setMetadata              = make([]bool, n)
		metas                    = make([][]byte, n)
	)
	for i, j := range first {
		f := params.Finishes[j]
		states[i] = int16(f.State)
		errStatus[i], errCodes[i], errMessages[i] = failureArgs(f.Error)
		responses[i], responseTypes[i] = f.Response, f.ResponseType
		setMetadata[i], metas[i], metaTypes[i] = f.Metadata != nil, f.Metadata, f.MetadataType
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	rows, err := s.pool.Query(ctx, finishQuery, planned, s.channel, ids, tokens, states, errStatus, errCodes, errMessages,
		responses, responseTypes, setMetadata, metas, metaTypes, nowArg(params.Now), cStatus, cCode, cMessage)
	if err != nil {
		return nil, interpretError(err)
	}
	// Results go to each lease's first finish; the others stay unfinished.
	var l lrostore.Lease
	var state lrostore.State
	_, err = pgx.ForEachRow(rows, []any{&l.ID, &l.Token, &state}, func() error {
		results[index[l]] = &lrostore.OperationFinishResult{Finished: true, State: state}
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	return results, nil
}

// releaseQuery gives back held leases: the operations are pending again.
var releaseQuery = storekit.States(`WITH ` + heldLeases(2) + `, rel AS (
			UPDATE lro_operation o SET state = {pending}, attempt = greatest(o.attempt - 1, 0), lease_owner = NULL,
				lease_expire_time = NULL, update_time = COALESCE($4::timestamptz, now())
			FROM held WHERE o.id = held.id
			RETURNING o.id, o.lease_token
		), ` + pendingNotify("pending", "rel", "true") + `
		SELECT rel.* FROM rel, (SELECT count(*) FROM pending) n`)

// OperationReleaseMany implements lrostore.Store. The IDs are in the order of
// the leases.
func (s *Store) OperationReleaseMany(ctx context.Context, params *lrostore.OperationReleaseManyParams) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ids, tokens, _, index := leaseArgs(params.Leases)
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, releaseQuery, planned,
		s.channel, ids, tokens, nowArg(params.Now))
	if err != nil {
		return nil, interpretError(err)
	}
	released := make([]bool, len(params.Leases))
	var l lrostore.Lease
	if _, err := pgx.ForEachRow(rows, []any{&l.ID, &l.Token}, func() error { released[index[l]] = true; return nil }); err != nil {
		return nil, interpretError(err)
	}
	var out []string
	for i, ok := range released {
		if ok {
			out = append(out, params.Leases[i].ID)
		}
	}
	return out, nil
}

// rescueQuery handles the running operations whose lease expired first,
// skipping those that another rescue (or a write of their worker) holds.
var rescueQuery = storekit.States(`WITH expired AS (
		SELECT id FROM lro_operation
		WHERE state = {running} AND lease_expire_time < COALESCE($8::timestamptz, now())
		ORDER BY lease_expire_time LIMIT $9
		FOR UPDATE SKIP LOCKED
	), res AS (
		UPDATE lro_operation o SET
			` + rules.RescueSet(storekit.FailureArgs{"$2::bytea", "$3::integer", "$4::text"},
	storekit.FailureArgs{"$5::bytea", "$6::integer", "$7::text"}, "t.now") + `,
			lease_owner = NULL, lease_expire_time = NULL, update_time = t.now
		FROM expired, (SELECT COALESCE($8::timestamptz, now()) AS now) t
		WHERE o.id = expired.id
		RETURNING o.id, o.state
	), ` + pendingNotify("pending", "res", "state = {pending}") + `, ` + doneNotify("done", "res", "state >= {succeeded}") + `
	SELECT res.* FROM res, (SELECT count(*) FROM pending) p, (SELECT count(*) FROM done) d`)

// OperationRescue implements lrostore.Store. Retried and Ended are sorted.
func (s *Store) OperationRescue(ctx context.Context, params *lrostore.OperationRescueParams) (*lrostore.OperationRescueResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	result := &lrostore.OperationRescueResult{}
	if storekit.NoneSelected(params.Max) {
		return result, nil
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	xStatus, xCode, xMessage := failureArgs(params.ExhaustedError)
	rows, err := s.pool.Query(ctx, rescueQuery, planned, s.channel, cStatus, cCode, cMessage, xStatus, xCode, xMessage,
		nowArg(params.Now), params.Max)
	if err != nil {
		return nil, interpretError(err)
	}
	var id string
	var state lrostore.State
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		if state.Done() {
			result.Ended = append(result.Ended, id)
		} else {
			result.Retried = append(result.Retried, id)
		}
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	sort.Strings(result.Retried)
	sort.Strings(result.Ended)
	return result, nil
}

// cancelQuery cancels a pending operation and marks a running one, and
// publishes Done or CancelRequested with its ID.
var cancelQuery = storekit.States(`WITH c AS (
		UPDATE lro_operation o SET
			` + rules.CancelSet(storekit.FailureArgs{"$2::bytea", "$3::integer", "$4::text"}, "t.now") + `
		FROM (SELECT COALESCE($5::timestamptz, now()) AS now) t
		WHERE o.id = $6 AND o.parent = $7 AND o.state < {succeeded}
		RETURNING ` + columns + `
	), notified AS (
		SELECT pg_notify($1, CASE WHEN c.state = {cancelled} THEN '` + string(eventDone) + `' ELSE '` + string(eventCancelRequested) + `' END || c.id::text)
		FROM c
	)
	SELECT c.* FROM c, (SELECT count(*) FROM notified) n`)

// OperationCancel implements lrostore.Store. A done operation, which the
// update leaves alone, is read by a second statement, which sees the latest
// committed state.
func (s *Store) OperationCancel(ctx context.Context, params *lrostore.OperationCancelParams) (*lrostore.Operation, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	id, ok := parseID(params.ID)
	if !ok {
		return nil, lrostore.ErrNotFound
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	op, err := scanOperation(s.pool.QueryRow(ctx, cancelQuery, s.channel, cStatus, cCode, cMessage,
		nowArg(params.Now), id, params.Parent))
	if errors.Is(err, lrostore.ErrNotFound) {
		// Done already, or no such operation.
		op, err = scanOperation(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM lro_operation o
			WHERE o.id = $1 AND o.parent = $2`, id, params.Parent))
	}
	if err != nil {
		return nil, err
	}
	return op, nil
}

// deleteQuery deletes a done operation, and reads its state as it was.
var deleteQuery = storekit.States(`WITH del AS (
		DELETE FROM lro_operation WHERE id = $1 AND parent = $2 AND state >= {succeeded} RETURNING id
	)
	SELECT (SELECT count(*) FROM del), (SELECT state FROM lro_operation WHERE id = $1 AND parent = $2)`)

// OperationDelete implements lrostore.Store. One statement deletes the
// operation if it is done and reads its state as it was before, which tells
// a missing operation from one that is not done.
func (s *Store) OperationDelete(ctx context.Context, params *lrostore.OperationDeleteParams) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	id, ok := parseID(params.ID)
	if !ok {
		return lrostore.ErrNotFound
	}
	var deleted int64
	var state pgtype.Int2
	err := s.pool.QueryRow(ctx, deleteQuery, id, params.Parent).Scan(&deleted, &state)
	switch {
	case err != nil:
		return interpretError(err)
	case deleted > 0:
		return nil
	case state.Valid && !lrostore.State(state.Int16).Done():
		return lrostore.ErrNotDone
	}
	return lrostore.ErrNotFound // none, or deleted meanwhile
}

// OperationDeleteDoneBefore implements lrostore.Store. It skips operations
// that another deletion holds.
func (s *Store) OperationDeleteDoneBefore(ctx context.Context, params *lrostore.OperationDeleteDoneBeforeParams) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if storekit.NoneSelected(params.Max) {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM lro_operation WHERE id IN (
			SELECT id FROM lro_operation WHERE end_time IS NOT NULL AND end_time < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, planned, params.Before, params.Max)
	if err != nil {
		return 0, interpretError(err)
	}
	return int(tag.RowsAffected()), nil
}

// KeyGetOrCreate implements lrostore.Store. A no-op update on conflict makes
// RETURNING give the stored secret in one statement, also when another node
// stores one at the same time (a second statement would be needed to see it
// after DO NOTHING).
func (s *Store) KeyGetOrCreate(ctx context.Context, params *lrostore.KeyGetOrCreateParams) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var value []byte
	err := s.pool.QueryRow(ctx, `INSERT INTO lro_key AS k (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = k.value
		RETURNING k.value`, params.Name, params.New).Scan(&value)
	if err != nil {
		return nil, interpretError(err)
	}
	return value, nil
}

// WriteCheck implements lrostore.Store. The row it rewrites stays on one
// page: its old versions are pruned as the page fills (HOT updates), with
// or without autovacuum.
func (s *Store) WriteCheck(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO lro_key (name, value) VALUES ($1, convert_to(now()::text, 'UTF8'))
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, lrostore.WriteCheckKey)
	return interpretError(err)
}
