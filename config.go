package lro

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults and limits of Config.
const (
	WorkersDefault          = 100
	LeaseTTLDefault         = 30 * time.Second
	LeaseTTLMin             = 100 * time.Millisecond
	MaxAttemptsDefault      = 5
	PollIntervalDefault     = time.Second
	ShutdownGraceDefault    = 10 * time.Second
	WaitMaxDefault          = time.Minute
	PageSizeDefault         = 50
	PageSizeMaxDefault      = 1000
	MetadataIntervalDefault = 100 * time.Millisecond
	RetentionDefault        = 30 * 24 * time.Hour
	ClaimBatchDefault       = 1000
	requestIDMaxLen         = 256
	insertBatchMax          = 1000
	finishBatchMax          = 5000
	FinishIntervalDefault   = 5 * time.Millisecond
	ClaimIntervalDefault    = 5 * time.Millisecond

	// InputBytesMaxDefault is the default of Config.InputBytesMax: 1 MiB.
	InputBytesMaxDefault = 1 << 20
)

// PageBytesMax bounds a ListOperations page by size: a page ends early,
// with a next_page_token, once its operations' metadata, responses and
// errors add up to more than 3 MiB, so that a page stays below the 4 MiB
// that gRPC clients accept by default (grpc-go's and most others'
// MaxCallRecvMsgSize). A page holds at least one operation, whatever its
// size.
const PageBytesMax = 3 << 20

// Limits on what a handler gives, by default: with them, an operation's
// encoded google.longrunning.Operation stays under 1.3 MiB (its metadata,
// and its response or its error, plus its name), well within gRPC's
// default 4 MiB message limit. See Config.MetadataBytesMax,
// ResponseBytesMax and ErrorBytesMax.
const (
	MetadataBytesMaxDefault = 256 << 10
	ResponseBytesMaxDefault = 1 << 20
	ErrorBytesMaxDefault    = 64 << 10
)

// Config configures a Client. The zero value of each field means its
// default.
type Config struct {
	// Logger receives the client's logs. Default: text to stderr, Warn and
	// above.
	Logger *slog.Logger

	// Workers is how many handlers this client runs at once. A handler's
	// slot is freed when it returns: its result is written meanwhile, in a
	// batch, under the operation's lease (up to 5,000 results, or Workers
	// if more, wait for their write at a time). Default WorkersDefault
	// (100). Negative: the client runs none; it starts and follows
	// operations that other clients run.
	Workers int

	// LeaseTTL is how long a worker's lease on an operation lasts without a
	// heartbeat: after a worker dies, its operations run again this long
	// after its last heartbeat (plus up to RescueInterval). Default
	// LeaseTTLDefault (30s), at least LeaseTTLMin.
	LeaseTTL time.Duration

	// HeartbeatInterval is how often a worker renews its leases, in one
	// statement for all of them. Default LeaseTTL/3; at most LeaseTTL/2.
	HeartbeatInterval time.Duration

	// RescueInterval is how often the client looks for operations whose
	// lease expired. Default LeaseTTL/4.
	RescueInterval time.Duration

	// PollInterval is how often the client looks for pending operations
	// besides the wake-ups of its own starts. Default PollIntervalDefault (1s).
	PollInterval time.Duration

	// MaxAttempts is how many times an operation is started before it fails
	// because every attempt lost its worker; a Kind may set its own.
	// Default MaxAttemptsDefault (5).
	MaxAttempts int

	// ShutdownGrace is how long Stop lets running handlers finish before it
	// cancels them and releases their operations, which then run again at
	// once on the next client. Default ShutdownGraceDefault (10s); negative
	// gives none: Stop cancels and releases at once.
	ShutdownGrace time.Duration

	// WaitMax caps how long one Wait call waits. Default WaitMaxDefault (1m).
	WaitMax time.Duration

	// PageSize is the ListOperations page size when the request gives none;
	// PageSizeMax caps it. Defaults PageSizeDefault (50) and
	// PageSizeMaxDefault (1000).
	PageSize    int
	PageSizeMax int

	// InputBytesMax caps the size of an operation's input, in its
	// protobuf encoding as a google.protobuf.Any: a larger start is
	// INVALID_ARGUMENT, and nothing is stored. Default
	// InputBytesMaxDefault (1 MiB).
	InputBytesMax int

	// MetadataInterval is how often metadata set by handlers is written, in
	// one statement for all operations. Default MetadataIntervalDefault
	// (100ms).
	MetadataInterval time.Duration

	// Retention is how long a done operation is kept before it is deleted.
	// Default RetentionDefault (30 days); negative keeps them forever.
	Retention time.Duration

	// ClaimBatch caps how many operations one claim takes. Default
	// ClaimBatchDefault (1000).
	ClaimBatch int

	// ClaimInterval is how far apart claims start while they find fewer
	// pending operations than they could take: then new operations are
	// claimed as they come, up to ClaimInterval after they were started,
	// several per claim. A claim that follows a quiet spell runs at once, and
	// while claims fill every free worker slot, the next one runs as soon as
	// slots free (waiting up to a millisecond for all of them, so that
	// handlers that return together are replaced by one claim). Default
	// ClaimIntervalDefault (5ms); negative claims as soon as an operation
	// starts or a slot frees.
	ClaimInterval time.Duration

	// FinishInterval is how far apart the writes of results start: the
	// results of handlers that return within it are written together, in
	// one statement. A result that follows a quiet spell is written at once;
	// under load, each waits up to FinishInterval for others to join it.
	// Default FinishIntervalDefault (5ms); negative writes each batch as
	// soon as the last is done.
	FinishInterval time.Duration

	// DisableEagerStart turns eager starts off. By default, an operation
	// started on a client that has a free worker slot, while the client's
	// last claim left no pending operations behind, is stored already
	// claimed by this client (in the start's own statement) and runs at
	// once: no claim statement, no wake-up of the other nodes. Starts that
	// find every slot taken, or older operations waiting, are stored
	// pending, claimed by whichever node gets to them first. Disabled,
	// every start is stored pending.
	DisableEagerStart bool

	// MetadataBytesMax caps the encoded size of an operation's metadata (the
	// google.protobuf.Any of what Job.SetMetadata is given): larger metadata
	// is not stored, SetMetadata returns ErrMetadataTooLarge, the operation
	// keeps the last metadata set and goes on (and the log says so, once
	// per attempt). Default MetadataBytesMaxDefault (256 KiB).
	MetadataBytesMax int

	// ResponseBytesMax caps the encoded size of a handler's response (as a
	// google.protobuf.Any): a larger one fails the operation with
	// RESOURCE_EXHAUSTED (reason RESPONSE_TOO_LARGE) in its place. Default
	// ResponseBytesMaxDefault (1 MiB).
	ResponseBytesMax int

	// ErrorBytesMax caps the encoded size of a handler's error (its
	// google.rpc.Status, details included): a larger one fails the operation
	// with RESOURCE_EXHAUSTED (reason ERROR_TOO_LARGE) in its place, whose
	// message gives the original code and the start of the original
	// message. Default ErrorBytesMaxDefault (64 KiB).
	ErrorBytesMax int

	// Metrics, if set, receives the client's Prometheus collectors:
	// operations started, finished by outcome and code, retried and
	// rescued; queue wait, attempt and operation durations; running and
	// pending operations by kind; worker slots; remote workers; waits in
	// flight; the store's statement durations (see docs/metrics.md). Nil,
	// the default, measures nothing and costs nothing. Several clients
	// may share one registry: they share its counters and histograms, the
	// gauges of slots and remote workers sum over them, and the pending
	// gauge reads the store of the first (clients that share a registry
	// are expected to share a store). Labels are bounded: kind, outcome,
	// code name, statement, never an operation's name.
	Metrics prometheus.Registerer

	// ID names this client as the owner of its leases. Default: host name,
	// process ID and a random suffix.
	ID string

	// TracerProvider records the spans of starts and attempts (see
	// TracerName): a start's span, "lro.start {kind}", is a child of the
	// caller's span, and its W3C trace context is stored with the
	// operation; each attempt runs in a span, "lro.attempt {kind}", child
	// of that context on whichever node or worker runs it, which the
	// handler's context carries. Default (nil): the global provider,
	// otel.GetTracerProvider(), which records nothing while none is set. A
	// no-op provider (go.opentelemetry.io/otel/trace/noop) turns tracing
	// off: then nothing is allocated for it, and no trace context stored.
	TracerProvider trace.TracerProvider
}

func (c *Config) withDefaults() (*Config, error) {
	out := *c
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	out.Workers = cmp.Or(out.Workers, WorkersDefault)
	out.LeaseTTL = cmp.Or(out.LeaseTTL, LeaseTTLDefault)
	if out.LeaseTTL < LeaseTTLMin {
		return nil, fmt.Errorf("lro: Config.LeaseTTL %v is below the minimum %v", out.LeaseTTL, LeaseTTLMin)
	}
	out.HeartbeatInterval = cmp.Or(out.HeartbeatInterval, out.LeaseTTL/3)
	if out.HeartbeatInterval < 0 || out.HeartbeatInterval > out.LeaseTTL/2 {
		return nil, fmt.Errorf("lro: Config.HeartbeatInterval %v must be positive and at most half of LeaseTTL %v", out.HeartbeatInterval, out.LeaseTTL)
	}
	out.RescueInterval = cmp.Or(out.RescueInterval, out.LeaseTTL/4)
	out.PollInterval = cmp.Or(out.PollInterval, PollIntervalDefault)
	out.MaxAttempts = cmp.Or(out.MaxAttempts, MaxAttemptsDefault)
	out.ShutdownGrace = cmp.Or(out.ShutdownGrace, ShutdownGraceDefault)
	out.WaitMax = cmp.Or(out.WaitMax, WaitMaxDefault)
	out.PageSize = cmp.Or(out.PageSize, PageSizeDefault)
	out.PageSizeMax = cmp.Or(out.PageSizeMax, PageSizeMaxDefault)
	out.InputBytesMax = cmp.Or(out.InputBytesMax, InputBytesMaxDefault)
	out.MetadataInterval = cmp.Or(out.MetadataInterval, MetadataIntervalDefault)
	out.Retention = cmp.Or(out.Retention, RetentionDefault)
	out.ClaimBatch = cmp.Or(out.ClaimBatch, ClaimBatchDefault)
	out.FinishInterval = cmp.Or(out.FinishInterval, FinishIntervalDefault)
	out.ClaimInterval = cmp.Or(out.ClaimInterval, ClaimIntervalDefault)
	out.MetadataBytesMax = cmp.Or(out.MetadataBytesMax, MetadataBytesMaxDefault)
	out.ResponseBytesMax = cmp.Or(out.ResponseBytesMax, ResponseBytesMaxDefault)
	out.ErrorBytesMax = cmp.Or(out.ErrorBytesMax, ErrorBytesMaxDefault)
	for name, d := range map[string]time.Duration{
		"RescueInterval": out.RescueInterval, "PollInterval": out.PollInterval,
		"WaitMax": out.WaitMax, "MetadataInterval": out.MetadataInterval,
	} {
		if d < 0 {
			return nil, fmt.Errorf("lro: Config.%s %v is negative", name, d)
		}
	}
	for name, n := range map[string]int{"MaxAttempts": out.MaxAttempts, "PageSize": out.PageSize, "PageSizeMax": out.PageSizeMax, "ClaimBatch": out.ClaimBatch,
		"InputBytesMax": out.InputBytesMax, "MetadataBytesMax": out.MetadataBytesMax, "ResponseBytesMax": out.ResponseBytesMax,
		"ErrorBytesMax": out.ErrorBytesMax} {
		if n < 1 {
			return nil, fmt.Errorf("lro: Config.%s %d must be positive", name, n)
		}
	}
	if out.PageSize > out.PageSizeMax {
		return nil, fmt.Errorf("lro: Config.PageSize %d is above PageSizeMax %d", out.PageSize, out.PageSizeMax)
	}
	if out.ID == "" {
		host, _ := os.Hostname()
		out.ID = fmt.Sprintf("%s-%d-%s", cmp.Or(host, "lro"), os.Getpid(), rand.Text()[:8])
	}
	return &out, nil
}
