package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/lropb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// result is what a run of the command printed and returned.
type result struct {
	args           []string // without --addr
	addr           string   // the --addr given, shown as ADDR in the output
	code           int
	stdout, stderr string
}

// runCLI runs the command line args through Main against f (nil: no --addr).
// --addr goes after the other arguments, so every run also checks that
// flags may follow positional arguments.
func runCLI(t *testing.T, f *fakeServer, args ...string) result {
	t.Helper()
	return lroStdin(t, f, nil, args...)
}

// lroStdin is runCLI with a standard input; nil runs through Main.
func lroStdin(t *testing.T, f *fakeServer, stdin io.Reader, args ...string) result {
	t.Helper()
	return runCLIOn(t, f, stdin, &bytes.Buffer{}, args...)
}

// fakeTerminal is a standard error that says it is a terminal of width
// columns (0: unknown).
type fakeTerminal struct {
	bytes.Buffer
	width int
}

func (f *fakeTerminal) TerminalWidth() (int, bool) { return f.width, true }

// runCLITerminal is runCLI with a standard error that is a terminal of width
// columns (0: unknown), where wait shows its progress.
func runCLITerminal(t *testing.T, f *fakeServer, width int, args ...string) result {
	t.Helper()
	return runCLIOn(t, f, nil, &fakeTerminal{width: width}, args...)
}

// runCLIOn runs the command line args against f with stdin (nil: through
// Main) and stderr.
func runCLIOn(t *testing.T, f *fakeServer, stdin io.Reader, stderr interface {
	io.Writer
	String() string
}, args ...string) result {
	t.Helper()
	all := args
	if f != nil {
		all = append(append([]string{}, args...), "--addr", f.addr)
	}
	var stdout bytes.Buffer
	var code int
	if stdin == nil {
		code = Main(t.Context(), all, &stdout, stderr)
	} else {
		code = run(t.Context(), all, stdin, &stdout, stderr)
	}
	r := result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
	if f != nil {
		r.addr = f.addr
	}
	return r
}

func (r result) String() string {
	quoted := make([]string, len(r.args))
	for i, a := range r.args {
		quoted[i] = shellQuote(a)
	}
	s := "$ lro " + strings.Join(quoted, " ") + "\n" +
		"-- exit " + string(rune('0'+r.code)) + "\n" +
		"-- stdout --\n" + r.stdout +
		"-- stderr --\n" + r.stderr
	if r.addr != "" {
		s = strings.ReplaceAll(s, r.addr, "ADDR")
	}
	return s
}

// golden compares r with testdata/name.golden, or writes it there with
// -update.
func golden(t *testing.T, name string, r result) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got := r.String()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("lro %s: output differs from %s\n--- want:\n%s\n--- got:\n%s",
			strings.Join(r.args, " "), path, want, got)
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("lro %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(r.args, " "), r.code, code, r.stdout, r.stderr)
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"get_succeeded", []string{"get", "operations/op-1"}, 0},
		{"get_running", []string{"get", "operations/op-2"}, 0},
		{"get_failed", []string{"get", "operations/op-3"}, 0},
		{"get_cancelled", []string{"get", "operations/op-4"}, 0},
		{"get_unknown_types", []string{"get", "operations/op-5"}, 0},
		{"get_json", []string{"get", "-o", "json", "operations/op-1"}, 0},
		{"get_json_running", []string{"get", "--output=json", "operations/op-2"}, 0},
		{"get_json_failed", []string{"get", "operations/op-3", "-o", "json"}, 0},
		{"get_json_unknown_types", []string{"get", "operations/op-5", "-ojson"}, 0},
		{"get_not_found", []string{"get", "operations/nope"}, 1},
		{"get_not_found_json", []string{"get", "operations/nope", "-o", "json"}, 1},
		{"list", []string{"list"}, 0},
		{"list_json", []string{"list", "-o", "json"}, 0},
		{"list_page", []string{"list", "--page-size", "2", "--filter", "done = true"}, 0},
		{"list_page_2", []string{"list", "--page-size", "2", "--page-token", "offset-2"}, 0},
		{"list_page_json", []string{"list", "--page-size", "2", "-o", "json"}, 0},
		{"list_all", []string{"list", "--page-size", "2", "--all"}, 0},
		{"list_all_json", []string{"list", "--all", "--page-size", "2", "-o", "json"}, 0},
		{"list_parent_empty", []string{"list", "--parent", "projects/p/locations/l"}, 0},
		{"list_parent_empty_json", []string{"list", "--parent", "projects/p/locations/l", "-o", "json"}, 0},
		{"list_bad_token", []string{"list", "--page-token", "nope"}, 1},
		{"kinds", []string{"kinds"}, 0},
		{"kinds_json", []string{"kinds", "-o", "json"}, 0},
		{"cancel", []string{"cancel", "operations/op-2"}, 0},
		{"cancel_json", []string{"cancel", "operations/op-2", "-o", "json"}, 0},
		{"cancel_not_found", []string{"cancel", "operations/nope"}, 1},
		{"delete", []string{"delete", "operations/op-1"}, 0},
		{"delete_json", []string{"delete", "-o", "json", "operations/op-1"}, 0},
		{"delete_not_found", []string{"delete", "operations/nope"}, 1},
		{"wait_done", []string{"wait", "operations/op-1"}, 0},
		{"wait_failed", []string{"wait", "operations/op-3"}, 1},
		{"wait_failed_json", []string{"wait", "operations/op-3", "-o", "json"}, 1},
		{"wait_cancelled", []string{"wait", "operations/op-4"}, 1},
		{"wait_not_found", []string{"wait", "operations/nope"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSeededFakeServer(t)
			r := runCLI(t, f, tt.args...)
			wantCode(t, r, tt.code)
			golden(t, tt.name, r)
		})
	}
}

// TestGetLease: get shows when a running operation's lease expires, as the
// server tells it, so that an operator can tell a live worker from a dead
// one.
func TestGetLease(t *testing.T) {
	f := newSeededFakeServer(t)
	f.leaseExpire = map[string]time.Time{"operations/op-2": time.Now().Add(90 * time.Second)}
	r := runCLI(t, f, "get", "operations/op-2")
	wantCode(t, r, 0)
	require.Regexp(t, `(?m)^state:    running\nlease:    expires in 1m(29|30)s \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\) unless its worker renews it$`, r.stdout)

	f.leaseExpire["operations/op-2"] = time.Now().Add(-30 * time.Second)
	r = runCLI(t, f, "get", "operations/op-2")
	wantCode(t, r, 0)
	require.Regexp(t, `(?m)^lease:    expired (30|31)s ago \(.*\): its worker is gone; the operation runs again once the server rescues it$`, r.stdout)

	r = runCLI(t, f, "get", "operations/op-2", "-o", "json")
	wantCode(t, r, 0)
	require.NotContains(t, r.stdout, "lease", "JSON is the Operation alone")
}

// TestGetDelayed: get shows when a delayed operation runs.
func TestGetDelayed(t *testing.T) {
	f := newSeededFakeServer(t)
	f.notBefore = map[string]time.Time{"operations/op-2": time.Now().Add(90 * time.Second)}
	r := runCLI(t, f, "get", "operations/op-2")
	wantCode(t, r, 0)
	require.Regexp(t, `(?m)^state:    pending\nruns:     in 1m(29|30)s \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$`, r.stdout)
}

// TestStartDelayed: --delay and --at send a delay or a run_after; both, a
// negative delay or a time that is not RFC 3339 are usage errors.
func TestStartDelayed(t *testing.T) {
	f := newFakeServer(t)
	wantCode(t, runCLI(t, f, "start", "demo.sleep", "--delay", "30s"), 0)
	wantCode(t, runCLI(t, f, "start", "demo.sleep", "--at", "2026-12-05T10:00:00Z"), 0)
	starts := f.requests().starts
	require.Equal(t, 30*time.Second, starts[0].GetDelay().AsDuration())
	require.Equal(t, time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), starts[1].GetRunAfter().AsTime())
	for args, want := range map[[2]string]string{
		{"--delay", "-1s"}:     "--delay -1s: a delay is not negative",
		{"--delay", "soon"}:    `invalid argument "soon" for "--delay"`,
		{"--at", "tomorrow"}:   `--at "tomorrow": not an RFC 3339 time`,
		{"--at", "2026-12-05"}: `--at "2026-12-05": not an RFC 3339 time`,
	} {
		r := runCLI(t, f, "start", "demo.sleep", args[0], args[1])
		wantCode(t, r, 2)
		require.Contains(t, r.stderr, want, args)
	}
	r := runCLI(t, f, "start", "demo.sleep", "--delay", "1s", "--at", "2026-12-05T10:00:00Z")
	wantCode(t, r, 2)
	require.Contains(t, r.stderr, "--delay and --at: give one or the other")
	require.Len(t, f.requests().starts, 2, "nothing sent for a usage error")
}

func TestStart(t *testing.T) {
	f := newFakeServer(t)
	r := runCLI(t, f, "start", "demo.sleep", "--input", `{"duration": "30s", "failCode": "ABORTED", "n": 1.5, "x": null}`,
		"--request-id", "r-1", "--parent", "projects/p/locations/l")
	wantCode(t, r, 0)
	golden(t, "start", r)
	if r.stdout != "projects/p/locations/l/operations/op-1\n" {
		t.Errorf("stdout = %q, want the name on its own line", r.stdout)
	}
	want := &lropb.StartOperationRequest{
		Parent:    "projects/p/locations/l",
		Kind:      "demo.sleep",
		RequestId: "r-1",
		KindInput: &lropb.StartOperationRequest_Input{Input: mustStruct(t, map[string]any{
			"duration": "30s", "failCode": "ABORTED", "n": 1.5, "x": nil,
		})},
	}
	if !proto.Equal(want, f.requests().starts[0]) {
		t.Errorf("StartOperation request\n%v\nwant\n%v", f.requests().starts[0], want)
	}
}

func TestStartJSON(t *testing.T) {
	f := newFakeServer(t)
	r := runCLI(t, f, "start", "-o", "json", "demo.sleep")
	wantCode(t, r, 0)
	golden(t, "start_json", r)
	// The output is an Operation.
	var op longrunningpb.Operation
	if err := protojson.Unmarshal([]byte(r.stdout), &op); err != nil {
		t.Fatal(err)
	}
	if op.GetName() != "operations/op-1" {
		t.Errorf("name %q", op.GetName())
	}
	// Without --input, no input is sent.
	if in := f.requests().starts[0].GetKindInput(); in != nil {
		t.Errorf("kind_input = %v, want none", in)
	}
}

func TestStartUnknownKind(t *testing.T) {
	f := newFakeServer(t)
	r := runCLI(t, f, "start", "nope")
	wantCode(t, r, 1)
	golden(t, "start_unknown_kind", r)
}

func TestStartInputFile(t *testing.T) {
	f := newFakeServer(t)
	path := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(path, []byte("{\"duration\": \"2s\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, f, "start", "demo.sleep", "--input", "@"+path)
	wantCode(t, r, 0)
	got := f.requests().starts[0].GetInput()
	if want := mustStruct(t, map[string]any{"duration": "2s"}); !proto.Equal(want, got) {
		t.Errorf("input %v, want %v", got, want)
	}
}

func TestStartInputStdin(t *testing.T) {
	f := newFakeServer(t)
	r := lroStdin(t, f, strings.NewReader(`{"duration": "3s"}`), "start", "demo.sleep", "--input", "-")
	wantCode(t, r, 0)
	got := f.requests().starts[0].GetInput()
	if want := mustStruct(t, map[string]any{"duration": "3s"}); !proto.Equal(want, got) {
		t.Errorf("input %v, want %v", got, want)
	}
}

func TestStartBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct {
		input, stdin, wantErr string
	}{
		{input: `{"duration": `, wantErr: "lro: --input: not valid JSON: unexpected EOF\n"},
		{input: `duration=1s`, wantErr: "lro: --input: not valid JSON: invalid character 'd' looking for beginning of value\n"},
		{input: ``, wantErr: "lro: --input: empty, want JSON such as {\"duration\": \"2s\"}\n"},
		{input: `{} {}`, wantErr: "lro: --input: not valid JSON: more after the JSON value\n"},
		{input: "@" + missing, wantErr: "lro: --input: open " + missing + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			f := newFakeServer(t)
			r := lroStdin(t, f, strings.NewReader(tt.stdin), "start", "demo.sleep", "--input", tt.input)
			wantCode(t, r, 2)
			want := tt.wantErr + "Run 'lro start --help' for usage.\n"
			if r.stderr != want || r.stdout != "" {
				t.Errorf("stdout %q, stderr %q; want no stdout, stderr %q", r.stdout, r.stderr, want)
			}
			if n := f.callCount("StartOperation"); n != 0 {
				t.Errorf("%d StartOperation calls, want none", n)
			}
		})
	}
}

func TestStartInputAnyJSON(t *testing.T) {
	// A kind's request may map to JSON other than an object (a wrapper type
	// is a string, for one): any JSON value is sent as it is.
	f := newFakeServer(t)
	wantCode(t, runCLI(t, f, "start", "demo.sleep", "--input", `"just a string"`), 0)
	if got, want := f.requests().starts[0].GetInput(), structpb.NewStringValue("just a string"); !proto.Equal(want, got) {
		t.Errorf("input %v, want %v", got, want)
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Value {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return structpb.NewStructValue(s)
}

func TestRequests(t *testing.T) {
	f := newSeededFakeServer(t)
	wantCode(t, runCLI(t, f, "list", "--parent", "projects/p/locations/l/", "--filter", "done = false", "--page-size", "7", "--page-token", "offset-0"), 0)
	want := &longrunningpb.ListOperationsRequest{
		Name:      "projects/p/locations/l/operations",
		Filter:    "done = false",
		PageSize:  7,
		PageToken: "offset-0",
	}
	if !proto.Equal(want, f.requests().lists[0]) {
		t.Errorf("ListOperations request\n%v\nwant\n%v", f.requests().lists[0], want)
	}

	wantCode(t, runCLI(t, f, "get", "operations/op-1"), 0)
	wantCode(t, runCLI(t, f, "kinds"), 0)
	wantCode(t, runCLI(t, f, "cancel", "operations/op-1"), 0)
	wantCode(t, runCLI(t, f, "delete", "operations/op-1"), 0)
	wantCode(t, runCLI(t, f, "start", "demo.sleep"), 0)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range []string{"ListOperations", "GetOperation", "ListKinds", "CancelOperation", "DeleteOperation", "StartOperation"} {
		if !f.deadline[m] {
			t.Errorf("%s had no deadline", m)
		}
	}
}

func TestListAll(t *testing.T) {
	f := newSeededFakeServer(t)
	r := runCLI(t, f, "list", "--all", "--page-size", "2")
	wantCode(t, r, 0)
	var tokens []string
	for _, req := range f.requests().lists {
		tokens = append(tokens, req.GetPageToken())
	}
	if got, want := strings.Join(tokens, ","), ",offset-2,offset-4"; got != want {
		t.Errorf("page tokens %q, want %q", got, want)
	}
	if strings.Count(r.stdout, "\n") != 6 || r.stderr != "" {
		t.Errorf("want a header and 5 rows and no next page, got stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

func TestCancelThenGet(t *testing.T) {
	f := newSeededFakeServer(t)
	wantCode(t, runCLI(t, f, "cancel", "operations/op-2"), 0)
	r := runCLI(t, f, "get", "operations/op-2")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "state:    cancelled\n") {
		t.Errorf("after cancel, get shows:\n%s", r.stdout)
	}
	wantCode(t, runCLI(t, f, "delete", "operations/op-2"), 0)
	r = runCLI(t, f, "get", "operations/op-2")
	wantCode(t, r, 1)
	if want := "lro: NOT_FOUND: operation \"operations/op-2\" not found\n"; r.stderr != want {
		t.Errorf("after delete, get: stderr %q, want %q", r.stderr, want)
	}
}

func TestWaitProgress(t *testing.T) {
	f := newSeededFakeServer(t)
	f.locked(func() { f.waitsLeft["operations/op-2"] = 1 }) // one running answer, then done
	r := runCLITerminal(t, f, 0, "wait", "operations/op-2")
	wantCode(t, r, 0)
	if want := runCLI(t, f, "get", "operations/op-2").stdout; r.stdout != want {
		t.Errorf("wait printed\n%s\nwant what get prints:\n%s", r.stdout, want)
	}
	line := "operations/op-2 running 42%"
	if want := "\r" + line + "\r" + strings.Repeat(" ", len(line)) + "\r"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if n := f.callCount("WaitOperation"); n != 2 {
		t.Errorf("%d WaitOperation calls, want 2", n)
	}
}

func TestWaitProgressNarrowTerminal(t *testing.T) {
	f := newSeededFakeServer(t)
	f.locked(func() { f.waitsLeft["operations/op-2"] = 1 })
	r := runCLITerminal(t, f, 12, "wait", "operations/op-2")
	wantCode(t, r, 0)
	line := "operations…" // 11 columns of 12
	if want := "\r" + line + "\r" + strings.Repeat(" ", 11) + "\r"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

func TestWaitNotTerminal(t *testing.T) {
	// Standard error is a buffer, not a terminal.
	f := newSeededFakeServer(t)
	f.locked(func() { f.waitsLeft["operations/op-2"] = 1 })
	r := runCLI(t, f, "wait", "operations/op-2")
	wantCode(t, r, 0)
	golden(t, "wait_running", r)
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing off a terminal", r.stderr)
	}
}

func TestWaitTimeout(t *testing.T) {
	// Standard error is a buffer, not a terminal.
	f := newSeededFakeServer(t)
	f.locked(func() { f.blockWait = true })
	r := runCLI(t, f, "wait", "operations/op-2", "--timeout", "100ms")
	wantCode(t, r, 3)
	golden(t, "wait_timeout", r)
}

func TestWaitUnimplemented(t *testing.T) {
	f := newSeededFakeServer(t)
	f.locked(func() { f.noWait = true })
	r := runCLI(t, f, "wait", "operations/op-1")
	wantCode(t, r, 0)
	if got, want := r.stdout, runCLI(t, f, "get", "operations/op-1").stdout; got != want {
		t.Errorf("wait printed\n%s\nwant what get prints:\n%s", got, want)
	}
	if n := f.callCount("WaitOperation"); n != 1 {
		t.Errorf("%d WaitOperation calls, want 1", n)
	}
}

func TestWaitThroughUnavailable(t *testing.T) {
	// A server that restarts is waited for: UNAVAILABLE is said once on
	// stderr, and the wait goes on.
	// Standard error is a buffer, not a terminal.
	f := newSeededFakeServer(t)
	f.locked(func() { f.unavailable = 3 })
	r := runCLI(t, f, "wait", "operations/op-1")
	wantCode(t, r, 0)
	if got, want := r.stdout, runCLI(t, f, "get", "operations/op-1").stdout; got != want {
		t.Errorf("wait printed\n%s\nwant what get prints:\n%s", got, want)
	}
	if want := "lro: UNAVAILABLE: connection refused; still waiting\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if n := f.callCount("WaitOperation"); n != 4 {
		t.Errorf("%d WaitOperation calls, want 4", n)
	}
}

func TestAddrEnv(t *testing.T) {
	f := newSeededFakeServer(t)
	t.Setenv("LRO_ADDR", f.addr)
	r := runCLI(t, nil, "get", "operations/op-1")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "name:     operations/op-1\n") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	// --addr wins over $LRO_ADDR.
	t.Setenv("LRO_ADDR", "127.0.0.1:1")
	r = runCLI(t, f, "get", "operations/op-1")
	wantCode(t, r, 0)
	r = runCLI(t, nil, "get", "operations/op-1")
	wantCode(t, r, 1)
	if !strings.HasPrefix(r.stderr, "lro: UNAVAILABLE: ") {
		t.Errorf("stderr %q, want UNAVAILABLE", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	f := newSeededFakeServer(t)
	tests := []struct {
		name string
		args []string
	}{
		{"unknown_command", []string{"bogus"}},
		{"missing_argument", []string{"get"}},
		{"extra_argument", []string{"get", "operations/op-1", "operations/op-2"}},
		{"unknown_flag", []string{"get", "operations/op-1", "--bogus"}},
		{"bad_output", []string{"get", "operations/op-1", "-o", "yaml"}},
		{"bad_page_size", []string{"list", "--page-size", "-1"}},
		{"bad_timeout", []string{"wait", "operations/op-1", "--timeout", "soon"}},
		{"negative_timeout", []string{"wait", "operations/op-1", "--timeout=-1s"}},
		{"kinds_argument", []string{"kinds", "x"}},
		{"negative_heap_floor", []string{"serve", "--heap-floor-mib", "-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, f, tt.args...)
			wantCode(t, r, 2)
			golden(t, "usage_"+tt.name, r)
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != 0 {
		t.Errorf("RPCs made: %v", f.calls)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"help"}} {
		r := runCLI(t, nil, args...)
		wantCode(t, r, 0)
		for _, c := range []string{"start", "get", "list", "wait", "cancel", "delete", "kinds", "serve"} {
			if !strings.Contains(r.stdout, "\n  "+c+" ") {
				t.Errorf("lro %v: help does not list %s:\n%s", args, c, r.stdout)
			}
		}
		if r.stderr != "" {
			t.Errorf("lro %v: stderr %q", args, r.stderr)
		}
	}
	for _, c := range []string{"start", "get", "list", "wait", "cancel", "delete", "kinds"} {
		r := runCLI(t, nil, c, "--help")
		wantCode(t, r, 0)
		golden(t, "help_"+c, r)
	}
}

func TestInvalidUTF8(t *testing.T) {
	// A protobuf string cannot carry invalid UTF-8: grpc would fail to
	// marshal the request (INTERNAL), so the command refuses it first.
	file := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(file, []byte("{\"duration\": \"1s\xff\"}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"list", "--filter", "kind = \"\xff\""}, `lro: invalid --filter "kind = \"\xff\"": not valid UTF-8`},
		{[]string{"list", "--parent", "projects/\xff"}, `lro: invalid --parent "projects/\xff": not valid UTF-8`},
		{[]string{"list", "--page-token", "\xfe"}, `lro: invalid --page-token "\xfe": not valid UTF-8`},
		{[]string{"get", "operations/\xff"}, `lro: invalid argument NAME "operations/\xff": not valid UTF-8`},
		{[]string{"wait", "operations/\xff"}, `lro: invalid argument NAME "operations/\xff": not valid UTF-8`},
		{[]string{"cancel", "operations/\xff"}, `lro: invalid argument NAME "operations/\xff": not valid UTF-8`},
		{[]string{"delete", "operations/\xff"}, `lro: invalid argument NAME "operations/\xff": not valid UTF-8`},
		{[]string{"start", "demo.\xff"}, `lro: invalid argument KIND "demo.\xff": not valid UTF-8`},
		{[]string{"start", "demo.sleep", "--request-id", "r-\xff"}, `lro: invalid --request-id "r-\xff": not valid UTF-8`},
		{[]string{"start", "demo.sleep", "--parent", "projects/\xff"}, `lro: invalid --parent "projects/\xff": not valid UTF-8`},
		{[]string{"start", "demo.sleep", "--input", "{\"duration\": \"\xff\"}"}, `lro: invalid --input "{\"duration\": \"\xff\"}": not valid UTF-8`},
		{[]string{"start", "demo.sleep", "--input", "@" + file}, `lro: --input: not valid JSON: `},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := newSeededFakeServer(t)
			r := runCLI(t, f, tt.args...)
			wantCode(t, r, 2)
			if !strings.HasPrefix(r.stderr, tt.wantErr) || r.stdout != "" {
				t.Errorf("stdout %q, stderr %q; want no stdout, stderr starting with %q", r.stdout, r.stderr, tt.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.calls) != 0 {
				t.Errorf("RPCs made: %v", f.calls)
			}
		})
	}
}

// shellWords splits a command line as sh does.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func TestListNextPageCommand(t *testing.T) {
	// The next page's command works as printed: with the address, the
	// collection and the filter that its token belongs to, quoted for sh.
	for _, fromEnv := range []bool{false, true} {
		t.Run(fmt.Sprintf("addr from env %v", fromEnv), func(t *testing.T) {
			f := newSeededFakeServer(t)
			var last string
			f.locked(func() {
				for range 3 {
					op := &longrunningpb.Operation{}
					f.addLocked("projects/p/locations/l", op)
					last = op.GetName()
				}
			})
			args := []string{"list", "--parent", "projects/p/locations/l", "--filter", `done = false AND kind = "it's"`, "--page-size", "2"}
			var r result
			if fromEnv {
				t.Setenv("LRO_ADDR", f.addr)
				r = runCLI(t, nil, args...)
			} else {
				r = runCLI(t, f, args...)
			}
			wantCode(t, r, 0)
			line, ok := strings.CutPrefix(strings.TrimSuffix(r.stderr, "\n"), "next page: ")
			if !ok || strings.Contains(line, "\n") {
				t.Fatalf("stderr %q, want one next page line", r.stderr)
			}
			words := shellWords(t, line)
			if words[0] != "lro" {
				t.Fatalf("next page command %q does not start with lro", line)
			}
			t.Setenv("LRO_ADDR", "127.0.0.1:1") // the command must name the server itself
			var stdout, stderr bytes.Buffer
			if code := Main(t.Context(), words[1:], &stdout, &stderr); code != 0 {
				t.Fatalf("%s: exit %d, stderr %q", line, code, stderr.String())
			}
			if !strings.Contains(stdout.String(), last) || stderr.Len() != 0 {
				t.Errorf("%s: stdout\n%s\nstderr %q; want the last operation and no next page", line, stdout.String(), stderr.String())
			}
			lists := f.requests().lists
			first, next := lists[0], lists[1]
			if next.GetPageToken() != "offset-2" {
				t.Errorf("page token %q, want offset-2", next.GetPageToken())
			}
			next.PageToken = first.GetPageToken()
			if !proto.Equal(first, next) {
				t.Errorf("next page request\n%v\nwant the first one's\n%v", next, first)
			}
		})
	}
}
