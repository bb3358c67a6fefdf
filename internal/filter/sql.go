package filter

import (
	"strconv"
	"strings"
	"time"
)

// Dialect describes one SQL database.
//
// The compiled SQL refers to the columns kind, state, error_code,
// error_message, metadata_type, response_type, create_time, update_time and
// end_time of the operations table, and to NameExpr. Only error_code,
// error_message, metadata_type, response_type and end_time may be NULL (when
// the operation lacks the field); the others, and NameExpr, must never be.
type Dialect struct {
	// Placeholder returns the n-th bind parameter, from 1: "?" for SQLite,
	// "$n" for PostgreSQL.
	Placeholder func(n int) string
	// NameExpr is the SQL expression of the operation's full name. It must be
	// a primary expression (a column, or parenthesised), since it is used as
	// an operand of = and LIKE.
	NameExpr string
	// TimeArg returns the value bound for a time column: SQLite stores int64
	// unix microseconds, PostgreSQL timestamptz (pass the time.Time). Nil
	// binds the time.Time.
	TimeArg func(time.Time) any
	// Like returns the SQL for "expr matches the LIKE pattern", where pattern
	// is a placeholder whose value escapes the LIKE metacharacters with a
	// backslash, e.g. `expr LIKE ? ESCAPE '\'`. The match must be
	// case-sensitive. Nil uses exactly that, with the placeholder given.
	Like func(expr, pattern string) string
	// PostgresJSON reads the JSON columns metadata_json and response_json
	// as PostgreSQL jsonb, binding paths as text[]; otherwise as SQLite
	// JSON text, with json_extract.
	PostgresJSON bool
}

// The state column's values; an operation is done from stateSucceeded on.
const stateSucceeded = 2

// SQL compiles e into a boolean SQL expression over the operations table. Its
// bind parameters are numbered from firstArg (so a store can put its own
// parameters first); args are returned in order. A nil Expr yields ("1=1",
// nil).
//
// Every value from the filter is a bind parameter: strings and LIKE patterns
// as string, error codes as int64, times as Dialect.TimeArg returns them. The
// result never evaluates to NULL, and is safe to combine with other
// conditions by AND without parentheses.
func SQL(e *Expr, d Dialect, firstArg int) (where string, args []any) {
	if e == nil {
		return "1=1", nil
	}
	c := compiler{d: d, n: firstArg}
	var b strings.Builder
	c.expr(&b, e)
	return b.String(), c.args
}

type compiler struct {
	d    Dialect
	n    int // number of the next placeholder
	args []any
}

func (c *compiler) bind(v any) string {
	var ph string
	if c.d.Placeholder != nil {
		ph = c.d.Placeholder(c.n)
	} else {
		ph = "?"
	}
	c.n++
	c.args = append(c.args, v)
	return ph
}

// expr writes e and reports whether what it wrote is parenthesised: the SQL
// of a junction and of a comparison on a nullable column is, that of a NOT or
// of another comparison is not.
func (c *compiler) expr(b *strings.Builder, e *Expr) (parenthesised bool) {
	switch e.kind {
	case exprNot:
		b.WriteString("NOT ")
		var sub strings.Builder
		if c.expr(&sub, e.subs[0]) {
			b.WriteString(sub.String())
		} else {
			b.WriteString("(" + sub.String() + ")")
		}
		return false
	case exprAnd, exprOr:
		sep := " AND "
		if e.kind == exprOr {
			sep = " OR "
		}
		b.WriteByte('(')
		for i, s := range e.subs {
			if i > 0 {
				b.WriteString(sep)
			}
			c.expr(b, s)
		}
		b.WriteByte(')')
		return true
	}
	s, parenthesised := c.comparison(&e.cmp)
	b.WriteString(s)
	return parenthesised
}

var sqlOps = [...]string{opEq: "=", opNe: "<>", opLt: "<", opLe: "<=", opGt: ">", opGe: ">="}

// comparison returns the SQL of one restriction, and whether it is
// parenthesised. On a nullable column it is "(col IS NOT NULL AND cond)",
// which is false, never NULL, when the operation lacks the field, so that NOT
// turns it true.
func (c *compiler) comparison(cmp *comparison) (sql string, parenthesised bool) {
	if cmp.path != nil {
		return c.pathSQL(cmp.path), true
	}
	f := cmp.field
	col := f.column
	if f == fieldName {
		col = c.d.NameExpr
	}
	var cond string
	switch {
	case cmp.op == opPresent && (f.typ == typePresence || f.typ == typeTime):
		return col + " IS NOT NULL", false
	case f.typ == typeBool:
		if cmp.b == (cmp.op == opEq) {
			return col + " >= " + strconv.Itoa(stateSucceeded), false
		}
		return col + " < " + strconv.Itoa(stateSucceeded), false
	case f.typ == typeState:
		return col + " " + sqlOps[cmp.op] + " " + strconv.FormatInt(cmp.num, 10), false
	case cmp.op == opPresent && f.typ == typeString:
		cond = col + " <> ''"
	case cmp.op == opPresent && f.typ == typeInt:
		cond = col + " <> 0"
	case cmp.prefix || cmp.suffix:
		pattern := likeEscaper.Replace(cmp.str)
		if cmp.prefix {
			pattern = "%" + pattern
		}
		if cmp.suffix {
			pattern += "%"
		}
		cond = c.like(col, c.bind(pattern))
		if cmp.op == opNe {
			cond = "NOT (" + cond + ")"
		}
	case f.typ == typeTime && cmp.t.Nanosecond()%1000 != 0:
		// Times are stored in whole microseconds, so a finer time lies
		// strictly between two stored values: compare with those exactly.
		below := cmp.t.Truncate(time.Microsecond)
		switch cmp.op {
		case opGt, opGe:
			cond = col + " > " + c.bind(c.timeArg(below))
		case opLt, opLe:
			cond = col + " < " + c.bind(c.timeArg(below.Add(time.Microsecond)))
		case opEq:
			cond = "1 = 0"
		default:
			cond = "1 = 1"
		}
	default:
		var v any
		switch f.typ {
		case typeString:
			v = cmp.str
		case typeInt:
			v = cmp.num
		case typeTime:
			v = c.timeArg(cmp.t)
		}
		cond = col + " " + sqlOps[cmp.op] + " " + c.bind(v)
	}
	if f.nullable {
		return "(" + col + " IS NOT NULL AND " + cond + ")", true
	}
	return cond, false
}

func (c *compiler) timeArg(t time.Time) any {
	if c.d.TimeArg != nil {
		return c.d.TimeArg(t)
	}
	return t
}

func (c *compiler) like(expr, pattern string) string {
	if c.d.Like != nil {
		return c.d.Like(expr, pattern)
	}
	return expr + " LIKE " + pattern + ` ESCAPE '\'`
}

// likeEscaper escapes the LIKE metacharacters, with backslash as the escape.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
