package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
	"lro.dev/lro/lrostore/lrosqlite"
)

// mainEnv, set in the environment, makes the test binary run lro with its
// arguments (see TestMain), for tests that signal a real process.
const mainEnv = "LRO_CLI_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(MainProcess(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// lroProcess starts the test binary as lro with args.
func lroProcess(t *testing.T, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, &stderr
}

// e2eServer is an lro server over gRPC on loopback, in the test's process,
// with the declared kind "report" (JSON in and out).
type e2eServer struct {
	client *lro.Client
	addr   string
}

func newE2EServer(t *testing.T, leaseTTL time.Duration) *e2eServer {
	t.Helper()
	store, err := lrosqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lro.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newE2ENode(t, store, leaseTTL, "")
}

// newE2ENode is an lro server on store, as node id (empty: the default).
func newE2ENode(t *testing.T, store lrostore.Store, leaseTTL time.Duration, id string) *e2eServer {
	t.Helper()
	c, err := lro.NewClient(store, &lro.Config{
		LeaseTTL:       leaseTTL,
		RescueInterval: 50 * time.Millisecond,
		PollInterval:   50 * time.Millisecond,
		ShutdownGrace:  200 * time.Millisecond,
		MaxAttempts:    3,
		ID:             id,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"report", "example.report"} {
		if err := lro.Declare(c, lro.DeclaredKind{Name: k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	lrogrpc.Register(s, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(lis)
	}()
	t.Cleanup(func() {
		c.Stop(context.Background())
		s.Stop()
		<-done
	})
	return &e2eServer{client: c, addr: lis.Addr().String()}
}

func (s *e2eServer) start(t *testing.T, input string) string {
	t.Helper()
	return s.startKind(t, "report", input)
}

func (s *e2eServer) startKind(t *testing.T, kind, input string) string {
	t.Helper()
	req := &structpb.Struct{}
	if err := req.UnmarshalJSON([]byte(input)); err != nil {
		t.Fatal(err)
	}
	op, err := s.client.StartOperation(t.Context(), kind, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return op.GetName()
}

// waitMetadata polls the operation until its metadata has the field key:
// a client has no other way to see progress.
func (s *e2eServer) waitMetadata(t *testing.T, name, key string) *structpb.Struct {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		op, err := s.client.GetOperation(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		md := &structpb.Struct{}
		if op.GetMetadata() != nil && op.GetMetadata().UnmarshalTo(md) == nil && md.GetFields()[key] != nil {
			return md
		}
	}
	t.Fatalf("%s: no metadata %q", name, key)
	return nil
}

func (s *e2eServer) wait(t *testing.T, name string) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		op, err := s.client.WaitOperation(ctx, name, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if op.GetDone() {
			return op
		}
	}
}

func response(t *testing.T, op *longrunningpb.Operation) *structpb.Struct {
	t.Helper()
	resp := &structpb.Struct{}
	if err := op.GetResponse().UnmarshalTo(resp); err != nil {
		t.Fatalf("%s: %v (error %v)", op.GetName(), err, op.GetError())
	}
	return resp
}

// fifo makes a named pipe in dir: a script reading it blocks until the
// test writes.
func fifo(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWorkEndToEnd: against a real server, a shell script gets the
// request, reports progress that clients see, and finishes with a
// response; a cancelled one ends CANCELLED.
func TestWorkEndToEnd(t *testing.T) {
	s := newE2EServer(t, 3*time.Second)
	dir := t.TempDir()
	gate := fifo(t, dir)
	script := writeScript(t, dir, "report", `set -e
n=$(sed 's/.*"n": *\([0-9]*\).*/\1/')
echo "{\"progress\": 50, \"n\": $n}" >&3
if [ "$n" = 0 ]; then sleep 1000 & wait; fi
read -r line < `+gate+`
echo "{\"lines\": $((n * 2)), \"attempt\": $LRO_ATTEMPT, \"kind\": \"$LRO_KIND\", \"op\": \"$LRO_OPERATION\"}"`)
	name := s.start(t, `{"n": 21}`)
	stuck := s.start(t, `{"n": 0}`)
	stop, done := startWork(t, &fakeWorkers{addr: s.addr}, "report", "--concurrency", "2", "--grace", "100ms", "--", script)

	md := s.waitMetadata(t, name, "progress")
	if md.GetFields()["progress"].GetNumberValue() != 50 || md.GetFields()["n"].GetNumberValue() != 21 {
		t.Errorf("metadata %v", md)
	}
	s.waitMetadata(t, stuck, "progress")
	if _, err := s.client.CancelOperation(t.Context(), stuck); err != nil {
		t.Fatal(err)
	}
	if op := s.wait(t, stuck); codes.Code(op.GetError().GetCode()) != codes.Canceled {
		t.Errorf("cancelled operation: %v", op)
	}

	if err := os.WriteFile(gate, []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	op := s.wait(t, name)
	want := map[string]any{"lines": 42.0, "attempt": 1.0, "kind": "report", "op": name}
	if got := response(t, op).AsMap(); !mapsEqual(got, want) {
		t.Errorf("response %v, want %v", got, want)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// blockScript reports its PID as metadata and blocks.
func blockScript(t *testing.T, dir string) string {
	return writeScript(t, dir, "block", `printf '{"pid": %d, "attempt": %d}\n' $$ $LRO_ATTEMPT >&3
exec sleep 1000`)
}

// TestWorkKilled: an lro work killed with SIGKILL takes its command with it
// (Linux), and another lro work takes the operation over once its lease
// expires, as a new attempt.
func TestWorkKilled(t *testing.T) {
	s := newE2EServer(t, time.Second)
	testWorkKilled(t, s, s)
}

// TestWorkKilledPostgres is TestWorkKilled on two nodes that share a
// PostgreSQL database: the killed worker was connected to one, the one
// that takes over to the other.
func TestWorkKilledPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	node := func(id string) *e2eServer {
		store, err := lropgx.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return newE2ENode(t, store, time.Second, id)
	}
	testWorkKilled(t, node("node-a"), node("node-b"))
}

// testWorkKilled starts an operation on a and runs it with an lro work
// process connected to a, kills that, and has an lro work connected to b
// take it over.
func testWorkKilled(t *testing.T, a, b *e2eServer) {
	dir := t.TempDir()
	name := a.start(t, `{"n": 1}`)
	cmd, _ := lroProcess(t, "work", "report", "--addr", a.addr, "--", blockScript(t, dir))
	md := a.waitMetadata(t, name, "pid")
	pid := int(md.GetFields()["pid"].GetNumberValue())
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitGone(t, pid) // the parent death signal

	killed := time.Now()
	stop, done := startWork(t, &fakeWorkers{addr: b.addr}, "report", "--",
		writeScript(t, dir, "attempt", `echo "{\"attempt\": $LRO_ATTEMPT}"`))
	op := a.wait(t, name)
	if got := response(t, op).GetFields()["attempt"].GetNumberValue(); got != 2 {
		t.Errorf("attempt %v, want 2", got)
	}
	if waited := time.Since(killed); waited < 500*time.Millisecond {
		t.Errorf("taken over after %v, before the lease expired", waited)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

// TestWorkSIGTERM: an lro work that gets SIGTERM releases its operations at
// once (another worker runs them well before their lease would expire),
// stops its commands and exits 0.
func TestWorkSIGTERM(t *testing.T) {
	s := newE2EServer(t, time.Minute)
	dir := t.TempDir()
	name := s.start(t, `{"n": 1}`)
	cmd, stderr := lroProcess(t, "work", "report", "--addr", s.addr, "--grace", "100ms", "--", blockScript(t, dir))
	md := s.waitMetadata(t, name, "pid")
	pid := int(md.GetFields()["pid"].GetNumberValue())
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("lro work: %v\n%s", err, stderr)
	}
	waitGone(t, pid)
	if !strings.Contains(stderr.String(), "released") {
		t.Errorf("stderr does not say it released:\n%s", stderr)
	}

	stop, done := startWork(t, &fakeWorkers{addr: s.addr}, "report", "--",
		writeScript(t, dir, "attempt", `echo "{\"attempt\": $LRO_ATTEMPT}"`))
	op := s.wait(t, name)
	if got := response(t, op).GetFields()["attempt"].GetNumberValue(); got != 1 {
		t.Errorf("attempt %v, want 1: a release does not count", got)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

// TestWorkUnknownKindServer: a kind the server does not know ends lro work
// with the server's INVALID_ARGUMENT.
func TestWorkUnknownKindServer(t *testing.T) {
	s := newE2EServer(t, time.Second)
	_, done := startWork(t, &fakeWorkers{addr: s.addr}, "report", "nope", "--", "true")
	r := waitResult(t, done)
	wantCode(t, r, 1)
	if !strings.HasPrefix(r.stderr, "lro: INVALID_ARGUMENT: ") || !strings.Contains(r.stderr, "nope") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// TestWorkDocExample runs the shell-script worker of docs/cli.md.
func TestWorkDocExample(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("the example needs jq")
	}
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(doc), "## lro work")
	_, after, _ = strings.Cut(after, "```sh\n#!/bin/sh\n")
	body, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("no script in docs/cli.md")
	}
	s := newE2EServer(t, 3*time.Second)
	script := writeScript(t, t.TempDir(), "report.sh", body)
	small := s.startKind(t, "example.report", `{"lines": 100}`)
	big := s.startKind(t, "example.report", `{"lines": 2000}`)
	stop, done := startWork(t, &fakeWorkers{addr: s.addr}, "example.report", "--concurrency", "4", "--", script)
	op := s.wait(t, small)
	if got := response(t, op).AsMap(); got["sum"] != 5050.0 || got["by"] != small {
		t.Errorf("response %v", got)
	}
	md := &structpb.Struct{}
	if err := op.GetMetadata().UnmarshalTo(md); err != nil || md.GetFields()["done"].GetNumberValue() != 100 {
		t.Errorf("metadata %v (%v)", md, err)
	}
	op = s.wait(t, big)
	if e := op.GetError(); codes.Code(e.GetCode()) != codes.ResourceExhausted || e.GetMessage() != "too many lines" {
		t.Errorf("error %v", e)
	}
	stop()
	wantCode(t, waitResult(t, done), 0)
}

// TestWorkRefusedResult: a response that the server refuses (not a JSON
// object, for a JSON kind) fails the operation with INTERNAL and why,
// rather than leave it to run again.
func TestWorkRefusedResult(t *testing.T) {
	s := newE2EServer(t, 3*time.Second)
	name := s.start(t, `{}`)
	stop, done := startWork(t, &fakeWorkers{addr: s.addr}, "report", "--",
		writeScript(t, t.TempDir(), "string", `echo '"just a string"'`))
	op := s.wait(t, name)
	e := op.GetError()
	if codes.Code(e.GetCode()) != codes.Internal || !strings.HasPrefix(e.GetMessage(), "the server refused the worker's result: ") {
		t.Errorf("error %v", e)
	}
	stop()
	r := waitResult(t, done)
	wantCode(t, r, 0)
	if !strings.Contains(r.stderr, "result refused") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
