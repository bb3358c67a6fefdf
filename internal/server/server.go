// Package server assembles the standalone lro server that `lro serve` runs:
// the store named by a DSN, an lro client, and one listener that serves
// gRPC (the Operations, Lro and Workers services, health, reflection) and
// HTTP.
//
// One address serves both: cmux reads the start of each connection and
// hands HTTP/2 connections whose requests are gRPC to grpc-go's own server
// (its full speed: no translation, no extra copies), and every other
// connection to net/http, where lrohttp transcodes HTTP/JSON to the same
// services.
//
// With Config.TLS the listener does TLS before cmux reads, so gRPC and
// HTTPS share the address too (tls.go). Beyond loopback, New refuses to
// listen without TLS and authentication unless Config.Insecure.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/soheilhy/cmux"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"lro.dev/lro"
	"lro.dev/lro/internal/tlsconn"
	"lro.dev/lro/internal/ui"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrohttp"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
	"lro.dev/lro/lrostore/lrosqlite"
)

// Config configures a Server.
type Config struct {
	// Addr is the address to listen on, HOST:PORT; port 0 picks a free one.
	Addr string
	// DB names the store: "sqlite:PATH" (relative or absolute), or a
	// PostgreSQL URL, "postgres://user@host:5432/db?sslmode=disable".
	DB string
	// Client configures the lro client.
	Client lro.Config
	// Register registers the kinds this server runs.
	Register func(*lro.Client) error
	// HTTPParents are the parent patterns, such as "projects/*/locations/*",
	// whose operations get HTTP routes besides the default collection's.
	HTTPParents []string
	// AllowedHosts are the names, besides IP addresses, localhost and the
	// host of Addr, that HTTP requests may give as their Host; "*" allows
	// any (see lrohttp.CheckHost). gRPC's :authority is not checked: DNS
	// rebinding is an attack through browsers, which do not speak gRPC.
	AllowedHosts []string
	// MaxConnections caps the connections open at once, gRPC and HTTP; a
	// connection beyond it is closed as soon as it is accepted. Default
	// MaxConnectionsDefault; lowered to leave the process files for its
	// store (see RaiseFileLimit).
	MaxConnections int
	// MaxWaits caps the long polls under way at once (WaitOperation
	// calls, and ClaimOperations calls that wait), gRPC and HTTP; a call
	// beyond it is RESOURCE_EXHAUSTED (HTTP 429). Default
	// MaxWaitsDefault; lowered to three quarters of MaxConnections, so
	// that waits, which hold an HTTP connection each, leave room for
	// other calls.
	MaxWaits int
	// HTTPTimeouts bound HTTP connections; zero fields take the defaults.
	HTTPTimeouts HTTPTimeouts
	// Logger receives the server's logs, and the audit log of mutating
	// calls (at info level).
	Logger *slog.Logger

	// TLS, if set, serves gRPC and HTTPS on Addr (one port) with its
	// files, which are read again when they change.
	TLS *TLSConfig
	// Authenticator, if set, authenticates every call (except health
	// checks), and Authorize decides what each principal may do; a call
	// without valid credentials is UNAUTHENTICATED.
	Authenticator lroauth.Authenticator
	// Authorize decides each authenticated call. Default lroauth.Grants.
	Authorize lroauth.AuthorizeFunc
	// Insecure lets the server listen on an address other than loopback
	// without TLS and authentication; without it, New refuses to.
	Insecure bool
	// Limits bound what one principal may take.
	Limits PrincipalLimits
	// CORSOrigins are the origins that browsers may call the HTTP API
	// from; none, the default, allows none ("*" allows any).
	CORSOrigins []string
	// MaxRequestBytes caps a request: a gRPC message (a larger one is
	// RESOURCE_EXHAUSTED) and an HTTP body (a larger one is
	// INVALID_ARGUMENT, reason REQUEST_TOO_LARGE). Default
	// lrogrpc.MaxRecvMsgSize for gRPC and lrohttp.MaxBodyBytesDefault for
	// HTTP.
	MaxRequestBytes int

	// TracerProvider, if set, records a span for each gRPC call and HTTP
	// request (but health checks), and is the client's
	// lro.Config.TracerProvider unless Client sets one (tracing.go); nil
	// records none, and turns the client's tracing off unless Client
	// sets a provider. See TracerProviderFromEnv.
	TracerProvider trace.TracerProvider
	// DisableMetrics turns GET /metrics off, and with it the measures of
	// the client (unless Client.Metrics is set), the gRPC and HTTP
	// servers, the Go runtime and the process. With an Authenticator,
	// /metrics needs valid credentials, as the API does.
	DisableMetrics bool
	// DisableUI turns the dashboard at /ui/ off.
	DisableUI bool

	// authenticate, if set, is the first interceptor of unary calls, in
	// the place of authentication. Tests set it (export_test.go) to put
	// principals in the context.
	authenticate grpc.UnaryServerInterceptor
}

// TLSConfig names the files of the server's TLS.
type TLSConfig struct {
	// CertFile and KeyFile hold the server's certificate chain and key
	// (PEM).
	CertFile, KeyFile string
	// ClientCAFile, if set, holds the CAs (PEM) that client certificates
	// must be signed by: every connection must present one (mTLS), and its
	// subject is the caller's identity.
	ClientCAFile string
}

// PrincipalLimits bound what one principal may take. Zero fields are
// unlimited.
//
// Calls without a principal (no Authenticator) are not limited per
// principal: they would all share one bucket, which one busy client would
// empty for every other. MaxConnections and MaxWaits bound them. The
// server keeps the state of a bounded number of principals, dropping first
// those that hold nothing (a full bucket, no wait under way).
type PrincipalLimits struct {
	// Rate is the calls per second that one principal may make, on
	// average, and Burst how many it may make at once (default Rate,
	// rounded up); a call beyond is RESOURCE_EXHAUSTED (HTTP 429), reason
	// RATE_LIMITED, with a RetryInfo that says when to try again (and over
	// HTTP a Retry-After header).
	Rate  float64
	Burst int
	// Waits caps the long polls (WaitOperation, ClaimOperations with a
	// wait) of one principal under way at once; one beyond is
	// RESOURCE_EXHAUSTED, reason TOO_MANY_WAITS. Config.MaxWaits caps
	// them all.
	Waits int
	// Claims caps the operations that one ClaimOperations call may take:
	// a claim that asks for more gets at most Claims, without an error
	// (a worker must handle fewer than it asked for anyway). It applies
	// to every claim, with or without a principal.
	Claims int
}

// Server is a running lro server.
type Server struct {
	config   Config
	logger   *slog.Logger
	store    lrostore.Store
	client   *lro.Client
	listener net.Listener
	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	storeErr atomic.Pointer[error] // the store's last health check error; nil when it answers
	// schemaErr says, when the last health check found it, that the
	// store's schema is not the version this binary expects; nil when it
	// is.
	schemaErr atomic.Pointer[string]

	registry    *prometheus.Registry // nil when metrics are off
	grpcMetrics *grpcMetrics         // nil when metrics are off

	authLog *authLog // refused credentials

	hurryOnce sync.Once
	hurry     chan struct{} // closed by ReleaseNow
	closing   chan struct{} // closed when the shutdown begins
}

// HealthInterval is how often the server checks that its store answers.
const HealthInterval = time.Second

// OpenStore opens the store a DSN names.
func OpenStore(ctx context.Context, dsn string) (lrostore.Store, error) {
	if path, ok, err := sqlitePath(dsn); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return lrosqlite.Open(ctx, path)
	}
	if isPostgres(dsn) {
		return lropgx.Open(ctx, dsn)
	}
	return nil, unknownStore(dsn)
}

// Migrate brings the schema of the store a DSN names up to date, and returns
// its version before (0: none) and after.
func Migrate(ctx context.Context, dsn string) (from, to int, err error) {
	if path, ok, err := sqlitePath(dsn); ok || err != nil {
		if err != nil {
			return 0, 0, err
		}
		return lrosqlite.Migrate(ctx, path)
	}
	if isPostgres(dsn) {
		return lropgx.MigrateVersions(ctx, dsn)
	}
	return 0, 0, unknownStore(dsn)
}

// sqliteForms says how a SQLite DSN is written, for error messages.
const sqliteForms = "want sqlite:PATH (sqlite:lro.db, sqlite:/var/lib/lro.db), or as a URL, sqlite:///PATH for a relative path and sqlite:////PATH for an absolute one"

// sqlitePath returns the file a SQLite DSN names, and whether dsn is one.
// Besides sqlite:PATH, it takes the URL forms that SQLAlchemy made common:
// sqlite:///relative.db and sqlite:////absolute/path.db (an empty host,
// then the path), and sqlite://relative.db as well.
func sqlitePath(dsn string) (path string, ok bool, err error) {
	rest, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		return "", false, nil
	}
	if after, url := strings.CutPrefix(rest, "//"); url {
		rest = strings.TrimPrefix(after, "/")
	}
	if rest == "" {
		return "", true, fmt.Errorf("db %q: no path; %s", dsn, sqliteForms)
	}
	return rest, true, nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func unknownStore(dsn string) error {
	if dsn == "" {
		return errors.New("empty db: " + sqliteForms + ", or postgres://…")
	}
	return fmt.Errorf("db %q: unknown store; %s, or postgres://…", redact(dsn), sqliteForms)
}

// redact hides the password of a URL DSN, for messages and logs.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// New opens the store, starts the client and listens. Call Serve next.
func New(ctx context.Context, config Config) (*Server, error) {
	logger := config.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := checkExposure(config, logger); err != nil {
		return nil, err
	}
	var tlsFiles *tlsFiles
	if config.TLS != nil {
		var err error
		if tlsFiles, err = newTLSFiles(*config.TLS, logger); err != nil {
			return nil, err
		}
	}
	store, err := OpenStore(ctx, config.DB)
	if err != nil {
		return nil, err
	}
	clientConfig := config.Client
	clientConfig.Logger = logger
	if clientConfig.TracerProvider == nil {
		clientConfig.TracerProvider = config.TracerProvider
		if clientConfig.TracerProvider == nil {
			clientConfig.TracerProvider = noop.NewTracerProvider() // not the global one: off is off
		}
	}
	var registry *prometheus.Registry
	if !config.DisableMetrics {
		registry = newRegistry()
		if clientConfig.Metrics == nil {
			clientConfig.Metrics = registry
		}
	}
	client, err := lro.NewClient(store, &clientConfig)
	if err == nil && config.Register != nil {
		err = config.Register(client)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	// Everything that can be refused is checked before anything starts.
	s := &Server{config: config, logger: logger, store: store, client: client, hurry: make(chan struct{}),
		closing: make(chan struct{}),
		authLog: newAuthLog(logger), registry: registry}
	if registry != nil {
		s.grpcMetrics = newGRPCMetrics(registry)
	}
	s.config.HTTPTimeouts = config.HTTPTimeouts.withDefaults()
	maxConns, maxWaits := limits(logger, config.MaxConnections, config.MaxWaits, fileLimit())
	s.grpc = grpc.NewServer(s.grpcOptions()...)
	var operationsOpts []lrogrpc.Option
	if authorize := s.authorize(); authorize != nil {
		operationsOpts = append(operationsOpts, lrogrpc.WithAuthorize(authorize))
	}
	operations := lrogrpc.NewServer(client, operationsOpts...)
	limited := &limitedOperations{Server: operations, maxWaits: int64(maxWaits)}
	longrunningpb.RegisterOperationsServer(s.grpc, limited)
	lropb.RegisterLroServer(s.grpc, operations)
	lropb.RegisterWorkersServer(s.grpc, limited)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	if s.grpcMetrics != nil {
		s.grpcMetrics.know(s.grpc)
	}
	transcoder, err := lrohttp.NewHandler(s.grpc, &lrohttp.Config{Parents: config.HTTPParents, MaxBodyBytes: int64(config.MaxRequestBytes)})
	if err != nil {
		store.Close()
		return nil, err
	}
	if s.listener, err = net.Listen("tcp", config.Addr); err != nil {
		store.Close()
		return nil, err
	}
	s.listener = newLimitListener(s.listener, maxConns, logger)
	if tlsFiles != nil {
		// Before cmux, which must read the first request to route it.
		s.listener = tls.NewListener(s.listener, tlsFiles.serverConfig())
	}
	if err := client.Start(ctx); err != nil {
		s.listener.Close()
		store.Close()
		return nil, err
	}
	allowedHosts := config.AllowedHosts
	if host, _, err := net.SplitHostPort(config.Addr); err == nil && host != "" {
		allowedHosts = append(slices.Clip(allowedHosts), host) // a name the server was told to listen on
	}
	timeouts := s.config.HTTPTimeouts
	waitMax := cmp.Or(config.Client.WaitMax, lro.WaitMaxDefault)
	// cmux hands net/http conns that are not *tls.Conn, even with TLS:
	// HTTP/2 on them is "unencrypted" HTTP/2 to net/http (with prior
	// knowledge, as gRPC clients and curl --http2-prior-knowledge speak it
	// without TLS), and their TLS state reaches the handlers through
	// tlsconn.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	handler := s.httpHandler(extendWaits(transcoder, waitMax, timeouts.Write))
	if registry != nil {
		handler = instrumentHTTP(registry, handler)
	}
	handler = tlsconn.Handler(lrohttp.CheckHost(withCORS(handler, config.CORSOrigins), allowedHosts))
	if config.TracerProvider != nil {
		handler = s.httpTracing(handler)
	}
	s.http = &http.Server{
		Handler:           handler,
		ConnContext:       tlsconn.ConnContext,
		Protocols:         &protocols,
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
	}
	return s, nil
}

// grpcOptions are the options of the gRPC server: lrogrpc's, the cap of
// requests, and the interceptors of every unary call, in this order:
// authentication (which puts the caller's principal in the context), the
// rate limit and the cap of waits of the principal, the audit log; then
// the handler, in which lrogrpc authorizes the call (see authorize).
func (s *Server) grpcOptions() []grpc.ServerOption {
	opts := append(lrogrpc.ServerOptions(), grpc.UnknownServiceHandler(lrogrpc.UnknownServiceHandler))
	if s.config.TLS != nil {
		opts = append(opts, grpc.Creds(handshakenCredentials{}))
	}
	if n := s.config.MaxRequestBytes; n > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(n)) // the last one counts
	}
	if s.config.TracerProvider != nil {
		opts = append(opts, s.grpcTracing())
	}
	var interceptors []grpc.UnaryServerInterceptor
	if m := s.grpcMetrics; m != nil {
		// First, so that every call is counted, those that
		// authentication refuses included.
		interceptors = append(interceptors, m.unary)
		opts = append(opts, grpc.ChainStreamInterceptor(m.stream))
	}
	// Authentication goes here, first, with its stream interceptor: the
	// limits and the audit log read the principal that it puts in the
	// context (lroauth.NewContext).
	if a := s.config.Authenticator; a != nil {
		interceptors = append(interceptors, s.authLog.intercept, lroauth.UnaryServerInterceptor(a))
		opts = append(opts, grpc.ChainStreamInterceptor(lroauth.StreamServerInterceptor(a)))
	}
	if s.config.authenticate != nil {
		interceptors = append(interceptors, s.config.authenticate)
	}
	if limits := newPrincipalLimits(s.config.Limits); limits != nil {
		interceptors = append(interceptors, limits.intercept)
	}
	interceptors = append(interceptors, auditLog{logger: s.logger}.intercept)
	return append(opts, grpc.ChainUnaryInterceptor(interceptors...))
}

// authorize returns what decides each call: Config.Authorize, else
// lroauth.Grants if the server authenticates calls, else nothing (every
// call is allowed).
func (s *Server) authorize() lroauth.AuthorizeFunc {
	if s.config.Authorize != nil {
		return s.config.Authorize
	}
	if s.config.Authenticator != nil {
		return lroauth.Grants
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Client is the server's lro client.
func (s *Server) Client() *lro.Client { return s.client }

// ReleaseNow ends the shutdown's grace at once, whether it has begun or
// not: when Serve shuts down, it cancels the running handlers and releases
// their operations without waiting, and cuts the calls under way.
func (s *Server) ReleaseNow() {
	s.hurryOnce.Do(func() { close(s.hurry) })
}

// Serve serves until ctx ends, then shuts down gracefully: it stops
// accepting calls, lets running handlers finish for the client's shutdown
// grace (none after ReleaseNow), releases the operations they could not
// finish, and closes the store.
func (s *Server) Serve(ctx context.Context) error {
	mux := cmux.New(s.listener)
	// A connection that says nothing is closed instead of holding a
	// goroutine for ever.
	mux.SetReadTimeout(s.config.HTTPTimeouts.ReadHeader)
	grpcL := mux.MatchWithWriters(matchGRPC())
	httpL := dropMatcherAck(mux.Match(cmux.Any()))
	errs := make(chan error, 3)
	go func() { errs <- s.grpc.Serve(grpcL) }()
	go func() { errs <- s.http.Serve(httpL) }()
	go func() { errs <- mux.Serve() }()
	attrs := []any{slog.String("addr", s.Addr().String()), slog.String("db", redact(s.config.DB)),
		slog.Bool("tls", s.config.TLS != nil)}
	if !s.config.DisableUI {
		scheme := "http"
		if s.config.TLS != nil {
			scheme = "https"
		}
		attrs = append(attrs, slog.String("dashboard", scheme+"://"+s.Addr().String()+"/ui/"))
	}
	s.logger.Info("lro serving gRPC and HTTP", attrs...)
	healthCtx, stopHealth := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		s.checkHealth(healthCtx)
	}()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	s.logger.Info("lro shutting down")
	close(s.closing)
	stopHealth()
	<-healthDone
	s.health.Shutdown()
	var wg sync.WaitGroup
	wg.Go(func() {
		stopCtx, cancel := s.hurryContext(ctx, s.clientStopTimeout())
		defer cancel()
		_ = s.client.Stop(stopCtx)
	})
	wg.Go(func() {
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			s.grpc.Stop()
		case <-s.hurry:
			s.grpc.Stop()
		}
	})
	wg.Go(func() {
		shutdownCtx, cancel := s.hurryContext(ctx, 5*time.Second)
		defer cancel()
		if s.http.Shutdown(shutdownCtx) != nil {
			s.http.Close()
		}
	})
	wg.Wait()
	mux.Close()
	s.authLog.logs.Stop() // logs the count of refusals held back
	if err := s.store.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	if serveErr != nil && !errors.Is(serveErr, cmux.ErrListenerClosed) && !errors.Is(serveErr, net.ErrClosed) &&
		!errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return serveErr
	}
	return nil
}

func (s *Server) clientStopTimeout() time.Duration {
	grace := s.config.Client.ShutdownGrace
	if grace == 0 {
		grace = lro.ShutdownGraceDefault
	}
	return max(grace, 0) + 10*time.Second
}

// hurryContext is a context for a step of the shutdown: it keeps ctx's
// values, and ends after timeout or at ReleaseNow.
func (s *Server) hurryContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	go func() {
		select {
		case <-s.hurry:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// checkHealth checks every HealthInterval that the store answers, and says
// so in the gRPC health service, /healthz and the log (once per change),
// until ctx ends.
func (s *Server) checkHealth(ctx context.Context) {
	ticker := time.NewTicker(HealthInterval)
	defer ticker.Stop()
	for {
		pingCtx, cancel := context.WithTimeout(ctx, HealthInterval)
		err := s.client.Ping(pingCtx)
		if err == nil {
			err = s.checkSchema(pingCtx)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		was := s.storeErr.Load()
		switch {
		case err != nil:
			s.storeErr.Store(&err)
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			if was == nil {
				s.logger.Error("the store does not answer; the server reports NOT_SERVING until it does", slog.Any("error", err))
			}
		case was != nil:
			s.storeErr.Store(nil)
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			s.logger.Info("the store answers again; the server reports SERVING")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// checkSchema checks that the store's schema is the version this binary
// expects, and records the answer for /readyz. It returns the store's
// error if the store does not answer.
func (s *Server) checkSchema(ctx context.Context) error {
	have, want, err := s.store.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if have == want {
		if s.schemaErr.Swap(nil) != nil {
			s.logger.Info("the store's schema is current again")
		}
		return nil
	}
	msg := fmt.Sprintf("the store's schema is at version %d; this binary expects %d", have, want)
	if have < want {
		msg += ": run lro migrate"
	} else {
		msg += ": a newer binary migrated it; upgrade this one"
	}
	if was := s.schemaErr.Swap(&msg); was == nil || *was != msg {
		s.logger.Error(msg + "; /readyz answers 503 until it is current")
	}
	return nil
}

// httpHandler serves the HTTP/JSON mapping of the services; GET /healthz
// (live: 200 while the process serves), GET /readyz (ready: 200 while the
// store answers and its schema is the version this binary expects, else
// 503 with the reason), GET /metrics unless metrics are off, and the
// dashboard at /ui/ unless it is off. Other
// methods on these paths are answered as on the routes: OPTIONS with
// Allow, 405 or 501.
func (s *Server) httpHandler(transcoder http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", lrohttp.AllowMethods(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"SERVING"}` + "\n"))
	}), http.MethodGet))
	mux.Handle("/readyz", lrohttp.AllowMethods(http.HandlerFunc(s.readyz), http.MethodGet))
	if s.registry != nil {
		metrics := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
		if a := s.config.Authenticator; a != nil {
			// A scraper sends credentials as any client does: a bearer
			// token, or its certificate with mTLS.
			metrics = lroauth.Middleware(a, metrics)
		}
		mux.Handle("/metrics", lrohttp.AllowMethods(metrics, http.MethodGet))
	}
	if !s.config.DisableUI {
		// The page and its assets need no credentials (the page asks for
		// a token when the API wants one); its calls authenticate.
		dashboard := ui.New(ui.Config{Client: s.client, Authenticator: s.config.Authenticator,
			Authorize: s.authorize(), Done: s.closing, Logger: s.logger})
		mux.Handle("/ui", dashboard)
		mux.Handle("/ui/", s.authLog.wrap(dashboard))
	}
	if a := s.config.Authenticator; a != nil {
		// HTTP calls reach the gRPC server in-process, where the gRPC
		// interceptor keeps the principal found here; a call without valid
		// credentials is answered 401 here, with WWW-Authenticate.
		transcoder = s.authLog.wrap(lroauth.Middleware(a, transcoder))
	}
	mux.Handle("/", transcoder)
	return mux
}

// readyz answers whether the server is ready: 200 while the store answers
// and its schema is current, else 503 with a reason in JSON.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var reason, msg string
	switch {
	case s.storeErr.Load() != nil:
		// The store's error may name its host, user and database: it
		// goes to the log (checkHealth), not to whoever asks.
		reason, msg = "STORE_UNAVAILABLE", "the store is unavailable"
	case s.schemaErr.Load() != nil:
		reason, msg = "SCHEMA_VERSION", *s.schemaErr.Load()
	default:
		w.Write([]byte(`{"status":"SERVING"}` + "\n"))
		return
	}
	body, _ := json.Marshal(map[string]string{"status": "NOT_SERVING", "reason": reason, "error": msg})
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(append(body, '\n'))
}
