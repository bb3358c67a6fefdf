package lrosqlite

import (
	"context"
	"time"

	// the "sqlite" database/sql driver

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// nameExpr is an operation's full name in SQL, for filters on name.
const nameExpr = `(CASE WHEN parent = '' THEN 'operations/' ELSE parent || '/operations/' END || id)`

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
		query, scan := `SELECT `+briefColumns+` FROM lro_operation WHERE id = ?`, scanBrief
		if params.Live {
			query, scan = `SELECT `+storekit.LiveColumns+` FROM lro_operation WHERE id = ?`, scanLive
		}
		get, err := s.readStmt(ctx, query)
		if err != nil {
			return nil, interpretError(err)
		}
		op, err := scan(get.QueryRowContext(ctx, params.ID))
		if err != nil {
			return nil, err
		}
		op.ID = params.ID
		return op, nil
	}
	if params.Attempts {
		get, err := s.readStmt(ctx, `SELECT `+columns+`, `+storekit.AttemptsColumns("")+` FROM lro_operation WHERE id = ?`)
		if err != nil {
			return nil, interpretError(err)
		}
		return storekit.ScanOperationAttempts(get.QueryRowContext(ctx, params.ID), fromMicros, interpretError)
	}
	get, err := s.readStmt(ctx, `SELECT `+columns+` FROM lro_operation WHERE id = ?`)
	if err != nil {
		return nil, interpretError(err)
	}
	return scanOperation(get.QueryRowContext(ctx, params.ID))
}

// dialect compiles filters for SQLite.
var dialect = &lrostore.FilterDialect{
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
		where, filterArgs := params.Filter.SQL(dialect, len(args)+1)
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
