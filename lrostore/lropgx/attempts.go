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

// appendAttempt is the assignment by which the claim appends the record of
// its attempt to the column attempts, dropping the oldest record when it
// holds lrostore.MaxAttemptRecords already; t.record_tail is the record's
// keys after "n", up to the value of "d", built once per statement. The
// record is built as text and read as jsonb, which costs a claim a third
// of what jsonb_build_object does; the first claim, the most common one,
// stores it as it is. A value that is not an array (a database edited by
// hand) is replaced rather than failing the claim.
var appendAttempt = func() string {
	record := `('[{"n":' || (o.attempt + 1) || t.record_tail || ` + millis("COALESCE(o.not_before, o.create_time)") + ` || '}]')::jsonb`
	return `attempts = CASE
			WHEN o.attempts IS NULL THEN ` + record + `
			WHEN jsonb_typeof(o.attempts) <> 'array' THEN ` + record + `
			WHEN jsonb_array_length(o.attempts) >= ` + strconv.Itoa(lrostore.MaxAttemptRecords) + ` THEN (o.attempts - 0) || ` + record + `
			ELSE o.attempts || ` + record + ` END`
}()

// endAttempt is the assignment by which a statement that ends an attempt
// completes its record, the last of the column attempts, with its end
// time nowMillis and end, an SQL expression of the text of
// storekit.AttemptEnd (its outcome and failure, built in Go where the
// failure is at hand). It changes the record only while it is open and its
// worker is the lease owner that the statement is fenced by: the row's old
// values, which every assignment of an UPDATE reads.
func endAttempt(nowMillis, end string) string {
	return `attempts = CASE
				WHEN o.attempts -> -1 ->> 'w' = o.lease_owner AND NOT (o.attempts -> -1 ? 'e')
				THEN jsonb_set(o.attempts, '{-1}', (o.attempts -> -1) || ('{"e":' || ` + nowMillis + ` || ` + end + `)::jsonb)
				ELSE o.attempts END`
}

var (
	succeededEnd = storekit.AttemptEnd(lrostore.OutcomeSucceeded, nil)
	lostEnd      = storekit.AttemptEnd(lrostore.OutcomeLost, nil)
	releasedEnd  = storekit.AttemptEnd(lrostore.OutcomeReleased, nil)
)

// finishEnd is the end of the attempt record of a finish in its state
// (or of a retry, in StatePending).
func finishEnd(f *lrostore.OperationFinishParams) string {
	switch f.State {
	case lrostore.StateSucceeded:
		return succeededEnd
	case lrostore.StateFailed:
		return storekit.AttemptEnd(lrostore.OutcomeFailed, f.Error)
	case lrostore.StatePending:
		return storekit.AttemptEnd(lrostore.OutcomeRetry, f.Error)
	}
	return storekit.AttemptEnd(lrostore.OutcomeCancelled, f.Error)
}
