package filter

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sqliteDialect is like the SQLite store's: ? placeholders, times as unix
// microseconds.
var sqliteDialect = Dialect{
	Placeholder: func(int) string { return "?" },
	NameExpr:    "(CASE WHEN parent = '' THEN 'operations/' ELSE parent || '/operations/' END || id)",
	TimeArg:     func(t time.Time) any { return t.UnixMicro() },
	Like:        func(expr, pattern string) string { return expr + " LIKE " + pattern + ` ESCAPE '\'` },
}

// pgDialect is like the PostgreSQL store's: $n placeholders, times as
// time.Time.
var pgDialect = Dialect{
	Placeholder:  func(n int) string { return "$" + strconv.Itoa(n) },
	NameExpr:     "full_name",
	TimeArg:      func(t time.Time) any { return t },
	Like:         func(expr, pattern string) string { return expr + " LIKE " + pattern + ` ESCAPE '\'` },
	PostgresJSON: true,
}

func TestSQL(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		filter  string
		sqlite  string
		pg      string // with firstArg 3
		args    []any  // SQLite's; PostgreSQL's differ only in times
		pgTimes []any  // PostgreSQL's args, when they differ
	}{
		{
			filter: ``,
			sqlite: `1=1`,
			pg:     `1=1`,
		},
		{
			filter: `kind = "demo.sleep"`,
			sqlite: `kind = ?`,
			pg:     `kind = $3`,
			args:   []any{"demo.sleep"},
		},
		{
			filter: `kind >= "a*b"`,
			sqlite: `kind >= ?`,
			pg:     `kind >= $3`,
			args:   []any{"a*b"},
		},
		{
			filter: `name = "operations/x"`,
			sqlite: `(CASE WHEN parent = '' THEN 'operations/' ELSE parent || '/operations/' END || id) = ?`,
			pg:     `full_name = $3`,
			args:   []any{"operations/x"},
		},
		{
			filter: `done = true`,
			sqlite: `state >= 2`,
			pg:     `state >= 2`,
		},
		{
			filter: `state = RUNNING`,
			sqlite: `state = 1`,
			pg:     `state = 1`,
		},
		{
			filter: `state != cancelled`,
			sqlite: `state <> 4`,
			pg:     `state <> 4`,
		},
		{
			filter: `done != true`,
			sqlite: `state < 2`,
			pg:     `state < 2`,
		},
		{
			filter: `done = false`,
			sqlite: `state < 2`,
			pg:     `state < 2`,
		},
		{
			filter: `done != false`,
			sqlite: `state >= 2`,
			pg:     `state >= 2`,
		},
		{
			filter: `error.code != NOT_FOUND`,
			sqlite: `(error_code IS NOT NULL AND error_code <> ?)`,
			pg:     `(error_code IS NOT NULL AND error_code <> $3)`,
			args:   []any{int64(5)},
		},
		{
			filter: `NOT error.code = 5`,
			sqlite: `NOT (error_code IS NOT NULL AND error_code = ?)`,
			pg:     `NOT (error_code IS NOT NULL AND error_code = $3)`,
			args:   []any{int64(5)},
		},
		{
			filter: `-kind = a`,
			sqlite: `NOT (kind = ?)`,
			pg:     `NOT (kind = $3)`,
			args:   []any{"a"},
		},
		{
			filter: `error:*`,
			sqlite: `error_code IS NOT NULL`,
			pg:     `error_code IS NOT NULL`,
		},
		{
			filter: `NOT error:* AND NOT metadata:* AND response:*`,
			sqlite: `(NOT (error_code IS NOT NULL) AND NOT (metadata_type IS NOT NULL) AND response_type IS NOT NULL)`,
			pg:     `(NOT (error_code IS NOT NULL) AND NOT (metadata_type IS NOT NULL) AND response_type IS NOT NULL)`,
		},
		{
			filter: `kind:* error.code:* error.message:* end_time:*`,
			sqlite: `(kind <> '' AND (error_code IS NOT NULL AND error_code <> 0) AND (error_message IS NOT NULL AND error_message <> '') AND end_time IS NOT NULL)`,
			pg:     `(kind <> '' AND (error_code IS NOT NULL AND error_code <> 0) AND (error_message IS NOT NULL AND error_message <> '') AND end_time IS NOT NULL)`,
		},
		{
			filter: `kind = "demo.*"`,
			sqlite: `kind LIKE ? ESCAPE '\'`,
			pg:     `kind LIKE $3 ESCAPE '\'`,
			args:   []any{"demo.%"},
		},
		{
			filter: `error.message = "*100%_\\*"`,
			sqlite: `(error_message IS NOT NULL AND error_message LIKE ? ESCAPE '\')`,
			pg:     `(error_message IS NOT NULL AND error_message LIKE $3 ESCAPE '\')`,
			args:   []any{`%100\%\_\\%`},
		},
		{
			filter: `error.message = "100%_\\"`,
			sqlite: `(error_message IS NOT NULL AND error_message = ?)`,
			pg:     `(error_message IS NOT NULL AND error_message = $3)`,
			args:   []any{`100%_\`},
		},
		{
			filter: `name != "*/x"`,
			sqlite: `NOT ((CASE WHEN parent = '' THEN 'operations/' ELSE parent || '/operations/' END || id) LIKE ? ESCAPE '\')`,
			pg:     `NOT (full_name LIKE $3 ESCAPE '\')`,
			args:   []any{"%/x"},
		},
		{
			filter: `metadata.@type:"*Metadata"`,
			sqlite: `(metadata_type IS NOT NULL AND metadata_type LIKE ? ESCAPE '\')`,
			pg:     `(metadata_type IS NOT NULL AND metadata_type LIKE $3 ESCAPE '\')`,
			args:   []any{"%Metadata"},
		},
		{
			filter: `kind = a AND done = true OR error:*`,
			sqlite: `(kind = ? AND (state >= 2 OR error_code IS NOT NULL))`,
			pg:     `(kind = $3 AND (state >= 2 OR error_code IS NOT NULL))`,
			args:   []any{"a"},
		},
		{
			filter: `kind = a OR kind = b AND error.code = 5 response.@type = r`,
			sqlite: `((kind = ? OR kind = ?) AND (error_code IS NOT NULL AND error_code = ?) AND (response_type IS NOT NULL AND response_type = ?))`,
			pg:     `((kind = $3 OR kind = $4) AND (error_code IS NOT NULL AND error_code = $5) AND (response_type IS NOT NULL AND response_type = $6))`,
			args:   []any{"a", "b", int64(5), "r"},
		},
		{
			filter: `NOT (kind = a OR NOT kind = b)`,
			sqlite: `NOT (kind = ? OR NOT (kind = ?))`,
			pg:     `NOT (kind = $3 OR NOT (kind = $4))`,
			args:   []any{"a", "b"},
		},
		{
			filter:  `create_time > "2026-01-01T00:00:00Z" AND updateTime <= "2026-01-01T01:00:00+01:00"`,
			sqlite:  `(create_time > ? AND update_time <= ?)`,
			pg:      `(create_time > $3 AND update_time <= $4)`,
			args:    []any{t0.UnixMicro(), t0.UnixMicro()},
			pgTimes: []any{t0, t0},
		},
		{
			filter:  `end_time < "2026-01-01T00:00:00.000001Z"`,
			sqlite:  `(end_time IS NOT NULL AND end_time < ?)`,
			pg:      `(end_time IS NOT NULL AND end_time < $3)`,
			args:    []any{t0.UnixMicro() + 1},
			pgTimes: []any{t0.Add(time.Microsecond)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := Parse(tt.filter)
			require.NoError(t, err)

			where, args := SQL(e, sqliteDialect, 1)
			require.Equal(t, tt.sqlite, where)
			require.Equal(t, tt.args, args)

			where, args = SQL(e, pgDialect, 3)
			require.Equal(t, tt.pg, where)
			want := tt.args
			if tt.pgTimes != nil {
				want = tt.pgTimes
			}
			require.Equal(t, want, args)
		})
	}
}

// TestSQLDefaults checks the zero Dialect's fallbacks.
func TestSQLDefaults(t *testing.T) {
	e, err := Parse(`kind = "a*" create_time > "2026-01-01T00:00:00Z"`)
	require.NoError(t, err)
	where, args := SQL(e, Dialect{}, 1)
	require.Equal(t, `(kind LIKE ? ESCAPE '\' AND create_time > ?)`, where)
	require.Equal(t, []any{"a%", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, args)
}
