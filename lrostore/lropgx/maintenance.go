package lropgx

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// rescueQuery handles the running operations whose lease expired first,
// skipping those that another rescue (or a write of their worker) holds.
var rescueQuery = storekit.States(`WITH expired AS (
		SELECT id FROM lro_operation
		WHERE state = {running} AND lease_expire_time < COALESCE($8::timestamptz, now())
		ORDER BY lease_expire_time LIMIT $9
		FOR UPDATE SKIP LOCKED
	), res AS (
		UPDATE lro_operation o SET
			` + rules.RescueSet(storekit.FailureArgs{"$2::bytea", "$3::integer", "$4::text"},
	storekit.FailureArgs{"$5::bytea", "$6::integer", "$7::text"}, "t.now") + `,
			` + closeAttempt("t.now_ms", `CASE WHEN o.cancel_requested THEN $10::text WHEN o.attempt < o.max_attempts THEN '`+lostEnd+`'
				ELSE $11::text END`) + `,
			lease_owner = NULL, lease_expire_time = NULL, update_time = t.now
		FROM expired, (SELECT n.now, ` + millis("n.now") + ` AS now_ms FROM (SELECT COALESCE($8::timestamptz, now()) AS now) n) t
		WHERE o.id = expired.id
		RETURNING o.id, o.state
	), ` + pendingNotify("pending", "res", "state = {pending}") + `, ` + doneNotify("done", "res", "state >= {succeeded}") + `
	SELECT res.* FROM res, (SELECT count(*) FROM pending) p, (SELECT count(*) FROM done) d`)

// OperationRescue implements lrostore.Store. Retried and Ended are sorted.
func (s *Store) OperationRescue(ctx context.Context, params *lrostore.OperationRescueParams) (*lrostore.OperationRescueResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	result := &lrostore.OperationRescueResult{}
	if storekit.NoneSelected(params.Max) {
		return result, nil
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	xStatus, xCode, xMessage := failureArgs(params.ExhaustedError)
	rows, err := s.pool.Query(ctx, rescueQuery, planned, s.channel, cStatus, cCode, cMessage, xStatus, xCode, xMessage,
		nowArg(params.Now), params.Max, storekit.AttemptEnd(lrostore.OutcomeLost, params.CancelledError),
		storekit.AttemptEnd(lrostore.OutcomeLost, params.ExhaustedError))
	if err != nil {
		return nil, interpretError(err)
	}
	var id string
	var state lrostore.State
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		if state.Done() {
			result.Ended = append(result.Ended, id)
		} else {
			result.Retried = append(result.Retried, id)
		}
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	sort.Strings(result.Retried)
	sort.Strings(result.Ended)
	return result, nil
}

// OperationDeleteDoneBefore implements lrostore.Store. It skips operations
// that another deletion holds.
func (s *Store) OperationDeleteDoneBefore(ctx context.Context, params *lrostore.OperationDeleteDoneBeforeParams) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if storekit.NoneSelected(params.Max) {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM lro_operation WHERE id IN (
			SELECT id FROM lro_operation WHERE end_time IS NOT NULL AND end_time < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, planned, params.Before, params.Max)
	if err != nil {
		return 0, interpretError(err)
	}
	return int(tag.RowsAffected()), nil
}

// KeyGetOrCreate implements lrostore.Store. A no-op update on conflict makes
// RETURNING give the stored secret in one statement, also when another node
// stores one at the same time (a second statement would be needed to see it
// after DO NOTHING).
func (s *Store) KeyGetOrCreate(ctx context.Context, params *lrostore.KeyGetOrCreateParams) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var value []byte
	err := s.pool.QueryRow(ctx, `INSERT INTO lro_key AS k (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = k.value
		RETURNING k.value`, params.Name, params.New).Scan(&value)
	if err != nil {
		return nil, interpretError(err)
	}
	return value, nil
}

// WriteCheck implements lrostore.Store. The row it rewrites stays on one
// page: its old versions are pruned as the page fills (HOT updates), with
// or without autovacuum.
func (s *Store) WriteCheck(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO lro_key (name, value) VALUES ($1, convert_to(now()::text, 'UTF8'))
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, lrostore.WriteCheckKey)
	return interpretError(err)
}
