package lropgx

import (
	"context"
	"fmt"
	"sync"

	"lro.dev/lro/lrostore/internal/storekit"
)

// countPendingQuery counts pending operations by kind in two branches, one
// per partial index of pending operations (lro_operation_pending_kind for
// those that run at once, lro_operation_waiting_kind for those that wait),
// each an index-only scan whose leading column is the kind: no branch
// reads the rows of running or done operations.
const countPendingQuery = `SELECT kind, sum(n)::bigint FROM (
		SELECT kind, count(*) AS n FROM lro_operation WHERE state = 0 AND not_before IS NULL GROUP BY kind
		UNION ALL
		SELECT kind, count(*) AS n FROM lro_operation WHERE state = 0 AND not_before IS NOT NULL GROUP BY kind) AS p
	GROUP BY kind`

// OperationCountPending implements lrostore.Store.
func (s *Store) OperationCountPending(ctx context.Context) (map[string]int64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, countPendingQuery, planned)
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
	if err := s.checkOpen(); err != nil {
		return 0, 0, err
	}
	want, err = latestVersion()
	if err != nil {
		return 0, 0, fmt.Errorf("lropgx: %w", err)
	}
	var v *int32
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM lro_migration`).Scan(&v); err != nil {
		return 0, want, interpretError(err)
	}
	if v != nil {
		have = int(*v)
	}
	return have, want, nil
}
