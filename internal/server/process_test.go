package server_test

// Process tests: they build the real lro binary once, run `lro serve` as a
// child process on a SQLite file of their own, and drive it over gRPC, HTTP
// and the CLI, killing and restarting it to check what survives.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/internal/server"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
)

const (
	// leaseTTL and shutdownGrace are the --lease-ttl and --shutdown-grace of
	// every server these tests start.
	leaseTTL      = 2 * time.Second
	shutdownGrace = 2 * time.Second
	// startTimeout bounds how long a server may take to log its address.
	startTimeout = 15 * time.Second
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// lroBinary builds cmd/lro once per test run and returns its path. Process
// tests are skipped with -short.
func lroBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			buildErr = errors.New("go env GOMOD: not in a module")
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "lro-process-test-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "lro")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/lro")
		cmd.Dir = filepath.Dir(gomod)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/lro: %v\n%s", err, out)
			return
		}
		t.Logf("built %s in %v", buildBin, time.Since(start).Round(time.Millisecond))
	})
	require.NoError(t, buildErr)
	return buildBin
}

// testEnv is the environment of the processes the tests start: the test's
// own, without the LRO_ variables that would change the defaults.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LRO_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// serverProc is one `lro serve` process.
type serverProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	addr string // HOST:PORT, once started

	listening chan string   // receives the address once the server logs it
	done      chan struct{} // closed once the process exited and stderr is read
	waitErr   error         // cmd.Wait's result, set before done is closed

	mu      sync.Mutex
	lines   []string      // stderr lines so far
	changed chan struct{} // closed and replaced at each stderr line
}

var (
	addrRE     = regexp.MustCompile(`msg="lro serving gRPC and HTTP" addr=(\S+)`)
	releasedRE = regexp.MustCompile(`msg="released operations" .*\bcount=(\d+)`)
)

// startServer runs `lro serve` on the SQLite file db with the tests' lease
// TTL and grace, plus args, and waits until it logs its address. The
// process is killed when the test ends, even on failure.
func startServer(t *testing.T, name, db string, args ...string) *serverProc {
	t.Helper()
	p := runServer(t, name, db, args...)
	addr, err := p.waitAddr()
	require.NoError(t, err, "%s did not start; stderr:\n%s", name, p.logs())
	p.addr = addr
	return p
}

// runServer starts `lro serve` on the SQLite file db without waiting for it
// to listen.
func runServer(t *testing.T, name, db string, args ...string) *serverProc {
	t.Helper()
	return runProc(t, name, "sqlite:"+db, args...)
}

// runProc starts `lro serve --db dsn` with the tests' lease TTL and grace,
// plus args (a flag given again in args wins), without waiting for it to
// listen. It is killed when the test ends, even on failure.
func runProc(t *testing.T, name, dsn string, args ...string) *serverProc {
	t.Helper()
	return runProcUnder(t, nil, name, dsn, args...)
}

// runProcUnder is runProc with the server run by the command wrap, such as
// prlimit and its flags, that runs the command it is given; nil runs it
// directly.
func runProcUnder(t *testing.T, wrap []string, name, dsn string, args ...string) *serverProc {
	t.Helper()
	bin := lroBinary(t)
	all := append([]string{bin, "serve", "--addr", "127.0.0.1:0", "--db", dsn,
		"--lease-ttl", leaseTTL.String(), "--shutdown-grace", shutdownGrace.String()}, args...)
	all = append(slices.Clip(wrap), all...)
	p := &serverProc{t: t, name: name, cmd: exec.Command(all[0], all[1:]...), listening: make(chan string, 1),
		done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd.Env = testEnv()
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(p.kill)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			t.Logf("[%s] %s", name, line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case p.listening <- m[1]:
				default: // logged twice: the first counts
				}
			}
		}
		io.Copy(io.Discard, stderr) // a line too long for the scanner: keep draining
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// waitAddr returns the address that the server logs once it listens.
func (p *serverProc) waitAddr() (string, error) {
	select {
	case addr := <-p.listening:
		return addr, nil
	case <-p.done:
		select {
		case addr := <-p.listening:
			return addr, nil
		default:
		}
		return "", fmt.Errorf("%s exited before listening: %v", p.name, p.waitErr)
	case <-time.After(startTimeout):
		return "", fmt.Errorf("%s did not log its address within %v", p.name, startTimeout)
	}
}

func (p *serverProc) find(re *regexp.Regexp) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1], true
		}
	}
	return "", false
}

func (p *serverProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// kill sends SIGKILL and waits for the process to be gone (and its SQLite
// lock with it).
func (p *serverProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and returns how long the process took to exit and
// its exit error; it fails the test if the process outlives timeout.
func (p *serverProc) terminate(timeout time.Duration) (time.Duration, error) {
	p.t.Helper()
	start := time.Now()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
		return time.Since(start), p.waitErr
	case <-time.After(timeout):
		p.t.Fatalf("%s still runs %v after SIGTERM; stderr:\n%s", p.name, timeout, p.logs())
		return 0, nil
	}
}

// dial returns a gRPC connection to the server, closed when the test ends.
func (p *serverProc) dial() *grpc.ClientConn {
	p.t.Helper()
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(p.t, err)
	p.t.Cleanup(func() { conn.Close() })
	return conn
}

// startSleeps starts n demo.sleep operations of duration d and returns their
// names.
func startSleeps(ctx context.Context, t *testing.T, conn *grpc.ClientConn, n int, d time.Duration) []string {
	t.Helper()
	c := lropb.NewLroClient(conn)
	names := make([]string, n)
	for i := range names {
		// The JSON input {"duration": "..."}.
		input, err := structpb.NewValue(map[string]any{"duration": d.String()})
		require.NoError(t, err)
		op, err := c.StartOperation(ctx, &lropb.StartOperationRequest{Kind: "demo.sleep", KindInput: &lropb.StartOperationRequest_Input{Input: input}})
		require.NoError(t, err)
		require.False(t, op.GetDone())
		names[i] = op.GetName()
	}
	return names
}

// sleepMetadata returns the operation's metadata, nil when it has none yet.
func sleepMetadata(t *testing.T, op *longrunningpb.Operation) *demopb.SleepMetadata {
	t.Helper()
	if op.GetMetadata() == nil {
		return nil
	}
	md := &demopb.SleepMetadata{}
	require.NoError(t, op.GetMetadata().UnmarshalTo(md))
	return md
}

// awaitRunning polls GetOperation until every operation runs and reports
// metadata that satisfies ok, and returns how long that took. It fails the
// test if that takes longer than within, or if an operation ends.
func awaitRunning(ctx context.Context, t *testing.T, conn *grpc.ClientConn, names []string, within time.Duration, ok func(*demopb.SleepMetadata) bool) time.Duration {
	t.Helper()
	ops := longrunningpb.NewOperationsClient(conn)
	start := time.Now()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pending := map[string]*longrunningpb.Operation{}
	for _, n := range names {
		pending[n] = nil
	}
	for {
		for n := range pending {
			op, err := ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: n})
			require.NoError(t, err)
			require.False(t, op.GetDone(), "%s ended early: %v", n, op)
			pending[n] = op
			if md := sleepMetadata(t, op); md != nil && ok(md) {
				delete(pending, n)
			}
		}
		if len(pending) == 0 {
			return time.Since(start)
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%d operations are not running as expected after %v, such as %v", len(pending), within, slices.Collect(maps.Values(pending))[0])
		case <-ctx.Done():
			t.Fatalf("waiting for running operations: %v", ctx.Err())
		}
	}
}

// waitDone calls WaitOperation until the operation is done.
func waitDone(ctx context.Context, t *testing.T, conn *grpc.ClientConn, name string) *longrunningpb.Operation {
	t.Helper()
	ops := longrunningpb.NewOperationsClient(conn)
	for {
		op, err := ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(5 * time.Second)})
		require.NoError(t, err, "wait %s", name)
		if op.GetDone() {
			return op
		}
	}
}

// readStore opens the store directly (the server must be stopped) and
// returns the stored operations by name.
func readStore(ctx context.Context, t *testing.T, db string, names []string) map[string]*lrostore.Operation {
	t.Helper()
	store, err := server.OpenStore(ctx, "sqlite:"+db)
	require.NoError(t, err)
	defer store.Close()
	out := map[string]*lrostore.Operation{}
	for _, n := range names {
		op, err := store.OperationGet(ctx, &lrostore.OperationGetParams{ID: strings.TrimPrefix(n, "operations/")})
		require.NoError(t, err)
		out[n] = op
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKillDuringOperations(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")
	const n = 20
	const sleep = 3 * time.Second

	first := startServer(t, "first", db)
	conn := first.dial()
	names := startSleeps(ctx, t, conn, n, sleep)
	awaitRunning(ctx, t, conn, names, 10*time.Second, func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == 1 })
	first.kill()
	conn.Close()

	killed := time.Now()
	second := startServer(t, "second", db)
	conn = second.dial()
	for _, name := range names {
		op := waitDone(ctx, t, conn, name)
		require.Nil(t, op.GetError(), "%s failed", name)
		require.NotNil(t, op.GetResponse(), "%s has no response", name)
		resp := &demopb.SleepResponse{}
		require.NoError(t, op.GetResponse().UnmarshalTo(resp), name)
		require.GreaterOrEqual(t, resp.GetSlept().AsDuration(), sleep, "%s: a whole new attempt sleeps the whole duration", name)
		md := sleepMetadata(t, op)
		require.NotNil(t, md, name)
		require.EqualValues(t, 2, md.GetAttempt(), "%s: it ran again after the kill", name)
		require.EqualValues(t, 100, md.GetProgressPercent(), name)
		require.True(t, md.GetStartTime().AsTime().After(killed), "%s: the second attempt started after the kill", name)
	}
	t.Logf("all %d operations succeeded %v after the kill", n, time.Since(killed).Round(time.Millisecond))
}

func TestGracefulShutdownReleases(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")
	const n = 5

	first := startServer(t, "first", db)
	conn := first.dial()
	names := startSleeps(ctx, t, conn, n, 30*time.Second)
	awaitRunning(ctx, t, conn, names, 10*time.Second, func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == 1 })
	conn.Close()

	took, err := first.terminate(shutdownGrace + 5*time.Second)
	require.NoError(t, err, "exit status after SIGTERM; stderr:\n%s", first.logs())
	t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
	require.GreaterOrEqual(t, took, shutdownGrace, "the handlers had the grace period to finish")
	released := 0
	for _, m := range releasedRE.FindAllStringSubmatch(first.logs(), -1) {
		c, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		released += c
	}
	require.Equal(t, n, released, "operations released, as logged")

	// Released: pending again, the attempt given back, no lease.
	for name, op := range readStore(ctx, t, db, names) {
		require.Equal(t, lrostore.StatePending, op.State, name)
		require.EqualValues(t, 0, op.Attempt, name)
		require.Empty(t, op.LeaseOwner, name)
		require.True(t, op.LeaseExpireTime.IsZero(), name)
	}

	restarted := time.Now()
	second := startServer(t, "second", db)
	conn = second.dial()
	// Released operations run at once: awaitRunning fails the test unless
	// they run within the lease TTL, the least time before a rescue.
	took = awaitRunning(ctx, t, conn, names, leaseTTL, func(md *demopb.SleepMetadata) bool {
		return md.GetStartTime().AsTime().After(restarted)
	})
	t.Logf("running again %v after the new server listened", took.Round(time.Millisecond))
	ops := longrunningpb.NewOperationsClient(conn)
	for _, name := range names {
		op, err := ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err)
		require.EqualValues(t, 1, sleepMetadata(t, op).GetAttempt(), "%s: a release does not count an attempt", name)
	}

	for _, name := range names {
		_, err := ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
		require.NoError(t, err)
	}
	for _, name := range names {
		op := waitDone(ctx, t, conn, name)
		require.Nil(t, op.GetResponse(), name)
		require.EqualValues(t, code.Code_CANCELLED, op.GetError().GetCode(), "%s: %v", name, op.GetError())
	}
}

func TestAttemptLimit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")
	attempt := func(a int32) func(*demopb.SleepMetadata) bool {
		return func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == a }
	}

	first := startServer(t, "first", db, "--max-attempts", "2")
	conn := first.dial()
	names := startSleeps(ctx, t, conn, 1, 30*time.Second)
	awaitRunning(ctx, t, conn, names, 10*time.Second, attempt(1))
	first.kill()
	conn.Close()

	second := startServer(t, "second", db, "--max-attempts", "2")
	conn = second.dial()
	awaitRunning(ctx, t, conn, names, 5*leaseTTL, attempt(2))
	second.kill()
	conn.Close()

	third := startServer(t, "third", db, "--max-attempts", "2")
	conn = third.dial()
	op := waitDone(ctx, t, conn, names[0])
	require.Nil(t, op.GetResponse())
	require.EqualValues(t, code.Code_ABORTED, op.GetError().GetCode(), "%v", op.GetError())
	require.Contains(t, op.GetError().GetMessage(), "attempt")
	require.EqualValues(t, 2, sleepMetadata(t, op).GetAttempt(), "the metadata of the last attempt")
	third.kill()
	require.NotContains(t, third.logs(), "run again")

	stored := readStore(ctx, t, db, names)[names[0]]
	require.Equal(t, lrostore.StateFailed, stored.State)
	require.EqualValues(t, 2, stored.Attempt, "no third attempt")
	require.EqualValues(t, 2, stored.MaxAttempts)
}

func TestSecondServerOnSameDBFails(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")
	first := startServer(t, "first", db)

	second := runServer(t, "second", db)
	select {
	case <-second.done:
	case <-ctx.Done():
		t.Fatalf("the second server still runs; stderr:\n%s", second.logs())
	}
	var exit *exec.ExitError
	require.ErrorAs(t, second.waitErr, &exit, "the second server must fail")
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, second.logs(), "in use")
	require.Contains(t, second.logs(), db)
	_, listened := second.find(addrRE)
	require.False(t, listened)

	// The first one is unharmed.
	resp, err := healthpb.NewHealthClient(first.dial()).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
}

func TestHealthAndReflection(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startServer(t, "server", filepath.Join(t.TempDir(), "lro.db"))
	conn := p.dial()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}))
	refl, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	var services []string
	for _, s := range refl.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	require.Subset(t, services, []string{"google.longrunning.Operations", "lro.v1.Lro", "grpc.health.v1.Health"})

	get := func(path string) (int, string) { return httpGet(ctx, t, p.addr, "", path) }
	status, body := get("/healthz")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"status":"SERVING"}`, body)
	status, body = get("/nope")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, `"NOT_FOUND"`)

	// A method the server does not have is UNIMPLEMENTED with an ErrorInfo.
	err = conn.Invoke(ctx, "/lro.v1.Nope/Nothing", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	st := grpcstatus.Convert(err)
	require.Equal(t, codes.Unimplemented, st.Code())
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	require.NotNil(t, info, "details %v", st.Details())
	require.Equal(t, "METHOD_NOT_FOUND", info.GetReason())
	require.Equal(t, "lro.dev", info.GetDomain())
}

// cliResult is the outcome of one CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(ctx context.Context, t *testing.T, addr string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lroBinary(t), args...)
	cmd.Env = testEnv("LRO_ADDR=" + addr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err, "lro %s", strings.Join(args, " "))
	}
	r := cliResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("$ lro %s\n-- exit %d\n-- stdout --\n%s-- stderr --\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func TestCLIWalkthrough(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startServer(t, "server", filepath.Join(t.TempDir(), "lro.db"))
	nameRE := regexp.MustCompile(`^operations/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

	r := runCLI(ctx, t, p.addr, "start", "demo.sleep", "--input", `{"duration":"1s"}`)
	require.Equal(t, 0, r.code)
	ok := strings.TrimSpace(r.stdout)
	require.Regexp(t, nameRE, ok)
	require.Empty(t, r.stderr)

	r = runCLI(ctx, t, p.addr, "wait", ok)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "succeeded")
	require.Contains(t, r.stdout, ok)

	r = runCLI(ctx, t, p.addr, "start", "demo.sleep", "--input", `{"duration":"0.2s","fail_code":9,"fail_message":"boom"}`)
	require.Equal(t, 0, r.code)
	failed := strings.TrimSpace(r.stdout)
	require.Regexp(t, nameRE, failed)

	// The address as a flag works as well as $LRO_ADDR.
	r = runCLI(ctx, t, "127.0.0.1:1", "wait", failed, "--addr", p.addr)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "FAILED_PRECONDITION: boom")

	r = runCLI(ctx, t, p.addr, "get", "operations/xyz")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "INVALID_ARGUMENT")
	require.Empty(t, r.stdout)

	r = runCLI(ctx, t, p.addr, "list", "--filter", "done = true")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, ok)
	require.Contains(t, r.stdout, failed)
	require.Contains(t, r.stdout, "FAILED_PRECONDITION: boom")

	r = runCLI(ctx, t, p.addr, "start", "nope")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "INVALID_ARGUMENT")
	require.Contains(t, r.stderr, "demo.sleep", "the error names the kinds there are")
	require.Empty(t, r.stdout)
}

// A delayed start and a retry's wait survive a kill -9: the next server on
// the same database runs each once, at its time, from what the store keeps.
func TestKillWhileOperationsWait(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")
	first := startServer(t, "first", db)
	conn := first.dial()
	c := lropb.NewLroClient(conn)
	start := func(input map[string]any, delay time.Duration) string {
		t.Helper()
		v, err := structpb.NewValue(input)
		require.NoError(t, err)
		req := &lropb.StartOperationRequest{Kind: "demo.sleep", KindInput: &lropb.StartOperationRequest_Input{Input: v}}
		if delay > 0 {
			req.StartTime = &lropb.StartOperationRequest_Delay{Delay: durationpb.New(delay)}
		}
		op, err := c.StartOperation(ctx, req)
		require.NoError(t, err)
		return op.GetName()
	}
	const delay = 2 * time.Second
	delayed := start(map[string]any{"duration": "0s"}, delay)
	due := time.Now().Add(delay)
	retried := start(map[string]any{"duration": "0s", "fail_code": 14, "fail_attempts": 1}, 0)
	// The retried operation's first attempt failed: it waits for its next.
	ops := longrunningpb.NewOperationsClient(conn)
	for {
		var md metadata.MD
		op, err := ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: retried}, grpc.Header(&md))
		require.NoError(t, err)
		require.False(t, op.GetDone(), "the retry ran before the kill")
		if len(md.Get(lrogrpc.LastErrorHeader)) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the first attempt did not fail")
		case <-time.After(10 * time.Millisecond):
		}
	}
	first.kill()
	conn.Close()

	second := startServer(t, "second", db)
	conn = second.dial()
	op := waitDone(ctx, t, conn, delayed)
	require.Nil(t, op.GetError())
	md := sleepMetadata(t, op)
	require.EqualValues(t, 1, md.GetAttempt(), "the delayed operation ran once")
	require.False(t, md.GetStartTime().AsTime().Before(due.Add(-50*time.Millisecond)), "it ran at its time, not before")
	op = waitDone(ctx, t, conn, retried)
	require.Nil(t, op.GetError())
	require.EqualValues(t, 2, sleepMetadata(t, op).GetAttempt(), "the retry ran once more, and succeeded")
}
