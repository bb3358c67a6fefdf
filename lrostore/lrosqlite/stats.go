package lrosqlite

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5/pgtype"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// OperationCountByState implements lrostore.Store. Its GROUP BY scans the
// table.
func (s *Store) OperationCountByState(ctx context.Context) (map[string]map[lrostore.State]int64, error) {
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	return scanKindStateCounts(s.read.QueryContext(ctx, `SELECT kind, state, count(*) FROM lro_operation GROUP BY kind, state`))
}

// scanKindStateCounts scans the rows of a kind, a state and a count, as
// scanCounts scans counts by name.
func scanKindStateCounts(rows *sql.Rows, err error) (map[string]map[lrostore.State]int64, error) {
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	return storekit.ScanKindStateCounts(rows, interpretError)
}

// The statements of KindStats. Times are microseconds but in the attempt
// records, which hold milliseconds.
var (
	kindCountsQuery = `SELECT state, count(*) FROM lro_operation WHERE kind = ?1 GROUP BY state`
	// kindEndsQuery counts the ends by bucket through lro_operation_end.
	kindEndsQuery = `SELECT (end_time - ?2) / ?3 AS b, state, count(*) FROM lro_operation INDEXED BY lro_operation_end
		WHERE end_time >= ?2 AND end_time < ?4 AND kind = ?1
		GROUP BY b, state`
	// kindClaimsQuery counts the claims of the operations that may hold
	// one in the window: those not done, and those done since it started
	// (through lro_operation_end). Their claims are the records of the
	// column attempts and the current claim in the columns claim_time and
	// due_time (see storekit's attempts.go), as milliseconds.
	kindClaimsQuery = storekit.States(`SELECT (a.s * 1000 - ?2) / ?3 AS b, count(*), sum(a.s - a.d), max(a.s - a.d)
		FROM (SELECT CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.s') END AS s,
				CASE WHEN j.type = 'object' THEN coalesce(json_extract(j.value, '$.d'), json_extract(j.value, '$.s')) END AS d
			FROM (SELECT attempts FROM lro_operation WHERE kind = ?1 AND state < {succeeded} AND attempts IS NOT NULL
				UNION ALL
				SELECT attempts FROM lro_operation INDEXED BY lro_operation_end
				WHERE end_time >= ?2 AND kind = ?1 AND attempts IS NOT NULL) o,
				json_each(CASE WHEN json_valid(o.attempts) AND json_type(o.attempts) = 'array' THEN o.attempts ELSE '[]' END) j
			UNION ALL
			SELECT c.claim_time / 1000, coalesce(c.due_time, c.claim_time) / 1000
			FROM (SELECT claim_time, due_time FROM lro_operation WHERE kind = ?1 AND state < {succeeded} AND claim_time IS NOT NULL
				UNION ALL
				SELECT claim_time, due_time FROM lro_operation INDEXED BY lro_operation_end
				WHERE end_time >= ?2 AND kind = ?1 AND claim_time IS NOT NULL) c) a
		WHERE typeof(a.s) = 'integer' AND a.s * 1000 >= ?2 AND a.s * 1000 < ?4
		GROUP BY b`)
	kindPastDeadlineQuery = storekit.States(`SELECT id, ` + storekit.LiveColumns + ` FROM lro_operation
		WHERE deadline IS NOT NULL AND state < {succeeded} AND deadline < ?2 AND kind = ?1
		ORDER BY deadline LIMIT ?3`)
	kindLeaseExpiringQuery = storekit.States(`SELECT id, lease_owner, ` + storekit.LiveColumns + ` FROM lro_operation
		WHERE state = {running} AND lease_expire_time < ?2 AND kind = ?1
		ORDER BY lease_expire_time LIMIT ?3`)
)

// KindStats implements lrostore.Store. Its statements run in one read
// transaction, so that they see one state of the database.
func (s *Store) KindStats(ctx context.Context, params *lrostore.KindStatsParams) (*lrostore.KindStats, error) {
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	if err := params.Validate(); err != nil {
		return nil, err
	}
	since, until, bucket := params.Since.UnixMicro(), params.Until.UnixMicro(), params.Bucket.Microseconds()
	stats := &lrostore.KindStats{Counts: map[lrostore.State]int64{}, Buckets: storekit.KindStatsBuckets(params)}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback() // a read: nothing to keep
	err = func() error {
		if err := scanRows(tx.QueryContext(ctx, kindCountsQuery, params.Kind))(func(rows *sql.Rows) error {
			return storekit.ScanStateCounts(rows, stats.Counts)
		}); err != nil {
			return err
		}
		if err := scanRows(tx.QueryContext(ctx, kindEndsQuery, params.Kind, since, bucket, until))(func(rows *sql.Rows) error {
			return storekit.ScanEnds(rows, stats.Buckets)
		}); err != nil {
			return err
		}
		if err := scanRows(tx.QueryContext(ctx, kindClaimsQuery, params.Kind, since, bucket, until))(func(rows *sql.Rows) error {
			return storekit.ScanClaims(rows, stats.Buckets)
		}); err != nil {
			return err
		}
		if stats.PastDeadline, err = liveList(tx.QueryContext(ctx, kindPastDeadlineQuery, params.Kind, until, params.Limit)); err != nil {
			return err
		}
		stats.LeaseExpiring, err = liveList(tx.QueryContext(ctx, kindLeaseExpiringQuery,
			params.Kind, params.Until.Add(params.LeaseExpiringWithin).UnixMicro(), params.Limit))
		return err
	}()
	if err != nil {
		return nil, interpretError(err)
	}
	return stats, nil
}

// scanRows returns a function that scans the rows of a query with scan,
// and closes them.
func scanRows(rows *sql.Rows, err error) func(scan func(*sql.Rows) error) error {
	return func(scan func(*sql.Rows) error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		return scan(rows)
	}
}

// liveList scans rows of an ID, the lease owner when the query reads it,
// and storekit.LiveColumns.
func liveList(rows *sql.Rows, err error) ([]*lrostore.Operation, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	withOwner := len(cols) > 1 && cols[1] == "lease_owner"
	var ops []*lrostore.Operation
	for rows.Next() {
		var id string
		var owner pgtype.Text
		lead := []any{&id}
		if withOwner {
			lead = append(lead, &owner)
		}
		op, err := storekit.ScanLive(rows, fromMicros, func(err error) error { return err }, lead...)
		if err != nil {
			return nil, err
		}
		op.ID, op.LeaseOwner = id, owner.String
		ops = append(ops, op)
	}
	return ops, rows.Err()
}
