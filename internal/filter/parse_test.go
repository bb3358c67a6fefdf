package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		filter string
		want   string // canonical String()
	}{
		// Empty filters match everything.
		{"", ""},
		{" \t\n ", ""},

		// Values and quoting.
		{`kind = "demo.sleep"`, `kind = "demo.sleep"`},
		{`kind="demo.sleep"`, `kind = "demo.sleep"`},
		{`kind = 'demo.sleep'`, `kind = "demo.sleep"`},
		{`kind = demo.sleep`, `kind = "demo.sleep"`},
		{`kind = demo-sleep`, `kind = "demo-sleep"`},
		{`kind = 5`, `kind = "5"`},
		{`kind = "AND"`, `kind = "AND"`},
		{`kind = a.AND`, `kind = "a.AND"`},
		{`kind = "é ü"`, `kind = "é ü"`},
		{`error.message = 'it\'s "quoted" \\ \n\t\r'`, `error.message = "it's \"quoted\" \\ \n\t\r"`},
		{`"kind" = x`, `kind = "x"`},

		// Comparators.
		{`kind != x`, `kind != "x"`},
		{`kind < x`, `kind < "x"`},
		{`kind <= x`, `kind <= "x"`},
		{`kind > x`, `kind > "x"`},
		{`kind >= x`, `kind >= "x"`},
		{`name = "operations/abc"`, `name = "operations/abc"`},

		// Has: presence, and equality on scalars.
		{`error:*`, `error:*`},
		{`metadata : *`, `metadata:*`},
		{`response:"*"`, `response:*`},
		{`kind:*`, `kind:*`},
		{`error.code:*`, `error.code:*`},
		{`end_time:*`, `end_time:*`},
		{`endTime:*`, `end_time:*`},
		{`kind:demo.sleep`, `kind = "demo.sleep"`},
		{`kind:"demo.*"`, `kind = "demo.*"`},
		{`error.code:CANCELLED`, `error.code = 1`},

		// Wildcards.
		{`kind = "demo.*"`, `kind = "demo.*"`},
		{`kind = "*.sleep"`, `kind = "*.sleep"`},
		{`kind = "*sleep*"`, `kind = "*sleep*"`},
		{`kind = "*"`, `kind = "*"`},
		{`kind = *`, `kind = "*"`},
		{`kind = "**"`, `kind = "**"`},
		{`name = operations/*`, `name = "operations/*"`},
		{`kind != "demo.*"`, `kind != "demo.*"`},
		{`kind = "\*literal"`, `kind = "\*literal"`},
		{`kind = "*\**"`, `kind = "*\**"`},
		{`kind < "a*b"`, `kind < "a\*b"`},      // literal in ordering comparisons
		{`kind >= "*"`, `kind >= "\*"`},        // likewise
		{`kind = "a%_\\*"`, `kind = "a%_\\*"`}, // LIKE metacharacters are ordinary

		// Types.
		{`done = true`, `done = true`},
		{`done != false`, `done != false`},
		{`done = "true"`, `done = true`},
		{`error.code = 5`, `error.code = 5`},
		{`error.code = NOT_FOUND`, `error.code = 5`},
		{`state = RUNNING`, `state = RUNNING`},
		{`state != "cancelled"`, `state != CANCELLED`},
		{`error.code = "UNAUTHENTICATED"`, `error.code = 16`},
		{`error.code != -1`, `error.code != -1`},
		{`error.code >= "3"`, `error.code >= 3`},
		{`error.code < 2147483647`, `error.code < 2147483647`},
		{`error.message = "boom"`, `error.message = "boom"`},
		{`metadata.@type = "type.googleapis.com/lro.demo.v1.SleepMetadata"`, `metadata.@type = "type.googleapis.com/lro.demo.v1.SleepMetadata"`},
		{`response.@type:*`, `response.@type:*`},
		{`create_time > "2026-01-01T00:00:00Z"`, `create_time > "2026-01-01T00:00:00Z"`},
		{`createTime > "2026-01-01T00:00:00Z"`, `create_time > "2026-01-01T00:00:00Z"`},
		{`updateTime <= '2026-01-01T01:00:00+01:00'`, `update_time <= "2026-01-01T00:00:00Z"`},
		{`end_time < "2026-01-01T00:00:00.123456Z"`, `end_time < "2026-01-01T00:00:00.123456Z"`},
		{`end_time < "2026-01-01T00:00:00.500000Z"`, `end_time < "2026-01-01T00:00:00.5Z"`},

		// Precedence: OR binds tighter than AND; a sequence is an AND.
		{`kind = a AND done = true OR error:*`, `kind = "a" AND (done = true OR error:*)`},
		{`kind = a OR done = true AND error:*`, `(kind = "a" OR done = true) AND error:*`},
		{`kind = a done = true OR error:*`, `kind = "a" AND (done = true OR error:*)`},
		{`kind = a done = true`, `kind = "a" AND done = true`},
		{`kind = a OR kind = b kind = c OR kind = d`, `(kind = "a" OR kind = "b") AND (kind = "c" OR kind = "d")`},
		{`(kind = a AND done = true) OR error:*`, `(kind = "a" AND done = true) OR error:*`},
		{`kind = a AND (kind = b AND kind = c)`, `kind = "a" AND kind = "b" AND kind = "c"`},
		{`kind = a OR (kind = b OR kind = c)`, `kind = "a" OR kind = "b" OR kind = "c"`},
		{`((kind = a))`, `kind = "a"`},
		{`( kind = a )`, `kind = "a"`},
		{`kind = a OR(kind = b)`, `kind = "a" OR kind = "b"`},

		// Negation.
		{`NOT done = true`, `NOT done = true`},
		{`-done = true`, `NOT done = true`},
		{`NOT(done = true)`, `NOT done = true`},
		{`NOT done = true OR error:*`, `NOT done = true OR error:*`},
		{`NOT (kind = a OR kind = b)`, `NOT (kind = "a" OR kind = "b")`},
		{`-(kind = a kind = b)`, `NOT (kind = "a" AND kind = "b")`},
		{`NOT (NOT done = true)`, `NOT (NOT done = true)`},
		{`kind = a -error:*`, `kind = "a" AND NOT error:*`},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := Parse(tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, e.String())
			if tt.want == "" {
				require.Nil(t, e)
				return
			}
			// The canonical form is a fixed point.
			again, err := Parse(e.String())
			require.NoError(t, err)
			require.Equal(t, tt.want, again.String())
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		filter string
		pos    int
		msg    string // a substring of Error.Msg
	}{
		// Fields.
		{`foo = 1`, 1, `unknown field "foo"; known fields: name, kind, done, state, error, error.code, error.message, metadata, metadata.@type, response, response.@type, create_time, update_time, end_time`},
		{`kind = a AND error.foo = 1`, 14, `unknown field "error.foo"`},
		{`Kind = a`, 1, `unknown field "Kind"`},
		{`error. code = 5`, 6, `unexpected space after '.'`},
		{`error.(code) = 5`, 6, `expected a name after '.', found '('`},

		// Lexical errors.
		{`kind = "abc`, 8, `unterminated string`},
		{`kind = 'abc"`, 8, `unterminated string`},
		{`kind = "abc\`, 8, `unterminated string`},
		{`kind = "a\qb"`, 10, `unknown escape sequence \q`},
		{`kind = a\b`, 9, `backslash`},
		{`kind ! = a`, 6, `'!' must be followed by '='`},
		{"kind = \xff", 8, `not valid UTF-8`},
		{"kind = \"a\x00\"", 10, `NUL`},
		{"é = \xff", 5, `not valid UTF-8`}, // columns count runes, not bytes

		// Structure.
		{`(kind = a`, 1, `unbalanced parentheses: this ( is never closed`},
		{`kind = a)`, 9, `unbalanced parentheses: this ) closes nothing`},
		{`((kind = a)`, 1, `never closed`},
		{`(kind = a =`, 11, `expected ) to close the ( at column 1, found '='`},
		{`()`, 1, `empty parentheses`},
		{`kind = a AND`, 13, `AND must be followed by a restriction, not end of filter`},
		{`kind = a AND `, 14, `AND must be followed by a restriction, not end of filter`},
		{`kind = a OR`, 12, `OR must be followed by a restriction, not end of filter`},
		{`kind = a AND OR kind = b`, 14, `AND must be followed by a restriction, not OR`},
		{`kind = a OR )`, 13, `OR must be followed by a restriction, not ')'`},
		{`AND kind = a`, 1, `expected a restriction such as kind = "value", found AND`},
		{`NOT`, 4, `NOT must be followed by a restriction or a parenthesised expression, not end of filter`},
		{`NOT NOT done = true`, 5, `NOT must be followed by a restriction or a parenthesised expression, not NOT`},
		{`kind = a -`, 11, `- must be followed by a restriction`},
		{`kind = a =`, 10, `unexpected '='`},
		{`kind = a, kind = b`, 9, `unexpected ','`},
		{`kind = a .b`, 10, `unexpected '.'`},
		{`kind == a`, 7, `expected a value after =, found '='`},
		{`kind =`, 7, `expected a value after =, found end of filter`},
		{`kind = OR`, 8, `found the keyword OR (quote it`},
		{`kind = (a OR b)`, 8, `a parenthesised value is not supported`},

		// Bare literals and function calls.
		{`foo`, 1, `bare value "foo": global search is not supported`},
		{`"hello world"`, 1, `bare value "hello world"`},
		{`kind = a foo`, 10, `bare value "foo"`},
		{`-5`, 1, `bare value "-5"`},
		{`error`, 1, `field error must be compared with something, e.g. error:*`},
		{`done`, 1, `e.g. done = true`},
		{`kind = a and kind = b`, 10, `"and" is not an operator: AND, OR and NOT must be upper case`},
		{`f(x)`, 1, `function calls such as f(...) are not supported`},
		{`a.b(x) = 1`, 1, `function calls such as a.b(...) are not supported`},
		{`kind = lower(x)`, 8, `function calls such as lower(...) are not supported`},

		// Types.
		{`done < true`, 6, `field done is a bool: it supports only = and !=, not <`},
		{`done >= false`, 6, `not >=`},
		{`done:true`, 5, `field done supports only = and !=, not :`},
		{`done:*`, 5, `field done supports only = and !=, not :`},
		{`state > RUNNING`, 7, `field state supports only = and !=, not >`},
		{`state:*`, 6, `field state supports only = and !=, not :`},
		{`state = DONE`, 9, `field state wants one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, not "DONE"`},
		{`state = RUN*`, 9, `field state wants one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, not "RUN*"`},
		{`done = yes`, 8, `field done wants true or false, not "yes"`},
		{`done = TRUE`, 8, `wants true or false`},
		{`error.code = "abc"`, 14, `field error.code wants an integer or a google.rpc.Code name such as NOT_FOUND, not "abc"`},
		{`error.code = not_found`, 14, `not "not_found"`},
		{`error.code = 1.5`, 14, `not "1.5"`},
		{`error.code = 2147483648`, 14, `out of range`},
		{`error.code = *`, 14, `wildcards apply only to string fields (to test for presence, write error.code:*)`},
		{`error = 5`, 7, `field error can only be tested for presence, as error:*; to compare its contents use error.code and error.message`},
		{`metadata != x`, 10, `field metadata can only be tested for presence`},
		{`error:5`, 7, `field error can only be tested for presence, as error:*`},
		{`create_time > "yesterday"`, 15, `field create_time wants a quoted RFC 3339 timestamp such as "2026-01-01T00:00:00Z", not "yesterday"`},
		{`create_time > 2026-01-01T00:00:00Z`, 15, `not "2026-01-01T00"`},
		{`create_time > "2026-01-01"`, 15, `RFC 3339`},
		{`create_time > "2026-13-01T00:00:00Z"`, 15, `RFC 3339`},
		{`update_time = "2026*"`, 15, `wildcards apply only to string fields`},
		{`kind = "a*b"`, 8, `a wildcard * may appear only at the start or the end of a value`},
		{`kind = "***"`, 8, `a wildcard * may appear only at the start or the end`},
		{`name = operations/*/x`, 8, `a wildcard * may appear only`},

		// Limits.
		{strings.Repeat("(", 65) + "done = true" + strings.Repeat(")", 65), 65, `parentheses nest more than 64 deep`},
		{`kind = "` + strings.Repeat("a", 4096) + `"`, 4097, `the filter is 4105 bytes long; at most 4096 are allowed`},
		{`kind = "` + strings.Repeat("é", 4096) + `"`, 2053, `at most 4096`},
	}
	for _, tt := range tests {
		name := tt.filter
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			e, err := Parse(tt.filter)
			require.Nil(t, e)
			var ferr *Error
			require.True(t, errors.As(err, &ferr), "got %v", err)
			require.Contains(t, ferr.Msg, tt.msg)
			require.Equal(t, tt.pos, ferr.Pos, ferr.Msg)
			require.True(t, strings.HasPrefix(err.Error(), "filter: column "), err.Error())
		})
	}
}

func TestParseLimits(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth) + "done = true" + strings.Repeat(")", MaxDepth)
	e, err := Parse(deep)
	require.NoError(t, err)
	require.Equal(t, "done = true", e.String())

	long := `kind = "` + strings.Repeat("a", MaxLength-9) + `"`
	require.Len(t, long, MaxLength)
	_, err = Parse(long)
	require.NoError(t, err)

	// Many operands are fine within the length limit; the parser's recursion
	// depends on nesting only.
	many := strings.Repeat("done = true AND ", 200) + "NOT done = true"
	e, err = Parse(many)
	require.NoError(t, err)
	require.Len(t, e.subs, 201)
}

func TestErrorString(t *testing.T) {
	_, err := Parse(`foo = 1`)
	require.EqualError(t, err, `filter: column 1: unknown field "foo"; known fields: `+knownFields)
}
