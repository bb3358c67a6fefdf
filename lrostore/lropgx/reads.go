package lropgx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

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
		if !params.Live {
			op.Attempt, op.LastError, op.Deadline = 0, nil, time.Time{}
		}
		return op, nil
	}
	if params.Attempts {
		return readTwice(s, func() (*lrostore.Operation, error) {
			return storekit.ScanOperationAttempts(s.pool.QueryRow(ctx, getAttemptsQuery, id), fromTime, interpretError)
		})
	}
	return readTwice(s, func() (*lrostore.Operation, error) {
		return scanOperation(s.pool.QueryRow(ctx, getQuery, id))
	})
}

// The point reads by ID: prepared, with one generic plan each.
var (
	getQuery = `SELECT ` + columns + ` FROM lro_operation o WHERE o.id = $1`
	// getAttemptsQuery is getQuery with the attempt history.
	getAttemptsQuery = `SELECT ` + columns + `, ` + storekit.AttemptsColumns("o.") + ` FROM lro_operation o WHERE o.id = $1`
	// Brief reads are shared by callers that want a live read and others
	// (see "Shared reads"): they read the live columns, which cost pgx
	// little, and OperationGet leaves them out for the others.
	briefGetQuery = `SELECT ` + storekit.LiveColumns + ` FROM lro_operation WHERE id = $1`
)

// briefGetMax is the most brief reads that share a statement (see "Shared
// reads" in the package documentation).
const briefGetMax = 16

// briefGetManyQuery reads up to briefGetMax operations by ID. Its list has
// a fixed length (a short batch repeats its last ID), so that it is one
// prepared statement with one generic plan.
var briefGetManyQuery = func() string {
	var b strings.Builder
	b.WriteString(`SELECT id, ` + storekit.LiveColumns + ` FROM lro_operation WHERE id IN (`)
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
			op, err := scanLive(s.pool.QueryRow(ctx, briefGetQuery, ids[0]))
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
			op, err := scanLive(rows, &id)
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
	if op.LastError != nil {
		e := *op.LastError
		e.Status = slices.Clone(e.Status)
		cp.LastError = &e
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
var dialect = &lrostore.FilterDialect{
	Placeholder:  func(n int) string { return "$" + strconv.Itoa(n) },
	NameExpr:     nameExpr,
	TimeArg:      func(t time.Time) any { return t },
	PostgresJSON: true,
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
		where, filterArgs := params.Filter.SQL(dialect, len(args)+1)
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
