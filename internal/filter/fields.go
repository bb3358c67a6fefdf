package filter

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

type fieldType uint8

const (
	typeString fieldType = iota
	typeInt
	typeBool
	typeTime
	// typePresence is a message field that a filter can only test for
	// presence (error:*); its contents are reached through other fields.
	typePresence
	// typeState is the operation's state, by name (PENDING, RUNNING,
	// SUCCEEDED, FAILED, CANCELLED); only = and != compare it.
	typeState
)

// field is a filterable field of an operation.
type field struct {
	name     string // canonical name, as in the filter
	typ      fieldType
	column   string // SQL column; empty for name, which is Dialect.NameExpr
	nullable bool   // column is NULL when the operation lacks the field
}

var (
	fieldName = &field{name: "name", typ: typeString}

	// fieldList is every field, in the order error messages list them.
	fieldList = []*field{
		fieldName,
		{name: "kind", typ: typeString, column: "kind"},
		{name: "done", typ: typeBool, column: "state"},
		{name: "state", typ: typeState, column: "state"},
		{name: "error", typ: typePresence, column: "error_code", nullable: true},
		{name: "error.code", typ: typeInt, column: "error_code", nullable: true},
		{name: "error.message", typ: typeString, column: "error_message", nullable: true},
		{name: "metadata", typ: typePresence, column: "metadata_type", nullable: true},
		{name: "metadata.@type", typ: typeString, column: "metadata_type", nullable: true},
		{name: "response", typ: typePresence, column: "response_type", nullable: true},
		{name: "response.@type", typ: typeString, column: "response_type", nullable: true},
		{name: "create_time", typ: typeTime, column: "create_time"},
		{name: "update_time", typ: typeTime, column: "update_time"},
		{name: "end_time", typ: typeTime, column: "end_time", nullable: true},
	}

	// fields maps canonical names and lowerCamelCase aliases to fields.
	fields = func() map[string]*field {
		m := make(map[string]*field)
		for _, f := range fieldList {
			m[f.name] = f
		}
		m["createTime"] = m["create_time"]
		m["updateTime"] = m["update_time"]
		m["endTime"] = m["end_time"]
		return m
	}()

	knownFields = func() string {
		names := make([]string, len(fieldList))
		for i, f := range fieldList {
			names[i] = f.name
		}
		return strings.Join(names, ", ")
	}()
)

// example is a restriction on f, for error messages.
func (f *field) example() string {
	switch f.typ {
	case typeInt:
		return f.name + " = NOT_FOUND"
	case typeBool:
		return f.name + " = true"
	case typeState:
		return f.name + " = RUNNING"
	case typeTime:
		return f.name + ` > "2026-01-01T00:00:00Z"`
	case typePresence:
		return f.name + ":*"
	}
	return f.name + ` = "value"`
}

// subfields lists the fields inside a presence-only field f.
func (f *field) subfields() string {
	var names []string
	for _, g := range fieldList {
		if strings.HasPrefix(g.name, f.name+".") {
			names = append(names, g.name)
		}
	}
	return strings.Join(names, " and ")
}

// states maps the names of the states to the values of the state column
// (lrostore.State), in their order.
var states = map[string]int64{"PENDING": 0, "RUNNING": 1, "SUCCEEDED": 2, "FAILED": 3, "CANCELLED": 4}

// stateNames are the states' names in the order of their values.
var stateNames = []string{"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}

// rpcCodes maps the names of the google.rpc.Code values to their numbers.
var rpcCodes = map[string]int64{
	"OK":                  0,
	"CANCELLED":           1,
	"UNKNOWN":             2,
	"INVALID_ARGUMENT":    3,
	"DEADLINE_EXCEEDED":   4,
	"NOT_FOUND":           5,
	"ALREADY_EXISTS":      6,
	"PERMISSION_DENIED":   7,
	"RESOURCE_EXHAUSTED":  8,
	"FAILED_PRECONDITION": 9,
	"ABORTED":             10,
	"OUT_OF_RANGE":        11,
	"UNIMPLEMENTED":       12,
	"INTERNAL":            13,
	"UNAVAILABLE":         14,
	"DATA_LOSS":           15,
	"UNAUTHENTICATED":     16,
}

type op uint8

const (
	opEq op = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opPresent // field:*
)

var opText = [...]string{opEq: "=", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">=", opPresent: ":"}

var tokenOps = map[tokenKind]op{tokEq: opEq, tokNe: opNe, tokLt: opLt, tokLe: opLe, tokGt: opGt, tokGe: opGe, tokHas: opEq}

// literal is a value as written: one or more words joined by dots.
type literal struct {
	text  string
	stars []int // byte offsets in text of the * characters that were not escaped
	pos   int   // rune column of the first word
	// quoted is a single STRING: a value inside a google.protobuf.Struct
	// is then a string, whatever it reads as.
	quoted bool
}

func (l literal) isStar() bool { return l.text == "*" && len(l.stars) == 1 }

// comparison is a checked restriction.
type comparison struct {
	field  *field
	op     op
	str    string    // typeString: the value, without its wildcards
	prefix bool      // typeString, opEq or opNe: the value began with a wildcard
	suffix bool      // typeString, opEq or opNe: the value ended with a wildcard
	num    int64     // typeInt
	b      bool      // typeBool
	t      time.Time // typeTime, in UTC
	path   *pathCmp  // a restriction on metadata.<path> or response.<path>; field is nil
}

// check type-checks the restriction "f opTok arg".
func check(f *field, opTok token, arg literal) (comparison, *Error) {
	c := comparison{field: f, op: tokenOps[opTok.kind]}
	if opTok.kind == tokHas {
		switch {
		case f.typ == typeBool || f.typ == typeState:
			return c, errorf(opTok.pos, "field %s supports only = and !=, not :", f.name)
		case arg.isStar():
			c.op = opPresent
			return c, nil
		case f.typ == typePresence:
			return c, errorf(arg.pos, "field %s can only be tested for presence, as %s:*", f.name, f.name)
		}
		// AIP-160: "m.foo:42" is true if m.foo is 42. For a scalar field,
		// "has" a value means equals it.
	}
	switch f.typ {
	case typePresence:
		return c, errorf(opTok.pos, "field %s can only be tested for presence, as %s:*; to compare its contents use %s",
			f.name, f.name, f.subfields())

	case typeState:
		if c.op != opEq && c.op != opNe {
			return c, errorf(opTok.pos, "field %s supports only = and !=, not %s", f.name, opTok.text)
		}
		n, ok := states[strings.ToUpper(arg.text)]
		if !ok || len(arg.stars) > 0 {
			return c, errorf(arg.pos, "field %s wants one of %s, not %s", f.name, strings.Join(stateNames, ", "), strconv.Quote(arg.text))
		}
		c.num = n

	case typeBool:
		if c.op != opEq && c.op != opNe {
			return c, errorf(opTok.pos, "field %s is a bool: it supports only = and !=, not %s", f.name, opTok.text)
		}
		switch {
		case arg.text == "true" && arg.stars == nil:
			c.b = true
		case arg.text == "false" && arg.stars == nil:
		default:
			return c, errorf(arg.pos, "field %s wants true or false, not %s", f.name, strconv.Quote(arg.text))
		}

	case typeInt:
		if len(arg.stars) > 0 {
			return c, errorf(arg.pos, "wildcards apply only to string fields (to test for presence, write %s:*)", f.name)
		}
		if n, ok := rpcCodes[arg.text]; ok {
			c.num = n
			break
		}
		n, err := strconv.ParseInt(arg.text, 10, 32)
		if errors.Is(err, strconv.ErrRange) {
			return c, errorf(arg.pos, "field %s wants a 32-bit integer; %s is out of range", f.name, arg.text)
		}
		if err != nil {
			return c, errorf(arg.pos, "field %s wants an integer or a google.rpc.Code name such as NOT_FOUND, not %s",
				f.name, strconv.Quote(arg.text))
		}
		c.num = n

	case typeTime:
		if len(arg.stars) > 0 {
			return c, errorf(arg.pos, "wildcards apply only to string fields (to test for presence, write %s:*)", f.name)
		}
		t, err := time.Parse(time.RFC3339Nano, arg.text)
		if err != nil {
			return c, errorf(arg.pos, "field %s wants a quoted RFC 3339 timestamp such as \"2026-01-01T00:00:00Z\", not %s",
				f.name, strconv.Quote(arg.text))
		}
		c.t = t.UTC()

	case typeString:
		c.str = arg.text
		if (c.op != opEq && c.op != opNe) || len(arg.stars) == 0 {
			break // In ordering comparisons, * is literal.
		}
		last := len(arg.text) - 1
		for _, at := range arg.stars {
			switch {
			case at == 0 && !c.prefix:
				c.prefix = true
			case at == last:
				c.suffix = true
			default:
				return c, errorf(arg.pos, `a wildcard * may appear only at the start or the end of a value; write \* in a quoted string for a literal *`)
			}
		}
		start, end := 0, len(arg.text)
		if c.prefix {
			start++
		}
		if c.suffix {
			end--
		}
		c.str = arg.text[start:end]
	}
	return c, nil
}
