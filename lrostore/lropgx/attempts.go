package lropgx

import (
	"strconv"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// millis is a timestamptz expression in unix milliseconds, as the attempt
// records keep times (see storekit's attempts.go). It reads the epoch as
// a double (date_part), several times cheaper than EXTRACT's numeric: the
// double is within half a microsecond of the time (until 2106), which the
// half a microsecond added makes the floor exact.
func millis(t string) string {
	return `floor(date_part('epoch', ` + t + `) * 1000 + 0.0005::float8)::bigint`
}

// claimSet is the assignments by which the claim, at t.now by worker $3,
// keeps its claim in plain columns (see storekit's attempts.go): plain
// values, which cost the hot path next to nothing, where a JSON record
// built and parsed per row cost the claim and the finish a fifth of their
// time. The due time is read before the claim clears not_before: every
// assignment of an UPDATE reads the row's old values. The claim time is
// never before the due time: now() is the claim's transaction's start,
// which may precede the start of an insert that commits before the
// claim's snapshot, so that the claim sees an operation created after its
// now().
const claimSet = `claim_time = GREATEST(t.now, COALESCE(o.not_before, o.create_time)), claim_owner = $3, ` +
	`due_time = COALESCE(o.not_before, o.create_time)`

// closeAttempt is the assignments by which a statement that ends the
// current claim and does not leave it to be read from the row (a retry, a
// release, a rescue, an expiry: rare paths) appends its record to the
// column attempts and clears the claim's columns. The record is built as
// text, its end time nowMillis and its end, an SQL expression of the text
// of storekit.AttemptEnd (outcome and failure, built in Go where the
// failure is at hand). It appends only while the operation runs and has a
// claim: the statements are fenced by its lease or select running
// operations, and an expiry also ends pending ones. The oldest record goes
// when there are lrostore.MaxAttemptRecords already, and a value that is
// not an array (a database edited by hand) is replaced rather than failing
// the statement.
func closeAttempt(nowMillis, end string) string {
	record := `('[{"n":' || o.attempt || ',"w":' || to_json(COALESCE(o.claim_owner, ''))::text || ',"s":' || ` +
		millis("o.claim_time") + ` || ',"d":' || ` + millis("COALESCE(o.due_time, o.claim_time)") + ` || ',"e":' || ` +
		nowMillis + ` || ` + end + ` || ']')::jsonb`
	return storekit.States(`attempts = CASE
				WHEN o.state <> {running} OR o.claim_time IS NULL THEN o.attempts
				ELSE CASE
					WHEN o.attempts IS NULL OR jsonb_typeof(o.attempts) <> 'array' THEN '[]'::jsonb
					WHEN jsonb_array_length(o.attempts) >= ` + strconv.Itoa(lrostore.MaxAttemptRecords) + ` THEN o.attempts - 0
					ELSE o.attempts END || ` + record + ` END,
			claim_time = NULL, claim_owner = NULL, due_time = NULL`)
}

var (
	lostEnd     = storekit.AttemptEnd(lrostore.OutcomeLost, nil)
	releasedEnd = storekit.AttemptEnd(lrostore.OutcomeReleased, nil)
)
