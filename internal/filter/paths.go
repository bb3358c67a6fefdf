package filter

import (
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Kind is what a registered kind tells filters about its messages: the
// type URLs stored in metadata_type and response_type and the messages'
// descriptors. A descriptor of google.protobuf.Struct makes a JSON kind,
// whose fields are any path; a nil descriptor means the kind has no such
// message.
type Kind struct {
	Name     string
	Metadata protoreflect.MessageDescriptor
	Response protoreflect.MessageDescriptor
}

// Schema is the registered kinds, which type the metadata.<path> and
// response.<path> fields of a filter.
type Schema struct {
	Kinds []Kind
}

// jsonType is how a path's value is stored in the JSON copy (protojson,
// proto field names) and compared.
type jsonType uint8

const (
	jNumber   jsonType = iota // a JSON number (or a string, for 64-bit integers): compared numerically
	jString                   // a JSON string
	jBool                     // a JSON bool
	jEnum                     // an enum's value name; compared by name with = and !=
	jTime                     // google.protobuf.Timestamp: RFC 3339, compared chronologically
	jDuration                 // google.protobuf.Duration: "1.5s", compared as seconds
	jAny                      // a value inside a google.protobuf.Struct: typed by the literal
)

// pathCmp is a restriction on metadata.<path> or response.<path>, resolved
// against the message types in the filter's scope.
type pathCmp struct {
	root  string // "metadata" or "response"
	path  string // as written, after the root
	pos   int
	opTok token
	arg   literal
	alts  []pathAlt // one per distinct (JSON path, type) among the types in scope
}

// pathAlt is the comparison for the message types whose field at the path
// has one JSON path and type.
type pathAlt struct {
	typeURLs []string
	keys     []string // the JSON object keys from the message to the value
	typ      jsonType
	wrapper  bool // a wrapper type or a Struct value: absent is not the default
	// structValue is a value inside a google.protobuf.Struct, of any JSON type.
	structValue bool
	zero        any // the default of a scalar, which an absent key stands for
	cmp         comparison
	val         any // the value bound: string, int64, float64 or bool
}

func typeURL(d protoreflect.MessageDescriptor) string {
	return "type.googleapis.com/" + string(d.FullName())
}

const structName = "google.protobuf.Struct"

// scope returns the type URLs that the filter's top-level ANDed
// restrictions metadata.@type = T (or response.@type) and kind = K narrow
// root to, or nil when they do not narrow it.
func scope(e *Expr, root string, s *Schema) map[string]bool {
	var conj []*Expr
	if e.kind == exprAnd {
		conj = e.subs
	} else {
		conj = []*Expr{e}
	}
	var in map[string]bool
	narrow := func(urls map[string]bool) {
		if in == nil {
			in = urls
			return
		}
		for u := range in {
			if !urls[u] {
				delete(in, u)
			}
		}
	}
	for _, c := range conj {
		if c.kind != exprCmp || c.cmp.op != opEq || c.cmp.prefix || c.cmp.suffix || c.cmp.path != nil {
			continue
		}
		switch c.cmp.field.name {
		case root + ".@type":
			narrow(map[string]bool{c.cmp.str: true})
		case "kind":
			urls := map[string]bool{}
			for _, k := range s.Kinds {
				if d := k.message(root); k.Name == c.cmp.str && d != nil {
					urls[typeURL(d)] = true
				}
			}
			narrow(urls)
		}
	}
	return in
}

func (k *Kind) message(root string) protoreflect.MessageDescriptor {
	if root == "metadata" {
		return k.Metadata
	}
	return k.Response
}

// resolve types every path comparison in e against the types in scope.
func resolve(e *Expr, s *Schema) *Error {
	scopes := map[string]map[string]bool{"metadata": scope(e, "metadata", s), "response": scope(e, "response", s)}
	var walk func(e *Expr) *Error
	walk = func(e *Expr) *Error {
		if e.kind != exprCmp {
			for _, sub := range e.subs {
				if err := walk(sub); err != nil {
					return err
				}
			}
			return nil
		}
		if pc := e.cmp.path; pc != nil {
			return pc.resolve(s, scopes[pc.root])
		}
		return nil
	}
	return walk(e)
}

func (pc *pathCmp) resolve(s *Schema, sc map[string]bool) *Error {
	field := pc.root + "." + pc.path
	seen := map[string]bool{}
	var considered int
	var firstErr *Error
	for _, k := range s.Kinds {
		d := k.message(pc.root)
		if d == nil {
			continue
		}
		url := typeURL(d)
		if (sc != nil && !sc[url]) || seen[url] {
			continue
		}
		seen[url] = true
		considered++
		alt, err := pc.typed(d)
		if err != nil {
			if firstErr == nil || (err.Pos != pc.pos && firstErr.Pos == pc.pos) {
				firstErr = err
			}
			continue
		}
		alt.typeURLs = []string{url}
		merged := false
		for i := range pc.alts {
			a := &pc.alts[i]
			if a.typ == alt.typ && a.wrapper == alt.wrapper && a.structValue == alt.structValue && slicesEqual(a.keys, alt.keys) && a.val == alt.val {
				a.typeURLs = append(a.typeURLs, url)
				merged = true
				break
			}
		}
		if !merged {
			pc.alts = append(pc.alts, alt)
		}
	}
	if len(pc.alts) > 0 {
		return nil
	}
	if firstErr != nil && (considered == 1 || firstErr.Pos != pc.pos) {
		return firstErr
	}
	if considered == 0 {
		return errorf(pc.pos, "field %s: no registered kind in the filter's scope has %s", field, pc.root)
	}
	return errorf(pc.pos, "field %s: no %s type in the filter's scope has field %s (narrow the scope with %s.@type = TYPE_URL or kind = KIND)",
		field, pc.root, pc.path, pc.root)
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// typed resolves the path in message d and checks the value against the
// field's type.
func (pc *pathCmp) typed(d protoreflect.MessageDescriptor) (pathAlt, *Error) {
	field := pc.root + "." + pc.path
	var alt pathAlt
	segs := strings.Split(pc.path, ".")
	var fd protoreflect.FieldDescriptor
	for i, seg := range segs {
		if d != nil && d.FullName() == structName {
			for _, k := range segs[i:] {
				if strings.ContainsAny(k, `"\\`) || k == "" {
					return alt, errorf(pc.pos, "field %s: a JSON key in a filter cannot contain quotes or backslashes", field)
				}
			}
			alt.keys = append(alt.keys, segs[i:]...)
			alt.typ, alt.wrapper, alt.structValue = jAny, true, true
			return alt, pc.checkValue(&alt)
		}
		if d == nil {
			return alt, errorf(pc.pos, "field %s: %s is not a message", field, strings.Join(segs[:i], "."))
		}
		if strings.HasPrefix(string(d.FullName()), "google.protobuf.") && d.FullName() != "google.protobuf.Empty" {
			// Its JSON form is not an object of its fields (a wrapper is
			// its value, Any adds @type, a Value is any JSON).
			return alt, errorf(pc.pos, "field %s: %s has a JSON form of its own; filters reach the fields of other messages only",
				field, d.FullName())
		}
		fd = d.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			fd = d.Fields().ByJSONName(seg)
		}
		if fd == nil {
			return alt, errorf(pc.pos, "field %s: %s has no field %s", field, d.FullName(), seg)
		}
		if fd.IsList() || fd.IsMap() {
			return alt, errorf(pc.pos, "field %s: %s is repeated; filters do not support repeated or map fields", field, fd.Name())
		}
		alt.keys = append(alt.keys, string(fd.Name()))
		d = fd.Message()
		if d != nil {
			switch d.FullName() {
			case "google.protobuf.Timestamp":
				alt.typ = jTime
			case "google.protobuf.Duration":
				alt.typ = jDuration
			case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
				"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
				alt.typ, alt.wrapper = jNumber, true
			case "google.protobuf.BoolValue":
				alt.typ, alt.wrapper = jBool, true
			case "google.protobuf.StringValue":
				alt.typ, alt.wrapper = jString, true
			default:
				continue
			}
			if i != len(segs)-1 {
				return alt, errorf(pc.pos, "field %s: %s has no fields", field, seg)
			}
			return alt, pc.checkValue(&alt)
		}
	}
	if d != nil {
		if d.FullName() == structName {
			alt.typ, alt.wrapper, alt.structValue = jAny, true, true
		} else if pc.opTok.kind != tokHas || !pc.arg.isStar() {
			return alt, errorf(pc.opTok.pos, "field %s is a message: it can only be tested for presence, as %s:*", field, field)
		} else {
			alt.typ, alt.wrapper = jAny, true
		}
		return alt, pc.checkValue(&alt)
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		alt.typ, alt.zero = jBool, false
	case protoreflect.StringKind:
		alt.typ, alt.zero = jString, ""
	case protoreflect.BytesKind:
		return alt, errorf(pc.pos, "field %s is bytes: filters do not support bytes fields", field)
	case protoreflect.EnumKind:
		alt.typ, alt.zero = jEnum, string(fd.Enum().Values().Get(0).Name())
	default:
		alt.typ, alt.zero = jNumber, int64(0)
	}
	if alt.typ == jEnum {
		return alt, pc.checkEnum(&alt, fd.Enum())
	}
	return alt, pc.checkValue(&alt)
}

// checkValue type-checks the comparison's value against alt.typ.
func (pc *pathCmp) checkValue(alt *pathAlt) *Error {
	name := pc.root + "." + pc.path
	arg := pc.arg
	typ := alt.typ
	if typ == jAny && (pc.opTok.kind != tokHas || !arg.isStar()) {
		// A JSON value: typed by the literal.
		switch _, err := strconv.ParseFloat(arg.text, 64); {
		case arg.quoted:
			typ = jString
		case (arg.text == "true" || arg.text == "false") && arg.stars == nil:
			typ = jBool
		case err == nil && arg.stars == nil:
			typ = jNumber
		default:
			typ = jString
		}
		alt.typ = typ
		alt.keys = append([]string(nil), alt.keys...)
		alt.wrapper = true
	}
	var ft fieldType
	switch typ {
	case jString, jAny:
		ft = typeString
	case jBool:
		ft = typeBool
	case jTime:
		ft = typeTime
	default:
		ft = typeInt // checked below, for the op only
	}
	f := &field{name: name, typ: ft}
	if typ == jNumber || typ == jDuration {
		c := comparison{field: f, op: tokenOps[pc.opTok.kind]}
		if pc.opTok.kind == tokHas && arg.isStar() {
			c.op = opPresent
			alt.cmp = c
			return nil
		}
		if len(arg.stars) > 0 {
			return errorf(arg.pos, "wildcards apply only to string fields (to test for presence, write %s:*)", name)
		}
		var v float64
		var err error
		if typ == jDuration {
			var d time.Duration
			d, err = time.ParseDuration(arg.text)
			v = d.Seconds()
			if err != nil {
				return errorf(arg.pos, "field %s is a duration: it wants a value such as 1.5s or 2m, not %s", name, strconv.Quote(arg.text))
			}
		} else {
			v, err = strconv.ParseFloat(arg.text, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return errorf(arg.pos, "field %s is a number: it wants a number, not %s", name, strconv.Quote(arg.text))
			}
		}
		alt.cmp, alt.val = c, v
		if i, err := strconv.ParseInt(arg.text, 10, 64); err == nil && typ == jNumber {
			alt.val = i
		}
		return nil
	}
	c, err := check(f, pc.opTok, arg)
	if err != nil {
		return err
	}
	alt.cmp = c
	switch typ {
	case jString:
		alt.val = c.str
	case jBool:
		alt.val = c.b
	case jTime:
		alt.val = normTime(c.t)
	}
	return nil
}

// checkEnum type-checks a comparison with an enum field: = and != with a
// value's name or number, or :*.
func (pc *pathCmp) checkEnum(alt *pathAlt, ed protoreflect.EnumDescriptor) *Error {
	name := pc.root + "." + pc.path
	c := comparison{field: &field{name: name, typ: typeString}, op: tokenOps[pc.opTok.kind]}
	if pc.opTok.kind == tokHas && pc.arg.isStar() {
		c.op = opPresent
		alt.cmp = c
		return nil
	}
	if c.op != opEq && c.op != opNe {
		return errorf(pc.opTok.pos, "field %s is an enum (%s): it supports only = and !=, not %s", name, ed.FullName(), pc.opTok.text)
	}
	v := ed.Values().ByName(protoreflect.Name(pc.arg.text))
	if v == nil {
		if n, err := strconv.ParseInt(pc.arg.text, 10, 32); err == nil {
			v = ed.Values().ByNumber(protoreflect.EnumNumber(n))
		}
	}
	if v == nil || pc.arg.stars != nil {
		return errorf(pc.arg.pos, "field %s wants a value of enum %s, such as %s, not %s", name, ed.FullName(),
			ed.Values().Get(0).Name(), strconv.Quote(pc.arg.text))
	}
	c.str = string(v.Name())
	alt.cmp, alt.val = c, c.str
	return nil
}

// normTime is t as normTimeSQL makes a stored RFC 3339 time: seconds, then
// nine fractional digits, no zone (protojson writes UTC).
func normTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05") + strconv.Itoa(1e9 + t.Nanosecond())[1:]
}

// pathSQL returns the SQL of a restriction on metadata.<path> or
// response.<path>: for each group of types whose field has one JSON path
// and type, "(type_column IN (...) AND json_column IS NOT NULL AND (cond)
// IS TRUE)", ORed. It is never NULL.
func (c *compiler) pathSQL(pc *pathCmp) string {
	typeCol, jsonCol := pc.root+"_type", pc.root+"_json"
	var parts []string
	for i := range pc.alts {
		a := &pc.alts[i]
		phs := make([]string, len(a.typeURLs))
		for j, u := range a.typeURLs {
			phs[j] = c.bind(u)
		}
		guard := typeCol + " = " + phs[0]
		if len(phs) > 1 {
			guard = typeCol + " IN (" + strings.Join(phs, ", ") + ")"
		}
		parts = append(parts, "("+guard+" AND "+jsonCol+" IS NOT NULL AND ("+c.altCond(jsonCol, a)+") IS TRUE)")
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

func (c *compiler) altCond(col string, a *pathAlt) string {
	pg := c.d.PostgresJSON
	// Each use of the path binds it again, for "?" placeholders.
	var sqlitePath strings.Builder
	sqlitePath.WriteString("$")
	for _, k := range a.keys {
		sqlitePath.WriteString(`."` + k + `"`)
	}
	path := func() string {
		if pg {
			return c.bind(a.keys) + "::text[]"
		}
		return c.bind(sqlitePath.String())
	}
	// text is the value as SQL text or number (NULL when absent); exists,
	// whether it is there.
	text := func() string {
		if pg {
			return "(" + col + " #>> " + path() + ")"
		}
		return "json_extract(" + col + ", " + path() + ")"
	}
	exists := func() string {
		if pg {
			return "(" + col + " #> " + path() + ") IS NOT NULL"
		}
		return "json_type(" + col + ", " + path() + ") IS NOT NULL"
	}
	// isType is the condition that the JSON value is of the literal's type
	// (only for values inside a Struct).
	isType := func(sqlite, postgres string) string {
		if pg {
			return "jsonb_typeof(" + col + " #> " + path() + ") = '" + postgres + "'"
		}
		return "json_type(" + col + ", " + path() + ") IN (" + sqlite + ")"
	}
	cmp := &a.cmp
	if cmp.op == opPresent {
		switch {
		case a.wrapper || a.typ == jTime || a.typ == jDuration:
			return exists()
		case a.typ == jNumber:
			if pg {
				return "COALESCE(" + text() + "::numeric, 0) <> 0"
			}
			return "CAST(COALESCE(" + text() + ", 0) AS NUMERIC) <> 0"
		default: // jString, jEnum
			lhs := "COALESCE(" + text() + ", " + c.bind(a.zero) + ")"
			return lhs + " <> " + c.bind(a.zero)
		}
	}
	// Placeholders are bound in the order they appear: the left-hand side
	// first.
	var lhs, rhs string
	op := sqlOps[cmp.op]
	switch a.typ {
	case jNumber:
		num := func() string {
			if pg {
				return text() + "::numeric"
			}
			return "CAST(" + text() + " AS NUMERIC)"
		}
		switch {
		case a.isStruct():
			lhs = "CASE WHEN " + isType("'integer', 'real'", "number") + " THEN " + num() + " END"
		case a.wrapper:
			lhs = num()
		case pg:
			lhs = "COALESCE(" + num() + ", 0)"
		default:
			lhs = "CAST(COALESCE(" + text() + ", 0) AS NUMERIC)"
		}
		rhs = c.bind(a.val)
		if pg {
			rhs += "::numeric"
		}
	case jBool:
		b := func() string {
			if pg {
				return text() + "::boolean"
			}
			return text()
		}
		switch {
		case a.isStruct():
			lhs = "CASE WHEN " + isType("'true', 'false'", "boolean") + " THEN " + b() + " END"
		case a.wrapper:
			lhs = b()
		case pg:
			lhs = "COALESCE(" + b() + ", false)"
		default:
			lhs = "COALESCE(" + b() + ", 0)"
		}
		if pg {
			rhs = c.bind(a.val)
		} else if a.val == true {
			rhs = c.bind(int64(1))
		} else {
			rhs = c.bind(int64(0))
		}
	case jString, jEnum:
		switch {
		case a.isStruct():
			lhs = "CASE WHEN " + isType("'text'", "string") + " THEN " + text() + " END"
		case a.wrapper:
			lhs = text()
		default:
			lhs = "COALESCE(" + text() + ", " + c.bind(a.zero) + ")"
		}
		if pg {
			lhs = "(" + lhs + `) COLLATE "C"`
		}
		if cmp.prefix || cmp.suffix {
			pattern := likeEscaper.Replace(cmp.str)
			if cmp.prefix {
				pattern = "%" + pattern
			}
			if cmp.suffix {
				pattern += "%"
			}
			cond := c.like(lhs, c.bind(pattern))
			if cmp.op == opNe {
				cond = "NOT (" + cond + ")"
			}
			return cond
		}
		rhs = c.bind(a.val)
	case jTime:
		// protojson writes 0, 3, 6 or 9 fractional digits: compare with
		// nine, so that string order is time order.
		lhs = "substr(" + text() + ", 1, 19) || substr(CASE WHEN substr(" + text() + ", 20, 1) = '.' THEN substr(" + text() +
			", 21, length(" + text() + ") - 21) ELSE '' END || '000000000', 1, 9)"
		if pg {
			lhs = "(" + lhs + `) COLLATE "C"`
		}
		rhs = c.bind(a.val)
	case jDuration:
		if pg {
			lhs = "rtrim(" + text() + ", 's')::numeric"
			rhs = c.bind(a.val) + "::numeric"
		} else {
			lhs = "CAST(substr(" + text() + ", 1, length(" + text() + ") - 1) AS REAL)"
			rhs = c.bind(a.val)
		}
	}
	return lhs + " " + op + " " + rhs
}

// isStruct reports whether the value lies inside a google.protobuf.Struct.
func (a *pathAlt) isStruct() bool { return a.structValue }
