package lrosqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// countPendingQuery counts pending operations by kind through the two
// partial indexes of pending operations: those that run at once
// (lro_operation_pending, whose rows it then reads for their kind) and
// those that wait (lro_operation_waiting, which holds the kind). Running
// and done operations, most of the table, are not read.
const countPendingQuery = `SELECT kind, count(*) FROM (
		SELECT kind FROM lro_operation INDEXED BY lro_operation_pending WHERE state = 0 AND not_before IS NULL
		UNION ALL
		SELECT kind FROM lro_operation INDEXED BY lro_operation_waiting WHERE state = 0 AND not_before IS NOT NULL)
	GROUP BY kind`

// OperationCountPending implements lrostore.Store.
func (s *Store) OperationCountPending(ctx context.Context) (map[string]int64, error) {
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	return scanCounts(s.read.QueryContext(ctx, countPendingQuery))
}

// scanCounts scans the rows of a name and a count, as scanOperations
// scans operations.
func scanCounts(rows *sql.Rows, err error) (map[string]int64, error) {
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	return storekit.ScanCounts(rows, interpretError)
}

// latestVersion is the version of the last embedded migration, read once:
// the health checks ask for it every second.
var latestVersion = sync.OnceValues(func() (int, error) { return storekit.LatestVersion(migrations, "migration") })

// SchemaVersion implements lrostore.Store.
func (s *Store) SchemaVersion(ctx context.Context) (have, want int, err error) {
	if s.closed.Load() {
		return 0, 0, lrostore.ErrClosed
	}
	want, err = latestVersion()
	if err != nil {
		return 0, 0, fmt.Errorf("lrosqlite: %w", err)
	}
	var v sql.NullInt64
	if err := s.read.QueryRowContext(ctx, `SELECT max(version) FROM lro_migration`).Scan(&v); err != nil {
		return 0, want, interpretError(err)
	}
	return int(v.Int64), want, nil
}
