package filter

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// opRow is one row of the test operations table. Nil pointers are NULLs.
type opRow struct {
	id, parent, kind string
	state            int
	errorCode        *int64
	errorMessage     *string
	metadataType     *string
	responseType     *string
	createTime       time.Time
	updateTime       time.Time
	endTime          *time.Time
}

func ptr[T any](v T) *T { return &v }

var (
	hour     = func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	sleepMD  = ptr("type.googleapis.com/lro.demo.v1.SleepMetadata")
	sleepRes = ptr("type.googleapis.com/lro.demo.v1.SleepResponse")

	testOps = []opRow{
		{id: "a1", kind: "demo.sleep", state: 0, metadataType: sleepMD, createTime: hour(0), updateTime: hour(0)},
		{id: "a2", kind: "demo.sleep", state: 1, metadataType: sleepMD, createTime: hour(1), updateTime: hour(1)},
		{id: "a3", parent: "projects/p/locations/l", kind: "demo.sleep", state: 2, metadataType: sleepMD,
			responseType: sleepRes, createTime: hour(2), updateTime: hour(3), endTime: ptr(hour(3))},
		{id: "a4", kind: "demo.fail", state: 3, errorCode: ptr[int64](5), errorMessage: ptr("thing not found"),
			createTime: hour(3), updateTime: hour(4), endTime: ptr(hour(4))},
		{id: "a5", kind: "demo.fail", state: 4, errorCode: ptr[int64](1), errorMessage: ptr("cancelled by user"),
			createTime: hour(4), updateTime: hour(5), endTime: ptr(hour(5))},
		{id: "a6", parent: "projects/p/locations/l", kind: "other_kind", state: 3, errorCode: ptr[int64](13),
			errorMessage: ptr(`100% broken_thing \ *`), createTime: hour(5), updateTime: hour(6), endTime: ptr(hour(6))},
		{id: "a7", kind: "otherXkind", state: 0, createTime: hour(6), updateTime: hour(6)},
		{id: "a8", kind: "Demo.Sleep", state: 2, responseType: sleepRes, errorMessage: ptr(""),
			createTime: hour(7), updateTime: hour(8), endTime: ptr(hour(8))},
	}
)

// openTestDB returns an in-memory SQLite database holding testOps, with
// case-sensitive LIKE as the SQLite store configures it.
func openTestDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file::memory:?_pragma=case_sensitive_like(1)")
	require.NoError(tb, err)
	db.SetMaxOpenConns(1) // one connection: each has its own in-memory database
	tb.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`CREATE TABLE operations (
		id TEXT NOT NULL PRIMARY KEY,
		parent TEXT NOT NULL,
		kind TEXT NOT NULL,
		state INTEGER NOT NULL,
		error_code INTEGER NULL,
		error_message TEXT NULL,
		metadata_type TEXT NULL,
		response_type TEXT NULL,
		create_time INTEGER NOT NULL,
		update_time INTEGER NOT NULL,
		end_time INTEGER NULL
	)`)
	require.NoError(tb, err)
	micros := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return t.UnixMicro()
	}
	for _, o := range testOps {
		_, err := db.Exec(`INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.id, o.parent, o.kind, o.state, o.errorCode, o.errorMessage, o.metadataType, o.responseType,
			o.createTime.UnixMicro(), o.updateTime.UnixMicro(), micros(o.endTime))
		require.NoError(tb, err)
	}
	return db
}

// selectIDs runs e's SQL and returns the ids of the operations it selects, in
// order.
func selectIDs(tb testing.TB, db *sql.DB, e *Expr) []string {
	tb.Helper()
	where, args := SQL(e, sqliteDialect, 2)
	args = append([]any{"zzz"}, args...) // a store parameter first
	rows, err := db.Query(`SELECT id FROM operations WHERE id < ? AND `+where+` ORDER BY id`, args...)
	require.NoError(tb, err, where)
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		require.NoError(tb, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(tb, rows.Err())
	return ids
}

// evalIDs returns the ids of the operations that eval selects.
func evalIDs(e *Expr) []string {
	ids := []string{}
	for _, o := range testOps {
		if e == nil || eval(e, o) {
			ids = append(ids, o.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// eval is a reference implementation of the filter semantics, written
// independently of the SQL, to check the SQL against.
func eval(e *Expr, o opRow) bool {
	switch e.kind {
	case exprNot:
		return !eval(e.subs[0], o)
	case exprAnd:
		for _, s := range e.subs {
			if !eval(s, o) {
				return false
			}
		}
		return true
	case exprOr:
		for _, s := range e.subs {
			if eval(s, o) {
				return true
			}
		}
		return false
	}
	c := e.cmp
	switch c.field.name {
	case "name":
		name := "operations/" + o.id
		if o.parent != "" {
			name = o.parent + "/operations/" + o.id
		}
		return evalString(c, &name)
	case "kind":
		return evalString(c, &o.kind)
	case "done":
		return (o.state >= 2) == (c.b == (c.op == opEq))
	case "state":
		return compare(int64(o.state), c.num, c.op)
	case "error":
		return o.errorCode != nil
	case "error.code":
		if o.errorCode == nil {
			return false
		}
		if c.op == opPresent {
			return *o.errorCode != 0
		}
		return compare(*o.errorCode, c.num, c.op)
	case "error.message":
		return evalString(c, o.errorMessage)
	case "metadata":
		return o.metadataType != nil
	case "metadata.@type":
		return evalString(c, o.metadataType)
	case "response":
		return o.responseType != nil
	case "response.@type":
		return evalString(c, o.responseType)
	case "create_time":
		return evalTime(c, &o.createTime)
	case "update_time":
		return evalTime(c, &o.updateTime)
	case "end_time":
		return evalTime(c, o.endTime)
	}
	panic("unknown field " + c.field.name)
}

func evalString(c comparison, v *string) bool {
	switch {
	case v == nil:
		return false
	case c.op == opPresent:
		return *v != ""
	case c.prefix || c.suffix:
		var match bool
		switch {
		case c.prefix && c.suffix:
			match = strings.Contains(*v, c.str)
		case c.prefix:
			match = strings.HasSuffix(*v, c.str)
		default:
			match = strings.HasPrefix(*v, c.str)
		}
		return match == (c.op == opEq)
	}
	return compare(*v, c.str, c.op)
}

func evalTime(c comparison, v *time.Time) bool {
	switch {
	case v == nil:
		return false
	case c.op == opPresent:
		return true
	}
	return compare(int64(v.Compare(c.t)), 0, c.op) // exact, as the SQL is
}

func compare[T int64 | string](a, b T, op op) bool {
	switch op {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opLe:
		return a <= b
	case opGt:
		return a > b
	case opGe:
		return a >= b
	}
	panic("bad op")
}

func TestSQLite(t *testing.T) {
	db := openTestDB(t)
	all := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"}
	tests := []struct {
		filter string
		want   []string
	}{
		{``, all},
		{`   `, all},

		// done compiles to the state column.
		{`done = true`, []string{"a3", "a4", "a5", "a6", "a8"}},
		{`done != false`, []string{"a3", "a4", "a5", "a6", "a8"}},
		{`done = false`, []string{"a1", "a2", "a7"}},
		{`state = PENDING`, []string{"a1", "a7"}},
		{`state = running`, []string{"a2"}},
		{`state != FAILED AND done = true`, []string{"a3", "a5", "a8"}},
		{`NOT state = SUCCEEDED`, []string{"a1", "a2", "a4", "a5", "a6", "a7"}},

		// A missing field matches nothing, even under !=; NOT flips that.
		{`error.code != 5`, []string{"a5", "a6"}},
		{`error.code != NOT_FOUND`, []string{"a5", "a6"}},
		{`NOT error.code = 5`, []string{"a1", "a2", "a3", "a5", "a6", "a7", "a8"}},
		{`-error.code = 5`, []string{"a1", "a2", "a3", "a5", "a6", "a7", "a8"}},
		{`error.message != "thing not found"`, []string{"a5", "a6", "a8"}},
		{`metadata.@type != "x"`, []string{"a1", "a2", "a3"}},
		{`NOT metadata.@type = "x"`, all},
		{`end_time > "2000-01-01T00:00:00Z"`, []string{"a3", "a4", "a5", "a6", "a8"}},
		{`NOT end_time > "2000-01-01T00:00:00Z"`, []string{"a1", "a2", "a7"}},

		// Error codes, by number and by name.
		{`error.code = NOT_FOUND`, []string{"a4"}},
		{`error.code = CANCELLED OR error.code = 13`, []string{"a5", "a6"}},
		{`error.code:INTERNAL`, []string{"a6"}},
		{`error.code > 1`, []string{"a4", "a6"}},
		{`error.code <= 5`, []string{"a4", "a5"}},

		// Has: presence.
		{`error:*`, []string{"a4", "a5", "a6"}},
		{`NOT error:*`, []string{"a1", "a2", "a3", "a7", "a8"}},
		{`-error:*`, []string{"a1", "a2", "a3", "a7", "a8"}},
		{`response:*`, []string{"a3", "a8"}},
		{`metadata:*`, []string{"a1", "a2", "a3"}},
		{`end_time:*`, []string{"a3", "a4", "a5", "a6", "a8"}},
		{`error.message:*`, []string{"a4", "a5", "a6"}}, // a8's message is empty
		{`error.code:*`, []string{"a4", "a5", "a6"}},
		{`metadata.@type:*`, []string{"a1", "a2", "a3"}},

		// Precedence: OR binds tighter than AND, a sequence is an AND.
		{`done = true AND error:* OR kind = "demo.sleep"`, []string{"a3", "a4", "a5", "a6"}},
		{`done = true error:* OR kind = "demo.sleep"`, []string{"a3", "a4", "a5", "a6"}},
		{`done = true AND (error:* OR kind = "demo.sleep")`, []string{"a3", "a4", "a5", "a6"}},
		{`(done = true AND error:*) OR kind = "demo.sleep"`, []string{"a1", "a2", "a3", "a4", "a5", "a6"}},
		{`kind = "demo.sleep" OR error:* AND done = false`, []string{"a1", "a2"}},
		{`NOT done = true OR error:*`, []string{"a1", "a2", "a4", "a5", "a6", "a7"}},
		{`NOT (done = true OR error:*)`, []string{"a1", "a2", "a7"}},

		// Wildcards, case-sensitively, with LIKE metacharacters escaped.
		{`kind = "demo.*"`, []string{"a1", "a2", "a3", "a4", "a5"}},
		{`kind = demo.*`, []string{"a1", "a2", "a3", "a4", "a5"}},
		{`kind:"demo.*"`, []string{"a1", "a2", "a3", "a4", "a5"}},
		{`kind != "demo.*"`, []string{"a6", "a7", "a8"}},
		{`kind = "*kind"`, []string{"a6", "a7"}},
		{`kind = "other_*"`, []string{"a6"}}, // not otherXkind: _ is literal
		{`kind = "*.*"`, []string{"a1", "a2", "a3", "a4", "a5", "a8"}},
		{`kind = "*"`, all},
		{`kind = "Demo*"`, []string{"a8"}},
		{`kind = "demo.sleep"`, []string{"a1", "a2", "a3"}},
		{`kind = "demo.sleep*"`, []string{"a1", "a2", "a3"}},
		{`kind = "demo"`, []string{}},
		{`error.message = "100% *"`, []string{"a6"}},
		{`error.message = "10% *"`, []string{}}, // % is literal
		{`error.message = "*\\ \*"`, []string{"a6"}},
		{`error.message = "*not*"`, []string{"a4"}},
		{`error.message != "*not*"`, []string{"a5", "a6", "a8"}},
		{`error.message:"*found"`, []string{"a4"}},
		{`metadata.@type = "*SleepMetadata"`, []string{"a1", "a2", "a3"}},
		{`response.@type = "*SleepResponse"`, []string{"a3", "a8"}},

		// Names.
		{`name = "operations/a1"`, []string{"a1"}},
		{`name = "operations/*"`, []string{"a1", "a2", "a4", "a5", "a7", "a8"}},
		{`name = "projects/p/locations/l/operations/*"`, []string{"a3", "a6"}},
		{`name = "*/a3"`, []string{"a3"}},
		{`name > "p"`, []string{"a3", "a6"}},

		// Ordering on strings is byte-wise: "Demo" < "demo" < "other".
		{`kind > "demo.sleep"`, []string{"a6", "a7"}},
		{`kind < "demo"`, []string{"a8"}},
		{`kind >= "other_kind"`, []string{"a6"}}, // 'X' < '_'
		{`kind >= "otherX"`, []string{"a6", "a7"}},

		// Times.
		{`create_time >= "2026-01-01T03:00:00Z"`, []string{"a4", "a5", "a6", "a7", "a8"}},
		{`create_time > "2026-01-01T02:59:59.9999999Z"`, []string{"a4", "a5", "a6", "a7", "a8"}},
		{`create_time <= "2026-01-01T03:00:00.0000001Z" AND create_time >= "2026-01-01T02:59:59.9999999Z"`, []string{"a4"}},
		{`createTime < "2026-01-01T01:00:00+00:00"`, []string{"a1"}},
		{`create_time = "2026-01-01T03:00:00+01:00"`, []string{"a3"}},
		{`update_time > "2026-01-01T05:00:00Z" update_time <= "2026-01-01T06:00:00Z"`, []string{"a6", "a7"}},
		{`end_time < "2026-01-01T05:00:00Z"`, []string{"a3", "a4"}},
		{`endTime != "2026-01-01T05:00:00Z"`, []string{"a3", "a4", "a6", "a8"}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := Parse(tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, selectIDs(t, db, e), "SQL")
			require.Equal(t, tt.want, evalIDs(e), "reference evaluation")
		})
	}
}
