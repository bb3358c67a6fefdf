package server_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/internal/server"
	"lro.dev/lro/lropb"
)

// TestTraces: with a tracer provider, each gRPC call and HTTP request has
// a server span that continues the caller's trace (its traceparent), the
// span of a StartOperation call is the start's, with its attributes, and
// the attempt its child; health checks make no span.
func TestTraces(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	srv := newServer(t, server.Config{TracerProvider: tp})
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()

	const (
		traceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
		grpcCaller = "00f067aa0ba902b7"
		httpCaller = "00f067aa0ba902b8"
	)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+traceID+"-"+grpcCaller+"-01")
	input, err := structpb.NewValue(map[string]any{"duration": "0s"})
	require.NoError(t, err)
	op, err := lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{Kind: "demo.sleep",
		KindInput: &lropb.StartOperationRequest_Input{Input: input}})
	require.NoError(t, err)
	_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.Addr().String()+"/v1/kinds", nil)
	require.NoError(t, err)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+httpCaller+"-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	find := func(match func(s sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
		for _, s := range rec.Ended() {
			if match(s) {
				return s
			}
		}
		return nil
	}
	named := func(name string) func(s sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name }
	}
	var attempt sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		attempt = find(named("lro.attempt demo.sleep"))
		return attempt != nil
	}, 10*time.Second, 5*time.Millisecond, "the attempt's span ends once its result is written")

	call := find(named("lro.v1.Lro/StartOperation"))
	require.NotNil(t, call, "the gRPC call's span")
	require.Equal(t, trace.SpanKindServer, call.SpanKind())
	require.Equal(t, traceID, call.SpanContext().TraceID().String(), "the caller's trace")
	require.Equal(t, grpcCaller, call.Parent().SpanID().String())
	require.Nil(t, find(named("lro.start demo.sleep")), "the call's span is the start's")
	require.Equal(t, op.GetName(), attrValue(call, "lro.operation.name"))
	require.Equal(t, "demo.sleep", attrValue(call, "lro.operation.kind"))
	require.Equal(t, call.SpanContext().SpanID(), attempt.Parent().SpanID(), "the attempt is the call's child")
	require.Equal(t, traceID, attempt.SpanContext().TraceID().String())
	require.Equal(t, op.GetName(), attrValue(attempt, "lro.operation.name"))

	httpSpan := find(func(s sdktrace.ReadOnlySpan) bool { return s.Parent().SpanID().String() == httpCaller })
	require.NotNil(t, httpSpan, "the HTTP request's span")
	require.Equal(t, trace.SpanKindServer, httpSpan.SpanKind())
	require.Nil(t, find(func(s sdktrace.ReadOnlySpan) bool { return strings.Contains(s.Name(), "grpc.health") }), "no span for health checks")
}

func attrValue(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTracerProviderFromEnv: traces are off unless OpenTelemetry's
// variables name an exporter or an OTLP endpoint, and
// OTEL_SDK_DISABLED=true turns them off.
func TestTracerProviderFromEnv(t *testing.T) {
	clearEnv := func(t *testing.T) {
		for _, name := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
			"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"} {
			t.Setenv(name, "")
		}
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		on   bool
		err  string
	}{
		{name: "nothing set"},
		{name: "otlp endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "otlp traces endpoint over grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true},
		{name: "disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}},
		{name: "exporter none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "otlp, console or none"},
		{name: "unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			err: "grpc or http/protobuf"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tp, err := server.TracerProviderFromEnv(t.Context(), &bytes.Buffer{})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.on, tp != nil)
			if tp != nil {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				_ = tp.Shutdown(ctx)
			}
		})
	}

	t.Run("console, named by OTEL_SERVICE_NAME", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "console")
		t.Setenv("OTEL_SERVICE_NAME", "lro-test-service")
		var out bytes.Buffer
		tp, err := server.TracerProviderFromEnv(t.Context(), &out)
		require.NoError(t, err)
		require.NotNil(t, tp)
		_, span := tp.Tracer("test").Start(t.Context(), "a span")
		span.End()
		require.NoError(t, tp.Shutdown(t.Context()), "shutting down flushes")
		require.Contains(t, out.String(), `"a span"`)
		require.Contains(t, out.String(), "lro-test-service")
	})
}
