package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro/lropb"
)

// fakeWorkers is an in-memory Workers service: it hands out the operations
// queued with offer, answers renewals with the states set with setLease,
// and records what it was sent.
type fakeWorkers struct {
	lropb.UnimplementedWorkersServer
	addr string

	mu       sync.Mutex
	queue    []*lropb.ClaimedOperation
	offered  chan struct{} // a claim may find work (buffered 1)
	claimErr error
	renewErr error
	maxRenew int // the most leases renewed in one call
	// finishCalls is the number of results of each FinishOperations.
	finishCalls []int
	claims      []*lropb.ClaimOperationsRequest
	states      map[string]lropb.LeaseState_State // by name; unset: HELD
	finished    map[string]*lropb.OperationResult
	released    []string
	claimed     chan struct{} // a claim call came (buffered 1)
	// finishes and releases get a value for each item.
	finishes chan *lropb.OperationResult
	meta     map[string]*structpb.Struct // the last metadata renewed, by name
	renewed  chan struct{}               // a renewal came (buffered 1)
	releases chan string
}

func newFakeWorkers(t *testing.T) *fakeWorkers {
	t.Helper()
	f := &fakeWorkers{
		offered:  make(chan struct{}, 1),
		claimed:  make(chan struct{}, 1),
		states:   map[string]lropb.LeaseState_State{},
		finished: map[string]*lropb.OperationResult{},
		finishes: make(chan *lropb.OperationResult, 1000),
		meta:     map[string]*structpb.Struct{},
		renewed:  make(chan struct{}, 1),
		releases: make(chan string, 1000),
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	s := grpc.NewServer()
	lropb.RegisterWorkersServer(s, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return f
}

// offer queues an operation of kind "k" named operations/NAME with input.
func (f *fakeWorkers) offer(name string, input *structpb.Value) {
	f.mu.Lock()
	f.queue = append(f.queue, &lropb.ClaimedOperation{
		Name:              "operations/" + name,
		Kind:              "k",
		LeaseToken:        "token-" + name,
		Attempt:           2,
		MaxAttempts:       3,
		KindInput:         &lropb.ClaimedOperation_Input{Input: input},
		LeaseTtl:          durationpb.New(time.Minute),
		HeartbeatInterval: durationpb.New(20 * time.Millisecond),
	})
	f.mu.Unlock()
	kick(f.offered)
}

func (f *fakeWorkers) setLease(name string, s lropb.LeaseState_State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states["operations/"+name] = s
}

func (f *fakeWorkers) ClaimOperations(ctx context.Context, req *lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
	for {
		f.mu.Lock()
		f.claims = append(f.claims, req)
		kick(f.claimed)
		if err := f.claimErr; err != nil {
			f.mu.Unlock()
			return nil, err
		}
		if !req.GetJson() || req.GetMax() < 1 {
			f.mu.Unlock()
			return nil, status.Error(codes.InvalidArgument, "want json and max")
		}
		if len(f.queue) > 0 {
			n := min(len(f.queue), int(req.GetMax()))
			ops := f.queue[:n:n]
			f.queue = f.queue[n:]
			f.mu.Unlock()
			return &lropb.ClaimOperationsResponse{Operations: ops}, nil
		}
		f.mu.Unlock()
		select {
		case <-f.offered:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (f *fakeWorkers) RenewLeases(ctx context.Context, req *lropb.RenewLeasesRequest) (*lropb.RenewLeasesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.renewErr; err != nil {
		return nil, err
	}
	resp := &lropb.RenewLeasesResponse{}
	f.maxRenew = max(f.maxRenew, len(req.GetLeases()))
	kick(f.renewed)
	for _, l := range req.GetLeases() {
		if md := l.GetMetadata().GetStructValue(); md != nil {
			f.meta[l.GetName()] = md
			kick(f.renewed)
		}
		s := f.states[l.GetName()]
		if s == lropb.LeaseState_STATE_UNSPECIFIED {
			s = lropb.LeaseState_HELD
		}
		st := &lropb.LeaseState{Name: l.GetName(), State: s}
		if s == lropb.LeaseState_LOST {
			st.Error = &spb.Status{Code: int32(codes.Aborted), Message: "lease lost"}
		}
		resp.Leases = append(resp.Leases, st)
	}
	return resp, nil
}

func (f *fakeWorkers) FinishOperations(ctx context.Context, req *lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &lropb.FinishOperationsResponse{}
	f.finishCalls = append(f.finishCalls, len(req.GetResults()))
	for _, r := range req.GetResults() {
		st := &spb.Status{}
		if _, ok := f.finished[r.GetName()]; ok {
			st.Code = int32(codes.FailedPrecondition)
		} else if f.states[r.GetName()] == lropb.LeaseState_LOST {
			st.Code = int32(codes.Aborted)
		} else {
			f.finished[r.GetName()] = r
		}
		f.finishes <- r
		resp.Results = append(resp.Results, st)
	}
	return resp, nil
}

func (f *fakeWorkers) ReleaseOperations(ctx context.Context, req *lropb.ReleaseOperationsRequest) (*lropb.ReleaseOperationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &lropb.ReleaseOperationsResponse{}
	for _, l := range req.GetLeases() {
		f.released = append(f.released, l.GetName())
		f.releases <- l.GetName()
		resp.Results = append(resp.Results, &spb.Status{})
	}
	return resp, nil
}

// waitFinish returns the next result sent to f.
func (f *fakeWorkers) waitFinish(t *testing.T) *lropb.OperationResult {
	t.Helper()
	select {
	case r := <-f.finishes:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no FinishOperations")
		return nil
	}
}

// waitMetadata waits for a renewal of operations/name whose metadata has
// the string field key.
func (f *fakeWorkers) waitMetadata(t *testing.T, name, key string) *structpb.Struct {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		md := f.meta["operations/"+name]
		f.mu.Unlock()
		if md.GetFields()[key] != nil {
			return md
		}
		select {
		case <-f.renewed:
		case <-deadline:
			t.Fatalf("no renewal of %s with metadata %q", name, key)
			return nil
		}
	}
}

// startWork runs lro work args against f until the test cancels the
// returned function's context; the channel gets the result.
func startWork(t *testing.T, f *fakeWorkers, args ...string) (stop func(), done <-chan result) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan result, 1)
	all := append([]string{"work", "--addr", f.addr}, args...)
	go func() {
		var stdout, stderr bytes.Buffer
		code := run(ctx, all, strings.NewReader(""), &stdout, &stderr)
		ch <- result{args: all, code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	t.Cleanup(cancel)
	return cancel, ch
}

func waitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("lro work did not end")
		return result{}
	}
}

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func jsonValue(t *testing.T, s string) *structpb.Value {
	t.Helper()
	v := &structpb.Value{}
	if err := protojson.Unmarshal([]byte(s), v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWorkResults: the request on stdin, the environment, fd 3 and the exit
// status and output become the operation's metadata and result.
func TestWorkResults(t *testing.T) {
	f := newFakeWorkers(t)
	dir := t.TempDir()
	scripts := map[string]string{
		// The request and environment, echoed; the last valid fd-3 line
		// wins; bad lines are ignored.
		"echo": `in=$(cat)
echo '{"step": 1}' >&3
echo 'not json' >&3
echo '[1, 2]' >&3
head -c 300000 /dev/zero | tr '\0' 'x' >&3; echo >&3
echo '{"step": 2}' >&3
printf '{"in": %s, "op": "%s", "kind": "%s", "attempt": "%s"}' "$in" "$LRO_OPERATION" "$LRO_KIND" "$LRO_ATTEMPT"`,
		"empty":      `set -e; read -r line; exit 0`,
		"notjson":    `echo 'hello'`,
		"status":     `echo '{"code": 9, "message": "boom"}'; echo 'ignored' >&2; exit 4`,
		"stderr":     `echo 'partial output'; echo 'first' >&2; echo 'the disk is full' >&2; exit 3`,
		"bigstdout":  `head -c 20000000 /dev/zero`,
		"bigstderr":  `head -c 20000000 /dev/zero | tr '\0' 'e' >&2; echo ' the end' >&2; exit 1`,
		"killed":     `kill -9 $$`,
		"badutf8":    `printf '\377\376 bad' >&2; exit 1`,
		"badstatus":  `echo '{"code": 0, "message": "not an error"}'; exit 1`,
		"jsonstring": `echo '"done"'`,
	}
	for name, body := range scripts {
		writeScript(t, dir, name, body)
	}
	script := writeScript(t, dir, "run", `exec "$(dirname "$0")/${LRO_OPERATION#operations/}"`)
	for name := range scripts {
		f.offer(name, jsonValue(t, `{"n": 1, "s": "x"}`))
	}
	stop, done := startWork(t, f, "k", "--concurrency", "4", "--", script)
	got := map[string]*lropb.OperationResult{}
	for range scripts {
		r := f.waitFinish(t)
		got[strings.TrimPrefix(r.GetName(), "operations/")] = r
	}
	stop()
	r := waitResult(t, done)
	wantCode(t, r, 0)

	echo := got["echo"]
	wantJSON := `{"in": {"n": 1, "s": "x"}, "op": "operations/echo", "kind": "k", "attempt": "2"}`
	if !proto.Equal(echo.GetResponse(), jsonValue(t, wantJSON)) {
		t.Errorf("echo: response %v, want %s", echo.GetResponse(), wantJSON)
	}
	md := echo.GetMetadata()
	if !proto.Equal(md, jsonValue(t, `{"step": 2}`)) {
		t.Errorf("echo: metadata %v, want {\"step\": 2}", md)
	}
	if echo.GetLeaseToken() != "token-echo" {
		t.Errorf("echo: lease token %q", echo.GetLeaseToken())
	}
	if !strings.Contains(r.stderr, "not a JSON object") || !strings.Contains(r.stderr, "longer than the limit") {
		t.Errorf("the bad metadata lines were not logged:\n%s", r.stderr)
	}
	if e := got["empty"]; e.GetResult() != nil {
		t.Errorf("empty: result %v, want none", e.GetResult())
	}
	if v := got["jsonstring"].GetResponse(); v.GetStringValue() != "done" {
		t.Errorf("jsonstring: response %v", v)
	}
	for _, c := range []struct {
		name string
		code codes.Code
		msg  string
	}{
		{"notjson", codes.Internal, "the command exited 0 but its standard output is not JSON"},
		{"status", codes.FailedPrecondition, "boom"},
		{"stderr", codes.Unknown, "exit status 3: first\nthe disk is full"},
		{"bigstdout", codes.ResourceExhausted, "exceeds the limit of 1048576 bytes"},
		{"bigstderr", codes.Unknown, "eeee the end"},
		{"killed", codes.Unknown, "signal: killed"},
		{"badutf8", codes.Unknown, "exit status 1: \uFFFD"},
		{"badstatus", codes.Unknown, "exit status 1"},
	} {
		e := got[c.name].GetError()
		if codes.Code(e.GetCode()) != c.code || !strings.Contains(e.GetMessage(), c.msg) {
			t.Errorf("%s: error %v, want %v containing %q", c.name, e, c.code, c.msg)
		}
		if len(e.GetMessage()) > workStderrTail+100 {
			t.Errorf("%s: message of %d bytes", c.name, len(e.GetMessage()))
		}
	}
}

// pidAlive tells whether the process pid runs (a zombie does not).
func pidAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits for pid to end: another process's end cannot be awaited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); pidAlive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// groupScript starts a child, says both PIDs on fd 3, and waits; with
// TERM ignored when trap is set.
func groupScript(t *testing.T, dir string, ignoreTerm bool) string {
	trap := ""
	if ignoreTerm {
		trap = "trap '' TERM\n"
	}
	return writeScript(t, dir, "group", trap+`sleep 1000 &
printf '{"parent": %d, "child": %d}\n' $$ $! >&3
wait
echo '{"finished": true}'`)
}

func pids(t *testing.T, md *structpb.Struct) (parent, child int) {
	t.Helper()
	return int(md.GetFields()["parent"].GetNumberValue()), int(md.GetFields()["child"].GetNumberValue())
}

// TestWorkCancel: a cancel requested at a renewal stops the command's whole
// process group, and the operation ends CANCELLED; a command that ignores
// SIGTERM gets SIGKILL after --grace.
func TestWorkCancel(t *testing.T) {
	for _, ignoreTerm := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreTerm=%v", ignoreTerm), func(t *testing.T) {
			f := newFakeWorkers(t)
			script := groupScript(t, t.TempDir(), ignoreTerm)
			f.offer("op", jsonValue(t, `{}`))
			stop, done := startWork(t, f, "k", "--grace", "200ms", "--", script)
			parent, child := pids(t, f.waitMetadata(t, "op", "parent"))
			f.setLease("op", lropb.LeaseState_CANCEL_REQUESTED)
			res := f.waitFinish(t)
			if codes.Code(res.GetError().GetCode()) != codes.Canceled {
				t.Errorf("result %v, want CANCELLED", res)
			}
			waitGone(t, parent)
			waitGone(t, child)
			stop()
			wantCode(t, waitResult(t, done), 0)
		})
	}
}

// TestWorkCancelledAtClaim: an operation claimed with its cancellation
// requested ends CANCELLED without running the command.
func TestWorkCancelledAtClaim(t *testing.T) {
	f := newFakeWorkers(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := writeScript(t, dir, "touch", "touch "+marker)
	f.mu.Lock()
	f.queue = append(f.queue, &lropb.ClaimedOperation{Name: "operations/c", Kind: "k", LeaseToken: "t", CancelRequested: true})
	f.mu.Unlock()
	stop, done := startWork(t, f, "k", "--", script)
	res := f.waitFinish(t)
	if codes.Code(res.GetError().GetCode()) != codes.Canceled {
		t.Errorf("result %v, want CANCELLED", res)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
}

// TestWorkLostLease: a lost lease stops the command, and nothing is written.
func TestWorkLostLease(t *testing.T) {
	f := newFakeWorkers(t)
	script := groupScript(t, t.TempDir(), false)
	f.offer("op", jsonValue(t, `{}`))
	f.offer("other", jsonValue(t, `{}`))
	stop, done := startWork(t, f, "k", "--concurrency", "2", "--", script)
	parent, child := pids(t, f.waitMetadata(t, "op", "parent"))
	f.waitMetadata(t, "other", "parent")
	f.setLease("op", lropb.LeaseState_LOST)
	waitGone(t, parent)
	waitGone(t, child)
	stop() // releases "other"
	r := waitResult(t, done)
	wantCode(t, r, 0)
	select {
	case res := <-f.finishes:
		t.Errorf("finished %v", res)
	default:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if want := []string{"operations/other"}; fmt.Sprint(f.released) != fmt.Sprint(want) {
		t.Errorf("released %v, want %v", f.released, want)
	}
	if !strings.Contains(r.stderr, "lease lost") {
		t.Errorf("stderr does not say the lease was lost:\n%s", r.stderr)
	}
}

// TestWorkStop: stopping lro work releases the running operations in one
// call, stops their commands, finishes nothing and exits 0.
func TestWorkStop(t *testing.T) {
	f := newFakeWorkers(t)
	script := groupScript(t, t.TempDir(), true)
	f.offer("a", jsonValue(t, `{}`))
	f.offer("b", jsonValue(t, `{}`))
	stop, done := startWork(t, f, "k", "--concurrency", "3", "--grace", "100ms", "--", script)
	pa, ca := pids(t, f.waitMetadata(t, "a", "parent"))
	pb, cb := pids(t, f.waitMetadata(t, "b", "parent"))
	// Both leases are renewed in one call.
	for deadline := time.After(20 * time.Second); ; {
		f.mu.Lock()
		n := f.maxRenew
		f.mu.Unlock()
		if n == 2 {
			break
		}
		select {
		case <-f.renewed:
		case <-deadline:
			t.Fatalf("at most %d leases renewed in one call", n)
		}
	}
	stop()
	r := waitResult(t, done)
	wantCode(t, r, 0)
	for _, pid := range []int{pa, ca, pb, cb} {
		waitGone(t, pid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.released) != 2 || len(f.finished) != 0 {
		t.Errorf("released %v, finished %v: want a and b released", f.released, f.finished)
	}
}

// TestWorkBadInput: a command not on PATH, bad flags and an unknown kind
// are refused before anything runs.
func TestWorkBadInput(t *testing.T) {
	f := newFakeWorkers(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"k", "--", "lro-no-such-command"}, 2, `command "lro-no-such-command": not found on PATH`},
		{[]string{"k", "--", "/nonexistent/cmd"}, 2, "no such file or directory"},
		{[]string{"k", "--", "/dev/null"}, 2, "permission denied"},
		{[]string{"k"}, 2, "missing -- COMMAND"},
		{[]string{"--", "true"}, 2, "missing KIND"},
		{[]string{"k", "--"}, 2, "missing COMMAND"},
		{[]string{"k", "--concurrency", "0", "--", "true"}, 2, "invalid --concurrency 0"},
		{[]string{"k", "--concurrency", "1001", "--", "true"}, 2, "invalid --concurrency 1001"},
		{[]string{"k", "--grace", "-1s", "--", "true"}, 2, "invalid --grace"},
	} {
		_, done := startWork(t, f, c.args...)
		r := waitResult(t, done)
		wantCode(t, r, c.code)
		if !strings.Contains(r.stderr, c.msg) {
			t.Errorf("lro work %s: stderr %q, want %q", strings.Join(c.args, " "), r.stderr, c.msg)
		}
	}
	f.mu.Lock()
	n := len(f.claims)
	f.claimErr = status.Error(codes.InvalidArgument, `unknown kind "nope"`)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d claims before the command was found", n)
	}
	_, done := startWork(t, f, "nope", "--", "true")
	r := waitResult(t, done)
	wantCode(t, r, 1)
	if want := `lro: INVALID_ARGUMENT: unknown kind "nope"`; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

// TestWorkCannotStart: a command that cannot be started when an operation
// comes fails the operation with FAILED_PRECONDITION, naming no path.
func TestWorkCannotStart(t *testing.T) {
	f := newFakeWorkers(t)
	dir := t.TempDir()
	script := writeScript(t, dir, "gone", "exit 0")
	stop, done := startWork(t, f, "k", "--", script)
	// The command was found: lro work claims.
	select {
	case <-f.claimed:
	case <-time.After(20 * time.Second):
		t.Fatal("no claim")
	}
	if err := os.Chmod(script, 0o644); err != nil {
		t.Fatal(err)
	}
	f.offer("op", jsonValue(t, `{}`))
	res := f.waitFinish(t)
	e := res.GetError()
	if codes.Code(e.GetCode()) != codes.FailedPrecondition || e.GetMessage() != "the worker cannot start its command: permission denied" {
		t.Errorf("result %v", res)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ij", strings.Repeat("z", 20) + "1234567é"} {
		b.Write([]byte(s))
		if len(b.buf) > b.max {
			t.Fatalf("kept %d bytes", len(b.buf))
		}
	}
	if got := b.text(); got != "…234567é" {
		t.Errorf("text %q", got)
	}
	h := &headBuffer{max: 4}
	h.Write([]byte("ab"))
	h.Write([]byte("cdef"))
	if string(h.buf) != "abcd" || h.total != 6 {
		t.Errorf("head %q total %d", h.buf, h.total)
	}
}

// TestWorkHugeOutput: a command that prints hundreds of MiB on stdout and
// stderr costs lro work a bounded amount of memory.
func TestWorkHugeOutput(t *testing.T) {
	f := newFakeWorkers(t)
	script := writeScript(t, t.TempDir(), "huge", `head -c 268435456 /dev/zero >&2 &
head -c 268435456 /dev/zero
wait
exit 0`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f.offer("op", jsonValue(t, `{}`))
	stop, done := startWork(t, f, "k", "--", script)
	res := f.waitFinish(t)
	runtime.ReadMemStats(&after)
	if e := res.GetError(); codes.Code(e.GetCode()) != codes.ResourceExhausted ||
		e.GetMessage() != "the command's standard output (268435456 bytes) exceeds the limit of 1048576 bytes" {
		t.Errorf("result %v", res)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB for 512 MiB of output", alloc>>20)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

// TestWorkServerUnavailable: claims that fail with UNAVAILABLE are retried;
// leases that cannot be renewed for a whole TTL are given up, their
// commands stopped.
func TestWorkServerUnavailable(t *testing.T) {
	f := newFakeWorkers(t)
	f.claimErr = status.Error(codes.Unavailable, "connection refused")
	script := groupScript(t, t.TempDir(), false)
	stop, done := startWork(t, f, "k", "--", script)
	select {
	case <-f.claimed:
	case <-time.After(20 * time.Second):
		t.Fatal("no claim")
	}
	f.offer("op", jsonValue(t, `{}`))
	f.mu.Lock()
	f.queue[0].LeaseTtl = durationpb.New(300 * time.Millisecond)
	f.queue[0].HeartbeatInterval = durationpb.New(50 * time.Millisecond)
	f.claimErr = nil
	f.mu.Unlock()
	parent, child := pids(t, f.waitMetadata(t, "op", "parent"))
	f.mu.Lock()
	f.renewErr = status.Error(codes.Unavailable, "connection refused")
	f.mu.Unlock()
	waitGone(t, parent)
	waitGone(t, child)
	stop()
	r := waitResult(t, done)
	wantCode(t, r, 0)
	for _, want := range []string{"claiming operations failed; retrying", "renewing leases failed", "the lease expired"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.finished) != 0 || len(f.released) != 0 {
		t.Errorf("finished %v, released %v", f.finished, f.released)
	}
}

// TestWorkFinishBatch: results that are waiting together go in one call.
func TestWorkFinishBatch(t *testing.T) {
	f := newFakeWorkers(t)
	o := &workOptions{clientOptions: clientOptions{addr: f.addr, output: outputText}, concurrency: 4}
	c, err := o.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var logs bytes.Buffer
	w := newWorker(o, lropb.NewWorkersClient(c.conn), slog.New(slog.NewTextHandler(&logs, nil)))
	for i := range 3 {
		name := fmt.Sprintf("operations/op-%d", i)
		j := &job{op: &lropb.ClaimedOperation{Name: name, LeaseToken: "t"}, state: jobEnded,
			result: &lropb.OperationResult{Name: name, LeaseToken: "t"}}
		w.jobs[name] = j
		w.pending = append(w.pending, j)
	}
	w.closing = true
	w.finishLoop(t.Context())
	f.mu.Lock()
	defer f.mu.Unlock()
	if fmt.Sprint(f.finishCalls) != "[3]" || len(w.jobs) != 0 {
		t.Errorf("FinishOperations calls of %v results; jobs left %v\n%s", f.finishCalls, w.jobs, logs.String())
	}
}

// TestWorkDeadline: a command sees its attempt's deadline in LRO_DEADLINE,
// and one that runs past it is stopped, its attempt failing with
// DEADLINE_EXCEEDED.
func TestWorkDeadline(t *testing.T) {
	f := newFakeWorkers(t)
	dir := t.TempDir()
	script := writeScript(t, dir, "late", `printf '{"deadline": "%s"}\n' "$LRO_DEADLINE" >&3
sleep 1000`)
	deadline := time.Now().Add(300 * time.Millisecond).UTC()
	f.mu.Lock()
	f.queue = append(f.queue, &lropb.ClaimedOperation{Name: "operations/late", Kind: "k", LeaseToken: "t",
		Deadline: timestamppb.New(deadline)})
	f.mu.Unlock()
	stop, done := startWork(t, f, "k", "--grace", "100ms", "--", script)
	res := f.waitFinish(t)
	if codes.Code(res.GetError().GetCode()) != codes.DeadlineExceeded {
		t.Errorf("result %v, want DEADLINE_EXCEEDED", res)
	}
	md := res.GetMetadata().GetStructValue() // the last metadata goes with the result
	if got := md.GetFields()["deadline"].GetStringValue(); got != deadline.Format(time.RFC3339Nano) {
		t.Errorf("LRO_DEADLINE is %q, want %q", got, deadline.Format(time.RFC3339Nano))
	}
	if time.Now().Before(deadline) {
		t.Error("stopped before its deadline")
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

// TestWorkTraceContext: a command gets its operation's trace context in
// TRACEPARENT and TRACESTATE, and never lro work's own: an operation whose
// start was not traced leaves them unset.
func TestWorkTraceContext(t *testing.T) {
	const (
		parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		state  = "rojo=00f067aa0ba902b7"
	)
	t.Setenv("TRACEPARENT", "00-11111111111111111111111111111111-2222222222222222-01")
	t.Setenv("TRACESTATE", "lro=work")
	f := newFakeWorkers(t)
	dir := t.TempDir()
	script := writeScript(t, dir, "echo-trace",
		`printf '{"traceparent": "%s", "tracestate": "%s", "set": "%s"}' "$TRACEPARENT" "$TRACESTATE" "${TRACEPARENT+set}"`)
	f.mu.Lock()
	f.queue = append(f.queue,
		&lropb.ClaimedOperation{Name: "operations/traced", Kind: "k", LeaseToken: "t1", Traceparent: parent, Tracestate: state},
		&lropb.ClaimedOperation{Name: "operations/untraced", Kind: "k", LeaseToken: "t2"})
	f.mu.Unlock()
	stop, done := startWork(t, f, "k", "--concurrency", "1", "--", script)
	got := map[string]map[string]string{}
	for range 2 {
		res := f.waitFinish(t)
		fields := map[string]string{}
		for k, v := range res.GetResponse().GetStructValue().GetFields() {
			fields[k] = v.GetStringValue()
		}
		got[res.GetName()] = fields
	}
	want := map[string]map[string]string{
		"operations/traced":   {"traceparent": parent, "tracestate": state, "set": "set"},
		"operations/untraced": {"traceparent": "", "tracestate": "", "set": ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the commands saw %v, want %v", got, want)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}
