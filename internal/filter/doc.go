// Package filter parses, type-checks and compiles to SQL the AIP-160 filters
// accepted by ListOperations (https://google.aip.dev/160).
//
// [Parse] turns a filter into a checked [Expr]; [SQL] compiles an Expr into a
// boolean SQL expression over the operations table for a [Dialect], with every
// user-supplied value bound as a parameter.
//
// # Grammar
//
// The syntax is AIP-160's EBNF, restricted to what the operations table can
// answer:
//
//	filter      = [expression] ;
//	expression  = sequence { "AND" sequence } ;
//	sequence    = factor { factor } ;              (* implicit AND *)
//	factor      = term { "OR" term } ;
//	term        = [ "NOT" | "-" ] simple ;
//	simple      = restriction | composite ;
//	composite   = "(" expression ")" ;
//	restriction = member comparator arg ;
//	member      = value { "." name } ;             (* a field path such as error.code *)
//	comparator  = "<=" | "<" | ">=" | ">" | "!=" | "=" | ":" ;
//	arg         = value { "." name } ;             (* a literal: "a.b" and a.b are the same *)
//	value       = TEXT | STRING ;
//	name        = TEXT | STRING | "AND" | "OR" | "NOT" ;
//
// STRING is a double- or single-quoted string; inside it the escapes \\ \"
// \' \* \n \r \t are recognised and any other backslash is an error. TEXT is a
// bare word: a run of characters other than white space and ( ) , . : = < > !
// " ' \. A "-" begins a TEXT only when a digit follows it (so -5 is a number);
// anywhere else at the start of a word it is the negation operator, and inside
// a word it is an ordinary character (demo-sleep is one word). The keywords
// AND, OR and NOT are case-sensitive: "and" is an ordinary word.
//
// White space separates tokens and is otherwise insignificant, with three
// exceptions: a member path has no space around its dots, a word directly
// followed by "(" is a function call (which is rejected), and a "-" directly
// followed by a digit is a negative number. So "NOT(done = true)" and
// "a = 1 OR(b = 2)" are accepted even though the EBNF asks for white space
// after the keyword.
//
// # Precedence
//
// As AIP-160 prescribes, and unlike most programming languages, OR binds
// tighter than AND: "a AND b OR c" means "a AND (b OR c)". A sequence of
// restrictions separated only by white space is an AND: "a b OR c" means
// "a AND (b OR c)". NOT and "-" apply to a single restriction or a
// parenthesised composite: "NOT a = 1 OR b = 2" means "(NOT a = 1) OR b = 2".
// [Expr.String] prints the parsed filter with the grouping made explicit.
//
// # Fields
//
//	field                     type       comparators        SQL
//	name                      string     all, :             Dialect.NameExpr
//	kind                      string     all, :             kind
//	done                      bool       = !=               state >= 2 (succeeded, failed or cancelled)
//	error                     presence   :*                 error_code IS NOT NULL
//	error.code                int32      all, :             error_code
//	error.message             string     all, :             error_message
//	metadata                  presence   :*                 metadata_type IS NOT NULL
//	metadata.@type            string     all, :             metadata_type
//	response                  presence   :*                 response_type IS NOT NULL
//	response.@type            string     all, :             response_type
//	create_time (createTime)  timestamp  all, :*            create_time
//	update_time (updateTime)  timestamp  all, :*            update_time
//	end_time (endTime)        timestamp  all, :*            end_time
//
// Values are converted to the field's type: strings take any TEXT or STRING;
// error.code takes an integer in the int32 range or the name of a
// google.rpc.Code (NOT_FOUND, CANCELLED, ...; case-sensitive); done takes true
// or false; timestamps take an RFC 3339 string, which must be quoted because
// it contains colons (create_time > "2026-01-01T00:00:00Z"). Operation times
// are stored in microseconds; a finer timestamp compares exactly against
// them (nothing stored equals it). The ordering comparators compare
// strings lexicographically, numbers numerically and timestamps
// chronologically; they are rejected on done. String order is the column's
// collation: byte-wise in SQLite, and in PostgreSQL for columns (and a
// NameExpr) with the "C" collation.
//
// # Has
//
// "field:*" tests presence. On the presence-only fields error, metadata and
// response it tests that the operation has an error, metadata or a response.
// On other fields it tests for a non-default value, as AIP-160 defines
// presence for message fields: a non-empty string, a non-zero error.code, a
// set timestamp (end_time:* is true once the operation is done). Following
// AIP-160's "m.foo:42 is true if m.foo is 42", "field:value" on a scalar field
// is the same as "field = value", wildcards included. ":" is rejected on done,
// and ":" with a value other than * is rejected on the presence-only fields.
//
// # Wildcards
//
// In an =, != or : comparison on a string field, a * at the start and/or at
// the end of the value is a wildcard: kind = "demo.*" matches kinds beginning
// with "demo.", name = "*/operations/x*" matches names ending in
// "/operations/x" followed by anything, and "*" alone matches any value. A *
// anywhere else is an error; write \* in a quoted string for a literal
// asterisk. In ordering comparisons (<, <=, >, >=) every * is literal.
// Wildcard comparisons compile to SQL LIKE, with the LIKE metacharacters
// % _ and \ in the value escaped.
//
// # Missing fields
//
// A restriction on a field the operation does not have (error.code and
// error.message without an error, metadata.@type without metadata,
// response.@type without a response, end_time before the operation is done)
// is false, whatever the comparator: error.code != 5 does not match an
// operation without an error. NOT negates the truth value of what follows it,
// so NOT error.code = 5 does match an operation without an error. The
// compiled SQL is therefore two-valued: it never yields NULL.
//
// # Unsupported
//
// Bare literals (AIP-160's global search, such as a lone "foo"), function
// calls, parenthesised values on the right of a comparator (kind = (a OR b)),
// durations, floats, and traversal into fields other than those above are
// errors. A filter longer than 4096 bytes or nesting parentheses more than 64
// deep is an error.
package filter
