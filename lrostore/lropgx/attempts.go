package lropgx

import (
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

// millis is a timestamptz expression in unix milliseconds, as the attempt
// records keep times (see storekit's attempts.go).
func millis(t string) string {
	return `floor(extract(epoch FROM ` + t + `) * 1000)::bigint`
}

// appendAttempt is the assignment by which the claim appends the record of
// its attempt to the column attempts ($3 is the lease owner, t.now the
// claim's time), dropping the oldest record when it holds
// lrostore.MaxAttemptRecords already. A value that is not an array (a
// database edited by hand) is replaced rather than failing the claim.
var appendAttempt = `attempts = CASE
			WHEN jsonb_typeof(o.attempts) IS DISTINCT FROM 'array' THEN '[]'::jsonb
			WHEN jsonb_array_length(o.attempts) >= ` + strconv.Itoa(lrostore.MaxAttemptRecords) + ` THEN o.attempts - 0
			ELSE o.attempts END
		|| jsonb_build_array(jsonb_build_object('n', o.attempt + 1, 'w', $3::text, 's', ` + millis("t.now") + `,
			'd', ` + millis("COALESCE(o.not_before, o.create_time)") + `))`

// endAttempt is the assignment by which a statement that ends an attempt
// completes its record, the last of the column attempts, at now, with an
// outcome, and the code and message of its failure (SQL expressions; NULL
// or ” leave them out). It changes the record only while it is open and
// its worker is the lease owner that the statement is fenced by: the row's
// old values, which every assignment of an UPDATE reads.
func endAttempt(now, outcome, code, message string) string {
	return `attempts = CASE
				WHEN jsonb_typeof(o.attempts -> -1) = 'object' AND o.attempts -> -1 ->> 'w' = o.lease_owner
					AND NOT (o.attempts -> -1 ? 'e')
				THEN jsonb_set(o.attempts, '{-1}', (o.attempts -> -1) || jsonb_strip_nulls(jsonb_build_object(
					'e', ` + millis(now) + `, 'o', ` + outcome + `, 'c', ` + code + `, 'm', NULLIF(` + message + `, ''))))
				ELSE o.attempts END`
}

// clippedMessage returns the attempt messages of a finish's failures:
// nil while every message is short enough to be its failure's own (the
// statement then reads error_message), else n messages, the ith that of
// f.
func clippedMessage(messages []pgtype.Text, n, i int, f *lrostore.Failure) []pgtype.Text {
	if f == nil {
		return messages
	}
	m := storekit.AttemptMessage(f)
	if messages == nil && m == lrostore.StorableText(f.Message) {
		return nil
	}
	if messages == nil {
		messages = make([]pgtype.Text, n)
	}
	messages[i] = pgtype.Text{String: m, Valid: true}
	return messages
}
