package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Traces of the server: Config.TracerProvider records a span for each gRPC
// call (otelgrpc's stats handler) and each HTTP request (otelhttp), besides
// the lro client's spans of starts and attempts. A call's span continues
// the caller's trace when the call carries a W3C traceparent (gRPC
// metadata or HTTP header), and the start that the call makes is its
// child. Health checks are not traced: probes call them every few seconds.
// Only spans: the server's metrics are not otelgrpc's.

// propagators read the callers' trace context: W3C trace context and
// baggage.
var propagators = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// grpcTracing is the gRPC server option that traces each call but health
// checks.
func (s *Server) grpcTracing() grpc.ServerOption {
	return grpcTracing(s.config.TracerProvider)
}

func grpcTracing(tp trace.TracerProvider) grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(propagators),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.ServicePrefix("grpc.health."))),
	))
}

// httpTracing wraps h to trace each HTTP request but health checks.
func (s *Server) httpTracing(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "lro",
		otelhttp.WithTracerProvider(s.config.TracerProvider),
		otelhttp.WithPropagators(propagators),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !strings.HasPrefix(r.URL.Path, "/healthz") }),
	)
}

// Environment variables of OpenTelemetry that TracerProviderFromEnv reads
// itself; the exporters, the sampler, the batch processor and the resource
// read the others (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER,
// OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES…).
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// TracerProviderFromEnv returns the tracer provider that OpenTelemetry's
// standard environment variables configure, or nil when they ask for no
// traces, which is the default: traces are on when OTEL_TRACES_EXPORTER
// names an exporter (otlp, or console, which writes spans to console), or,
// without it, when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SDK_DISABLED=true turns
// them off. OTLP goes over OTEL_EXPORTER_OTLP_PROTOCOL (or its _TRACES_
// form): http/protobuf by default, or grpc. The service is named by
// OTEL_SERVICE_NAME, "lro" by default. Spans go out in batches: shut the
// provider down to flush the last ones.
func TracerProviderFromEnv(ctx context.Context, console io.Writer) (*sdktrace.TracerProvider, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv(envSDKDisabled)), "true") {
		return nil, nil
	}
	names := strings.TrimSpace(os.Getenv(envTracesExporter))
	if names == "" {
		if os.Getenv(envEndpoint) == "" && os.Getenv(envTracesEndpoint) == "" {
			return nil, nil
		}
		names = "otlp"
	}
	var exporters []sdktrace.SpanExporter
	for name := range strings.SplitSeq(names, ",") {
		switch name = strings.TrimSpace(name); name {
		case "none":
		case "otlp":
			exp, err := otlpExporter(ctx)
			if err != nil {
				return nil, err
			}
			exporters = append(exporters, exp)
		case "console":
			exp, err := stdouttrace.New(stdouttrace.WithWriter(console))
			if err != nil {
				return nil, fmt.Errorf("%s: console: %w", envTracesExporter, err)
			}
			exporters = append(exporters, exp)
		default:
			return nil, fmt.Errorf("%s=%q: lro serve exports traces with otlp, console or none", envTracesExporter, names)
		}
	}
	if len(exporters) == 0 {
		return nil, nil
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "lro")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, over the default
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, exp := range exporters {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// otlpExporter is the OTLP exporter of the protocol that the environment
// names; it reads its endpoint, headers, TLS files and timeout from the
// environment itself.
func otlpExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	protocol := strings.TrimSpace(os.Getenv(envTracesProtocol))
	if protocol == "" {
		protocol = strings.TrimSpace(os.Getenv(envProtocol))
	}
	if protocol == "" {
		protocol = "http/protobuf" // the specification's default
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("OTLP protocol %q: lro serve sends traces over grpc or http/protobuf", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	return exp, nil
}
