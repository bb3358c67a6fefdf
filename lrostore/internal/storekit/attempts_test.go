package storekit_test

import (
	"encoding/json"
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
	require.Equal(t, `[{"n":1,"w":"w\"1","s":1000,"d":1000}]`, storekit.InsertedAttempts(`w"1`, time.UnixMilli(1000)))
}
