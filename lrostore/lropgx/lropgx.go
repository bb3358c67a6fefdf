package lropgx

import (
	"context"
	"errors"
	"fmt"
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
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// ChannelDefault is the notification channel of a store opened without
// [WithChannel].
const ChannelDefault = "lro_events"

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

	// testSignals are moments of Listen that tests wait for.
	testSignals testSignals

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

// timeArg binds a time, NULL for the zero time.
func timeArg(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t.Truncate(time.Microsecond), Valid: !t.IsZero()}
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

// scanLive scans a row of storekit.LiveColumns, after the leading columns
// that lead receives.
func scanLive(row pgx.Row, lead ...any) (*lrostore.Operation, error) {
	return storekit.ScanLive(row, fromTime, interpretError, lead...)
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

// checkOpen returns ErrClosed after Close.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return lrostore.ErrClosed
	}
	return nil
}
