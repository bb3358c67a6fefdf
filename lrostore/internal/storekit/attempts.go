package storekit

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"lro.dev/lro/lrostore"
)

// The column attempts holds a JSON array of attempt records, the oldest
// first, each an object of compact keys, its times in unix milliseconds:
//
//	{"n": number, "w": worker, "s": claim, "d": due, "e": end, "o": outcome, "c": code, "m": message}
//
// A claim appends one without "e", "o", "c" and "m"; the statement that
// ends the attempt adds them to the last record, if that record is still
// open and its worker is the lease owner the statement is fenced by.

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

// ParseAttempts reads the column attempts. A value that does not decode
// (a database edited by hand) reads as no attempts: the history is an aid
// to operators, and must not fail the read of the operation.
func ParseAttempts(b []byte) []lrostore.Attempt {
	if len(b) == 0 {
		return nil
	}
	var records []attemptRecord
	if err := json.Unmarshal(b, &records); err != nil {
		return nil
	}
	out := make([]lrostore.Attempt, len(records))
	for i, r := range records {
		a := lrostore.Attempt{Number: r.N, Worker: r.W, StartTime: fromMillis(r.S), DueTime: fromMillis(r.D),
			Outcome: r.O, Code: r.C, Message: r.M}
		if r.E != nil {
			a.EndTime = fromMillis(*r.E)
		}
		out[i] = a
	}
	return out
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// InsertedAttempts is the column attempts of an operation inserted claimed
// by owner at created: its first attempt, open, due when created.
func InsertedAttempts(owner string, created time.Time) string {
	ms := strconv.FormatInt(created.UnixMilli(), 10)
	w, _ := json.Marshal(owner) // a string always encodes
	return `[{"n":1,"w":` + string(w) + `,"s":` + ms + `,"d":` + ms + `}]`
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
