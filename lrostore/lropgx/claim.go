package lropgx

import (
	"context"
	"sort"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// claimQuery takes the oldest pending operations of the given kinds that
// are due: the oldest of each kind through lro_operation_pending_kind, and
// the first due of each kind through lro_operation_waiting_kind, then the
// oldest of those, skipping rows that another claim locked. Rows locked but not taken
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
//   - Delayed operations (not_before set) are in their own index,
//     lro_operation_waiting_kind, in (kind, not_before) order: a range on
//     kind and not_before <= now reads the due ones only, so that rows
//     still waiting cost a claim nothing, however many there are. The
//     operations that do not wait keep lro_operation_pending_kind to
//     themselves, and their claims read it as before.
var claimQuery = storekit.States(`WITH picked AS (
		SELECT p.id FROM unnest($1::text[]) k(kind) CROSS JOIN LATERAL (
			SELECT id FROM lro_operation
			WHERE state = {pending} AND not_before IS NULL AND kind >= k.kind AND kind <= k.kind
			ORDER BY kind, id LIMIT $2
			FOR UPDATE SKIP LOCKED
		) p
		UNION ALL
		SELECT p.id FROM unnest($1::text[]) k(kind) CROSS JOIN LATERAL (
			SELECT id FROM lro_operation
			WHERE state = {pending} AND not_before IS NOT NULL AND kind >= k.kind AND kind <= k.kind
				AND not_before <= COALESCE($5::timestamptz, now())
			ORDER BY kind, not_before, id LIMIT $2
			FOR UPDATE SKIP LOCKED
		) p
		ORDER BY id LIMIT $2
	)
	UPDATE lro_operation o SET state = {running}, attempt = o.attempt + 1, lease_token = o.lease_token + 1,
		lease_owner = $3, lease_expire_time = t.now + $4::bigint * interval '1 microsecond', update_time = t.now,
		not_before = NULL, ` + claimSet + `
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
