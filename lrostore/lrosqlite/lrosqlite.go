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
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite" // the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

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

// nullMicros binds a time as Unix microseconds, NULL for the zero time.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// columns are the operation's columns in the order scanOperation reads them.
var columns = storekit.Columns("")

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

// scanLive scans a row of storekit.LiveColumns.
func scanLive(row scanner, _ ...any) (*lrostore.Operation, error) {
	return storekit.ScanLive(row, fromMicros, interpretError)
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
