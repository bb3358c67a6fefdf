package storekit

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"lro.dev/lro/lrostore"
)

// An operation's attempt history is kept in two places, so that the
// common life of an operation, one claim and one finish that ends it,
// writes no JSON:
//
//   - The current claim is in the columns claim_time, claim_owner and
//     due_time, which the claim sets. Its record is read from them and
//     from the row's attempt, state, end_time and error (see History):
//     open while the operation runs, ended by its done state.
//   - The column attempts holds a JSON array of the records of claims
//     that ended with the operation left to run again, or ended otherwise
//     than by a finish (a retry, a release, a rescue, an expiry), the
//     oldest first, at most lrostore.MaxAttemptRecords. The statement that
//     ends such a claim appends its record and clears the claim's columns,
//     only while the operation runs (the statements are fenced by its
//     lease, or select running operations).
//
// Each record is an object of compact keys, its times in unix milliseconds:
//
//	{"n": number, "w": worker, "s": claim, "d": due, "e": end, "o": outcome, "c": code, "m": message}

// attemptRecord is one record of the column attempts.
type attemptRecord struct {
	N int32  `json:"n"`
	W string `json:"w"`
	S int64  `json:"s"`
	D int64  `json:"d"`
	E *int64 `json:"e"`
	O string `json:"o"`
	C int32  `json:"c"`
	M string `json:"m"`
}

// ParseAttempts reads the column attempts. A value that does not decode,
// or an element that is not a record (a database edited by hand), reads as
// no records: the history is an aid to operators, and must not fail the
// read of the operation. The records appended after such elements read as
// usual.
func ParseAttempts(b []byte) []lrostore.Attempt {
	if len(b) == 0 {
		return nil
	}
	var elements []json.RawMessage
	if err := json.Unmarshal(b, &elements); err != nil {
		return nil
	}
	var out []lrostore.Attempt
	for _, e := range elements {
		var r attemptRecord
		if string(e) == "null" || json.Unmarshal(e, &r) != nil {
			continue
		}
		a := lrostore.Attempt{Number: r.N, Worker: r.W, StartTime: fromMillis(r.S), DueTime: fromMillis(r.D),
			Outcome: r.O, Code: r.C, Message: r.M}
		if r.E != nil {
			a.EndTime = fromMillis(*r.E)
		}
		out = append(out, a)
	}
	return out
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Claim is the current claim of an operation as its columns keep it:
// its time (zero when there is none), its worker, and the time the
// operation was due.
type Claim struct {
	Time, Due time.Time
	Owner     string
}

// History is the attempt history of op: the records of the column
// attempts (b, as ParseAttempts reads it), then that of its current claim
// c, if it has one, derived from the claim and from op: open while op
// runs, ended by op's done state otherwise; the latest
// lrostore.MaxAttemptRecords of them.
func History(op *lrostore.Operation, b []byte, c Claim) []lrostore.Attempt {
	out := ParseAttempts(b)
	if c.Time.IsZero() {
		return out
	}
	a := lrostore.Attempt{Number: op.Attempt, Worker: c.Owner, StartTime: toMillis(c.Time), DueTime: toMillis(c.Due)}
	if op.State.Done() {
		a.EndTime = toMillis(op.EndTime)
		switch op.State {
		case lrostore.StateSucceeded:
			a.Outcome = lrostore.OutcomeSucceeded
		case lrostore.StateFailed:
			a.Outcome = lrostore.OutcomeFailed
		default:
			a.Outcome = lrostore.OutcomeCancelled
		}
		if op.Error != nil {
			a.Code, a.Message = op.Error.Code, ClipMessage(op.Error.Message)
		}
	}
	out = append(out, a)
	if len(out) > lrostore.MaxAttemptRecords {
		out = out[len(out)-lrostore.MaxAttemptRecords:]
	}
	return out
}

// toMillis is t as a record keeps it: to the millisecond, floored.
func toMillis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return fromMillis(t.UnixMilli())
}

// AttemptMessage is a failure's message as an attempt record keeps it:
// made storable, and clipped to lrostore.MaxAttemptMessageBytes on a
// character boundary. It returns the message itself when it is short.
func AttemptMessage(f *lrostore.Failure) string {
	if f == nil {
		return ""
	}
	return ClipMessage(f.Message)
}

// ClipMessage returns s made storable (lrostore.StorableText) and clipped
// to lrostore.MaxAttemptMessageBytes, on a character boundary.
func ClipMessage(s string) string {
	s = lrostore.StorableText(s)
	if len(s) <= lrostore.MaxAttemptMessageBytes {
		return s
	}
	end := lrostore.MaxAttemptMessageBytes
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end]
}

// AttemptEnd is the JSON that completes an attempt record after its end
// time: its outcome, and the code and message of failure f (none when f
// is nil), and the record's closing brace:
//
//	,"o":"failed","c":5,"m":"not found"}
//
// A store that builds the record's end in Go, where the failure is at
// hand, spares its statement the expressions that would build it.
func AttemptEnd(outcome string, f *lrostore.Failure) string {
	if f == nil {
		return `,"o":"` + outcome + `"}`
	}
	end := `,"o":"` + outcome + `","c":` + strconv.FormatInt(int64(f.Code), 10)
	if m := AttemptMessage(f); m != "" {
		b, _ := json.Marshal(m) // a string always encodes
		end += `,"m":` + string(b)
	}
	return end + `}`
}
