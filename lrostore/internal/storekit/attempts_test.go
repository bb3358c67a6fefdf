package storekit_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

func TestAttemptEndIsTheRestOfARecord(t *testing.T) {
	for _, f := range []*lrostore.Failure{nil, {Code: 5}, {Code: 3, Message: `say "no" \ <now>`}, {Code: 13, Message: strings.Repeat("é", 300)}} {
		record := `[{"n":1,"w":"w","s":1000,"d":1000,"e":2000` + storekit.AttemptEnd(lrostore.OutcomeFailed, f) + `]`
		require.True(t, json.Valid([]byte(record)), record)
		got := storekit.ParseAttempts([]byte(record))
		require.Len(t, got, 1)
		want := lrostore.Attempt{Number: 1, Worker: "w", StartTime: time.UnixMilli(1000).UTC(), DueTime: time.UnixMilli(1000).UTC(),
			EndTime: time.UnixMilli(2000).UTC(), Outcome: lrostore.OutcomeFailed}
		if f != nil {
			want.Code, want.Message = f.Code, storekit.ClipMessage(f.Message)
		}
		require.Equal(t, want, got[0])
	}
}

func TestClipMessage(t *testing.T) {
	require.Equal(t, "short", storekit.ClipMessage("short"))
	require.Equal(t, strings.Repeat("é", 256), storekit.ClipMessage(strings.Repeat("é", 300)))
	require.Equal(t, strings.Repeat("a", 511), storekit.ClipMessage(strings.Repeat("a", 511)+"é"), "a character is not cut")
	require.Equal(t, "a\uFFFDb", storekit.ClipMessage("a\x00b"))
}

func TestParseAttemptsOfAHandEditedColumn(t *testing.T) {
	for _, bad := range []string{`not json`, `{"n": 1}`, `[1, "a"]`, `[{"n": "one"}]`} {
		require.Nil(t, storekit.ParseAttempts([]byte(bad)), bad)
	}
	require.Nil(t, storekit.ParseAttempts(nil))
	require.Equal(t, []lrostore.Attempt{{Number: 2, Worker: "w", StartTime: time.UnixMilli(1000).UTC(), DueTime: time.UnixMilli(900).UTC()}},
		storekit.ParseAttempts([]byte(`[1, null, {"n": "one"}, {"n":2,"w":"w","s":1000,"d":900}]`)), "the records after elements that are not")
}

// The current claim's record is read from its columns and the row: open
// while the operation runs, ended by its done state, after the records of
// the column attempts, the latest 100 in all.
func TestHistoryDerivesTheCurrentClaim(t *testing.T) {
	ms := func(n int64) time.Time { return time.UnixMilli(n).UTC() }
	claim := storekit.Claim{Time: time.UnixMicro(2_000_999).UTC(), Due: time.UnixMicro(1_500_500).UTC(), Owner: "w"}
	closed := `[{"n":1,"w":"v","s":1000,"d":1000,"e":1500,"o":"retry","c":14,"m":"down"}]`
	first := lrostore.Attempt{Number: 1, Worker: "v", StartTime: ms(1000), DueTime: ms(1000), EndTime: ms(1500),
		Outcome: lrostore.OutcomeRetry, Code: 14, Message: "down"}
	current := lrostore.Attempt{Number: 2, Worker: "w", StartTime: ms(2000), DueTime: ms(1500)}

	running := &lrostore.Operation{State: lrostore.StateRunning, Attempt: 2}
	require.Equal(t, []lrostore.Attempt{first, current}, storekit.History(running, []byte(closed), claim))
	require.Equal(t, []lrostore.Attempt{first}, storekit.History(running, []byte(closed), storekit.Claim{}), "no claim")
	require.Equal(t, []lrostore.Attempt{current}, storekit.History(running, []byte(`not json`), claim),
		"a column that does not decode leaves the claim")

	end := time.UnixMicro(3_000_700).UTC()
	for _, c := range []struct {
		state   lrostore.State
		err     *lrostore.Failure
		outcome string
	}{
		{lrostore.StateSucceeded, nil, lrostore.OutcomeSucceeded},
		{lrostore.StateFailed, &lrostore.Failure{Code: 5, Message: strings.Repeat("é", 300)}, lrostore.OutcomeFailed},
		{lrostore.StateCancelled, &lrostore.Failure{Code: 1, Message: "cancelled"}, lrostore.OutcomeCancelled},
	} {
		op := &lrostore.Operation{State: c.state, Attempt: 2, EndTime: end, Error: c.err}
		want := current
		want.EndTime, want.Outcome = ms(3000), c.outcome
		if c.err != nil {
			want.Code, want.Message = c.err.Code, storekit.ClipMessage(c.err.Message)
		}
		require.Equal(t, []lrostore.Attempt{want}, storekit.History(op, nil, claim), c.outcome)
	}

	full := "["
	for i := range lrostore.MaxAttemptRecords {
		if i > 0 {
			full += ","
		}
		full += `{"n":` + strconv.Itoa(i+1) + `,"w":"v","s":1000,"d":1000,"e":1500,"o":"retry"}`
	}
	got := storekit.History(&lrostore.Operation{State: lrostore.StateRunning, Attempt: 101}, []byte(full+"]"), claim)
	require.Len(t, got, lrostore.MaxAttemptRecords)
	require.Equal(t, int32(2), got[0].Number, "the oldest goes")
	require.Equal(t, int32(101), got[len(got)-1].Number)
}
