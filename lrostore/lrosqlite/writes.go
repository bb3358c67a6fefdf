package lrosqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	// the "sqlite" database/sql driver

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

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
				attempt, lease_token, lease_owner, lease_expire_time, create_time, update_time, metadata_json, not_before, deadline,
				trace_context, claim_time, claim_owner, due_time)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?4, ?4, ?11, ?12, ?13, ?13, ?14, ?, ?, ?,
				CASE WHEN ?11 IS NOT NULL THEN ?13 END, ?11, CASE WHEN ?11 IS NOT NULL THEN ?13 END)
			ON CONFLICT (parent, request_id) WHERE request_id IS NOT NULL DO NOTHING`)
	heartbeatQuery = storekit.States(`UPDATE lro_operation SET lease_expire_time = ?
			WHERE id = ? AND lease_token = ? AND state = {running} RETURNING cancel_requested`)
	setMetadataQuery = storekit.States(`UPDATE lro_operation SET metadata = ?, metadata_type = ?, update_time = ?, metadata_json = ?
			WHERE id = ? AND lease_token = ? AND state = {running}`)
	finishQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.FinishStateSet("?1", storekit.FailureArgs{"?5", "?6", "?7"}, storekit.FailureArgs{"?2", "?3", "?4"}) + `,
				response = ?8, response_type = ?9,
				metadata = CASE WHEN ?10 THEN ?11 ELSE metadata END,
				metadata_type = CASE WHEN ?10 THEN ?12 ELSE metadata_type END,
				metadata_json = CASE WHEN ?10 THEN ?16 ELSE metadata_json END,
				response_json = ?17,
				lease_owner = NULL, lease_expire_time = NULL, update_time = ?13, end_time = ?13
			WHERE id = ?14 AND lease_token = ?15 AND state = {running}`)
	// finishReturningQuery is finishQuery for failures, which may become
	// cancellations, and for finishes that ask for the creation time: it
	// returns the state written and the creation time.
	finishReturningQuery = finishQuery + ` RETURNING state, create_time`
	// retryQuery puts an operation back to pending after a failed attempt
	// (storekit's RetrySet), or cancels it; it returns the state written
	// and the creation time.
	retryQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.RetrySet(storekit.FailureArgs{"?1", "?2", "?3"}, "?4", "?5", "?9") + `,
				metadata = CASE WHEN ?6 THEN ?7 ELSE metadata END,
				metadata_type = CASE WHEN ?6 THEN ?8 ELSE metadata_type END,
				metadata_json = CASE WHEN ?6 THEN ?12 ELSE metadata_json END,
				` + closeAttempt("?9", `CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'retry' END`,
		`CASE WHEN cancel_requested = 1 THEN ?2 ELSE ?13 END`, `CASE WHEN cancel_requested = 1 THEN ?15 ELSE ?14 END`) + `,
				lease_owner = NULL, lease_expire_time = NULL, update_time = ?9
			WHERE id = ?10 AND lease_token = ?11 AND state = {running}
			RETURNING state, create_time`)
	releaseQuery = storekit.States(`UPDATE lro_operation
			SET state = {pending}, attempt = max(attempt - 1, 0),
				` + closeAttempt("?1", `'released'`, "NULL", "NULL") + `,
				lease_owner = NULL, lease_expire_time = NULL, update_time = ?1
			WHERE id = ?2 AND lease_token = ?3 AND state = {running}`)
	// The claim takes the oldest pending operations that do not wait,
	// through lro_operation_pending, and the first due of those that wait,
	// through lro_operation_waiting, a range per kind on not_before <= now:
	// rows still waiting cost it nothing. Its parameters are anonymous
	// (?, not ?NNN), repeated in the arguments: the driver allocates the
	// name of each named one at each execution.
	claimQuery = storekit.States(`UPDATE lro_operation
			SET state = {running}, attempt = attempt + 1, lease_token = lease_token + 1, lease_owner = ?,
				lease_expire_time = ?, update_time = ?, ` + claimSet + `, not_before = NULL
			WHERE id IN (
				SELECT id FROM (
					SELECT id FROM lro_operation
					WHERE state = {pending} AND not_before IS NULL AND kind IN (SELECT value FROM json_each(?))
					ORDER BY id LIMIT ?)
				UNION ALL
				SELECT id FROM (
					SELECT id FROM lro_operation INDEXED BY lro_operation_waiting
					WHERE state = {pending} AND not_before IS NOT NULL AND kind IN (SELECT value FROM json_each(?))
						AND not_before <= ?
					ORDER BY not_before LIMIT ?)
				ORDER BY id LIMIT ?)
			RETURNING ` + columns)
	rescueQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.RescueSet(storekit.FailureArgs{"?1", "?2", "?3"}, storekit.FailureArgs{"?4", "?5", "?6"}, "?7") + `,
				` + closeAttempt("?7", `'lost'`, `CASE WHEN cancel_requested = 1 THEN ?2 WHEN attempt < max_attempts THEN NULL ELSE ?5 END`,
		`CASE WHEN cancel_requested = 1 THEN ?9 WHEN attempt < max_attempts THEN NULL ELSE ?10 END`) + `,
				lease_owner = NULL, lease_expire_time = NULL, update_time = ?7
			WHERE id IN (
				SELECT id FROM lro_operation WHERE state = {running} AND lease_expire_time < ?7
				ORDER BY lease_expire_time LIMIT ?8)
			RETURNING id, state`)
)

var writeQueries = []string{insertQuery, heartbeatQuery, setMetadataQuery, finishQuery, finishReturningQuery, retryQuery, releaseQuery, claimQuery, rescueQuery, expireQuery}

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
				nullString(p.LeaseOwner), expire, t, nullJSON(p.MetadataJSON),
				nullMicros(p.NotBefore), nullMicros(p.Deadline), traceContext(p)) // the last three bind the anonymous ?
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
	// Each argument given twice is boxed once.
	at, kindList, limit := any(t.UnixMicro()), any(string(kinds)), any(params.Max)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ops, err = scanOperations(s.txQuery(ctx, tx, claimQuery,
			params.Owner, t.Add(params.LeaseTTL).UnixMicro(), at, at, params.Owner, kindList, limit,
			kindList, at, limit, limit))
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
			res, err := update.ExecContext(ctx, u.Metadata, nullString(u.MetadataType), t, nullJSON(u.MetadataJSON), u.Lease.ID, u.Lease.Token)
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
	cAttemptMessage := storekit.AttemptMessage(params.CancelledError)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// ?1 is the state asked for; a failure of an operation whose
		// cancellation was requested becomes a cancellation
		// (storekit's FinishStateSet).
		finish, err := s.txStmt(ctx, tx, finishQuery)
		if err != nil {
			return err
		}
		defer finish.Close()
		var finishReturning, retry *sql.Stmt // prepared for the first use
		for i, f := range params.Finishes {
			if f.State == lrostore.StatePending {
				if retry == nil {
					if retry, err = s.txStmt(ctx, tx, retryQuery); err != nil {
						return err
					}
					defer retry.Close()
				}
				var lastError []byte
				if f.Error != nil {
					lastError = f.Error.Status
				}
				var code any
				if f.Error != nil {
					code = f.Error.Code
				}
				if results[i], err = stateWritten(retry.QueryRowContext(ctx, cStatus, cCode, cMessage, lastError, nullMicros(f.NotBefore),
					f.Metadata != nil, f.Metadata, nullString(f.MetadataType), t, f.Lease.ID, f.Lease.Token, nullJSON(f.MetadataJSON),
					code, storekit.AttemptMessage(f.Error), cAttemptMessage),
					params.CreateTimes); err != nil {
					return err
				}
				continue
			}
			eStatus, eCode, eMessage := failureArgs(f.Error)
			args := []any{int(f.State), cStatus, cCode, cMessage, eStatus, eCode, eMessage,
				f.Response, nullString(f.ResponseType), f.Metadata != nil, f.Metadata, nullString(f.MetadataType),
				t, f.Lease.ID, f.Lease.Token, nullJSON(f.MetadataJSON), nullJSON(f.ResponseJSON)}
			if f.State != lrostore.StateFailed && !params.CreateTimes {
				// The state asked for is the state written, and no row
				// needs reading back.
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
			if finishReturning == nil {
				if finishReturning, err = s.txStmt(ctx, tx, finishReturningQuery); err != nil {
					return err
				}
				defer finishReturning.Close()
			}
			if results[i], err = stateWritten(finishReturning.QueryRowContext(ctx, args...), params.CreateTimes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// stateWritten is the result of a finish whose statement returns the state
// it wrote and the creation time, which the result carries if
// withCreateTime, and no row when the lease was no longer held.
func stateWritten(row *sql.Row, withCreateTime bool) (*lrostore.OperationFinishResult, error) {
	var state lrostore.State
	var created int64
	err := row.Scan(&state, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &lrostore.OperationFinishResult{}, nil
	case err != nil:
		return nil, err
	}
	r := &lrostore.OperationFinishResult{Finished: true, State: state}
	if withCreateTime {
		r.CreateTime = time.UnixMicro(created).UTC()
	}
	return r, nil
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
		rows, err := s.txQuery(ctx, tx, rescueQuery, cStatus, cCode, cMessage, xStatus, xCode, xMessage, t, params.Max,
			storekit.AttemptMessage(params.CancelledError), storekit.AttemptMessage(params.ExhaustedError))
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

// expireQuery ends the operations whose deadline passed (storekit's
// ExpireSet), the earliest first.
var expireQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.ExpireSet(storekit.FailureArgs{"?1", "?2", "?3"}, "?4") + `,
				` + closeAttempt("?4", `'deadline'`, "?2", "?6") + `
			WHERE id IN (
				SELECT id FROM lro_operation WHERE deadline IS NOT NULL AND state < {succeeded} AND deadline <= ?4
				ORDER BY deadline LIMIT ?5)
			RETURNING id`)

// OperationExpire implements lrostore.Store.
func (s *Store) OperationExpire(ctx context.Context, params *lrostore.OperationExpireParams) ([]string, error) {
	if s.closed.Load() {
		return nil, lrostore.ErrClosed
	}
	if storekit.NoneSelected(params.Max) {
		return nil, nil
	}
	t := now(params.Now).UnixMicro()
	xStatus, xCode, xMessage := failureArgs(params.Error)
	var ended []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := s.txQuery(ctx, tx, expireQuery, xStatus, xCode, xMessage, t, params.Max, storekit.AttemptMessage(params.Error))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ended = append(ended, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(ended)
	return ended, nil
}

// cancelQuery cancels a pending operation and marks a running one.
var cancelQuery = storekit.States(`UPDATE lro_operation SET
				` + rules.CancelSet(storekit.FailureArgs{"?1", "?2", "?3"}, "?4") + `
			WHERE id = ?5 AND parent = ?6 AND state < {succeeded}
			RETURNING ` + columns)

// OperationCancel implements lrostore.Store. The update ended the operation
// when it returns it cancelled: it touches only operations not done, and
// cancels only pending ones.
func (s *Store) OperationCancel(ctx context.Context, params *lrostore.OperationCancelParams) (*lrostore.OperationCancelResult, error) {
	t := now(params.Now).UnixMicro()
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	res := &lrostore.OperationCancelResult{}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		op, err := scanOperation(tx.QueryRowContext(ctx, cancelQuery, cStatus, cCode, cMessage, t, params.ID, params.Parent))
		if err == nil {
			res.Operation, res.Ended = op, op.State == lrostore.StateCancelled
			return nil
		}
		if errors.Is(err, lrostore.ErrNotFound) {
			// Done already, or no such operation.
			op, err = scanOperation(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM lro_operation
				WHERE id = ? AND parent = ?`, params.ID, params.Parent))
		}
		res.Operation, res.Ended = op, false
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
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

// nullJSON binds a JSON copy as TEXT, or NULL when there is none. The
// copy of an empty message, the most common one (a no-op's response), is
// bound without an allocation.
func nullJSON(b []byte) any {
	switch {
	case b == nil:
		return nil
	case string(b) == "{}":
		return emptyObject
	}
	return string(b)
}

var emptyObject any = "{}"

// traceContext is the trace_context that an insert stores: NULL when the
// start was not traced.
func traceContext(p *lrostore.OperationInsertParams) any {
	if tc, ok := storekit.TraceContext(p.TraceParent, p.TraceState); ok {
		return tc
	}
	return nil
}

// claimSet is the assignments by which a claim keeps its claim in plain
// columns (see storekit's attempts.go); its two anonymous parameters are
// the claim's time and the lease owner. The due time is read before the
// claim clears not_before: every assignment of an UPDATE reads the row's
// old values. The claim time is never before the due time, should the
// claim's clock be behind the one that created the operation.
const claimSet = `claim_time = max(?, COALESCE(not_before, create_time)), claim_owner = ?, ` +
	`due_time = COALESCE(not_before, create_time)`

// closeAttempt is the assignments by which a statement that ends the
// current claim and does not leave it to be read from the row (a retry, a
// release, a rescue, an expiry: rare paths) appends its record to the
// column attempts and clears the claim's columns: ended at now (a time in
// microseconds), with an outcome, and the code and message of its failure
// (SQL expressions; NULL or "" leave them out). It appends only while the
// operation runs and has a claim: the statements are fenced by its lease
// or select running operations, and an expiry also ends pending ones. The
// oldest record goes when there are lrostore.MaxAttemptRecords already,
// and a value that is not a JSON array (a database edited by hand) is
// replaced rather than failing the statement.
func closeAttempt(now, outcome, code, message string) string {
	return storekit.States(`attempts = CASE
					WHEN state <> {running} OR claim_time IS NULL THEN attempts
					ELSE json_insert(CASE
						WHEN attempts IS NULL OR NOT json_valid(attempts) THEN '[]'
						WHEN json_type(attempts) <> 'array' THEN '[]'
						WHEN json_array_length(attempts) >= ` + strconv.Itoa(lrostore.MaxAttemptRecords) + ` THEN json_remove(attempts, '$[0]')
						ELSE attempts END,
					'$[#]', json_patch(
						json_object('n', attempt, 'w', COALESCE(claim_owner, ''), 's', claim_time / 1000,
							'd', COALESCE(due_time, claim_time) / 1000, 'e', ` + now + ` / 1000),
						json_object('o', ` + outcome + `, 'c', ` + code + `, 'm', NULLIF(` + message + `, '')))) END,
				claim_time = NULL, claim_owner = NULL, due_time = NULL`)
}
