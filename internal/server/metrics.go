package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// How the server is measured: one registry per server holds the lro
// client's metrics (lro.Config.Metrics), the Go runtime's and the
// process's, the gRPC server's by method and code, and the HTTP server's
// by method and status code; GET /metrics serves it (see
// docs/metrics.md). Labels are bounded: a gRPC method the server does not
// have is counted as "unknown", an HTTP method outside the standard ones as
// "unknown" (promhttp), and no path is a label.

// newRegistry returns the server's registry, with the Go and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// grpcMetrics counts and times the gRPC server's calls.
type grpcMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	methods  map[string][2]string // full method name -> service, method; set before serving
}

func newGRPCMetrics(reg prometheus.Registerer) *grpcMetrics {
	m := &grpcMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_handled_total",
			Help: "gRPC calls that ended, by service, method and code (HTTP calls included: they reach the gRPC server in-process)."},
			[]string{"grpc_service", "grpc_method", "grpc_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "grpc_server_handling_seconds",
			Help:    "Duration of gRPC calls, by service and method.",
			Buckets: prometheus.ExponentialBucketsRange(0.0005, 60, 16)},
			[]string{"grpc_service", "grpc_method"}),
	}
	reg.MustRegister(m.handled, m.duration)
	return m
}

// know records the methods of the server's services: only they are
// labels.
func (m *grpcMetrics) know(s *grpc.Server) {
	m.methods = map[string][2]string{}
	for service, info := range s.GetServiceInfo() {
		for _, method := range info.Methods {
			m.methods["/"+service+"/"+method.Name] = [2]string{service, method.Name}
		}
	}
}

func (m *grpcMetrics) labels(fullMethod string) (service, method string) {
	if sm, ok := m.methods[fullMethod]; ok {
		return sm[0], sm[1]
	}
	return "unknown", "unknown"
}

func (m *grpcMetrics) observe(fullMethod string, start time.Time, err error) {
	service, method := m.labels(fullMethod)
	m.handled.WithLabelValues(service, method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(service, method).Observe(time.Since(start).Seconds())
}

func (m *grpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *grpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}

// instrumentHTTP counts and times the HTTP requests that h serves, by
// method and status code.
func instrumentHTTP(reg prometheus.Registerer, h http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
		Help: "HTTP requests answered, by method and status code."}, []string{"method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
		Help:    "Duration of HTTP requests, by method and status code.",
		Buckets: prometheus.ExponentialBucketsRange(0.0005, 60, 16)}, []string{"method", "code"})
	reg.MustRegister(requests, duration)
	return promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(duration, h))
}

// InstrumentGRPC returns the options that instrument a gRPC server as the
// server instruments its own: the calls' metrics on reg, if it is not nil,
// and their spans by tp, if it is not nil. The benchmark measures their
// cost with them.
func InstrumentGRPC(reg prometheus.Registerer, tp trace.TracerProvider) []grpc.ServerOption {
	var opts []grpc.ServerOption
	if reg != nil {
		m := newGRPCMetrics(reg)
		opts = append(opts, grpc.ChainUnaryInterceptor(m.unary), grpc.ChainStreamInterceptor(m.stream))
	}
	if tp != nil {
		opts = append(opts, grpcTracing(tp))
	}
	return opts
}
