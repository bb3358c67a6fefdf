package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
)

// scrapeMetrics gets /metrics and parses it.
func scrapeMetrics(ctx context.Context, t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := httpGet(ctx, t, addr, "", "/metrics")
	require.Equal(t, http.StatusOK, status, body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return mfs
}

// metricValue sums the counters and gauges of a family whose labels
// include labels.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var v float64
	for _, m := range matching(mfs, name, labels) {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return v
}

func sampleCount(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	var n uint64
	for _, m := range matching(mfs, name, labels) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

func matching(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) []*dto.Metric {
	var out []*dto.Metric
next:
	for _, m := range mfs[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// TestMetricsAfterAKnownWorkload: /metrics, read through the server's HTTP
// handler, counts the operations, gRPC calls and HTTP requests of a known
// workload exactly.
func TestMetricsAfterAKnownWorkload(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newServer(t, server.Config{Client: lro.Config{DisableEagerStart: true}})
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	lroc, ops := lropb.NewLroClient(conn), longrunningpb.NewOperationsClient(conn)
	run := func(req *demopb.SleepRequest) *longrunningpb.Operation {
		t.Helper()
		input, err := anypb.New(req)
		require.NoError(t, err)
		op, err := lroc.StartOperation(ctx, &lropb.StartOperationRequest{Kind: demo.KindSleep,
			KindInput: &lropb.StartOperationRequest_TypedInput{TypedInput: input}})
		require.NoError(t, err)
		for !op.GetDone() {
			op, err = ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(10 * time.Second)})
			require.NoError(t, err)
		}
		return op
	}
	for range 3 {
		require.Nil(t, run(&demopb.SleepRequest{}).GetError())
	}
	for range 2 {
		require.Equal(t, int32(codes.InvalidArgument), run(&demopb.SleepRequest{FailCode: code.Code_INVALID_ARGUMENT}).GetError().GetCode())
	}
	require.Nil(t, run(&demopb.SleepRequest{FailCode: code.Code_UNAVAILABLE, FailAttempts: 1}).GetError(), "retried, then succeeded")
	_, err = lroc.StartOperation(ctx, &lropb.StartOperationRequest{Kind: "nope"})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	got := scrapeMetrics(ctx, t, srv.Addr().String())
	kind := map[string]string{"kind": demo.KindSleep}
	require.Equal(t, 6.0, metricValue(got, "lro_operations_started_total", kind))
	require.Equal(t, 4.0, metricValue(got, "lro_operations_finished_total", map[string]string{"kind": demo.KindSleep, "outcome": "succeeded", "code": "OK"}))
	require.Equal(t, 2.0, metricValue(got, "lro_operations_finished_total", map[string]string{"kind": demo.KindSleep, "outcome": "failed", "code": "INVALID_ARGUMENT"}))
	require.Equal(t, 6.0, metricValue(got, "lro_operations_finished_total", nil))
	require.Equal(t, 1.0, metricValue(got, "lro_operations_retried_total", kind))
	require.Equal(t, uint64(6), sampleCount(got, "lro_operation_queue_wait_seconds", kind))
	require.Equal(t, uint64(6), sampleCount(got, "lro_operation_duration_seconds", kind))
	require.Equal(t, uint64(7), sampleCount(got, "lro_attempt_duration_seconds", kind))
	require.NotZero(t, sampleCount(got, "lro_store_statement_duration_seconds", map[string]string{"statement": "OperationClaim"}))

	start := map[string]string{"grpc_service": "lro.v1.Lro", "grpc_method": "StartOperation"}
	require.Equal(t, 6.0, metricValue(got, "grpc_server_handled_total", map[string]string{"grpc_service": "lro.v1.Lro", "grpc_method": "StartOperation", "grpc_code": "OK"}))
	require.Equal(t, 1.0, metricValue(got, "grpc_server_handled_total", map[string]string{"grpc_service": "lro.v1.Lro", "grpc_method": "StartOperation", "grpc_code": "InvalidArgument"}))
	require.Equal(t, uint64(7), sampleCount(got, "grpc_server_handling_seconds", start))
	require.Positive(t, metricValue(got, "grpc_server_handled_total", map[string]string{"grpc_method": "WaitOperation", "grpc_code": "OK"}))

	// A method the server does not have is not a label of its own.
	err = conn.Invoke(ctx, "/lro.v1.Nope/Nothing", &lropb.ListKindsRequest{}, &lropb.ListKindsResponse{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	status, _ := httpGet(ctx, t, srv.Addr().String(), "", "/healthz")
	require.Equal(t, http.StatusOK, status)
	got = scrapeMetrics(ctx, t, srv.Addr().String())
	require.Equal(t, 1.0, metricValue(got, "grpc_server_handled_total", map[string]string{"grpc_service": "unknown", "grpc_method": "unknown", "grpc_code": "Unimplemented"}))
	require.GreaterOrEqual(t, metricValue(got, "http_requests_total", map[string]string{"method": "get", "code": "200"}), 2.0, "/metrics and /healthz")
	require.NotNil(t, got["go_goroutines"])
	require.NotNil(t, got["process_open_fds"])
	require.Len(t, matching(got, "lro_worker_slots", nil), 2)
	require.Len(t, matching(got, "lro_operations_pending", kind), 1)
}

// TestMetricsOff: with DisableMetrics (--metrics=false), /metrics is not
// served.
func TestMetricsOff(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newServer(t, server.Config{DisableMetrics: true, Client: lro.Config{Workers: -1}})
	status, _ := httpGet(ctx, t, srv.Addr().String(), "", "/metrics")
	require.Equal(t, http.StatusNotFound, status)
}

// TestMetricsFlag: lro serve serves /metrics by default, and not with
// --metrics=false.
func TestMetricsFlag(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	on := startServer(t, "on", filepath.Join(t.TempDir(), "lro.db"))
	got := scrapeMetrics(ctx, t, on.addr)
	require.NotNil(t, got["lro_worker_slots"])
	require.NotNil(t, got["go_goroutines"])
	off := startServer(t, "off", filepath.Join(t.TempDir(), "lro.db"), "--metrics=false")
	status, _ := httpGet(ctx, t, off.addr, "", "/metrics")
	require.Equal(t, http.StatusNotFound, status)
}

// TestMetricsNeedCredentials: with authentication on, /metrics answers 401
// without valid credentials, and the metrics with a bearer token; /healthz
// and /readyz need none.
func TestMetricsNeedCredentials(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	auth := lroauth.AuthenticatorFunc(func(_ context.Context, c *lroauth.Credentials) (*lroauth.Principal, error) {
		if c.Authorization != "Bearer scrape" {
			return nil, lroauth.Unauthenticated("CREDENTIALS_INVALID", "the token is not valid")
		}
		return &lroauth.Principal{Name: "prometheus"}, nil
	})
	srv := newServer(t, server.Config{Authenticator: auth, Client: lro.Config{Workers: -1}})
	addr := srv.Addr().String()
	status, _ := httpGet(ctx, t, addr, "", "/metrics")
	require.Equal(t, http.StatusUnauthorized, status)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer scrape")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	for _, path := range []string{"/healthz", "/readyz"} {
		status, body := httpGet(ctx, t, addr, "", path)
		require.Equal(t, http.StatusOK, status, "%s: %s", path, body)
	}
}

// TestReadyWhenTheSchemaIsBehind: /readyz answers 503, reason
// SCHEMA_VERSION, while the store's schema is older than the binary's (a
// database restored from an older backup), and 200 again once it is
// current; /healthz answers 200 throughout.
func TestReadyWhenTheSchemaIsBehind(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dsn := pgtest.Schema(t)
	srv := newServer(t, server.Config{DB: dsn, Client: lro.Config{Workers: -1}})
	addr := srv.Addr().String()
	status, body := httpGet(ctx, t, addr, "", "/readyz")
	require.Equal(t, http.StatusOK, status, body)

	db := pgConn(ctx, t, dsn)
	var version int
	var name string
	require.NoError(t, db.QueryRow(ctx, `DELETE FROM lro_migration WHERE version = (SELECT max(version) FROM lro_migration) RETURNING version, name`).Scan(&version, &name))
	awaitReady := func(want int) string {
		t.Helper()
		deadline := time.Now().Add(3 * server.HealthInterval)
		for {
			status, body := httpGet(ctx, t, addr, "", "/readyz")
			if status == want {
				return body
			}
			require.True(t, time.Now().Before(deadline), "/readyz still answers %d %s", status, body)
			time.Sleep(20 * time.Millisecond) // no event tells an HTTP client
		}
	}
	body = awaitReady(http.StatusServiceUnavailable)
	require.Contains(t, body, `"reason":"SCHEMA_VERSION"`)
	require.Contains(t, body, "run lro migrate")
	status, _ = httpGet(ctx, t, addr, "", "/healthz")
	require.Equal(t, http.StatusOK, status, "live while not ready")

	_, err := db.Exec(ctx, `INSERT INTO lro_migration (version, name) VALUES ($1, $2)`, version, name)
	require.NoError(t, err)
	awaitReady(http.StatusOK)
}
