package filter

import (
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// testFile declares the metadata messages of the path tests:
//
//	message Meta {
//	  int32 progress_percent = 1; string stage = 2; State state = 3;
//	  google.protobuf.Timestamp start_time = 4; google.protobuf.Duration elapsed = 5;
//	  Progress progress = 6; bool ok = 7; repeated string tags = 8;
//	  google.protobuf.Int32Value limit = 9;
//	  message Progress { google.protobuf.Timestamp start_time = 1; int64 done_bytes = 2; double ratio = 3; }
//	  enum State { STATE_UNSPECIFIED = 0; RUNNING = 1; DONE = 2; }
//	}
//	message Other { string progress_percent = 1; string stage = 2; }
var testFile = func() protoreflect.FileDescriptor {
	f := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String(jsonName(name))}
		if typeName != "" {
			fd.TypeName = proto.String(typeName)
		}
		return fd
	}
	const (
		i32  = descriptorpb.FieldDescriptorProto_TYPE_INT32
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		dbl  = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		boo  = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		enm  = descriptorpb.FieldDescriptorProto_TYPE_ENUM
		msg  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		rep  = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		tsT  = ".google.protobuf.Timestamp"
		durT = ".google.protobuf.Duration"
	)
	tags := f("tags", 8, str, "")
	tags.Label = rep.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("filtertest.proto"), Package: proto.String("filtertest"), Syntax: proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto", "google/protobuf/duration.proto", "google/protobuf/wrappers.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Meta"),
			Field: []*descriptorpb.FieldDescriptorProto{
				f("progress_percent", 1, i32, ""), f("stage", 2, str, ""), f("state", 3, enm, ".filtertest.Meta.State"),
				f("start_time", 4, msg, tsT), f("elapsed", 5, msg, durT), f("progress", 6, msg, ".filtertest.Meta.Progress"),
				f("ok", 7, boo, ""), tags, f("limit", 9, msg, ".google.protobuf.Int32Value"),
			},
			NestedType: []*descriptorpb.DescriptorProto{{
				Name:  proto.String("Progress"),
				Field: []*descriptorpb.FieldDescriptorProto{f("start_time", 1, msg, tsT), f("done_bytes", 2, i64, ""), f("ratio", 3, dbl, "")},
			}},
			EnumType: []*descriptorpb.EnumDescriptorProto{{
				Name: proto.String("State"),
				Value: []*descriptorpb.EnumValueDescriptorProto{
					{Name: proto.String("STATE_UNSPECIFIED"), Number: proto.Int32(0)},
					{Name: proto.String("RUNNING"), Number: proto.Int32(1)},
					{Name: proto.String("DONE"), Number: proto.Int32(2)},
				},
			}},
		}, {
			Name:  proto.String("Other"),
			Field: []*descriptorpb.FieldDescriptorProto{f("progress_percent", 1, str, ""), f("stage", 2, str, "")},
		}},
	}
	_ = timestamppb.Timestamp{}
	_ = durationpb.Duration{}
	_ = wrapperspb.Int32Value{}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd
}()

func jsonName(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

var (
	metaDesc   = testFile.Messages().ByName("Meta")
	otherDesc  = testFile.Messages().ByName("Other")
	structDesc = (&structpb.Struct{}).ProtoReflect().Descriptor()
	testSchema = &Schema{Kinds: []Kind{
		{Name: "test.meta", Metadata: metaDesc},
		{Name: "test.other", Metadata: otherDesc},
		{Name: "test.json", Metadata: structDesc, Response: structDesc},
	}}
)

// pathRow is one operation of the path tests. msg nil with a type is a row
// written before the JSON copies existed.
type pathRow struct {
	id, kind, metaType string
	msg                proto.Message
}

func newMeta(set func(m *dynamicpb.Message, fd func(string) protoreflect.FieldDescriptor)) proto.Message {
	m := dynamicpb.NewMessage(metaDesc)
	set(m, func(name string) protoreflect.FieldDescriptor {
		return metaDesc.Fields().ByName(protoreflect.Name(name))
	})
	return m
}

func ts(s string) protoreflect.Value {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect())
}

func mustStruct(v map[string]any) proto.Message {
	s, err := structpb.NewStruct(v)
	if err != nil {
		panic(err)
	}
	return s
}

var (
	metaURL  = "type.googleapis.com/filtertest.Meta"
	otherURL = "type.googleapis.com/filtertest.Other"
	jsonURL  = "type.googleapis.com/google.protobuf.Struct"

	pathRows = []pathRow{
		{id: "m1", kind: "test.meta", metaType: metaURL, msg: newMeta(func(m *dynamicpb.Message, fd func(string) protoreflect.FieldDescriptor) {
			m.Set(fd("progress_percent"), protoreflect.ValueOfInt32(50))
			m.Set(fd("stage"), protoreflect.ValueOfString("copy"))
			m.Set(fd("state"), protoreflect.ValueOfEnum(1))
			m.Set(fd("start_time"), ts("2018-03-28T14:00:00Z"))
			m.Set(fd("elapsed"), protoreflect.ValueOfMessage(durationpb.New(1500*time.Millisecond).ProtoReflect()))
			p := m.NewField(fd("progress")).Message()
			pd := p.Descriptor().Fields()
			p.Set(pd.ByName("start_time"), ts("2018-03-28T14:50:00.5Z"))
			p.Set(pd.ByName("done_bytes"), protoreflect.ValueOfInt64(1<<40))
			p.Set(pd.ByName("ratio"), protoreflect.ValueOfFloat64(0.25))
			m.Set(fd("progress"), protoreflect.ValueOfMessage(p))
			m.Set(fd("ok"), protoreflect.ValueOfBool(true))
			m.Set(fd("limit"), protoreflect.ValueOfMessage(wrapperspb.Int32(0).ProtoReflect()))
		})},
		{id: "m2", kind: "test.meta", metaType: metaURL, msg: newMeta(func(m *dynamicpb.Message, fd func(string) protoreflect.FieldDescriptor) {
			m.Set(fd("start_time"), ts("2018-03-28T14:50:00Z"))
			p := m.NewField(fd("progress")).Message()
			p.Set(p.Descriptor().Fields().ByName("start_time"), ts("2018-03-28T14:50:00.000001Z"))
			m.Set(fd("progress"), protoreflect.ValueOfMessage(p))
		})},
		{id: "m3", kind: "test.meta", metaType: metaURL, msg: newMeta(func(m *dynamicpb.Message, fd func(string) protoreflect.FieldDescriptor) {
			m.Set(fd("progress_percent"), protoreflect.ValueOfInt32(100))
			m.Set(fd("stage"), protoreflect.ValueOfString("done"))
			m.Set(fd("state"), protoreflect.ValueOfEnum(2))
			m.Set(fd("start_time"), ts("2018-03-28T14:50:00.123Z"))
			m.Set(fd("elapsed"), protoreflect.ValueOfMessage(durationpb.New(90*time.Second).ProtoReflect()))
			m.Set(fd("ok"), protoreflect.ValueOfBool(false))
		})},
		{id: "m4", kind: "test.other", metaType: otherURL, msg: func() proto.Message {
			m := dynamicpb.NewMessage(otherDesc)
			m.Set(otherDesc.Fields().ByName("progress_percent"), protoreflect.ValueOfString("75"))
			m.Set(otherDesc.Fields().ByName("stage"), protoreflect.ValueOfString("copy"))
			return m
		}()},
		{id: "m5", kind: "test.json", metaType: jsonURL, msg: mustStruct(map[string]any{
			"progress_percent": 60, "stage": "copy", "nested": map[string]any{"ok": true}, "s": "50"})},
		{id: "m6", kind: "test.json", metaType: jsonURL, msg: mustStruct(map[string]any{"progress_percent": "70", "nested": 1})},
		{id: "m7", kind: "test.meta"},
		{id: "m8", kind: "test.meta", metaType: metaURL},
	}
)

func openPathDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file::memory:?_pragma=case_sensitive_like(1)")
	require.NoError(tb, err)
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`CREATE TABLE operations (id TEXT NOT NULL PRIMARY KEY, kind TEXT NOT NULL,
		metadata_type TEXT, metadata_json TEXT, response_type TEXT, response_json TEXT)`)
	require.NoError(tb, err)
	for _, r := range pathRows {
		var typ, js any
		if r.metaType != "" {
			typ = r.metaType
		}
		if r.msg != nil {
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(r.msg)
			require.NoError(tb, err)
			js = string(b)
		}
		_, err := db.Exec(`INSERT INTO operations VALUES (?, ?, ?, ?, NULL, NULL)`, r.id, r.kind, typ, js)
		require.NoError(tb, err)
	}
	return db
}

func selectPathIDs(tb testing.TB, db *sql.DB, e *Expr) []string {
	tb.Helper()
	where, args := SQL(e, sqliteDialect, 1)
	rows, err := db.Query(`SELECT id FROM operations WHERE `+where+` ORDER BY id`, args...)
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

// evalPathIDs is evalIDs over pathRows.
func evalPathIDs(e *Expr) []string {
	ids := []string{}
	for _, r := range pathRows {
		if e == nil || evalPathRow(e, r) {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// evalPathRow is the reference evaluation over the messages themselves, not
// their JSON, of the fields that the path tests use.
func evalPathRow(e *Expr, r pathRow) bool {
	switch e.kind {
	case exprNot:
		return !evalPathRow(e.subs[0], r)
	case exprAnd:
		for _, s := range e.subs {
			if !evalPathRow(s, r) {
				return false
			}
		}
		return true
	case exprOr:
		for _, s := range e.subs {
			if evalPathRow(s, r) {
				return true
			}
		}
		return false
	}
	c := e.cmp
	if c.path == nil {
		switch c.field.name {
		case "kind":
			return evalString(c, &r.kind)
		case "metadata.@type":
			if r.metaType == "" {
				return false
			}
			return evalString(c, &r.metaType)
		case "metadata":
			return r.metaType != ""
		case "response", "response.@type":
			return false
		}
		panic("field " + c.field.name + " is not in the path tests")
	}
	if c.path.root != "metadata" || r.msg == nil {
		return false
	}
	for _, a := range c.path.alts {
		if slices.Contains(a.typeURLs, r.metaType) {
			return evalAlt(&a, r.msg.ProtoReflect())
		}
	}
	return false
}

func evalAlt(a *pathAlt, m protoreflect.Message) bool {
	c := a.cmp
	if a.structValue {
		v := structpb.NewStructValue(m.Interface().(*structpb.Struct))
		for _, k := range a.keys {
			s := v.GetStructValue()
			if s == nil || s.Fields[k] == nil {
				return false
			}
			v = s.Fields[k]
		}
		switch {
		case c.op == opPresent:
			return true
		case a.typ == jNumber:
			n, ok := v.Kind.(*structpb.Value_NumberValue)
			return ok && compareNum(n.NumberValue, a.val, c.op)
		case a.typ == jBool:
			b, ok := v.Kind.(*structpb.Value_BoolValue)
			return ok && (b.BoolValue == a.val.(bool)) == (c.op == opEq)
		default:
			s, ok := v.Kind.(*structpb.Value_StringValue)
			return ok && evalString(c, &s.StringValue)
		}
	}
	var fd protoreflect.FieldDescriptor
	present := true
	for i, k := range a.keys {
		fd = m.Descriptor().Fields().ByName(protoreflect.Name(k))
		present = present && m.Has(fd)
		if i < len(a.keys)-1 {
			m = m.Get(fd).Message()
		}
	}
	v := m.Get(fd)
	switch a.typ {
	case jTime, jDuration:
		if !present {
			return false
		}
		if c.op == opPresent {
			return true
		}
		sub := v.Message()
		secs := sub.Get(sub.Descriptor().Fields().ByName("seconds")).Int()
		nanos := sub.Get(sub.Descriptor().Fields().ByName("nanos")).Int()
		if a.typ == jDuration {
			return compareNum(float64(secs)+float64(nanos)/1e9, a.val, c.op)
		}
		return compare(int64(time.Unix(secs, nanos).Compare(c.t)), 0, c.op)
	}
	if a.wrapper {
		if !present {
			return false
		}
		if c.op == opPresent {
			return true
		}
		w := v.Message()
		fd = w.Descriptor().Fields().ByName("value")
		v = w.Get(fd)
	}
	switch a.typ {
	case jNumber:
		var f float64
		switch x := v.Interface().(type) {
		case int32:
			f = float64(x)
		case int64:
			f = float64(x)
		case float64:
			f = x
		}
		if c.op == opPresent {
			return f != 0
		}
		return compareNum(f, a.val, c.op)
	case jBool:
		return (v.Bool() == a.val.(bool)) == (c.op == opEq)
	case jEnum:
		name := string(fd.Enum().Values().ByNumber(v.Enum()).Name())
		if c.op == opPresent {
			return v.Enum() != 0
		}
		return evalString(c, &name)
	default:
		s := v.String()
		return evalString(c, &s)
	}
}

func compareNum(a float64, val any, op op) bool {
	var b float64
	switch x := val.(type) {
	case int64:
		b = float64(x)
	case float64:
		b = x
	}
	switch {
	case a < b:
		return op == opLt || op == opLe || op == opNe
	case a > b:
		return op == opGt || op == opGe || op == opNe
	}
	return op == opEq || op == opLe || op == opGe
}

// pathTests are filters over pathRows and what they select.
var pathTests = []struct {
	filter string
	want   []string
}{
	// The example, over every type that has the field, each by
	// its type: Meta's number, Other's string ("75" >= "50" as
	// strings), the JSON kind's JSON number (not m6's string).
	{`metadata.progress_percent >= 50`, []string{"m1", "m3", "m4", "m5"}},
	{`metadata.progress_percent >= 50 AND kind = "test.meta"`, []string{"m1", "m3"}},
	{`metadata.@type = "type.googleapis.com/filtertest.Other" AND metadata.progress_percent = "75"`, []string{"m4"}},
	{`metadata.progressPercent < 50 kind = test.meta`, []string{"m2"}}, // unset is 0
	{`NOT metadata.progress_percent = 0 AND kind = test.meta`, []string{"m1", "m3", "m7", "m8"}},
	{`metadata.progress_percent:* kind = test.meta`, []string{"m1", "m3"}},
	// Strings and wildcards.
	{`metadata.stage = "copy"`, []string{"m1", "m4", "m5"}},
	{`metadata.stage = "co*"`, []string{"m1", "m4", "m5"}},
	{`metadata.stage != "copy" kind = test.meta`, []string{"m2", "m3"}},
	{`metadata.stage < "d" kind = test.meta`, []string{"m1", "m2"}},
	// Enums by name and number.
	{`metadata.state = RUNNING`, []string{"m1"}},
	{`metadata.state = 2`, []string{"m3"}},
	{`metadata.state != DONE`, []string{"m1", "m2"}},
	{`metadata.state = STATE_UNSPECIFIED`, []string{"m2"}},
	{`metadata.state:*`, []string{"m1", "m3"}},
	// Timestamps, with 0, 3, 6 and 9 fractional digits stored.
	{`metadata.start_time < "2018-03-28T14:50:00Z"`, []string{"m1"}},
	{`metadata.start_time >= "2018-03-28T14:50:00Z"`, []string{"m2", "m3"}},
	{`metadata.start_time > "2018-03-28T14:50:00.1Z"`, []string{"m3"}},
	{`metadata.start_time = "2018-03-28T15:50:00.123+01:00"`, []string{"m3"}},
	{`metadata.progress.start_time < "2018-03-28T14:50:00.000002Z"`, []string{"m2"}},
	{`metadata.progress.start_time > "2018-03-28T14:50:00.000001Z"`, []string{"m1"}},
	{`metadata.progress.startTime:*`, []string{"m1", "m2"}},
	{`NOT metadata.progress.start_time:* kind = test.meta`, []string{"m3", "m7", "m8"}},
	// Nested numbers, 64-bit (a JSON string) and double.
	{`metadata.progress.done_bytes > 1000000000000`, []string{"m1"}},
	{`metadata.progress.done_bytes = 0`, []string{"m2", "m3"}},
	{`metadata.progress.ratio < 0.5 metadata.progress.ratio > 0.2`, []string{"m1"}},
	{`metadata.progress:*`, []string{"m1", "m2"}},
	// Durations, as seconds.
	{`metadata.elapsed > 1s`, []string{"m1", "m3"}},
	{`metadata.elapsed >= 1m`, []string{"m3"}},
	{`metadata.elapsed = 1.5s`, []string{"m1"}},
	// Bools, and a wrapper: set to 0 is there, unset is not.
	{`metadata.ok = true`, []string{"m1"}},
	{`metadata.ok = false kind = test.meta`, []string{"m2", "m3"}},
	{`metadata.limit = 0`, []string{"m1"}},
	{`metadata.limit:*`, []string{"m1"}},
	// JSON kinds: any path, typed by the value.
	{`metadata.nested.ok = true`, []string{"m5"}},
	{`metadata.nested:*`, []string{"m5", "m6"}},
	{`metadata.s = "50"`, []string{"m5"}},
	{`kind = test.json metadata.progress_percent = 70`, []string{}},
	{`kind = test.json metadata.progress_percent = "70"`, []string{"m6"}},
	{`kind = test.json metadata.progress_percent = 60`, []string{"m5"}},
	{`kind = test.json metadata.progress_percent = "7*"`, []string{"m6"}},
	{`kind = test.json metadata.missing.deep > 1`, []string{}},
	{`kind = test.json NOT metadata.missing = 1`, []string{"m5", "m6"}},
}

func TestPathsSQLite(t *testing.T) {
	db := openPathDB(t)
	for _, tt := range pathTests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := ParseSchema(tt.filter, testSchema)
			require.NoError(t, err)
			require.Equal(t, tt.want, selectPathIDs(t, db, e), "SQL")
			require.Equal(t, tt.want, evalPathIDs(e), "reference evaluation")
			again, err := ParseSchema(e.String(), testSchema)
			require.NoError(t, err, e.String())
			require.Equal(t, e.String(), again.String())
		})
	}
}

func TestPathErrors(t *testing.T) {
	tests := []struct {
		filter string
		pos    int
		msg    string
	}{
		{`metadata.nope = 1 AND kind = test.meta`, 1, "filtertest.Meta has no field nope"},
		{`kind = test.meta AND metadata.progress.nope = 1`, 22, "filtertest.Meta.Progress has no field nope"},
		{`metadata.tags = "a" kind = test.meta`, 1, "repeated"},
		{`metadata.state < RUNNING kind = test.meta`, 16, "supports only = and !="},
		{`metadata.state = WALKING kind = test.meta`, 18, "wants a value of enum filtertest.Meta.State"},
		{`kind = test.meta metadata.progress_percent = abc`, 46, "wants a number"},
		{`kind = test.meta metadata.start_time > 2018`, 40, "RFC 3339"},
		{`kind = test.meta metadata.progress = 1`, 36, "is a message"},
		{`kind = test.meta metadata.elapsed > forever`, 37, "duration"},
		{`kind = test.meta metadata.ok > true`, 30, "bool"},
		{`kind = test.meta metadata.limit.value = 1`, 18, "limit has no fields"},
		{`kind = nothing metadata.x = 1`, 16, "no registered kind in the filter's scope has metadata"},
		{`response.x = 1 kind = test.meta`, 1, "no registered kind in the filter's scope has response"},
		{`metadata.@type = "type.googleapis.com/filtertest.Meta" metadata.stage = 1 metadata.ok = yes`, 89, "true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := ParseSchema(tt.filter, testSchema)
			var ferr *Error
			require.True(t, errors.As(err, &ferr), "%v", err)
			require.Equal(t, tt.pos, ferr.Pos, ferr.Msg)
			require.Contains(t, ferr.Msg, tt.msg)
		})
	}
	// With no JSON kind in scope, a field no type has names the field.
	_, err := ParseSchema(`metadata.progress_percent = 1 OR metadata.nope = 1`, &Schema{Kinds: testSchema.Kinds[:2]})
	require.ErrorContains(t, err, "column 34: field metadata.nope: no metadata type in the filter's scope has field nope")
	// A well-known type's JSON form is not an object of its fields.
	_, err = ParseSchema(`metadata.value = "x"`, &Schema{Kinds: []Kind{{Name: "s", Metadata: (&wrapperspb.StringValue{}).ProtoReflect().Descriptor()}}})
	require.ErrorContains(t, err, "column 1: field metadata.value: google.protobuf.StringValue has a JSON form of its own")
	// Without a schema, paths are unknown fields, as before.
	_, err = Parse(`metadata.progress_percent >= 50`)
	require.ErrorContains(t, err, `column 1: unknown field "metadata.progress_percent"`)
}

// FuzzPaths checks, for filters over metadata paths, that errors have a
// position within the filter, and that the SQL selects on SQLite what the
// reference evaluation over the messages selects.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{
		`metadata.progress_percent >= 50 AND done = false`,
		`metadata.progress.start_time < "2018-03-28T14:50:00Z" kind = test.meta`,
		`metadata.state = RUNNING OR metadata.stage = "do*"`,
		`NOT metadata.elapsed > 1s metadata.@type = "type.googleapis.com/filtertest.Meta"`,
		`metadata.nested.ok = true OR metadata.s:*`,
		`metadata.limit:* OR metadata.progress.done_bytes != 0`,
	} {
		f.Add(s)
	}
	db := openPathDB(f)
	f.Fuzz(func(t *testing.T, filter string) {
		e, err := ParseSchema(filter, testSchema)
		if err != nil {
			var ferr *Error
			require.True(t, errors.As(err, &ferr), "not an *Error: %#v", err)
			require.GreaterOrEqual(t, ferr.Pos, 1, ferr.Msg)
			require.LessOrEqual(t, ferr.Pos, utf8.RuneCountInString(filter)+1, ferr.Msg)
			return
		}
		if e == nil || usesUnsupported(e) {
			return
		}
		require.Equal(t, evalPathIDs(e), selectPathIDs(t, db, e), "filter %q", filter)
	})
}

// usesUnsupported reports whether e uses a field that the path tests'
// table lacks.
func usesUnsupported(e *Expr) bool {
	if e.kind == exprCmp {
		if e.cmp.path != nil {
			return e.cmp.path.root != "metadata"
		}
		switch e.cmp.field.name {
		case "kind", "metadata", "metadata.@type":
			return false
		}
		return true
	}
	return slices.ContainsFunc(e.subs, usesUnsupported)
}
