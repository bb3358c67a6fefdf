package lrostore

import (
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"lro.dev/lro/internal/filter"
)

// Filter is a parsed and checked AIP-160 filter over operations, as
// ListOperations takes it; see ParseFilter. A store compiles it to SQL with
// its SQL method. The nil *Filter matches every operation.
type Filter struct {
	expr *filter.Expr
}

// ParseFilter parses and checks the text of a filter. An empty or
// all-whitespace filter returns (nil, nil), which matches every operation.
// The error says where and what is wrong.
func ParseFilter(text string) (*Filter, error) {
	return ParseFilterKinds(text, nil)
}

// FilterKind describes a registered kind's messages to ParseFilterKinds.
// Metadata and Response are nil when the kind has no such message; a
// google.protobuf.Struct accepts any path, compared as JSON values.
type FilterKind struct {
	Name     string
	Metadata protoreflect.MessageDescriptor
	Response protoreflect.MessageDescriptor
}

// ParseFilterKinds is ParseFilter, and accepts the fields metadata.<path>
// and response.<path> of the kinds' messages. A filter's top-level
// metadata.@type = T (response.@type) and kind = K restrictions narrow the
// types a path is resolved in; a path that no type in scope has is an
// error. The compiled SQL reads the columns metadata_json and
// response_json (protojson with proto field names).
func ParseFilterKinds(text string, kinds []FilterKind) (*Filter, error) {
	var s *filter.Schema
	if kinds != nil {
		s = &filter.Schema{Kinds: make([]filter.Kind, len(kinds))}
		for i, k := range kinds {
			s.Kinds[i] = filter.Kind{Name: k.Name, Metadata: k.Metadata, Response: k.Response}
		}
	}
	e, err := filter.ParseSchema(text, s)
	if err != nil || e == nil {
		return nil, err
	}
	return &Filter{expr: e}, nil
}

// String returns the filter in a canonical form that ParseFilter accepts
// and that parses to the same filter; "" for nil.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.expr.String()
}

// FilterDialect describes one SQL database to Filter.SQL.
//
// The compiled SQL refers to the columns kind, state, error_code,
// error_message, metadata_type, response_type, create_time, update_time and
// end_time of the operations table, and to NameExpr. Only error_code,
// error_message, metadata_type, response_type and end_time may be NULL (when
// the operation lacks the field); the others, and NameExpr, must never be.
type FilterDialect struct {
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
	// PostgresJSON reads metadata_json and response_json as jsonb, binding
	// paths as text[]; otherwise as SQLite JSON text.
	PostgresJSON bool
}

// SQL compiles f into a boolean SQL expression over the operations table.
// Its bind parameters are numbered from firstArg (so that a store can put
// its own parameters first); args are returned in order. A nil Filter
// yields ("1=1", nil).
//
// Every value from the filter is a bind parameter: strings and LIKE
// patterns as string, error codes as int64, times as
// FilterDialect.TimeArg returns them. The result never evaluates to NULL,
// and is safe to combine with other conditions by AND without parentheses.
func (f *Filter) SQL(d *FilterDialect, firstArg int) (where string, args []any) {
	var e *filter.Expr
	if f != nil {
		e = f.expr
	}
	return filter.SQL(e, filter.Dialect{Placeholder: d.Placeholder, NameExpr: d.NameExpr, TimeArg: d.TimeArg, Like: d.Like, PostgresJSON: d.PostgresJSON}, firstArg)
}
