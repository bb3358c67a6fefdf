package filter

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var fuzzSeeds = []string{
	``,
	` `,
	`kind = "demo.sleep"`,
	`kind = demo.* AND NOT done = true`,
	`done = true AND error:* OR kind = "demo.sleep"`,
	`(done = true AND error:*) OR -kind = 'a\'b'`,
	`NOT (NOT (error.code != NOT_FOUND))`,
	`error.code:* error.message:"*not*" metadata.@type:*`,
	`name = "projects/p/locations/l/operations/*" OR name = "*/a1"`,
	`response.@type = "*Response" response:* metadata:*`,
	`createTime > "2026-01-01T03:00:00+01:00" end_time <= "2026-01-01T05:00:00.000001Z"`,
	`update_time != "2026-01-01T06:00:00Z" OR end_time:*`,
	`create_time >= "2026-01-01T02:59:59.9999999Z" AND create_time < "2026-01-01T04:00:00.0000001Z"`,
	`create_time = "2026-01-01T03:00:00.0000001Z" OR update_time != "2026-01-01T03:00:00.0000001Z"`,
	`error.message = "*100% \\ _\**"`,
	`kind >= "a*b" kind < z`,
	`error.code > -3 AND error.code <= 2147483647`,
	`kind = a OR(kind = b)`,
	`NOT(done = false)`,
	`foo = 1`,
	`kind = "abc`,
	`(kind = a`,
	`kind = a)`,
	`f(x)`,
	`done < true`,
	`error.code = "abc"`,
	`kind = a AND`,
	`kind = a b`,
	`kind ! = a`,
	`kind = "a*b"`,
	`create_time > 2026-01-01T00:00:00Z`,
	`kind = "\q"`,
	"kind = \xff",
	strings.Repeat("(", 70) + "done = true" + strings.Repeat(")", 70),
}

var pgPlaceholder = regexp.MustCompile(`\$([0-9]+)`)

// FuzzParse checks that Parse never panics and returns either an Expr or an
// *Error; that a parsed filter compiles to SQL with exactly one placeholder
// per argument, which SQLite accepts and which selects the same operations as
// the reference evaluator; and that String is canonical.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	db := openTestDB(f)
	f.Fuzz(func(t *testing.T, filter string) {
		e, err := Parse(filter)
		if err != nil {
			require.Nil(t, e)
			var ferr *Error
			require.True(t, errors.As(err, &ferr), "not an *Error: %#v", err)
			require.GreaterOrEqual(t, ferr.Pos, 1, ferr.Msg)
			require.LessOrEqual(t, ferr.Pos, utf8.RuneCountInString(filter)+1, ferr.Msg)
			require.NotEmpty(t, ferr.Msg)
			return
		}
		if e == nil {
			require.Empty(t, strings.TrimSpace(filter))
			return
		}

		where, args := SQL(e, sqliteDialect, 1)
		require.Equal(t, strings.Count(where, "?"), len(args), where)
		for _, a := range args {
			switch a.(type) {
			case string, int64:
			default:
				t.Fatalf("argument %#v of type %T", a, a)
			}
		}

		where, args = SQL(e, pgDialect, 3)
		matches := pgPlaceholder.FindAllStringSubmatch(where, -1)
		require.Len(t, matches, len(args), where)
		for i, m := range matches {
			require.Equal(t, strconv.Itoa(3+i), m[1], where)
		}
		for _, a := range args {
			switch a.(type) {
			case string, int64, time.Time:
			default:
				t.Fatalf("argument %#v of type %T", a, a)
			}
		}

		// String is a fixed point. Canonicalising can lengthen a filter (or,
		// by making the OR-in-AND grouping explicit, deepen it) beyond the
		// limits, which are not what this checks.
		s := e.String()
		again, perr := parse(s, limits{length: 1 << 30, depth: 1 << 30})
		require.Nil(t, perr, "re-parsing %q", s)
		require.Equal(t, s, again.String())

		require.Equal(t, evalIDs(e), selectIDs(t, db, e), "filter %q, canonically %q", filter, s)
	})
}
