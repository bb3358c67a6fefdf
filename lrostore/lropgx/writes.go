package lropgx

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// insertQuery inserts the operations in the order of their (parent, request
// ID), and in input order among equals: the first of two inputs that share
// a request ID is inserted and the second is not, and concurrent batches
// wait for each other's request IDs in one order, so never in a cycle.
var insertQuery = storekit.States(`WITH ins AS (
		INSERT INTO lro_operation AS o (id, parent, kind, state, input, metadata, metadata_type, request_id,
			request_hash, max_attempts, attempt, lease_token, lease_owner, lease_expire_time, create_time, update_time,
			metadata_json, not_before, deadline, trace_context, claim_time, claim_owner, due_time)
		SELECT u.id, u.parent, u.kind, u.claimed::int, u.input, u.metadata, NULLIF(u.metadata_type, ''), NULLIF(u.request_id, ''),
			u.request_hash, u.max_attempts, u.claimed::int, u.claimed::int, NULLIF(u.lease_owner, ''),
			CASE WHEN u.claimed THEN t.now + u.lease_ttl * interval '1 microsecond' END, t.now, t.now,
			NULLIF(u.metadata_json, '')::jsonb, u.not_before, u.deadline, COALESCE(NULLIF(u.trace_context, ''), $18),
			CASE WHEN u.claimed THEN t.now END, NULLIF(u.lease_owner, ''), CASE WHEN u.claimed THEN t.now END
		FROM (SELECT *, lease_owner <> '' AS claimed
				FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::text[], $8::text[], $9::bytea[],
					$10::integer[], $12::text[], $13::bigint[], $14::text[], $15::timestamptz[], $16::timestamptz[],
					$17::text[])
				WITH ORDINALITY AS u(id, parent, kind, input, metadata, metadata_type, request_id, request_hash, max_attempts,
					lease_owner, lease_ttl, metadata_json, not_before, deadline, trace_context, ord)) u,
			(SELECT COALESCE($11::timestamptz, now()) AS now) t
		ORDER BY u.parent, NULLIF(u.request_id, ''), u.ord
		ON CONFLICT (parent, request_id) WHERE request_id IS NOT NULL DO NOTHING
		RETURNING o.id, o.state, o.create_time, o.not_before
	), ` + pendingNotify("pending", "ins", "ins.state = {pending} AND ins.not_before IS NULL") + `
	SELECT ins.id, ins.create_time FROM ins, (SELECT count(*) FROM pending) n`)

// OperationInsertMany implements lrostore.Store. It inserts in one
// statement, then reads in a second the operations that hold the request
// IDs of inputs that were not inserted. The inserted rows are built here
// rather than read back: every column is given or a default, but for the
// creation time, which may be the database's clock, and is returned.
func (s *Store) OperationInsertMany(ctx context.Context, params *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	results := make([]*lrostore.OperationInsertResult, len(params.Operations))
	if len(params.Operations) == 0 {
		return results, nil
	}
	byID := make(map[string]int, len(params.Operations))
	for i, p := range params.Operations {
		if _, ok := parseID(p.ID); !ok {
			return nil, fmt.Errorf("lropgx: operation ID %q is not a lower-case UUID", p.ID)
		}
		byID[p.ID] = i
	}
	pending := params.Operations
	// An input not inserted because its request ID was taken reads the
	// operation that took it. Should that one be deleted in between, the
	// input is inserted again: the loop ends when every input has a result.
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == 3 {
			return nil, errors.New("lropgx: insert: request IDs kept changing hands")
		}
		n := len(pending)
		var (
			ids            = make([]pgtype.UUID, n)
			parents, kinds = make([]string, n), make([]string, n)
			inputs, metas  = make([][]byte, n), make([][]byte, n)
			metaTypes      = make([]string, n)
			requestIDs     = make([]string, n)
			hashes         = make([][]byte, n)
			maxAttempts    = make([]int32, n)
			owners         = make([]string, n)
			ttls           = make([]int64, n)
			metaJSONs      = make([]string, n)
			deadlines      = make([]pgtype.Timestamptz, n)
			notBefore      = make([]pgtype.Timestamptz, n)
			// The trace contexts: one per row (traces), or, while every
			// row has the same one, that one alone (shared), as the
			// operations of a StartOperations call share its span's. With
			// no start traced, both are NULL.
			traces []string
			shared pgtype.Text
		)
		for i, p := range pending {
			ids[i] = pgtype.UUID{Bytes: uuid.MustParse(p.ID), Valid: true}
			parents[i], kinds[i], inputs[i], metas[i] = p.Parent, p.Kind, p.Input, p.Metadata
			metaTypes[i], requestIDs[i], hashes[i], maxAttempts[i] = p.MetadataType, p.RequestID, p.RequestHash, p.MaxAttempts
			owners[i], ttls[i], metaJSONs[i] = p.LeaseOwner, p.LeaseTTL.Microseconds(), string(p.MetadataJSON)
			notBefore[i], deadlines[i] = timeArg(p.NotBefore), timeArg(p.Deadline)
			tc, _ := storekit.TraceContext(p.TraceParent, p.TraceState)
			switch {
			case traces != nil:
				traces[i] = tc
			case i == 0:
				shared = pgtype.Text{String: tc, Valid: tc != ""}
			case tc != shared.String:
				// Not all alike: each row has its own.
				traces = make([]string, n)
				for j := range i {
					traces[j] = shared.String
				}
				traces[i], shared = tc, pgtype.Text{}
			}
		}
		rows, err := s.pool.Query(ctx, insertQuery, s.channel, ids, parents, kinds, inputs, metas,
			metaTypes, requestIDs, hashes, maxAttempts, nowArg(params.Now), owners, ttls, metaJSONs, notBefore, deadlines, traces, shared)
		if err != nil {
			return nil, interpretError(err)
		}
		var (
			id      pgtype.UUID
			created pgtype.Timestamptz
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &created}, func() error {
			i := byID[uuid.UUID(id.Bytes).String()]
			results[i] = &lrostore.OperationInsertResult{Operation: params.Operations[i].Inserted(fromTime(created))}
			return nil
		})
		if err != nil {
			return nil, interpretError(err)
		}
		var missed []*lrostore.OperationInsertParams
		for _, p := range pending {
			if results[byID[p.ID]] == nil {
				if p.RequestID == "" {
					return nil, fmt.Errorf("lropgx: insert %s: not inserted", p.ID)
				}
				missed = append(missed, p)
			}
		}
		if len(missed) == 0 {
			break
		}
		parents, requestIDs = parents[:0], requestIDs[:0]
		for _, p := range missed {
			parents, requestIDs = append(parents, p.Parent), append(requestIDs, p.RequestID)
		}
		existing, err := scanOperations(s.pool.Query(ctx, `SELECT `+columns+` FROM lro_operation o
			WHERE (o.parent, o.request_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, planned, parents, requestIDs))
		if err != nil {
			return nil, err
		}
		type key struct{ parent, requestID string }
		holders := make(map[key]*lrostore.Operation, len(existing))
		for _, op := range existing {
			holders[key{op.Parent, op.RequestID}] = op
		}
		pending = pending[:0:0]
		for _, p := range missed {
			if op := holders[key{p.Parent, p.RequestID}]; op != nil {
				results[byID[p.ID]] = &lrostore.OperationInsertResult{Operation: op, Existing: true}
			} else {
				pending = append(pending, p)
			}
		}
	}
	s.inserted(len(params.Operations))
	return results, nil
}

// leaseArgs binds leases as parallel arrays of IDs and tokens, once each
// and without those whose ID names no operation (they hold nothing). first
// is the index in leases of each bound lease; index, that of every lease's
// first occurrence.
func leaseArgs(leases []lrostore.Lease) (ids []pgtype.UUID, tokens []int64, first []int, index map[lrostore.Lease]int) {
	index = make(map[lrostore.Lease]int, len(leases))
	for i, l := range leases {
		if _, seen := index[l]; seen {
			continue
		}
		id, ok := parseID(l.ID)
		if !ok {
			continue
		}
		index[l] = i
		ids, tokens, first = append(ids, id), append(tokens, l.Token), append(first, i)
	}
	return ids, tokens, first, index
}

// heldLeases returns the CTE "held" of the operations whose lease is among
// the arrays of IDs and tokens bound at placeholders $ids and $ids+1, and
// still held. It locks them in ID order, so that two statements on
// overlapping leases (a heartbeat and a finish of one node, say) wait for
// each other in one order, never in a cycle.
func heldLeases(ids int) string {
	return storekit.States(`held AS (
		SELECT o.id, o.lease_token FROM lro_operation o
		JOIN unnest($` + strconv.Itoa(ids) + `::uuid[], $` + strconv.Itoa(ids+1) + `::bigint[]) AS l(id, token)
			ON o.id = l.id AND o.lease_token = l.token
		WHERE o.state = {running}
		ORDER BY o.id
		FOR NO KEY UPDATE OF o
	)`)
}

// heartbeatQuery extends the leases still held. Built once, as every
// statement here: heartbeats are frequent.
var heartbeatQuery = `WITH ` + heldLeases(1) + `
		UPDATE lro_operation o SET lease_expire_time = COALESCE($3::timestamptz, now()) + $4::bigint * interval '1 microsecond'
		FROM held WHERE o.id = held.id
		RETURNING o.id, o.lease_token, o.cancel_requested`

// setMetadataQuery writes the metadata of operations whose lease is held.
var setMetadataQuery = `WITH ` + heldLeases(1) + `
		UPDATE lro_operation o SET metadata = u.metadata, metadata_type = NULLIF(u.metadata_type, ''),
			metadata_json = NULLIF(u.metadata_json, '')::jsonb, update_time = COALESCE($5::timestamptz, now())
		FROM held, unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::text[], $6::text[])
			AS u(id, token, metadata, metadata_type, metadata_json)
		WHERE o.id = held.id AND u.id = held.id AND u.token = held.lease_token
		RETURNING o.id, o.lease_token`

// OperationHeartbeat implements lrostore.Store. The results are in the
// order of the leases.
func (s *Store) OperationHeartbeat(ctx context.Context, params *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ids, tokens, _, index := leaseArgs(params.Leases)
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, heartbeatQuery, planned,
		ids, tokens, nowArg(params.Now), micros(params.LeaseTTL))
	if err != nil {
		return nil, interpretError(err)
	}
	renewed := make([]*lrostore.OperationHeartbeatResult, len(params.Leases))
	var l lrostore.Lease
	var cancel bool
	_, err = pgx.ForEachRow(rows, []any{&l.ID, &l.Token, &cancel}, func() error {
		renewed[index[l]] = &lrostore.OperationHeartbeatResult{ID: l.ID, CancelRequested: cancel}
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	var results []*lrostore.OperationHeartbeatResult
	for _, r := range renewed {
		if r != nil {
			results = append(results, r)
		}
	}
	return results, nil
}

// OperationSetMetadataMany implements lrostore.Store. Of several updates of
// one lease, the last is written, and all report whether it was.
func (s *Store) OperationSetMetadataMany(ctx context.Context, params *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	written := make([]bool, len(params.Updates))
	leases := make([]lrostore.Lease, len(params.Updates))
	last := make(map[lrostore.Lease]*lrostore.OperationSetMetadataParams, len(params.Updates))
	for i, u := range params.Updates {
		leases[i] = u.Lease
		last[u.Lease] = u
	}
	ids, tokens, first, _ := leaseArgs(leases)
	if len(ids) == 0 {
		return written, nil
	}
	metas, types, jsons := make([][]byte, len(ids)), make([]string, len(ids)), make([]string, len(ids))
	for i, j := range first {
		u := last[leases[j]]
		metas[i], types[i], jsons[i] = u.Metadata, u.MetadataType, string(u.MetadataJSON)
	}
	rows, err := s.pool.Query(ctx, setMetadataQuery, planned,
		ids, tokens, metas, types, nowArg(params.Now), jsons)
	if err != nil {
		return nil, interpretError(err)
	}
	held := map[lrostore.Lease]bool{}
	var l lrostore.Lease
	if _, err := pgx.ForEachRow(rows, []any{&l.ID, &l.Token}, func() error { held[l] = true; return nil }); err != nil {
		return nil, interpretError(err)
	}
	for i, l := range leases {
		written[i] = held[l]
	}
	return written, nil
}

// rules writes storekit's rules in PostgreSQL's SQL, of the table under
// the alias o.
var rules = storekit.Dialect{
	Prefix:  "o.",
	IsTrue:  func(column string) string { return column },
	IsFalse: func(column string) string { return "NOT " + column },
	True:    "true",
	Indent:  "\t\t\t",
}

// finishQuery ends the operations. f.state is the state asked for; a
// failure of an operation whose cancellation was requested becomes a
// cancellation with the CancelledError, $14 to $16 (storekit's
// FinishStateSet).
var finishQuery = storekit.States(`WITH ` + heldLeases(2) + `, fin AS (
		UPDATE lro_operation o SET
			` + rules.FinishStateSet("f.state", storekit.FailureArgs{"f.error", "f.error_code", "f.error_message"},
	storekit.FailureArgs{"$14::bytea", "$15::integer", "$16::text"}) + `,
			response = f.response, response_type = NULLIF(f.response_type, ''),
			metadata = CASE WHEN f.set_metadata THEN f.metadata ELSE o.metadata END,
			metadata_type = CASE WHEN f.set_metadata THEN NULLIF(f.metadata_type, '') ELSE o.metadata_type END,
			metadata_json = CASE WHEN f.set_metadata THEN NULLIF(f.metadata_json, '')::jsonb ELSE o.metadata_json END,
			response_json = NULLIF(f.response_json, '')::jsonb,
			lease_owner = NULL, lease_expire_time = NULL, update_time = t.now, end_time = t.now
		FROM held,
			unnest($2::uuid[], $3::bigint[], $4::smallint[], $5::bytea[], $6::integer[], $7::text[], $8::bytea[],
				$9::text[], $10::boolean[], $11::bytea[], $12::text[], $17::text[], $18::text[])
				AS f(id, token, state, error, error_code, error_message, response, response_type, set_metadata, metadata, metadata_type,
					metadata_json, response_json),
			(SELECT COALESCE($13::timestamptz, now()) AS now) t
		WHERE o.id = held.id AND f.id = held.id AND f.token = held.lease_token
		RETURNING o.id, o.lease_token, o.state, o.create_time
	), ` + doneNotify("done", "fin", "true") + `
	SELECT fin.* FROM fin, (SELECT count(*) FROM done) n`)

// retryQuery puts operations back to pending after a failed attempt
// (storekit's RetrySet), or cancels them; $2 to $8 are the finishes, $9 to
// $11 the CancelledError.
var retryQuery = storekit.States(`WITH ` + heldLeases(2) + `, fin AS (
		UPDATE lro_operation o SET
			` + rules.RetrySet(storekit.FailureArgs{"$9::bytea", "$10::integer", "$11::text"}, "f.last_error", "f.not_before", "t.now") + `,
			metadata = CASE WHEN f.set_metadata THEN f.metadata ELSE o.metadata END,
			metadata_type = CASE WHEN f.set_metadata THEN NULLIF(f.metadata_type, '') ELSE o.metadata_type END,
			metadata_json = CASE WHEN f.set_metadata THEN NULLIF(f.metadata_json, '')::jsonb ELSE o.metadata_json END,
			` + closeAttempt("t.now_ms", `CASE WHEN o.cancel_requested THEN $15::text ELSE f.attempt_end END`) + `,
			lease_owner = NULL, lease_expire_time = NULL, update_time = t.now
		FROM held,
			unnest($2::uuid[], $3::bigint[], $4::bytea[], $5::timestamptz[], $6::boolean[], $7::bytea[], $8::text[], $13::text[],
				$14::text[])
				AS f(id, token, last_error, not_before, set_metadata, metadata, metadata_type, metadata_json, attempt_end),
			(SELECT n.now, ` + millis("n.now") + ` AS now_ms FROM (SELECT COALESCE($12::timestamptz, now()) AS now) n) t
		WHERE o.id = held.id AND f.id = held.id AND f.token = held.lease_token
		RETURNING o.id, o.lease_token, o.state, o.create_time
	), ` + doneNotify("done", "fin", "fin.state = {cancelled}") + `
	SELECT fin.* FROM fin, (SELECT count(*) FROM done) n`)

// OperationFinishMany implements lrostore.Store. Of several finishes of one
// lease, the first is written; the others find the lease lost. Finishes in
// StatePending (retries) take a statement of their own.
func (s *Store) OperationFinishMany(ctx context.Context, params *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	for _, f := range params.Finishes {
		if f.State == lrostore.StatePending {
			return s.finishWithRetries(ctx, params)
		}
	}
	results := make([]*lrostore.OperationFinishResult, len(params.Finishes))
	leases := make([]lrostore.Lease, len(params.Finishes))
	for i, f := range params.Finishes {
		leases[i] = f.Lease
		results[i] = &lrostore.OperationFinishResult{}
	}
	ids, tokens, first, index := leaseArgs(leases)
	if len(ids) == 0 {
		return results, nil
	}
	n := len(ids)
	var (
		states                   = make([]int16, n)
		errStatus, responses     = make([][]byte, n), make([][]byte, n)
		errCodes                 = make([]pgtype.Int4, n)
		errMessages              = make([]pgtype.Text, n)
		responseTypes, metaTypes = make([]string, n), make([]string, n)
		setMetadata              = make([]bool, n)
		metas                    = make([][]byte, n)
		metaJSONs, respJSONs     = make([]string, n), make([]string, n)
	)
	for i, j := range first {
		f := params.Finishes[j]
		states[i] = int16(f.State)
		errStatus[i], errCodes[i], errMessages[i] = failureArgs(f.Error)
		responses[i], responseTypes[i] = f.Response, f.ResponseType
		setMetadata[i], metas[i], metaTypes[i] = f.Metadata != nil, f.Metadata, f.MetadataType
		metaJSONs[i], respJSONs[i] = string(f.MetadataJSON), string(f.ResponseJSON)
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	rows, err := s.pool.Query(ctx, finishQuery, planned, s.channel, ids, tokens, states, errStatus, errCodes, errMessages,
		responses, responseTypes, setMetadata, metas, metaTypes, nowArg(params.Now), cStatus, cCode, cMessage, metaJSONs, respJSONs)
	if err != nil {
		return nil, interpretError(err)
	}
	// Results go to each lease's first finish; the others stay unfinished.
	var l lrostore.Lease
	var state lrostore.State
	var created time.Time
	_, err = pgx.ForEachRow(rows, []any{&l.ID, &l.Token, &state, &created}, func() error {
		results[index[l]] = finishResult(state, created, params.CreateTimes)
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	return results, nil
}

// finishWithRetries is OperationFinishMany for finishes some of which are
// retries: those go through retryQuery, the others as usual.
func (s *Store) finishWithRetries(ctx context.Context, params *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	results := make([]*lrostore.OperationFinishResult, len(params.Finishes))
	var others []*lrostore.OperationFinishParams
	var othersAt, retriesAt []int
	leases := make([]lrostore.Lease, 0, len(params.Finishes))
	for i, f := range params.Finishes {
		results[i] = &lrostore.OperationFinishResult{}
		if f.State == lrostore.StatePending {
			leases, retriesAt = append(leases, f.Lease), append(retriesAt, i)
		} else {
			others, othersAt = append(others, f), append(othersAt, i)
		}
	}
	if len(others) > 0 {
		res, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{
			Finishes: others, CancelledError: params.CancelledError, Now: params.Now, CreateTimes: params.CreateTimes})
		if err != nil {
			return nil, err
		}
		for j, r := range res {
			results[othersAt[j]] = r
		}
	}
	ids, tokens, first, index := leaseArgs(leases)
	if len(ids) == 0 {
		return results, nil
	}
	n := len(ids)
	var (
		lastErrors, metas = make([][]byte, n), make([][]byte, n)
		notBefore         = make([]pgtype.Timestamptz, n)
		setMetadata       = make([]bool, n)
		metaTypes         = make([]string, n)
		metaJSONs         = make([]string, n)
		ends              = make([]string, n)
	)
	for i, j := range first {
		f := params.Finishes[retriesAt[j]]
		if f.Error != nil {
			lastErrors[i] = f.Error.Status
		}
		ends[i] = storekit.AttemptEnd(lrostore.OutcomeRetry, f.Error)
		notBefore[i] = timeArg(f.NotBefore)
		setMetadata[i], metas[i], metaTypes[i], metaJSONs[i] = f.Metadata != nil, f.Metadata, f.MetadataType, string(f.MetadataJSON)
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	rows, err := s.pool.Query(ctx, retryQuery, planned, s.channel, ids, tokens, lastErrors, notBefore,
		setMetadata, metas, metaTypes, cStatus, cCode, cMessage, nowArg(params.Now), metaJSONs,
		ends, storekit.AttemptEnd(lrostore.OutcomeCancelled, params.CancelledError))
	if err != nil {
		return nil, interpretError(err)
	}
	var l lrostore.Lease
	var state lrostore.State
	var created time.Time
	_, err = pgx.ForEachRow(rows, []any{&l.ID, &l.Token, &state, &created}, func() error {
		results[retriesAt[index[l]]] = finishResult(state, created, params.CreateTimes)
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	return results, nil
}

// finishResult is the result of a finish that wrote state on an operation
// created at created, which it carries if withCreateTime.
func finishResult(state lrostore.State, created time.Time, withCreateTime bool) *lrostore.OperationFinishResult {
	r := &lrostore.OperationFinishResult{Finished: true, State: state}
	if withCreateTime {
		r.CreateTime = created.UTC()
	}
	return r
}

// expireQuery ends the operations whose deadline passed (storekit's
// ExpireSet), the earliest first, skipping rows that another statement
// holds (a finish, or another node's expiry).
var expireQuery = storekit.States(`WITH exp AS (
		UPDATE lro_operation o SET
			` + rules.ExpireSet(storekit.FailureArgs{"$2::bytea", "$3::integer", "$4::text"}, "t.now") + `,
			` + closeAttempt("t.now_ms", "$7::text") + `
		FROM (SELECT n.now, ` + millis("n.now") + ` AS now_ms FROM (SELECT COALESCE($5::timestamptz, now()) AS now) n) t
		WHERE o.id = ANY (ARRAY(
			SELECT id FROM lro_operation
			WHERE deadline IS NOT NULL AND state < {succeeded} AND deadline <= COALESCE($5::timestamptz, now())
			ORDER BY deadline LIMIT $6
			FOR UPDATE SKIP LOCKED))
		RETURNING o.id
	), ` + doneNotify("done", "exp", "true") + `
	SELECT exp.id FROM exp, (SELECT count(*) FROM done) n`)

// OperationExpire implements lrostore.Store.
func (s *Store) OperationExpire(ctx context.Context, params *lrostore.OperationExpireParams) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if storekit.NoneSelected(params.Max) {
		return nil, nil
	}
	xStatus, xCode, xMessage := failureArgs(params.Error)
	rows, err := s.pool.Query(ctx, expireQuery, planned, s.channel, xStatus, xCode, xMessage, nowArg(params.Now), params.Max,
		storekit.AttemptEnd(lrostore.OutcomeDeadline, params.Error))
	if err != nil {
		return nil, interpretError(err)
	}
	var ended []string
	var id pgtype.UUID
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		ended = append(ended, uuid.UUID(id.Bytes).String())
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	sort.Strings(ended)
	return ended, nil
}

// releaseQuery gives back held leases: the operations are pending again.
var releaseQuery = storekit.States(`WITH ` + heldLeases(2) + `, rel AS (
			UPDATE lro_operation o SET state = {pending}, attempt = greatest(o.attempt - 1, 0),
				` + closeAttempt("t.now_ms", "'"+releasedEnd+"'") + `,
				lease_owner = NULL, lease_expire_time = NULL, update_time = t.now
			FROM held, (SELECT n.now, ` + millis("n.now") + ` AS now_ms FROM (SELECT COALESCE($4::timestamptz, now()) AS now) n) t WHERE o.id = held.id
			RETURNING o.id, o.lease_token
		), ` + pendingNotify("pending", "rel", "true") + `
		SELECT rel.* FROM rel, (SELECT count(*) FROM pending) n`)

// OperationReleaseMany implements lrostore.Store. The IDs are in the order of
// the leases.
func (s *Store) OperationReleaseMany(ctx context.Context, params *lrostore.OperationReleaseManyParams) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ids, tokens, _, index := leaseArgs(params.Leases)
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, releaseQuery, planned,
		s.channel, ids, tokens, nowArg(params.Now))
	if err != nil {
		return nil, interpretError(err)
	}
	released := make([]bool, len(params.Leases))
	var l lrostore.Lease
	if _, err := pgx.ForEachRow(rows, []any{&l.ID, &l.Token}, func() error { released[index[l]] = true; return nil }); err != nil {
		return nil, interpretError(err)
	}
	var out []string
	for i, ok := range released {
		if ok {
			out = append(out, params.Leases[i].ID)
		}
	}
	return out, nil
}

// cancelQuery cancels a pending operation and marks a running one, and
// publishes Done or CancelRequested with its ID.
var cancelQuery = storekit.States(`WITH c AS (
		UPDATE lro_operation o SET
			` + rules.CancelSet(storekit.FailureArgs{"$2::bytea", "$3::integer", "$4::text"}, "t.now") + `
		FROM (SELECT COALESCE($5::timestamptz, now()) AS now) t
		WHERE o.id = $6 AND o.parent = $7 AND o.state < {succeeded}
		RETURNING ` + columns + `
	), notified AS (
		SELECT pg_notify($1, CASE WHEN c.state = {cancelled} THEN '` + string(eventDone) + `' ELSE '` + string(eventCancelRequested) + `' END || c.id::text)
		FROM c
	)
	SELECT c.* FROM c, (SELECT count(*) FROM notified) n`)

// OperationCancel implements lrostore.Store. A done operation, which the
// update leaves alone, is read by a second statement, which sees the latest
// committed state. The update ended the operation when it returns it
// cancelled: it touches only operations not done, and cancels only pending
// ones; of two concurrent requests, the second waits for the first's row
// lock and then finds the operation done.
func (s *Store) OperationCancel(ctx context.Context, params *lrostore.OperationCancelParams) (*lrostore.OperationCancelResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	id, ok := parseID(params.ID)
	if !ok {
		return nil, lrostore.ErrNotFound
	}
	cStatus, cCode, cMessage := failureArgs(params.CancelledError)
	op, err := scanOperation(s.pool.QueryRow(ctx, cancelQuery, s.channel, cStatus, cCode, cMessage,
		nowArg(params.Now), id, params.Parent))
	if err == nil {
		return &lrostore.OperationCancelResult{Operation: op, Ended: op.State == lrostore.StateCancelled}, nil
	}
	if errors.Is(err, lrostore.ErrNotFound) {
		// Done already, or no such operation.
		op, err = scanOperation(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM lro_operation o
			WHERE o.id = $1 AND o.parent = $2`, id, params.Parent))
	}
	if err != nil {
		return nil, err
	}
	return &lrostore.OperationCancelResult{Operation: op}, nil
}

// deleteQuery deletes a done operation, and reads its state as it was.
var deleteQuery = storekit.States(`WITH del AS (
		DELETE FROM lro_operation WHERE id = $1 AND parent = $2 AND state >= {succeeded} RETURNING id
	)
	SELECT (SELECT count(*) FROM del), (SELECT state FROM lro_operation WHERE id = $1 AND parent = $2)`)

// OperationDelete implements lrostore.Store. One statement deletes the
// operation if it is done and reads its state as it was before, which tells
// a missing operation from one that is not done.
func (s *Store) OperationDelete(ctx context.Context, params *lrostore.OperationDeleteParams) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	id, ok := parseID(params.ID)
	if !ok {
		return lrostore.ErrNotFound
	}
	var deleted int64
	var state pgtype.Int2
	err := s.pool.QueryRow(ctx, deleteQuery, id, params.Parent).Scan(&deleted, &state)
	switch {
	case err != nil:
		return interpretError(err)
	case deleted > 0:
		return nil
	case state.Valid && !lrostore.State(state.Int16).Done():
		return lrostore.ErrNotDone
	}
	return lrostore.ErrNotFound // none, or deleted meanwhile
}
