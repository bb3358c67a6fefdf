package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/trace"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/heapfloor"
	"lro.dev/lro/internal/kindfile"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lroauth"
)

const (
	// dbEnv names the environment variable with the default --db.
	dbEnv = "LRO_DB"
	// defaultDB is the --db when neither the flag nor $LRO_DB is set.
	defaultDB = "sqlite:lro.db"
	// heapFloorMiBDefault is the default --heap-floor-mib (see package
	// heapfloor and BENCHMARKS.md).
	heapFloorMiBDefault = 64
)

// resolveDB returns the store's DSN: the --db flag's value, else $LRO_DB,
// else defaultDB. An empty value given explicitly, as --db "" or LRO_DB=,
// is a usage error rather than the default: it is most likely a variable
// that a deployment forgot to set, and the default would quietly keep the
// operations in a local file.
func resolveDB(fs *pflag.FlagSet, db string) (string, error) {
	if fs.Changed("db") {
		if db == "" {
			return "", usageErrorf("empty --db: want sqlite:PATH or postgres://… (omit --db for $%s, else %s)", dbEnv, defaultDB)
		}
		return db, nil
	}
	if env, ok := os.LookupEnv(dbEnv); ok {
		if env == "" {
			return "", usageErrorf("$%s is set but empty: want sqlite:PATH or postgres://… (unset it for %s)", dbEnv, defaultDB)
		}
		return env, nil
	}
	return defaultDB, nil
}

// serveOptions are the flags of lro serve.
type serveOptions struct {
	addr              string
	db                string
	workers           int
	leaseTTL          time.Duration
	heartbeatInterval time.Duration
	maxAttempts       int
	shutdownGrace     time.Duration
	waitMax           time.Duration
	retention         time.Duration
	pollInterval      time.Duration
	eagerStart        bool
	metrics           bool
	ui                bool
	logLevel          string
	httpParents       []string
	allowedHosts      []string
	maxConnections    int
	maxWaits          int
	heapFloorMiB      int
	kinds             string
	descriptorSets    []string
	rateLimit         float64
	rateBurst         int
	principalWaits    int
	maxClaims         int
	corsOrigins       []string
	maxRequestBytes   int
	tlsCert           string
	tlsKey            string
	tlsClientCA       string
	insecure          bool
	authTokens        string
	authJWKS          string
	authIssuer        string
	authAudience      string
	authGrantsClaim   string
	authPrincipal     string
}

// Validate checks the flags.
func (o *serveOptions) Validate() error {
	if o.addr == "" {
		o.addr = os.Getenv(addrEnv)
	}
	if o.addr == "" {
		o.addr = defaultAddr
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageErrorf("invalid --log-level %q: want debug, info, warn or error", o.logLevel)
	}
	for name, d := range map[string]time.Duration{"lease-ttl": o.leaseTTL, "heartbeat-interval": o.heartbeatInterval,
		"shutdown-grace": o.shutdownGrace, "wait-max": o.waitMax, "poll-interval": o.pollInterval} {
		if d < 0 {
			return usageErrorf("invalid --%s %v: must not be negative", name, d)
		}
	}
	// lro.NewClient checks these too, but names Config's fields.
	if o.leaseTTL != 0 && o.leaseTTL < lro.LeaseTTLMin {
		return usageErrorf("invalid --lease-ttl %v: must be at least %v", o.leaseTTL, lro.LeaseTTLMin)
	}
	if leaseTTL := cmp.Or(o.leaseTTL, lro.LeaseTTLDefault); o.heartbeatInterval > leaseTTL/2 {
		return usageErrorf("invalid --heartbeat-interval %v: must be at most half of --lease-ttl %v", o.heartbeatInterval, leaseTTL)
	}
	if o.maxAttempts < 0 {
		return usageErrorf("invalid --max-attempts %d: must not be negative", o.maxAttempts)
	}
	for _, name := range o.allowedHosts {
		if name == "" || strings.ContainsAny(name, ":/ ") {
			return usageErrorf("invalid --allowed-host %q: want a host name without a port, such as lro.example.com", name)
		}
	}
	if o.maxConnections <= 0 {
		return usageErrorf("invalid --max-connections %d: must be positive", o.maxConnections)
	}
	if o.maxWaits <= 0 {
		return usageErrorf("invalid --max-waits %d: must be positive", o.maxWaits)
	}
	for name, n := range map[string]float64{"rate-limit": o.rateLimit, "rate-burst": float64(o.rateBurst),
		"max-waits-per-principal": float64(o.principalWaits), "max-claims": float64(o.maxClaims),
		"max-request-bytes": float64(o.maxRequestBytes)} {
		if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
			return usageErrorf("invalid --%s %v: must not be negative (0: no limit, or the default)", name, n)
		}
	}
	for _, origin := range o.corsOrigins {
		if origin != "*" && (!strings.Contains(origin, "://") || strings.ContainsAny(origin, " \t") ||
			strings.Contains(origin[strings.Index(origin, "://")+3:], "/")) {
			return usageErrorf("invalid --cors-origin %q: want an origin, scheme://host[:port] such as https://app.example.com, or *", origin)
		}
	}
	if o.heapFloorMiB < 0 {
		return usageErrorf("invalid --heap-floor-mib %d: must not be negative", o.heapFloorMiB)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together: the certificate and its key")
	}
	if o.tlsClientCA != "" && o.tlsCert == "" {
		return usageErrorf("--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked over TLS")
	}
	if o.authJWKS != "" && (o.authIssuer == "" || o.authAudience == "") {
		return usageErrorf("--auth-jwks needs --auth-issuer and --auth-audience: a token is accepted only from its issuer, for this server")
	}
	if o.authJWKS == "" && (o.authIssuer != "" || o.authAudience != "" || o.authGrantsClaim != "" || o.authPrincipal != "") {
		return usageErrorf("--auth-issuer, --auth-audience, --auth-grants-claim and --auth-principal-claim need --auth-jwks")
	}
	if len(o.descriptorSets) > 0 && o.kinds == "" {
		return usageErrorf("--descriptor-set needs --kinds: its messages are the types of the kinds the file declares")
	}
	return nil
}

func newServeCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run an lro server",
		Long: `Run an lro server: the google.longrunning.Operations service and lro.v1.Lro
(which starts operations) over gRPC, with gRPC health checking and server
reflection, and HTTP on the same address. It runs the built-in kind
demo.sleep.

--kinds FILE declares more kinds, in YAML, whose operations workers run
elsewhere (lro work, or any program using the Workers service): each has a
name, optional request, metadata and response message types (else JSON,
google.protobuf.Struct) from the descriptor sets given with
--descriptor-set (protoc --include_imports --descriptor_set_out), an
optional JSON Schema that requests must pass to start, and optional
max_attempts and lease_ttl. A file with a mistake stops the server at
start, naming the line. See docs/server.md for the format.

The store is named by --db: sqlite:PATH keeps operations in one SQLite file
(relative or absolute PATH, or as a URL sqlite:///relative.db or
sqlite:////absolute.db; one server per file); a PostgreSQL URL,
postgres://user@host:5432/db?sslmode=disable (any libpq URL), keeps them in
PostgreSQL, where several servers share one database and act as one. The
schema is created and migrated at start (see lro migrate).

On SIGINT or SIGTERM the server stops taking calls, lets running handlers
finish for --shutdown-grace, and releases the operations they could not
finish, so that they run again as soon as a server starts on the store. A
second signal, or --shutdown-grace 0, releases them at once. A SQLite file
stays locked until the server has exited.

--tls-cert and --tls-key serve gRPC and HTTPS (HTTP/1.1 and HTTP/2) on the
one address; --tls-client-ca requires every client to present a
certificate signed by one of its CAs (mTLS), whose subject is the caller's
identity. The files are read again when they change (checked at most once
a second, by new connections), so certificates rotate without a restart; a
change that does not load is logged and the previous files keep serving.

On an address beyond loopback (an empty host, 0.0.0.0, ::, another IP or a
name other than localhost) the server refuses to start without TLS and
authentication (--auth-tokens, --auth-jwks or --tls-client-ca), unless
--insecure says the network is trusted.

--auth-tokens FILE authenticates bearer tokens by their SHA-256, and client
certificates by their subject, with the grants the file gives each (a YAML
file, read again when it changes); --auth-jwks FILE|URL verifies bearer
JWTs against a key set, with --auth-issuer and --auth-audience. With
either, every call but the health checks needs credentials and is allowed
only by the caller's grants, ROLE:PATTERN (reader, starter, operator,
worker, admin). See docs/security.md.

Traces: OpenTelemetry's environment variables turn them on
(OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_TRACES_EXPORTER=otlp|console) and
configure them (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_PROTOCOL,
OTEL_TRACES_SAMPLER...); off when none is set, or with
OTEL_SDK_DISABLED=true. Each call, start and attempt has its span, and the
last spans are flushed at shutdown. See docs/tracing.md.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.db, err = resolveDB(cmd.Flags(), o.db); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			var level slog.Level
			_ = level.UnmarshalText([]byte(o.logLevel)) // Validate has checked it
			logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			defer heapfloor.Start(uint64(o.heapFloorMiB) << 20)()
			if files, err := server.RaiseFileLimit(); err != nil {
				logger.Warn("the limit of open files is unknown", slog.Any("error", err))
			} else {
				logger.Debug("open files limit", slog.Uint64("files", files))
			}
			register := demo.Register
			if o.kinds != "" {
				kinds, err := kindfile.Load(o.kinds, o.descriptorSets)
				if err != nil {
					return err
				}
				register = func(c *lro.Client) error {
					if err := demo.Register(c); err != nil {
						return err
					}
					return kindfile.Register(c, kinds)
				}
			}
			ctx := cmd.Context()
			var tlsConfig *server.TLSConfig
			if o.tlsCert != "" {
				tlsConfig = &server.TLSConfig{CertFile: o.tlsCert, KeyFile: o.tlsKey, ClientCAFile: o.tlsClientCA}
			}
			authenticator, stopAuth, err := o.authenticator(ctx, logger)
			if err != nil {
				return err
			}
			defer stopAuth()
			tp, err := server.TracerProviderFromEnv(ctx, stdout)
			if err != nil {
				return err
			}
			var tracerProvider trace.TracerProvider // nil: no traces
			if tp != nil {
				tracerProvider = tp
				defer func() {
					// Flush the last spans.
					flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					defer cancel()
					if err := tp.Shutdown(flushCtx); err != nil {
						logger.Warn("the last spans were not exported", slog.Any("error", err))
					}
				}()
				logger.Info("tracing with OpenTelemetry, as its environment variables say")
			}
			srv, err := server.New(ctx, server.Config{
				Addr: o.addr,
				DB:   o.db,
				Client: lro.Config{
					Workers:           o.workers,
					LeaseTTL:          o.leaseTTL,
					HeartbeatInterval: o.heartbeatInterval,
					MaxAttempts:       o.maxAttempts,
					ShutdownGrace:     cmp.Or(o.shutdownGrace, -1), // 0: none
					WaitMax:           o.waitMax,
					Retention:         o.retention,
					PollInterval:      o.pollInterval,
					DisableEagerStart: !o.eagerStart,
				},
				Register:       register,
				HTTPParents:    o.httpParents,
				AllowedHosts:   o.allowedHosts,
				MaxConnections: o.maxConnections,
				MaxWaits:       o.maxWaits,
				Logger:         logger,
				Limits: server.PrincipalLimits{
					Rate:   o.rateLimit,
					Burst:  o.rateBurst,
					Waits:  o.principalWaits,
					Claims: o.maxClaims,
				},
				CORSOrigins:     o.corsOrigins,
				MaxRequestBytes: o.maxRequestBytes,
				TLS:             tlsConfig,
				Insecure:        o.insecure,
				Authenticator:   authenticator,
				TracerProvider:  tracerProvider,
				DisableMetrics:  !o.metrics,
				DisableUI:       !o.ui,
			})
			if err != nil {
				return err
			}
			if second := secondSignal(ctx); second != nil {
				served := make(chan struct{})
				defer close(served)
				go func() {
					select {
					case <-ctx.Done():
					case <-served:
						return
					}
					if o.shutdownGrace > 0 {
						logger.Info("running handlers may finish for the shutdown grace; a second signal releases their operations at once",
							slog.Duration("grace", o.shutdownGrace))
					}
					select {
					case <-second:
						logger.Info("a second signal: releasing the running operations at once")
						srv.ReleaseNow()
					case <-served:
					}
				}()
			}
			return srv.Serve(ctx)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.addr, "addr", "", "listen address `HOST:PORT`, gRPC and HTTP (default $"+addrEnv+", else "+defaultAddr+")")
	fs.StringVar(&o.db, "db", "", "store `DSN`: sqlite:PATH or postgres://… (default $"+dbEnv+", else "+defaultDB+")")
	fs.IntVar(&o.workers, "workers", lro.WorkersDefault, "operations run at once; negative runs none")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", lro.LeaseTTLDefault, "how long a lease lasts without a heartbeat: a dead worker's operations run again after it")
	fs.DurationVar(&o.heartbeatInterval, "heartbeat-interval", 0, "how often leases are renewed (default lease-ttl/3)")
	fs.IntVar(&o.maxAttempts, "max-attempts", lro.MaxAttemptsDefault, "attempts per operation before it fails because every worker running it was lost")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", lro.ShutdownGraceDefault, "how long running handlers may finish on shutdown before they are released; 0 releases them at once, as a second signal does")
	fs.DurationVar(&o.waitMax, "wait-max", lro.WaitMaxDefault, "the longest one WaitOperation call waits")
	fs.DurationVar(&o.retention, "retention", lro.RetentionDefault, "how long done operations are kept; negative keeps them forever")
	fs.DurationVar(&o.pollInterval, "poll-interval", lro.PollIntervalDefault, "how often to look for pending operations besides wake-ups")
	fs.BoolVar(&o.ui, "ui", true, "serve the dashboard at /ui/ (with --auth-*, it asks for a token)")
	fs.BoolVar(&o.metrics, "metrics", true, "serve Prometheus metrics at GET /metrics (with --auth-*, a scraper needs a token); --metrics=false measures nothing")
	fs.BoolVar(&o.eagerStart, "eager-start", true, "run operations started on this server at once, stored claimed, while it has free workers and nothing pending")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.IntVar(&o.heapFloorMiB, "heap-floor-mib", heapFloorMiBDefault, "let the Go heap grow to `MIB` MiB between garbage collections while it keeps less than that live (0: Go's default; ignored if $GOGC is set)")
	fs.StringSliceVar(&o.httpParents, "http-parent", nil, "a parent `PATTERN` such as projects/*/locations/* whose operations get HTTP routes too (repeatable)")
	fs.IntVar(&o.maxConnections, "max-connections", server.MaxConnectionsDefault, "connections open at once, gRPC and HTTP; one beyond is closed at once (lowered to what the open files limit allows)")
	fs.IntVar(&o.maxWaits, "max-waits", server.MaxWaitsDefault, "long polls at once (WaitOperation, and ClaimOperations with a wait), gRPC and HTTP; one beyond is RESOURCE_EXHAUSTED (at most 3/4 of --max-connections)")
	fs.StringVar(&o.kinds, "kinds", "", "a YAML `FILE` of kinds that workers elsewhere run (see docs/server.md)")
	fs.StringArrayVar(&o.descriptorSets, "descriptor-set", nil, "a `FILE` from protoc --include_imports --descriptor_set_out with the message types that --kinds names (repeatable)")
	fs.Float64Var(&o.rateLimit, "rate-limit", 0, "calls per second that one authenticated caller may make on average; one beyond is RESOURCE_EXHAUSTED (HTTP 429) with a retry delay (0: no limit)")
	fs.IntVar(&o.rateBurst, "rate-burst", 0, "calls that one authenticated caller may make at once under --rate-limit (default the rate, rounded up)")
	fs.IntVar(&o.principalWaits, "max-waits-per-principal", 0, "long polls that one authenticated caller may have under way at once; one beyond is RESOURCE_EXHAUSTED (0: only --max-waits)")
	fs.IntVar(&o.maxClaims, "max-claims", 0, "operations that one ClaimOperations call may take; a claim asking for more gets at most this many (0: no cap beyond the call's own)")
	fs.StringArrayVar(&o.corsOrigins, "cors-origin", nil, "an `ORIGIN` such as https://app.example.com whose pages may call the HTTP API (CORS); * allows any (repeatable; default none)")
	fs.IntVar(&o.maxRequestBytes, "max-request-bytes", 0, "the largest request, gRPC message and HTTP body, in `BYTES` (default 4 MiB for gRPC, 1 MiB for HTTP)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve gRPC and HTTPS with TLS: the certificate chain `FILE` (PEM), read again when it changes; needs --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the private key `FILE` (PEM) of --tls-cert")
	fs.StringVar(&o.tlsClientCA, "tls-client-ca", "", "require client certificates signed by the CAs in `FILE` (PEM), mTLS; needs --tls-cert")
	fs.StringVar(&o.authTokens, "auth-tokens", "", "authenticate callers by the tokens and client certificates in `FILE` (YAML: principal, sha256 of the token, grants; see docs/security.md), read again when it changes")
	fs.StringVar(&o.authJWKS, "auth-jwks", "", "authenticate callers by bearer JWTs signed by a key of the JSON Web Key Set at `FILE|URL`, refreshed in the background; needs --auth-issuer and --auth-audience")
	fs.StringVar(&o.authIssuer, "auth-issuer", "", "the `ISSUER` (iss) that JWTs must carry")
	fs.StringVar(&o.authAudience, "auth-audience", "", "the `AUDIENCE` (aud) that JWTs must be for")
	fs.StringVar(&o.authGrantsClaim, "auth-grants-claim", "", "the JWT `CLAIM` that holds the caller's grants, an array or a space-separated string (default "+lroauth.JWTGrantsClaimDefault+")")
	fs.StringVar(&o.authPrincipal, "auth-principal-claim", "", "the JWT `CLAIM` that names the caller (default "+lroauth.JWTPrincipalClaimDefault+")")
	fs.BoolVar(&o.insecure, "insecure", false, "serve on an address beyond loopback without TLS or without authentication")
	fs.StringArrayVar(&o.allowedHosts, "allowed-host", nil, "a host `NAME` that HTTP clients may use besides IP addresses, localhost and the --addr host, such as the name a proxy uses; * allows any (repeatable)")
	return cmd
}

// migrateOptions are the flags of lro migrate.
type migrateOptions struct {
	db string
}

func newMigrateCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the store's schema, and exit",
		Long: `Create or update the schema of the store named by --db, and exit.

lro serve does the same at start (under an advisory lock on PostgreSQL, so
several servers starting at once are safe); migrate is for operators who
prefer to run migrations on their own, before a deployment. It says what it
did on stdout: created the schema, migrated it from one version to another,
or found it up to date.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := resolveDB(cmd.Flags(), o.db)
			if err != nil {
				return err
			}
			from, to, err := server.Migrate(cmd.Context(), db)
			if err != nil {
				return err
			}
			switch {
			case from == 0:
				_, err = fmt.Fprintf(stdout, "created the schema at version %d\n", to)
			case from < to:
				_, err = fmt.Fprintf(stdout, "migrated the schema from version %d to %d\n", from, to)
			default:
				_, err = fmt.Fprintf(stdout, "the schema is up to date, at version %d\n", to)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.db, "db", "", "store `DSN`: sqlite:PATH or postgres://… (default $"+dbEnv+", else "+defaultDB+")")
	return cmd
}

// authenticator returns the authenticator that the --auth-* flags
// configure (nil if none), and stops its background work when called.
func (o *serveOptions) authenticator(ctx context.Context, logger *slog.Logger) (lroauth.Authenticator, func(), error) {
	if o.authTokens == "" && o.authJWKS == "" {
		return nil, func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var tokens *lroauth.TokenFile
	var jwts *lroauth.JWTVerifier
	if o.authTokens != "" {
		var err error
		if tokens, err = lroauth.LoadTokenFile(o.authTokens); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("--auth-tokens: %w", err)
		}
		go tokens.Watch(ctx, lroauth.WatchIntervalDefault, logger)
	}
	if o.authJWKS != "" {
		var err error
		jwts, err = lroauth.NewJWTVerifier(ctx, lroauth.JWTConfig{JWKS: o.authJWKS, Issuer: o.authIssuer,
			Audience: o.authAudience, GrantsClaim: o.authGrantsClaim, PrincipalClaim: o.authPrincipal, Logger: logger})
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("--auth-jwks: %w", err)
		}
	}
	return lroauth.New(tokens, jwts), func() {
		cancel()
		if jwts != nil {
			jwts.Close()
		}
	}, nil
}
