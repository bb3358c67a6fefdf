package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning"
	autogen "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/internal/tlstest"
	"lro.dev/lro/lropb"
)

// pythonRequiredEnv, set to 1 (as in CI), makes the Python example's test
// fail rather than skip when python3 is missing.
const pythonRequiredEnv = "LRO_TEST_PYTHON_REQUIRED"

// repoFile returns the path of a file of the repository, from this
// package's directory.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", rel))
	require.NoError(t, err)
	require.FileExists(t, path)
	return path
}

// pythonWorker is examples/python/worker.py running against a server.
type pythonWorker struct {
	cmd   *exec.Cmd
	lines chan string // its standard output, line by line
	done  chan struct{}
	err   error
	errs  testWriter // its standard error
}

// stderr returns what the worker wrote on its standard error.
func (w *pythonWorker) stderr() string {
	w.errs.mu.Lock()
	defer w.errs.mu.Unlock()
	return w.errs.buf.String()
}

func startPythonWorker(t *testing.T, httpAddr string, kinds ...string) *pythonWorker {
	t.Helper()
	return startPythonWorkerEnv(t, []string{"LRO_HTTP=http://" + httpAddr}, kinds...)
}

// startPythonWorkerEnv starts the Python example with env added to the
// test's environment.
func startPythonWorkerEnv(t *testing.T, env []string, kinds ...string) *pythonWorker {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv(pythonRequiredEnv) == "1" {
			t.Fatalf("python3 is required (%s=1): %v", pythonRequiredEnv, err)
		}
		t.Skip("python3 is not installed")
	}
	cmd := exec.Command(python, append([]string{"-u", repoFile(t, "examples/python/worker.py")}, kinds...)...)
	cmd.Env = testEnv(env...)
	w := &pythonWorker{cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(&testWriter{t: t, prefix: "[python] "}, &w.errs)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("[python] %s", sc.Text())
			w.lines <- sc.Text()
		}
		w.err = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
	})
	return w
}

// await returns the first line of the worker's output that contains s.
func (w *pythonWorker) await(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-w.lines:
			if strings.Contains(line, s) {
				return line
			}
		case <-w.done:
			t.Fatalf("the Python worker exited (%v) before printing %q", w.err, s)
		case <-timeout:
			t.Fatalf("the Python worker did not print %q", s)
		}
	}
}

// testWriter logs what is written to it, if t is set, else keeps it.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t == nil {
		return w.buf.Write(p)
	}
	w.t.Logf("%s%s", w.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startCount(ctx context.Context, t *testing.T, conn *grpc.ClientConn, input map[string]any) string {
	t.Helper()
	v, err := structpb.NewValue(input)
	require.NoError(t, err)
	op, err := lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{
		Kind: "example.count", KindInput: &lropb.StartOperationRequest_Input{Input: v}})
	require.NoError(t, err)
	return op.GetName()
}

func structField(t *testing.T, op *longrunningpb.Operation, which string, field string) float64 {
	t.Helper()
	s := &structpb.Struct{}
	switch which {
	case "metadata":
		require.NoError(t, op.GetMetadata().UnmarshalTo(s))
	case "response":
		require.NoError(t, op.GetResponse().UnmarshalTo(s))
	}
	return s.GetFields()[field].GetNumberValue()
}

// The Python example, with nothing but its standard library, runs the
// operations of a kind declared in examples/kinds.yaml over HTTP/JSON:
// results, progress, failures, cancellation, and release when it stops.
func TestPythonWorkerExample(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := startServer(t, "server", filepath.Join(t.TempDir(), "lro.db"), "--kinds", repoFile(t, "examples/kinds.yaml"))
	conn := srv.dial()
	ops := longrunningpb.NewOperationsClient(conn)
	w := startPythonWorker(t, srv.addr, "example.count")
	w.await(t, "claiming")

	// A start that its input_schema refuses stores nothing.
	v, err := structpb.NewValue(map[string]any{"n": -1})
	require.NoError(t, err)
	_, err = lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{
		Kind: "example.count", KindInput: &lropb.StartOperationRequest_Input{Input: v}})
	require.ErrorContains(t, err, "n")

	t.Run("result and progress", func(t *testing.T) {
		name := startCount(ctx, t, conn, map[string]any{"n": 20, "step_ms": 5})
		op := waitDone(ctx, t, conn, name)
		require.Nil(t, op.GetError())
		require.Equal(t, 20.0, structField(t, op, "response", "counted"))
		require.Equal(t, 20.0, structField(t, op, "metadata", "done"))
	})
	t.Run("followed by Google's client", func(t *testing.T) {
		// Google's Go client for the Operations service, unchanged, waits
		// for the Python worker's response.
		client, err := autogen.NewOperationsClient(ctx, option.WithEndpoint(srv.addr), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		require.NoError(t, err)
		defer client.Close()
		name := startCount(ctx, t, conn, map[string]any{"n": 5, "step_ms": 5})
		lop := longrunning.InternalNewOperation(client, &longrunningpb.Operation{Name: name})
		var resp structpb.Struct
		require.NoError(t, lop.Wait(ctx, &resp))
		require.Equal(t, 5.0, resp.GetFields()["counted"].GetNumberValue())
		var md structpb.Struct
		require.NoError(t, lop.Metadata(&md))
		require.Equal(t, 5.0, md.GetFields()["done"].GetNumberValue())
	})
	t.Run("failure", func(t *testing.T) {
		op := waitDone(ctx, t, conn, startCount(ctx, t, conn, map[string]any{"fail": "boom"}))
		require.Equal(t, int32(code.Code_FAILED_PRECONDITION), op.GetError().GetCode())
		require.Equal(t, "boom", op.GetError().GetMessage())
	})
	t.Run("cancellation", func(t *testing.T) {
		name := startCount(ctx, t, conn, map[string]any{"n": 100000, "step_ms": 10})
		w.await(t, "running "+name)
		// The worker reports progress every tenth of the way, and renews
		// its lease every heartbeat; the cancellation reaches it with the
		// next renewal.
		_, err := ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
		require.NoError(t, err)
		op := waitDone(ctx, t, conn, name)
		require.Equal(t, int32(code.Code_CANCELLED), op.GetError().GetCode(), "%v", op.GetError())
	})
	t.Run("release on SIGTERM", func(t *testing.T) {
		name := startCount(ctx, t, conn, map[string]any{"n": 100000, "step_ms": 10})
		w.await(t, "running "+name)
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
		w.await(t, "released "+name)
		<-w.done
		require.NoError(t, w.err, "the worker exits cleanly")
		// Released: pending again, and the next worker runs it as attempt 1
		// again (a release does not count the attempt).
		op, err := ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err)
		require.False(t, op.GetDone())
		w2 := startPythonWorker(t, srv.addr, "example.count")
		require.Contains(t, w2.await(t, "running "+name), "(attempt 1)")
		_, err = ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
		require.NoError(t, err)
		waitDone(ctx, t, conn, name)
	})
}

// The Python example runs against a server with TLS and authentication,
// given the CA and a worker's token; a token for other kinds may not claim.
func TestPythonWorkerSecure(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	tokens := map[string]string{"admin": "admin-secret", "counter": "counter-secret", "other": "other-secret"}
	file := "tokens:\n"
	for principal, grant := range map[string]string{"admin": "admin:*", "counter": "worker:example.count", "other": "worker:example.other"} {
		file += fmt.Sprintf("  - principal: %s\n    sha256: %x\n    grants: [%q]\n", principal, sha256.Sum256([]byte(tokens[principal])), grant)
	}
	tokenFile := filepath.Join(dir, "tokens.yaml")
	require.NoError(t, os.WriteFile(tokenFile, []byte(file), 0o600))
	srv := startServer(t, "server", filepath.Join(dir, "lro.db"), "--kinds", repoFile(t, "examples/kinds.yaml"),
		"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--auth-tokens", tokenFile)
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool()})),
		grpc.WithPerRPCCredentials(bearerToken(tokens["admin"])))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	env := func(token string) []string {
		return []string{"LRO_HTTP=https://" + srv.addr, "LRO_TLS_CA=" + ca.File, "LRO_TOKEN=" + token}
	}

	other := startPythonWorkerEnv(t, env(tokens["other"]), "example.count")
	<-other.done
	require.Error(t, other.err, "a worker may not claim another kind")
	require.Contains(t, other.stderr(), `claim: HTTP 403: permission denied: other may not work on kind "example.count"`)

	w := startPythonWorkerEnv(t, env(tokens["counter"]), "example.count")
	w.await(t, "claiming")
	op := waitDone(ctx, t, conn, startCount(ctx, t, conn, map[string]any{"n": 3, "step_ms": 1}))
	require.Nil(t, op.GetError())
	require.Equal(t, 3.0, structField(t, op, "response", "counted"))
}

// bearerToken sends a token in every call's authorization header.
type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return true }
