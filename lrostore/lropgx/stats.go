package lropgx

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// OperationCountByState implements lrostore.Store. Its GROUP BY scans the
// table.
func (s *Store) OperationCountByState(ctx context.Context) (map[string]map[lrostore.State]int64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, state, count(*) FROM lro_operation GROUP BY kind, state`)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	return storekit.ScanKindStateCounts(rows, interpretError)
}

// microsOf is a timestamptz expression in unix microseconds.
func microsOf(t string) string { return `(extract(epoch FROM ` + t + `) * 1000000)::bigint` }

// The statements of KindStats: $1 is the kind, $2 the window's start in
// unix microseconds, $3 the bucket's length in microseconds; the attempt
// records hold milliseconds.
var (
	kindCountsQuery = `SELECT state, count(*) FROM lro_operation WHERE kind = $1 GROUP BY state`
	// kindEndsQuery counts the ends by bucket through lro_operation_end,
	// from $4 to $5.
	kindEndsQuery = `SELECT (` + microsOf("end_time") + ` - $2::bigint) / $3::bigint AS b, state, count(*)
		FROM lro_operation
		WHERE end_time >= $4 AND end_time < $5 AND kind = $1
		GROUP BY 1, 2`
	// kindClaimsQuery counts the claims of the operations that may hold
	// one in the window: those not done, and those done since it started,
	// $5 (through lro_operation_end); $4 is the window's end in
	// microseconds. Their claims are the records of the column attempts
	// and the current claim in the columns claim_time and due_time (see
	// storekit's attempts.go), as milliseconds.
	kindClaimsQuery = storekit.States(`SELECT (a.s * 1000 - $2::bigint) / $3::bigint AS b, count(*),
			sum(a.s - a.d)::bigint, max(a.s - a.d)::bigint
		FROM (SELECT attempts, claim_time, due_time FROM lro_operation
			WHERE kind = $1 AND state < {succeeded} AND (attempts IS NOT NULL OR claim_time IS NOT NULL)
			UNION ALL
			SELECT attempts, claim_time, due_time FROM lro_operation
			WHERE end_time >= $5 AND kind = $1 AND (attempts IS NOT NULL OR claim_time IS NOT NULL)) o
		CROSS JOIN LATERAL (
			SELECT CASE WHEN jsonb_typeof(e.v -> 's') = 'number' THEN (e.v ->> 's')::numeric::bigint END AS s,
				CASE WHEN jsonb_typeof(e.v -> 'd') = 'number' THEN (e.v ->> 'd')::numeric::bigint
					WHEN jsonb_typeof(e.v -> 's') = 'number' THEN (e.v ->> 's')::numeric::bigint END AS d
			FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.attempts) = 'array' THEN o.attempts ELSE '[]'::jsonb END) e(v)
			UNION ALL
			SELECT ` + millis("o.claim_time") + `, ` + millis("COALESCE(o.due_time, o.claim_time)") + `
			WHERE o.claim_time IS NOT NULL) a
		WHERE a.s * 1000 >= $2::bigint AND a.s * 1000 < $4::bigint
		GROUP BY 1`)
	kindPastDeadlineQuery = storekit.States(`SELECT id, NULL::text, ` + storekit.LiveColumns + ` FROM lro_operation
		WHERE deadline IS NOT NULL AND state < {succeeded} AND deadline < $2 AND kind = $1
		ORDER BY deadline LIMIT $3`)
	kindLeaseExpiringQuery = storekit.States(`SELECT id, lease_owner, ` + storekit.LiveColumns + ` FROM lro_operation
		WHERE state = {running} AND lease_expire_time < $2 AND kind = $1
		ORDER BY lease_expire_time LIMIT $3`)
)

// KindStats implements lrostore.Store. Its statements run in one
// read-only transaction at the repeatable read level, so that they see one
// state of the database.
func (s *Store) KindStats(ctx context.Context, params *lrostore.KindStatsParams) (*lrostore.KindStats, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := params.Validate(); err != nil {
		return nil, err
	}
	since, until, bucket := params.Since.UnixMicro(), params.Until.UnixMicro(), params.Bucket.Microseconds()
	stats := &lrostore.KindStats{Counts: map[lrostore.State]int64{}, Buckets: storekit.KindStatsBuckets(params)}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		scan := func(scan func(pgx.Rows) error, query string, args ...any) error {
			rows, err := tx.Query(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			return scan(rows)
		}
		if err := scan(func(rows pgx.Rows) error { return storekit.ScanStateCounts(rows, stats.Counts) },
			kindCountsQuery, params.Kind); err != nil {
			return err
		}
		if err := scan(func(rows pgx.Rows) error { return storekit.ScanEnds(rows, stats.Buckets) },
			kindEndsQuery, params.Kind, since, bucket, params.Since, params.Until); err != nil {
			return err
		}
		if err := scan(func(rows pgx.Rows) error { return storekit.ScanClaims(rows, stats.Buckets) },
			kindClaimsQuery, params.Kind, since, bucket, until, params.Since); err != nil {
			return err
		}
		if err := scan(func(rows pgx.Rows) (err error) { stats.PastDeadline, err = liveList(rows); return err },
			kindPastDeadlineQuery, params.Kind, params.Until, params.Limit); err != nil {
			return err
		}
		return scan(func(rows pgx.Rows) (err error) { stats.LeaseExpiring, err = liveList(rows); return err },
			kindLeaseExpiringQuery, params.Kind, params.Until.Add(params.LeaseExpiringWithin), params.Limit)
	})
	if err != nil {
		return nil, interpretError(err)
	}
	return stats, nil
}

// liveList scans rows of an ID, a lease owner and storekit.LiveColumns.
func liveList(rows pgx.Rows) ([]*lrostore.Operation, error) {
	var ops []*lrostore.Operation
	for rows.Next() {
		var id pgtype.UUID
		var owner pgtype.Text
		op, err := storekit.ScanLive(rows, fromTime, func(err error) error { return err }, &id, &owner)
		if err != nil {
			return nil, err
		}
		op.ID, op.LeaseOwner = uuid.UUID(id.Bytes).String(), owner.String
		ops = append(ops, op)
	}
	return ops, rows.Err()
}
