// Package lrosqlite is lro's embedded store: operations in one SQLite
// database file, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// The database runs in WAL mode with synchronous=FULL, so a committed write
// survives a power loss, and readers never wait for the writer. All writes go
// through one connection, one transaction at a time; lro batches its writes
// so that one commit carries many operations.
//
// One process uses a database file at a time: Open takes an exclusive lock
// on PATH.lock and fails while another process holds it. To run several lro
// nodes, use the PostgreSQL store.
//
// Open creates the database and its lock file with mode 0600 (owner only):
// they hold inputs, results and the page token key. SQLite gives the WAL
// and shared-memory files (PATH-wal, PATH-shm) the database file's mode.
package lrosqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite" // the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"lro.dev/lro/internal/filter"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

//go:embed migration/*.sql
var migrations embed.FS

// Store is an lrostore.Store on SQLite.
type Store struct {
	write  *sql.DB // one connection: SQLite has one writer
	read   *sql.DB // readers, concurrent under WAL
	lock   *os.File
	closed atomic.Bool

	// Statements are prepared once per connection and kept: parsing SQL
	// anew in every transaction took a sixth of the CPU of a busy server.
	stmtMu     sync.Mutex
	writeStmts map[string]*sql.Stmt
	readStmts  map[string]*sql.Stmt
}

var _ lrostore.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, and brings its schema
// up to date. The path ":memory:" opens a private in-memory database, for
// tests.
func Open(ctx context.Context, path string) (*Store, error) {
	s, _, _, err := open(ctx, path)
	return s, err
}

// Migrate creates or brings up to date the schema of the database at path,
// as Open does, closes it, and returns the schema's version before and
// after: from is 0 for a new database, and equals to when there was nothing
// to do.
func Migrate(ctx context.Context, path string) (from, to int, err error) {
	s, from, to, err := open(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	return from, to, s.Close()
}

// open is Open, and returns the schema's version before and after its
// migration.
func open(ctx context.Context, path string) (s *Store, from, to int, err error) {
	if path == "" {
		return nil, 0, 0, errors.New("lrosqlite: empty database path")
	}
	s = &Store{}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=case_sensitive_like(1)"
	if path == ":memory:" {
		// A private in-memory database lives in one connection, shared by
		// readers and the writer.
		db, err := sql.Open("sqlite", "file::memory:?"+pragmas)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("lrosqlite: open: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.write, s.read = db, db
	} else {
		lock, err := lockFile(path + ".lock")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, 0, fmt.Errorf("lrosqlite: cannot create the database %s: the directory %s does not exist", path, filepath.Dir(path))
		}
		if err != nil {
			return nil, 0, 0, err
		}
		s.lock = lock
		if err := createPrivate(path); err != nil {
			s.Close()
			return nil, 0, 0, err
		}
		base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas +
			"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
		s.write, err = sql.Open("sqlite", base+"&_txlock=immediate")
		if err == nil {
			s.read, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
		}
		if err != nil {
			s.Close()
			return nil, 0, 0, fmt.Errorf("lrosqlite: open %s: %w", path, err)
		}
		s.write.SetMaxOpenConns(1)
		s.write.SetConnMaxIdleTime(0)
		s.write.SetConnMaxLifetime(0)
		s.read.SetMaxOpenConns(8)
		s.read.SetMaxIdleConns(8)
	}
	if from, to, err = s.migrate(ctx); err != nil {
		s.Close()
		return nil, 0, 0, err
	}
	if err := s.prepareWrites(ctx); err != nil {
		s.Close()
		return nil, 0, 0, err
	}
	return s, from, to, nil
}

// lockFile takes an exclusive advisory lock, so that two processes never
// share one database (lro's leases and wake-ups assume one process).
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lrosqlite: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lrosqlite: %s is in use by another process (one process per SQLite database; use PostgreSQL for several nodes)", strings.TrimSuffix(path, ".lock"))
		}
		return nil, fmt.Errorf("lrosqlite: lock %s: %w", path, err)
	}
	return f, nil
}

// createPrivate creates the database file, empty, readable and writable by
// its owner only, unless it exists. It holds inputs, results and the page
// token key; SQLite would create it with mode 0644, and it gives the WAL
// and shared-memory files it makes later the database file's mode. An
// existing file keeps the mode it has.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("lrosqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// migrate applies the migrations that the lro_migration table does not
// list, in one transaction, and returns the schema's version before and
// after.
func (s *Store) migrate(ctx context.Context) (from, to int, err error) {
	all, err := storekit.Migrations(migrations, "migration")
	if err != nil {
		return 0, 0, fmt.Errorf("lrosqlite: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		from, to, err = storekit.Migrate(ctx, migrationTx{tx}, all)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("lrosqlite: migrate: %w", err)
	}
	return from, to, nil
}

// migrationTx is storekit.MigrationTx on SQLite. Its lro_migration keeps
// applied_time as Unix microseconds, as the store keeps every time.
type migrationTx struct{ tx *sql.Tx }

func (m migrationTx) Applied(ctx context.Context, all []storekit.Migration) ([]int, error) {
	if _, err := m.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS lro_migration (
		version INTEGER PRIMARY KEY NOT NULL, applied_time INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '')`); err != nil {
		return nil, err
	}
	// The table of older versions had no name.
	var named int
	if err := m.tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('lro_migration') WHERE name = 'name'`).Scan(&named); err != nil {
		return nil, err
	}
	if named == 0 {
		if _, err := m.tx.ExecContext(ctx, `ALTER TABLE lro_migration ADD COLUMN name TEXT NOT NULL DEFAULT ''`); err != nil {
			return nil, err
		}
		for _, mig := range all {
			if _, err := m.tx.ExecContext(ctx, `UPDATE lro_migration SET name = ? WHERE version = ?`, mig.Name, mig.Version); err != nil {
				return nil, err
			}
		}
	}
	rows, err := m.tx.QueryContext(ctx, `SELECT version FROM lro_migration`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var applied []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied = append(applied, v)
	}
	return applied, rows.Err()
}

func (m migrationTx) Apply(ctx context.Context, mig storekit.Migration) error {
	if _, err := m.tx.ExecContext(ctx, mig.Body); err != nil {
		return err
	}
	_, err := m.tx.ExecContext(ctx, `INSERT INTO lro_migration (version, name, applied_time) VALUES (?, ?, ?)`,
		mig.Version, mig.Name, time.Now().UnixMicro())
	return err
}

// Close closes the database and releases the file lock.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	s.stmtMu.Lock()
	for _, cache := range []map[string]*sql.Stmt{s.writeStmts, s.readStmts} {
		for _, stmt := range cache {
			errs = append(errs, stmt.Close())
		}
	}
	s.writeStmts, s.readStmts = nil, nil
	s.stmtMu.Unlock()
	if s.read != nil && s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return lrostore.ErrClosed
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return interpretError(err)
	}
	return interpretError(tx.Commit())
}

// prepared returns the statement for query on db, preparing it on first use.
// The lock is not held while preparing, which may wait for a connection.
func (s *Store) prepared(ctx context.Context, db *sql.DB, cache *map[string]*sql.Stmt, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	stmt := (*cache)[query]
	s.stmtMu.Unlock()
	if stmt != nil {
		return stmt, nil
	}
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if kept := (*cache)[query]; kept != nil {
		stmt.Close() // prepared meanwhile by another call
		return kept, nil
	}
	if *cache == nil {
		*cache = map[string]*sql.Stmt{}
	}
	(*cache)[query] = stmt
	return stmt, nil
}

// txStmt returns the statement for query in tx: the one prepared at Open
// when query is one of writeQueries, else one prepared for tx alone. (The
// writer pool has one connection, which tx holds: preparing on the pool
// here would wait for ever.)
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	stmt := s.writeStmts[query]
	s.stmtMu.Unlock()
	if stmt == nil {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, stmt), nil
}

// prepareWrites prepares the statements of the write paths once, on the
// writer's connection.
func (s *Store) prepareWrites(ctx context.Context) error {
	for _, query := range writeQueries {
		if _, err := s.prepared(ctx, s.write, &s.writeStmts, query); err != nil {
			return fmt.Errorf("lrosqlite: prepare: %w", err)
		}
	}
	return nil
}

// txQuery runs the kept statement for query in tx.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	stmt, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// readStmt returns the kept statement for query on the readers.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return s.prepared(ctx, s.read, &s.readStmts, query)
}

// driverErrors are database/sql's and SQLite's errors, for interpretError.
var driverErrors = storekit.Errors{
	NoRows: sql.ErrNoRows,
	Closed: func(err error) bool {
		return errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "database is closed")
	},
	Permanent: permanent,
}

// interpretError is the one place driver errors become store errors.
func interpretError(err error) error { return driverErrors.InterpretError(err) }

// permanent reports whether SQLite refused the statement or its data for a
// reason that repeating it cannot change: a string or blob over its size
// limit (SQLITE_TOOBIG), a constraint (SQLITE_CONSTRAINT), a type mismatch
// (SQLITE_MISMATCH), a parameter out of range (SQLITE_RANGE), an error in
// the statement itself (SQLITE_ERROR: no such table, syntax). A busy or
// locked database, I/O errors, a full disk, a read-only file and an
// interrupted statement are not: they pass.
func permanent(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary result code of an extended one
	case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE, sqlite3.SQLITE_ERROR:
		return true
	}
	return false
}

func now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// Times are stored as Unix microseconds; NULL is the zero time.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// columns are the operation's columns in the order scanOperation reads them.
var columns = storekit.Columns("")

// rules writes storekit's rules in SQLite's SQL.
var rules = storekit.Dialect{
	IsTrue:  func(column string) string { return column + " = 1" },
	IsFalse: func(column string) string { return column + " = 0" },
	True:    "1",
	Indent:  "\t\t\t\t",
}

// The statements of the write paths, prepared once at Open.
var (
	insertQuery = storekit.States(`INSERT INTO lro_operation
			(id, parent, kind, state, input, metadata, metadata_type, request_id, request_hash, max_attempts,
				attempt, lease_token, lease_owner, lease_expire_time, create_time, update_time)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?4, ?4, ?11, ?12, ?13, ?13)
			ON CONFLICT (parent, request_id) WHERE request_id IS NOT NULL DO NOTHING`)
	heartbeatQuery = storekit.States(`UPDATE lro_operation SET lease_expire_time = ?
			WHERE id = ? AND lease_token = ? AND state = {running} RETURNING cancel_requested`)
	setMetadataQuery = storekit.States(`UPDATE lro_operation SET metadata = ?, metadata_type = ?, update_time = ?
			WHERE id = ? AND lease_token = ? AND state = {running}`)
	finishQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.FinishStateSet("?1", storekit.FailureArgs{"?5", "?6", "?7"}, storekit.FailureArgs{"?2", "?3", "?4"}) + `,
				response = ?8, response_type = ?9,
				metadata = CASE WHEN ?10 THEN ?11 ELSE metadata END,
				metadata_type = CASE WHEN ?10 THEN ?12 ELSE metadata_type END,
				lease_owner = NULL, lease_expire_time = NULL, update_time = ?13, end_time = ?13
			WHERE id = ?14 AND lease_token = ?15 AND state = {running}`)
	// finishFailureQuery is finishQuery for failures, which may become
	// cancellations: it returns the state written.
	finishFailureQuery = finishQuery + ` RETURNING state`
	releaseQuery       = storekit.States(`UPDATE lro_operation
			SET state = {pending}, attempt = max(attempt - 1, 0), lease_owner = NULL, lease_expire_time = NULL, update_time = ?
			WHERE id = ? AND lease_token = ? AND state = {running}`)
	claimQuery = storekit.States(`UPDATE lro_operation
			SET state = {running}, attempt = attempt + 1, lease_token = lease_token + 1, lease_owner = ?,
				lease_expire_time = ?, update_time = ?
			WHERE id IN (
				SELECT id FROM lro_operation
				WHERE state = {pending} AND kind IN (SELECT value FROM json_each(?))
				ORDER BY id LIMIT ?)
			RETURNING ` + columns)
	rescueQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.RescueSet(storekit.FailureArgs{"?1", "?2", "?3"}, storekit.FailureArgs{"?4", "?5", "?6"}, "?7") + `,
				lease_owner = NULL, lease_expire_time = NULL, update_time = ?7
			WHERE id IN (
				SELECT id FROM lro_operation WHERE state = {running} AND lease_expire_time < ?7
				ORDER BY lease_expire_time LIMIT ?8)
			RETURNING id, state`)
)

var writeQueries = []string{insertQuery, heartbeatQuery, setMetadataQuery, finishQuery, finishFailureQuery, releaseQuery, claimQuery, rescueQuery}

// nameExpr is an operation's full name in SQL, for filters on name.
const nameExpr = `(CASE WHEN parent = '' THEN 'operations/' ELSE parent || '/operations/' END || id)`

type scanner = storekit.Row

func scanOperation(row scanner) (*lrostore.Operation, error) {
	return storekit.ScanOperation(row, fromMicros, interpretError)
}

// briefColumns are the columns of a brief read (OperationGetParams.Brief),
// for scanBrief.
const briefColumns = storekit.BriefColumns

// scanBrief scans a row of the brief columns, after the leading columns
// that lead receives. The operation's ID is the caller's to set.
func scanBrief(row scanner, lead ...any) (*lrostore.Operation, error) {
	return storekit.ScanBrief(row, fromMicros, interpretError, lead...)
}

func scanOperations(rows *sql.Rows, err error) ([]*lrostore.Operation, error) {
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	return storekit.ScanOperations(rows, fromMicros, interpretError)
}

// failureArgs binds a Failure as its status, code and message, all NULL
// for none.
func failureArgs(f *lrostore.Failure) (status, code, message any) {
	st, c, m, ok := storekit.FailureColumns(f)
	if !ok {
		return nil, nil, nil
	}
	return st, c, m
}

// OperationInsertMany implements lrostore.Store.
func (s *Store) OperationInsertMany(ctx context.Context, params *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	t := now(params.Now).UnixMicro()
	created := time.UnixMicro(t).UTC()
	results := make([]*lrostore.OperationInsertResult, len(params.Operations))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		insert, err := s.txStmt(ctx, tx, insertQuery)
		if err != nil {
			return err
		}
		defer insert.Close()
		for i, p := range params.Operations {
			// The inserted row is built here rather than read back: every
			// column is either given or a default.
			op := p.Inserted(created)
			var expire any
			if p.LeaseOwner != "" {
				expire = op.LeaseExpireTime.UnixMicro()
			}
			res, err := insert.ExecContext(ctx, p.ID, p.Parent, p.Kind, int(op.State), p.Input, p.Metadata,
				nullString(p.MetadataType), nullString(p.RequestID), p.RequestHash, p.MaxAttempts,
				nullString(p.LeaseOwner), expire, t)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				if p.RequestID == "" {
					return fmt.Errorf("lrosqlite: insert %s: not inserted", p.ID)
				}
				// The request ID is taken: return the operation that took it.
				op, err = scanOperation(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM lro_operation
					WHERE parent = ? AND request_id = ?`, p.Parent, p.RequestID))
				if err != nil {
					return err
				}
				results[i] = &lrostore.OperationInsertResult{Operation: op, Existing: true}
				continue
			}
			results[i] = &lrostore.OperationInsertResult{Operation: op}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// OperationGet implements lrostore.Store.
func (s *Store) OperationGet(ctx context.Context, params *lrostore.OperationGetParams) (*lrostore.Operation, error) {
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A read by primary key takes microseconds: too short to be worth
	// interrupting. A context that can be cancelled would cost two
	// goroutines per call (database/sql's and the driver's watchers).
	ctx = context.WithoutCancel(ctx)
	if params.Brief {
		get, err := s.readStmt(ctx, `SELECT `+briefColumns+` FROM lro_operation WHERE id = ?`)
		if err != nil {
			return nil, interpretError(err)
		}
		op, err := scanBrief(get.QueryRowContext(ctx, params.ID))
		if err != nil {
			return nil, err
		}
		op.ID = params.ID
		return op, nil
	}
	get, err := s.readStmt(ctx, `SELECT `+columns+` FROM lro_operation WHERE id = ?`)
	if err != nil {
		return nil, interpretError(err)
	}
	return scanOperation(get.QueryRowContext(ctx, params.ID))
}

// dialect compiles filters for SQLite.
var dialect = filter.Dialect{
	Placeholder: func(int) string { return "?" },
	NameExpr:    nameExpr,
	TimeArg:     func(t time.Time) any { return t.UnixMicro() },
	Like:        func(expr, pattern string) string { return expr + ` LIKE ` + pattern + ` ESCAPE '\'` },
}

// OperationList implements lrostore.Store.
func (s *Store) OperationList(ctx context.Context, params *lrostore.OperationListParams) ([]*lrostore.Operation, error) {
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	if storekit.NoneSelected(params.Limit) {
		return nil, nil
	}
	args := []any{params.Parent}
	cols := columns
	if params.Brief {
		cols = `id, ` + briefColumns
	}
	query := `SELECT ` + cols + ` FROM lro_operation WHERE parent = ?`
	if params.BeforeID != "" {
		query += ` AND id < ?`
		args = append(args, params.BeforeID)
	}
	if params.Filter != nil {
		where, filterArgs := filter.SQL(params.Filter, dialect, len(args)+1)
		query += ` AND (` + where + `)`
		args = append(args, filterArgs...)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, params.Limit)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var (
		ops  []*lrostore.Operation
		read int
	)
	// Rows are read one at a time: those after the one that spends
	// MaxBytes are never read.
	for (params.MaxBytes <= 0 || read <= params.MaxBytes) && rows.Next() {
		var op *lrostore.Operation
		if params.Brief {
			var id string
			op, err = scanBrief(rows, &id)
			if op != nil {
				op.ID = id
			}
		} else {
			op, err = scanOperation(rows)
		}
		if err != nil {
			return nil, err
		}
		read += op.Size()
		ops = append(ops, op)
	}
	return ops, interpretError(rows.Err())
}

// OperationClaim implements lrostore.Store.
func (s *Store) OperationClaim(ctx context.Context, params *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	if storekit.NoneSelected(params.Max) || len(params.Kinds) == 0 {
		return nil, nil
	}
	kinds, err := json.Marshal(params.Kinds)
	if err != nil {
		return nil, err
	}
	var ops []*lrostore.Operation
	t := now(params.Now)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ops, err = scanOperations(s.txQuery(ctx, tx, claimQuery,
			params.Owner, t.Add(params.LeaseTTL).UnixMicro(), t.UnixMicro(), string(kinds), params.Max))
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	return ops, nil
}

// OperationHeartbeat implements lrostore.Store.
func (s *Store) OperationHeartbeat(ctx context.Context, params *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	if len(params.Leases) == 0 {
		return nil, nil
	}
	var results []*lrostore.OperationHeartbeatResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		renew, err := s.txStmt(ctx, tx, heartbeatQuery)
		if err != nil {
			return err
		}
		defer renew.Close()
		expire := now(params.Now).Add(params.LeaseTTL).UnixMicro()
		for _, l := range params.Leases {
			var cancel int64
			err := renew.QueryRowContext(ctx, expire, l.ID, l.Token).Scan(&cancel)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			results = append(results, &lrostore.OperationHeartbeatResult{ID: l.ID, CancelRequested: cancel != 0})
		}
		return nil
	})
	return results, err
}

// OperationSetMetadataMany implements lrostore.Store.
func (s *Store) OperationSetMetadataMany(ctx context.Context, params *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	written := make([]bool, len(params.Updates))
	t := now(params.Now).UnixMicro()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		update, err := s.txStmt(ctx, tx, setMetadataQuery)
		if err != nil {
			return err
		}
		defer update.Close()
		for i, u := range params.Updates {
			res, err := update.ExecContext(ctx, u.Metadata, nullString(u.MetadataType), t, u.Lease.ID, u.Lease.Token)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			written[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

// OperationFinishMany implements lrostore.Store.
func (s *Store) OperationFinishMany(ctx context.Context, params *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	results := make([]*lrostore.OperationFinishResult, len(params.Finishes))
	t := now(params.Now).UnixMicro()
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// ?1 is the state asked for; a failure (3) of an operation whose
		// cancellation was requested becomes a cancellation (4).
		finish, err := s.txStmt(ctx, tx, finishQuery)
		if err != nil {
			return err
		}
		defer finish.Close()
		var finishFailure *sql.Stmt // prepared for the first failure
		for i, f := range params.Finishes {
			eStatus, eCode, eMessage := failureArgs(f.Error)
			args := []any{int(f.State), cStatus, cCode, cMessage, eStatus, eCode, eMessage,
				f.Response, nullString(f.ResponseType), f.Metadata != nil, f.Metadata, nullString(f.MetadataType),
				t, f.Lease.ID, f.Lease.Token}
			if f.State != lrostore.StateFailed {
				// The state asked for is the state written.
				res, err := finish.ExecContext(ctx, args...)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				results[i] = &lrostore.OperationFinishResult{Finished: n == 1}
				if n == 1 {
					results[i].State = f.State
				}
				continue
			}
			if finishFailure == nil {
				if finishFailure, err = s.txStmt(ctx, tx, finishFailureQuery); err != nil {
					return err
				}
				defer finishFailure.Close()
			}
			var state lrostore.State
			err := finishFailure.QueryRowContext(ctx, args...).Scan(&state)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				results[i] = &lrostore.OperationFinishResult{}
			case err != nil:
				return err
			default:
				results[i] = &lrostore.OperationFinishResult{Finished: true, State: state}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// OperationReleaseMany implements lrostore.Store.
func (s *Store) OperationReleaseMany(ctx context.Context, params *lrostore.OperationReleaseManyParams) ([]string, error) {
	var released []string
	t := now(params.Now).UnixMicro()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		release, err := s.txStmt(ctx, tx, releaseQuery)
		if err != nil {
			return err
		}
		defer release.Close()
		for _, l := range params.Leases {
			res, err := release.ExecContext(ctx, t, l.ID, l.Token)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				released = append(released, l.ID)
			}
		}
		return nil
	})
	return released, err
}

// OperationRescue implements lrostore.Store.
func (s *Store) OperationRescue(ctx context.Context, params *lrostore.OperationRescueParams) (*lrostore.OperationRescueResult, error) {
	t := now(params.Now).UnixMicro()
	result := &lrostore.OperationRescueResult{}
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	if storekit.NoneSelected(params.Max) {
		return result, nil
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	xStatus, xCode, xMessage := failureArgs(params.ExhaustedError)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := s.txQuery(ctx, tx, rescueQuery, cStatus, cCode, cMessage, xStatus, xCode, xMessage, t, params.Max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var state lrostore.State
			if err := rows.Scan(&id, &state); err != nil {
				return err
			}
			if state.Done() {
				result.Ended = append(result.Ended, id)
			} else {
				result.Retried = append(result.Retried, id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(result.Retried)
	sort.Strings(result.Ended)
	return result, nil
}

// cancelQuery cancels a pending operation and marks a running one.
var cancelQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.CancelSet(storekit.FailureArgs{"?1", "?2", "?3"}, "?4") + `
			WHERE id = ?5 AND parent = ?6 AND state < {succeeded}
			RETURNING ` + columns)

// OperationCancel implements lrostore.Store.
func (s *Store) OperationCancel(ctx context.Context, params *lrostore.OperationCancelParams) (*lrostore.Operation, error) {
	t := now(params.Now).UnixMicro()
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	var op *lrostore.Operation
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		op, err = scanOperation(tx.QueryRowContext(ctx, cancelQuery, cStatus, cCode, cMessage, t, params.ID, params.Parent))
		if errors.Is(err, lrostore.ErrNotFound) {
			// Done already, or no such operation.
			op, err = scanOperation(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM lro_operation
				WHERE id = ? AND parent = ?`, params.ID, params.Parent))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return op, nil
}

// OperationDelete implements lrostore.Store.
func (s *Store) OperationDelete(ctx context.Context, params *lrostore.OperationDeleteParams) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var state lrostore.State
		if err := tx.QueryRowContext(ctx, `SELECT state FROM lro_operation WHERE id = ? AND parent = ?`,
			params.ID, params.Parent).Scan(&state); err != nil {
			return err
		}
		if !state.Done() {
			return lrostore.ErrNotDone
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM lro_operation WHERE id = ?`, params.ID)
		return err
	})
}

// OperationDeleteDoneBefore implements lrostore.Store.
func (s *Store) OperationDeleteDoneBefore(ctx context.Context, params *lrostore.OperationDeleteDoneBeforeParams) (int, error) {
	if s.closed.Load() {
		return 0, lrostore.ErrClosed
	}
	if storekit.NoneSelected(params.Max) {
		return 0, nil
	}
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM lro_operation WHERE id IN (
			SELECT id FROM lro_operation WHERE end_time IS NOT NULL AND end_time < ? LIMIT ?)`,
			params.Before.UnixMicro(), params.Max)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// KeyGetOrCreate implements lrostore.Store.
func (s *Store) KeyGetOrCreate(ctx context.Context, params *lrostore.KeyGetOrCreateParams) ([]byte, error) {
	var value []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lro_key (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			params.Name, params.New); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM lro_key WHERE name = ?`, params.Name).Scan(&value)
	})
	return value, err
}

// WriteCheck implements lrostore.Store.
func (s *Store) WriteCheck(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO lro_key (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
			lrostore.WriteCheckKey, time.Now().UTC().AppendFormat(nil, time.RFC3339Nano))
		return err
	})
}
