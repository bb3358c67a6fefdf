package kindfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/kindfile"
	"lro.dev/lro/internal/kindfile/kindfiletest"
)

var registerOnce sync.Once

// register registers the test descriptor set, once per process (a second
// registration is a no-op, which TestDescriptorSetTwice checks).
func register(t *testing.T) {
	t.Helper()
	var err error
	registerOnce.Do(func() { err = kindfile.RegisterFileSet("test.pb", kindfiletest.FileSet()) })
	if err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, src string) ([]*kindfile.Kind, error) {
	t.Helper()
	register(t)
	return kindfile.Parse("kinds.yaml", []byte(strings.TrimLeft(src, "\n")), protoregistry.GlobalTypes)
}

// TestParse: a file with every field gives the kinds it declares, with
// Struct (nil) for the types it leaves out.
func TestParse(t *testing.T) {
	kinds, err := parse(t, `
kinds:
  - name: media.resize
    request_type: kindfiletest.v1.ResizeRequest
    metadata_type: kindfiletest.v1.ResizeProgress
    response_type: kindfiletest.v1.ResizeResult
    max_attempts: 3
    lease_ttl: 45s
  - name: report.build
    input_schema:
      type: object
      required: [title]
      properties:
        title: {type: string, minLength: 1}
  - name: shell.run
    request_type: kindfiletest.v1.ResizeRequest
    retry:
      initial_delay: 2s
      multiplier: 1.5
      max_delay: 1m
      jitter: none
      codes: [DEADLINE_EXCEEDED, ABORTED]
    attempt_timeout: 10m
    timeout: 1h
  - name: once
    retry: none
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 4 {
		t.Fatalf("got %d kinds, want 4", len(kinds))
	}
	run := kinds[2].Declared()
	wantRetry := &lro.RetryPolicy{InitialDelay: 2 * time.Second, Multiplier: 1.5, MaxDelay: time.Minute, Jitter: -1,
		Codes: []codes.Code{codes.DeadlineExceeded, codes.Aborted}}
	if !reflect.DeepEqual(run.Retry, wantRetry) || run.AttemptTimeout != 10*time.Minute || run.Timeout != time.Hour {
		t.Errorf("shell.run: got retry %+v, attempt timeout %v, timeout %v", run.Retry, run.AttemptTimeout, run.Timeout)
	}
	if kinds[3].Retry != lro.NoRetry {
		t.Errorf("once: retry none is %+v, want lro.NoRetry", kinds[3].Retry)
	}
	if kinds[0].Retry != nil || kinds[0].Timeout != 0 || kinds[0].AttemptTimeout != 0 {
		t.Errorf("media.resize: got %+v, want no retry policy or limits", kinds[0])
	}
	r := kinds[0]
	if r.Name != "media.resize" || r.Line != 2 || r.MaxAttempts != 3 || r.LeaseTTL != 45*time.Second ||
		r.Request.Descriptor().FullName() != "kindfiletest.v1.ResizeRequest" ||
		r.Metadata.Descriptor().FullName() != "kindfiletest.v1.ResizeProgress" ||
		r.Response.Descriptor().FullName() != "kindfiletest.v1.ResizeResult" || r.InputSchema != nil {
		t.Errorf("media.resize: got %+v", r)
	}
	b := kinds[1]
	if b.Request != nil || b.Metadata != nil || b.Response != nil || b.MaxAttempts != 0 || b.LeaseTTL != 0 {
		t.Errorf("report.build: got %+v, want Struct types and defaults", b)
	}
	if got := b.InputSchema.GetFields()["required"].GetListValue().GetValues()[0].GetStringValue(); got != "title" {
		t.Errorf("report.build: input_schema %v", b.InputSchema)
	}
	if d := b.Declared(); d.Validate == nil || d.InputSchema == nil {
		t.Errorf("report.build: Declared() has no Validate or no InputSchema")
	}
	if d := kinds[2].Declared(); d.Validate != nil || d.Metadata != nil || d.Response != nil {
		t.Errorf("shell.run: Declared() %+v, want no Validate and Struct metadata and response", d)
	}
}

// TestParseErrors: every mistake is refused with the file and the line at
// fault.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"syntax", "kinds:\n  - name: a\n    bad: [\n", "kinds.yaml:3: did not find expected node content"},
		{"tab", "kinds:\n\t- name: a\n", "kinds.yaml:2: found character that cannot start any token"},
		{"two documents", "kinds:\n  - name: a\n---\nkinds:\n  - name: b\n", "kinds.yaml:3: a second YAML document"},
		{"aliases nested", laughs(), "input_schema: more than 100000 values"},
		{"empty", "", "kinds.yaml: the file is empty"},
		{"not a mapping", "- name: a\n", "kinds.yaml:1: want a mapping"},
		{"unknown top-level field", "kinds: []\nkind: []\n", "kinds.yaml:2: unknown field \"kind\""},
		{"no kinds", "{}\n", "kinds.yaml:1: no kinds"},
		{"kinds not a list", "kinds:\n  name: a\n", "kinds.yaml:2: kinds must be a list"},
		{"kinds empty", "kinds: []\n", "kinds.yaml:1: kinds is empty"},
		{"kind not a mapping", "kinds:\n  - a\n", "kinds.yaml:2: a kind must be a mapping"},
		{"unknown field", "kinds:\n  - name: a\n    request: x.Y\n", "kinds.yaml:3: unknown field \"request\" in a kind"},
		{"field twice", "kinds:\n  - name: a\n    name: b\n", "kinds.yaml:3: field \"name\" is given twice"},
		{"no name", "kinds:\n  - max_attempts: 2\n", "kinds.yaml:2: a kind has no name"},
		{"invalid name", "kinds:\n  - name: a\n  - name: 9lives\n", "kinds.yaml:3: invalid kind name \"9lives\""},
		{"name not a string", "kinds:\n  - name: [a]\n", "kinds.yaml:2: invalid kind name"},
		{"duplicate", "kinds:\n  - name: a\n  - name: b\n  - name: a\n", "kinds.yaml:4: kind \"a\" is declared twice (first on line 2)"},
		{"unknown type", "kinds:\n  - name: a\n    response_type: kindfiletest.v1.Nope\n", "kinds.yaml:3: response_type kindfiletest.v1.Nope: no such message"},
		{"invalid type name", "kinds:\n  - name: a\n    request_type: not a name\n", "kinds.yaml:3: request_type must be a full message name"},
		{"enum is not a message", "kinds:\n  - name: a\n    request_type: kindfiletest.v1.ResizeRequest.Mode\n", "kinds.yaml:3: request_type kindfiletest.v1.ResizeRequest.Mode is not a message"},
		{"bad max_attempts", "kinds:\n  - name: a\n    max_attempts: many\n", "kinds.yaml:3: max_attempts must be a whole number"},
		{"zero max_attempts", "kinds:\n  - name: a\n    max_attempts: 0\n", "kinds.yaml:3: max_attempts must be a whole number"},
		{"huge max_attempts", "kinds:\n  - name: a\n    max_attempts: 9999999999\n", "kinds.yaml:3: max_attempts must be a whole number"},
		{"bad lease_ttl", "kinds:\n  - name: a\n    lease_ttl: 30\n", "kinds.yaml:3: lease_ttl must be a duration"},
		{"short lease_ttl", "kinds:\n  - name: a\n    lease_ttl: 1ms\n", "kinds.yaml:3: lease_ttl 1ms is below the minimum"},
		{"schema not a mapping", "kinds:\n  - name: a\n    input_schema: object\n", "kinds.yaml:3: input_schema must be a JSON Schema object"},
		{"bad timeout", "kinds:\n  - name: a\n    timeout: 0s\n", "kinds.yaml:3: timeout must be a positive duration"},
		{"bad attempt_timeout", "kinds:\n  - name: a\n    attempt_timeout: soon\n", "kinds.yaml:3: attempt_timeout must be a positive duration"},
		{"retry not a mapping", "kinds:\n  - name: a\n    retry: always\n", "kinds.yaml:3: retry must be a mapping"},
		{"retry unknown field", "kinds:\n  - name: a\n    retry:\n      delay: 1s\n", "kinds.yaml:4: unknown field \"delay\" in retry"},
		{"retry bad multiplier", "kinds:\n  - name: a\n    retry:\n      multiplier: 0.5\n", "kinds.yaml:4: multiplier must be a number from 1 to 100"},
		{"retry bad jitter", "kinds:\n  - name: a\n    retry:\n      jitter: 2\n", "kinds.yaml:4: jitter must be a fraction"},
		{"retry codes not a list", "kinds:\n  - name: a\n    retry:\n      codes: ABORTED\n", "kinds.yaml:4: codes must be a list"},
		{"retry unknown code", "kinds:\n  - name: a\n    retry:\n      codes: [ABORTED, BUSY]\n", "kinds.yaml:4: \"BUSY\" is not the name of a google.rpc.Code"},
		{"retry OK code", "kinds:\n  - name: a\n    retry:\n      codes: [OK]\n", "kinds.yaml:4: \"OK\" is not the name of a google.rpc.Code of a failure"},
		{"retry bad delay", "kinds:\n  - name: a\n    retry:\n      initial_delay: -1s\n", "kinds.yaml:4: initial_delay must be a positive duration"},
		{"invalid schema", "kinds:\n  - name: a\n    input_schema:\n      type: object\n      properties:\n        size: {type: integr}\n", "kinds.yaml:6: invalid input_schema/properties/size/type"},
		{"invalid schema keyword value", "kinds:\n  - name: a\n    input_schema:\n      minProperties: -1\n", "kinds.yaml:4: invalid input_schema/minProperties"},
		{"schema refers outside", "kinds:\n  - name: a\n    input_schema:\n      $ref: https://example.com/s.json\n", "kinds.yaml:4: invalid input_schema: failing loading \"https://example.com/s.json\": input_schema may not refer to"},
		{"schema not JSON", "kinds:\n  - name: a\n    input_schema:\n      maximum: .inf\n", "kinds.yaml:4: input_schema: \".inf\" is not a JSON number"},
		{"schema key twice", "kinds:\n  - name: a\n    input_schema:\n      type: object\n      type: string\n", "kinds.yaml:5: field \"type\" is given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestLoad: Load reads descriptor sets from files before the kinds file,
// and names a missing file.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	set := filepath.Join(dir, "resize.pb")
	kinds := filepath.Join(dir, "kinds.yaml")
	if err := os.WriteFile(set, kindfiletest.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kinds, []byte("kinds:\n  - name: media.resize\n    request_type: kindfiletest.v1.ResizeRequest\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := kindfile.Load(kinds, []string{set, set}) // the same set twice: the second is a no-op
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Request.Descriptor().FullName() != "kindfiletest.v1.ResizeRequest" {
		t.Errorf("got %+v", got)
	}
	if _, err := kindfile.Load(filepath.Join(dir, "nope.yaml"), nil); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("a missing kinds file: got %v", err)
	}
	if _, err := kindfile.Load(kinds, []string{kinds}); err == nil || !strings.Contains(err.Error(), "descriptor set "+kinds+" does not decode") {
		t.Errorf("a kinds file as a descriptor set: got %v", err)
	}
}

// TestDescriptorSetRegisters: the set's messages resolve through the
// global registries, as protojson and anypb use them, nested ones and the
// well-known Timestamp (already registered, used as it is) included.
func TestDescriptorSetRegisters(t *testing.T) {
	register(t)
	mt, err := protoregistry.GlobalTypes.FindMessageByName(kindfiletest.Package + ".ResizeRequest")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protoregistry.GlobalTypes.FindMessageByName(kindfiletest.Package + ".ResizeRequest.Box"); err != nil {
		t.Errorf("nested message: %v", err)
	}
	if _, err := protoregistry.GlobalTypes.FindEnumByName(kindfiletest.Package + ".ResizeRequest.Mode"); err != nil {
		t.Errorf("nested enum: %v", err)
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal([]byte(`{"source":"a.png","size":3,"boxes":[{"width":1}],"deadline":"2026-01-02T03:04:05Z","mode":"MODE_FAST"}`), m); err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, m) {
		t.Errorf("through Any: got %v, want %v", back, m)
	}
	if _, err := protojson.Marshal(a); err != nil {
		t.Errorf("Any as JSON: %v", err)
	}
}

// TestDescriptorSetTwice: registering the same set again, or another set
// holding a file already registered, uses the registered file.
func TestDescriptorSetTwice(t *testing.T) {
	register(t)
	if err := kindfile.RegisterFileSet("again.pb", kindfiletest.FileSet()); err != nil {
		t.Fatal(err)
	}
}

// TestDescriptorSetConflicts: a set that redefines a registered file, or a
// registered name in a file of its own, is refused naming the file instead
// of the registry's panic.
func TestDescriptorSetConflicts(t *testing.T) {
	register(t)
	changed := kindfiletest.FileSet()
	changed.File[1].MessageType[0].Field[1].Type = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	err := kindfile.RegisterFileSet("changed.pb", changed)
	if err == nil || !strings.Contains(err.Error(), "descriptor set changed.pb: file kindfiletest/v1/resize.proto conflicts") ||
		!strings.Contains(err.Error(), "kindfiletest.v1.ResizeRequest.size") {
		t.Errorf("a changed field: got %v", err)
	}

	moved := kindfiletest.FileSet()
	moved.File[1].Name = proto.String("elsewhere/resize.proto")
	err = kindfile.RegisterFileSet("moved.pb", moved)
	if err == nil || !strings.Contains(err.Error(), "file elsewhere/resize.proto: kindfiletest.v1.ResizeRequest is already defined by kindfiletest/v1/resize.proto") {
		t.Errorf("a name defined twice: got %v", err)
	}

	missing := kindfiletest.FileSet()
	missing.File = missing.File[1:]
	missing.File[0].Name = proto.String("other/resize.proto")
	missing.File[0].Package = proto.String("other.v1")
	missing.File[0].Dependency = []string{"other/missing.proto"}
	err = kindfile.RegisterFileSet("missing.pb", missing)
	if err == nil || !strings.Contains(err.Error(), "file other/resize.proto") || !strings.Contains(err.Error(), "--include_imports") {
		t.Errorf("a missing import: got %v", err)
	}
	if _, err := protoregistry.GlobalFiles.FindFileByPath("other/resize.proto"); err == nil {
		t.Errorf("a refused file was registered")
	}
}

// TestValidate: a request that fails the schema is INVALID_ARGUMENT with a
// field violation per problem, named by its path in the request's JSON,
// for Struct and typed requests alike.
func TestValidate(t *testing.T) {
	kinds, err := parse(t, `
kinds:
  - name: json
    input_schema:
      type: object
      required: [size]
      properties:
        size: {type: integer, minimum: 1}
        items:
          type: array
          items: {type: object, properties: {n: {type: string}}}
  - name: typed
    request_type: kindfiletest.v1.ResizeRequest
    input_schema:
      properties:
        size: {minimum: 1}
        boxes: {items: {properties: {width: {maximum: 10}}}}
`)
	if err != nil {
		t.Fatal(err)
	}
	jsonKind, typed := kinds[0].Declared(), kinds[1].Declared()
	must := func(m map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := jsonKind.Validate(must(map[string]any{"size": 2})); err != nil {
		t.Errorf("a valid request: %v", err)
	}
	resize := func(js string) proto.Message {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(kindfiletest.Package + ".ResizeRequest")
		if err != nil {
			t.Fatal(err)
		}
		m := mt.New().Interface()
		if err := protojson.Unmarshal([]byte(js), m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := typed.Validate(resize(`{"size":3,"boxes":[{"width":10}]}`)); err != nil {
		t.Errorf("a valid typed request: %v", err)
	}
	for _, tc := range []struct {
		name     string
		validate func(proto.Message) error
		req      proto.Message
		fields   []string
		message  string
	}{
		{"below minimum", jsonKind.Validate, must(map[string]any{"size": 0}), []string{"input.size"}, "input.size: minimum: got 0, want 1"},
		{"missing", jsonKind.Validate, must(map[string]any{}), []string{"input"}, "input: missing property 'size'"},
		{"in a list", jsonKind.Validate, must(map[string]any{"size": 1, "items": []any{map[string]any{"n": "a"}, map[string]any{"n": 2}}}),
			[]string{"input.items[1].n"}, "input.items[1].n: got number, want string"},
		{"two problems", jsonKind.Validate, must(map[string]any{"size": 1.5, "items": "x"}), []string{"input.items", "input.size"}, ""},
		{"typed", typed.Validate, resize(`{"size":-1}`), []string{"input.size"}, "input.size: minimum: got -1, want 1"},
		{"typed nested", typed.Validate, resize(`{"size":1,"boxes":[{"width":1},{"width":11}]}`), []string{"input.boxes[1].width"}, "input.boxes[1].width: maximum: got 11, want 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.validate(tc.req)
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.InvalidArgument || !errors.Is(err, lro.ErrInvalidArgument) {
				t.Fatalf("got %v, want INVALID_ARGUMENT wrapping lro.ErrInvalidArgument", err)
			}
			if tc.message != "" && !strings.Contains(st.Message(), tc.message) {
				t.Errorf("message %q does not contain %q", st.Message(), tc.message)
			}
			var fields []string
			var reason string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.BadRequest:
					for _, v := range d.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				case *errdetails.ErrorInfo:
					reason = d.GetReason()
				}
			}
			if strings.Join(sorted(fields), ",") != strings.Join(tc.fields, ",") {
				t.Errorf("field violations %v, want %v", fields, tc.fields)
			}
			if reason != "INVALID_INPUT" {
				t.Errorf("ErrorInfo reason %q, want INVALID_INPUT", reason)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// anyTypes resolves the message names of docs/server.md's example, whose
// descriptor set the tests do not have, as Struct.
type anyTypes struct{}

func (anyTypes) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if t, err := protoregistry.GlobalTypes.FindMessageByName(n); err == nil {
		return t, nil
	}
	return (&structpb.Struct{}).ProtoReflect().Type(), nil
}

// TestDocsExample: the example kinds file of docs/server.md parses, its
// schemas compile, and the request it shows as refused is.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/server.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/server.md has no YAML example")
	}
	kinds, err := kindfile.Parse("kinds.yaml", m[1], anyTypes{})
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 2 || kinds[0].Name != "report.build" || kinds[1].Name != "media.transcode" {
		t.Fatalf("got %d kinds: %+v", len(kinds), kinds)
	}
	req, _ := structpb.NewStruct(map[string]any{"title": "Q3", "pages": 0})
	err = kinds[0].Declared().Validate(req)
	if want := `invalid input for kind "report.build": input.pages: minimum: got 0, want 1`; status.Convert(err).Message() != want {
		t.Errorf("got %v, want %q as the docs show", err, want)
	}
}

// laughs is a kinds file whose schema's aliases expand to 10^9 values.
func laughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	src := b.String()
	// The anchors go in the schema itself, where they are expanded.
	return "kinds:\n  - name: a\n    input_schema:\n      $defs:\n" + indent(src, "        ") + "      enum: *a8\n"
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
