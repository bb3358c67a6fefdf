package lrohttp_test

// The test environment: the real server assembly (internal/server: cmux,
// gRPC and the HTTP/JSON handler on one port, over a SQLite file), with the
// demo kind and the test kinds below, followed over HTTP with the standard
// library's client and Google's REST client, and over gRPC on the same port.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/internal/testkinds"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
)

// The test kinds.
const (
	// kindEcho (SleepRequest → StringValue) returns the request's
	// fail_message at once.
	kindEcho = "test.echo"
	// kindBlock (StringValue → StringValue) blocks until the test releases
	// the gate named by the request's value, or its context ends.
	kindBlock = "test.block"
	// kindRetried (StringValue → StringValue) fails with UNAVAILABLE and
	// the value as its message, to run again in an hour.
	kindRetried = "test.retried"
	// kindMeta (StringValue → StringValue, metadata SleepMetadata) sets its
	// metadata, then blocks like kindBlock.
	kindMeta = "test.meta"
	// kindFail (StringValue) fails with testkinds.FailStatus(value).
	kindFail = "test.fail"
	// kindEmpty (Empty → Empty) returns a nil response.
	kindEmpty = "test.empty"
	// kindRemote (JSON → JSON) is declared: only workers of the Workers
	// service run it.
	kindRemote = "test.remote"
)

const (
	typeErrorInfo = "type.googleapis.com/google.rpc.ErrorInfo"
	metaProgress  = 42 // the progress kindMeta reports
	awaitTimeout  = 10 * time.Second
	testParent    = "projects/p/locations/l"
)

// env is one running server with its clients.
type env struct {
	srv   *server.Server
	addr  string // host:port, for HTTP and gRPC alike
	base  string // http://host:port
	http  *http.Client
	conn  *grpc.ClientConn
	ops   longrunningpb.OperationsClient // gRPC, on the same port
	lro   lropb.LroClient                // gRPC, on the same port
	gates testkinds.Gates
}

// newEnv starts the server assembly on 127.0.0.1:0 with HTTPParents
// projects/*/locations/*. Zero fields of cfg get test-friendly values.
func newEnv(t *testing.T, cfg lro.Config) *env {
	t.Helper()
	cfg.PollInterval = cmp.Or(cfg.PollInterval, 50*time.Millisecond)
	cfg.ShutdownGrace = cmp.Or(cfg.ShutdownGrace, 100*time.Millisecond)
	cfg.MetadataInterval = cmp.Or(cfg.MetadataInterval, 20*time.Millisecond)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := &env{}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		Addr:        "127.0.0.1:0",
		DB:          "sqlite:" + filepath.Join(t.TempDir(), "lro.db"),
		Client:      cfg,
		Register:    e.register,
		HTTPParents: []string{"projects/*/locations/*"},
		Logger:      logger,
	})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop within 30s")
		}
	})
	e.srv = srv
	e.addr = srv.Addr().String()
	e.base = "http://" + e.addr
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(transport.CloseIdleConnections)
	e.http = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	e.conn, err = grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { e.conn.Close() })
	e.ops = longrunningpb.NewOperationsClient(e.conn)
	e.lro = lropb.NewLroClient(e.conn)
	return e
}

func (e *env) register(c *lro.Client) error {
	for _, register := range []func(*lro.Client) error{
		demo.Register,
		func(c *lro.Client) error {
			return lro.Register(c, lro.Kind[*demopb.SleepRequest, *emptypb.Empty, *wrapperspb.StringValue]{
				Name: kindEcho,
				Run: func(ctx context.Context, job *lro.Job[*demopb.SleepRequest, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
					return wrapperspb.String(job.Request.GetFailMessage()), nil
				},
			})
		},
		func(c *lro.Client) error {
			return lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
				Name: kindRetried,
				Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
					return nil, lro.Retryable(status.Error(codes.Unavailable, job.Request.GetValue()), time.Hour)
				},
			})
		},
		func(c *lro.Client) error {
			return lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
				Name: kindBlock,
				Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
					return e.gates.Get(job.Request.GetValue()).Hold(ctx, false)
				},
			})
		},
		func(c *lro.Client) error {
			return lro.Register(c, lro.Kind[*wrapperspb.StringValue, *demopb.SleepMetadata, *wrapperspb.StringValue]{
				Name: kindMeta,
				Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *demopb.SleepMetadata]) (*wrapperspb.StringValue, error) {
					if err := job.SetMetadata(&demopb.SleepMetadata{ProgressPercent: metaProgress, Attempt: int32(job.Attempt)}); err != nil {
						return nil, err
					}
					return e.gates.Get(job.Request.GetValue()).Hold(ctx, false)
				},
			})
		},
		func(c *lro.Client) error {
			return lro.Register(c, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
				Name: kindFail,
				Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
					return nil, testkinds.FailStatus(job.Request.GetValue()).Err()
				},
			})
		},
		func(c *lro.Client) error { return lro.Declare(c, lro.DeclaredKind{Name: kindRemote}) },
		func(c *lro.Client) error {
			return lro.Register(c, lro.Kind[*emptypb.Empty, *emptypb.Empty, *emptypb.Empty]{
				Name: kindEmpty,
				Run: func(ctx context.Context, job *lro.Job[*emptypb.Empty, *emptypb.Empty]) (*emptypb.Empty, error) {
					return nil, nil
				},
			})
		},
	} {
		if err := register(c); err != nil {
			return err
		}
	}
	return nil
}

// response is an HTTP response, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one HTTP request; body "" sends none.
func (e *env) do(t *testing.T, method, path, body string) *response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.base+path, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.send(t, req)
}

func (e *env) send(t *testing.T, req *http.Request) *response {
	t.Helper()
	resp, err := e.http.Do(req)
	require.NoError(t, err, "%s %s", req.Method, req.URL)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// object decodes a JSON object body.
func (r *response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

// doOK sends a request that must succeed, and returns its JSON object.
func (e *env) doOK(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	r := e.do(t, method, path, body)
	require.Equal(t, http.StatusOK, r.status, "%s %s: %s", method, path, r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	return r.object(t)
}

// start starts an operation over HTTP under parent ("" for the default
// collection) and returns its name. input is the JSON of the "input" field,
// "" for none.
func (e *env) start(t *testing.T, parent, kind, input string) string {
	t.Helper()
	body := `{"kind":` + jsonString(kind)
	if input != "" {
		body += `,"input":` + input
	}
	body += "}"
	path := "/v1/operations:start"
	if parent != "" {
		path = "/v1/" + parent + "/operations:start"
	}
	op := e.doOK(t, http.MethodPost, path, body)
	name, _ := op["name"].(string)
	require.NotEmpty(t, name, "%v", op)
	require.NotContains(t, op, "done", "a start returns the operation not done")
	return name
}

// startHeld starts an operation of kindBlock or kindMeta on gate key and
// waits until its handler runs.
func (e *env) startHeld(t *testing.T, parent, kind, key string) (string, *testkinds.Gate) {
	t.Helper()
	g := e.gates.Get(key)
	name := e.start(t, parent, kind, jsonString(key))
	await(t, g.Started, "the handler of "+name+" to start")
	return name, g
}

// waitDone waits over HTTP (:wait) until the operation is done, and returns
// it.
func (e *env) waitDone(t *testing.T, name string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(awaitTimeout)
	for {
		op := e.doOK(t, http.MethodPost, "/v1/"+name+":wait", `{"timeout":"5s"}`)
		if op["done"] == true {
			return op
		}
		require.True(t, time.Now().Before(deadline), "%s is not done after %v", name, awaitTimeout)
	}
}

// awaitMetadata polls GetOperation until the operation has metadata: the
// metadata a handler sets has no other signal.
func (e *env) awaitMetadata(t *testing.T, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		op, err := e.srv.Client().GetOperation(t.Context(), name)
		return err == nil && op.GetMetadata() != nil
	}, awaitTimeout, 10*time.Millisecond, "the metadata of %s becomes visible", name)
}

// count is how many operations the collections hold, read in-process.
func (e *env) count(t *testing.T, collections ...string) int {
	t.Helper()
	n := 0
	for _, c := range collections {
		opts := &lro.ListOptions{PageSize: 1000}
		for {
			resp, err := e.srv.Client().ListOperations(t.Context(), c, opts)
			require.NoError(t, err)
			n += len(resp.GetOperations())
			if resp.GetNextPageToken() == "" {
				break
			}
			opts.PageToken = resp.GetNextPageToken()
		}
	}
	return n
}

// await receives from ch or fails after awaitTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(awaitTimeout):
		t.Fatalf("timed out after %v waiting for %s", awaitTimeout, what)
		panic("unreachable")
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// compactJSON removes the whitespace of a JSON document (protojson adds
// random spaces to discourage byte comparisons).
func compactJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b), "body %s", b)
	return buf.Bytes()
}

// operationID returns the last segment of name.
func operationID(name string) string { return name[strings.LastIndex(name, "/")+1:] }
