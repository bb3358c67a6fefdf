package lro

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/internal/batch"
	"lro.dev/lro/internal/gopool"
	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/pagetoken"
	"lro.dev/lro/lrostore"
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

	// ID names this client as the owner of its leases. Default: host name,
	// process ID and a random suffix.
	ID string
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

// Client starts, runs and follows operations over a store. Create it with
// NewClient, register kinds, then Start it; Stop it on shutdown.
type Client struct {
	store  lrostore.Store
	config *Config
	logger *slog.Logger
	kinds  kindSet

	mu        sync.Mutex
	state     clientState
	stop      context.CancelCauseFunc // ends everything, last
	loops     loops
	closing   chan struct{}     // closed when Stop begins
	done      chan struct{}     // closed when Stop has finished
	workCtx   context.Context   // parent of handler contexts
	jobs      map[string]*job   // the latest run of each operation on this client, by ID
	running   int               // worker slots taken: handlers running (also those that lost their lease), and eager starts being stored
	backlog   bool              // pending operations may wait to be claimed: no eager starts
	writing   int               // results being written whose handler gave its slot back
	dirty     map[*job]struct{} // jobs with metadata to write
	releasing []lrostore.Lease  // leases that handlers gave up on shutdown
	released  bool              // Stop has released them

	runners  *gopool.Pool // the jobs' goroutines, kept until Stop has finished
	inserter *batch.Batcher[*lrostore.OperationInsertParams, *lrostore.OperationInsertResult]
	finisher *batch.Batcher[*lrostore.OperationFinishParams, finishOutcome]
	waiters  waitSet
	wake     chan struct{} // pending work may be there to claim
	freed    chan struct{} // a worker slot was freed

	keyMu sync.Mutex
	key   []byte // page token key

	afterClaim func() // tests: called after each claim has been taken into account

	logs *logthrottle.Logger // the store's failures, throttled by kind
}

type clientState int

const (
	stateNew clientState = iota
	stateStarted
	stateStopping
	stateStopped
)

// NewClient returns a client over store. The client does not own the store:
// close it after Stop.
func NewClient(store lrostore.Store, config *Config) (*Client, error) {
	if store == nil {
		return nil, errors.New("lro: NewClient: store is nil")
	}
	if config == nil {
		config = &Config{}
	}
	cfg, err := config.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		store:   store,
		config:  cfg,
		logger:  cfg.Logger.With(slog.String("component", "lro"), slog.String("client", cfg.ID)),
		kinds:   kindSet{kinds: map[string]*kind{}},
		jobs:    map[string]*job{},
		backlog: true, // until a claim finds fewer pending operations than it could take
		dirty:   map[*job]struct{}{},
		wake:    make(chan struct{}, 1),
		freed:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	c.logs = logthrottle.New(c.logger, storeWarnEvery)
	return c, nil
}

func (c *Client) register(k *kind) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateNew {
		return fmt.Errorf("lro: register %s: the client is already started", k.name)
	}
	c.kinds.mu.Lock()
	defer c.kinds.mu.Unlock()
	if _, ok := c.kinds.kinds[k.name]; ok {
		return fmt.Errorf("lro: register %s: kind already registered", k.name)
	}
	if k.maxAttempts == 0 {
		k.maxAttempts = int32(c.config.MaxAttempts)
	}
	c.kinds.kinds[k.name] = k
	return nil
}

// Kinds describes the registered kinds, sorted by name.
func (c *Client) Kinds() []KindInfo {
	c.kinds.mu.RLock()
	defer c.kinds.mu.RUnlock()
	infos := make([]KindInfo, 0, len(c.kinds.kinds))
	for _, k := range c.kinds.kinds {
		info := KindInfo{Name: k.name, RequestType: k.request.Descriptor().FullName(),
			ResponseType: k.response.Descriptor().FullName(), MaxAttempts: int(k.maxAttempts)}
		if !k.metadataNone {
			info.MetadataType = k.metadata.Descriptor().FullName()
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b KindInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos
}

// NewRequest returns an empty request message of a registered kind, for
// decoding a request that arrives as JSON or as an Any.
func (c *Client) NewRequest(kindName string) (proto.Message, error) {
	k, err := c.kind(kindName)
	if err != nil {
		return nil, err
	}
	return k.request.New().Interface(), nil
}

func (c *Client) kind(name string) (*kind, error) {
	if name == "" {
		return nil, invalidArgument("kind", "INVALID_KIND", "kind is required")
	}
	k := c.kinds.get(name)
	if k == nil {
		return nil, invalidArgument("kind", "UNKNOWN_KIND", "unknown kind %q: this server registers %s", name, c.kindList())
	}
	return k, nil
}

func (c *Client) kindList() string {
	infos := c.Kinds()
	if len(infos) == 0 {
		return "no kinds"
	}
	names := make([]string, len(infos))
	for i, k := range infos {
		names[i] = fmt.Sprintf("%q", k.Name)
	}
	return strings.Join(names, ", ")
}

// Start starts the client's background work: the inserter and finisher that
// group writes into shared transactions, and, unless Config.Workers is
// negative, the workers that run operations, their heartbeats, and the
// maintenance that rescues operations of lost workers and deletes expired
// ones. It returns once they run. Operations can be started and followed
// only on a started client.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateNew {
		return errors.New("lro: Start: client already started")
	}
	bg, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	c.stop = stop
	c.workCtx = bg
	c.inserter = batch.New(bg, insertBatchMax, c.insertMany)
	c.finisher = batch.NewCooldown(bg, finishBatchMax, c.config.FinishInterval, c.finishMany)
	c.runners = gopool.New(c.config.Workers, c.done)
	c.state = stateStarted
	c.startLoops(bg)
	return nil
}

// Stop stops the client: it stops claiming operations, lets running
// handlers finish for up to Config.ShutdownGrace (or until ctx ends), then
// cancels the rest with cause ErrShutdown and releases their operations so
// that they run again at once elsewhere or after a restart. Waits in
// progress return the latest state. Stop waits for all of it, and may be
// called more than once.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	switch c.state {
	case stateNew:
		c.state = stateStopped
		close(c.closing)
		close(c.done)
		c.mu.Unlock()
		return nil
	case stateStopping, stateStopped:
		c.mu.Unlock()
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.state = stateStopping
	c.mu.Unlock()
	c.shutdown(ctx)
	c.mu.Lock()
	c.state = stateStopped
	c.mu.Unlock()
	close(c.done)
	return nil
}

func (c *Client) checkStarted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateNew:
		return newError(ErrClosed, "CLIENT_NOT_STARTED", "", "the lro client is not started")
	case stateStopped:
		return newError(ErrClosed, "CLIENT_STOPPED", "", "the lro client is stopped")
	}
	return nil
}

// StartOptions are the optional parts of a start.
type StartOptions struct {
	// Parent is the resource that owns the operation, such as
	// "projects/p/locations/l"; "" names the default collection, so the
	// operation is named "operations/{id}".
	Parent string
	// RequestID makes the start idempotent (AIP-155): a repeat with the same
	// parent and request ID returns the first operation while it exists. A
	// repeat with another kind or request is ALREADY_EXISTS.
	RequestID string
}

// StartOperation starts an operation of a registered kind and returns it, not done.
// An unknown kind, a request of another type, or one the kind's Validate
// rejects is INVALID_ARGUMENT (see [Error]); nothing is stored then. The
// operation is durable when Start returns.
//
// Concurrent calls share commits: the starts that arrive while one commit
// is under way are written together in the next.
func (c *Client) StartOperation(ctx context.Context, kindName string, req proto.Message, opts *StartOptions) (*longrunningpb.Operation, error) {
	params, err := c.prepareStart(kindName, req, opts)
	if err != nil {
		return nil, err
	}
	if err := c.checkStarted(); err != nil {
		return nil, err
	}
	res, err := c.inserter.Do(ctx, params)
	if err != nil {
		return nil, c.storeError("start operation", err)
	}
	return c.startResult(params, res)
}

// StartRequest is one operation for StartOperations to start.
type StartRequest struct {
	Kind    string
	Request proto.Message // nil means the kind's empty request
	Options *StartOptions // nil means none
}

// StartOperationsMax caps how many operations one StartOperations call
// starts.
const StartOperationsMax = 10000

// StartOperations starts several operations in one transaction and returns
// them in the order given: all are stored, or none. Each request is checked
// as StartOperation checks it, and the first one refused refuses the call
// with INVALID_ARGUMENT, naming its index; so does a call with more than
// StartOperationsMax requests. A request whose parent and request ID were
// used before (also earlier in the same call) gets the operation that the
// first use started, or, with another kind or input, refuses the call with
// ALREADY_EXISTS; the others are stored then, and a repeat of the call
// with the same request IDs returns them.
func (c *Client) StartOperations(ctx context.Context, reqs []StartRequest) ([]*longrunningpb.Operation, error) {
	if len(reqs) > StartOperationsMax {
		return nil, invalidArgument("requests", "TOO_MANY_REQUESTS", "%d requests: at most %d operations start in one call", len(reqs), StartOperationsMax)
	}
	all := make([]*lrostore.OperationInsertParams, len(reqs))
	for i, r := range reqs {
		params, err := c.prepareStart(r.Kind, r.Request, r.Options)
		if err != nil {
			return nil, indexed(i, err)
		}
		all[i] = params
	}
	if err := c.checkStarted(); err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return []*longrunningpb.Operation{}, nil
	}
	results, err := c.insertMany(ctx, all)
	if err != nil {
		return nil, c.storeError("start operations", err)
	}
	ops := make([]*longrunningpb.Operation, len(all))
	for i, res := range results {
		if ops[i], err = c.startResult(all[i], res); err != nil {
			return nil, indexed(i, err)
		}
	}
	return ops, nil
}

// indexed names the request of a StartOperations call that an error is
// about.
func indexed(i int, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("requests[%d]: %w", i, err)
	}
	out := *e
	out.Message = fmt.Sprintf("requests[%d]: %s", i, e.Message)
	if e.Field != "" {
		out.Field = fmt.Sprintf("requests[%d].%s", i, e.Field)
	}
	return &out
}

// prepareStart checks a start and builds the row to insert.
func (c *Client) prepareStart(kindName string, req proto.Message, opts *StartOptions) (*lrostore.OperationInsertParams, error) {
	if opts == nil {
		opts = &StartOptions{}
	}
	k, err := c.kind(kindName)
	if err != nil {
		return nil, err
	}
	if req == nil {
		req = k.request.New().Interface()
	}
	if got, want := req.ProtoReflect().Descriptor().FullName(), k.request.Descriptor().FullName(); got != want {
		return nil, invalidArgument("input", "INVALID_INPUT", "kind %q takes a %s, not a %s", kindName, want, got)
	}
	if err := validateParent(opts.Parent); err != nil {
		return nil, err
	}
	if len(opts.RequestID) > requestIDMaxLen || !utf8.ValidString(opts.RequestID) ||
		strings.ContainsFunc(opts.RequestID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, invalidArgument("request_id", "INVALID_REQUEST_ID", "request_id must be at most %d printable UTF-8 characters without spaces, such as a UUID", requestIDMaxLen)
	}
	if k.validate != nil {
		if err := k.validate(req); err != nil {
			return nil, validationError(kindName, err)
		}
	}
	input, err := anypb.New(req)
	if err != nil {
		return nil, invalidArgument("input", "INVALID_INPUT", "pack input: %v", err)
	}
	inputBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(input)
	if err != nil {
		return nil, invalidArgument("input", "INVALID_INPUT", "encode input: %v", err)
	}
	if len(inputBytes) > c.config.InputBytesMax {
		return nil, invalidArgument("input", "INPUT_TOO_LARGE", "the input takes %d bytes; at most %d are allowed",
			len(inputBytes), c.config.InputBytesMax)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("lro: new operation ID: %w", err)
	}
	return &lrostore.OperationInsertParams{
		ID:          id.String(),
		Parent:      opts.Parent,
		Kind:        kindName,
		Input:       inputBytes,
		RequestID:   opts.RequestID,
		RequestHash: requestHash(opts, kindName, inputBytes),
		MaxAttempts: k.maxAttempts,
	}, nil
}

// requestHash identifies a start's parent, kind and input, so that a retry
// with the same request ID can be told from another start that reuses the
// ID (AIP-155). A start without a request ID has none: nothing compares it.
func requestHash(opts *StartOptions, kind string, input []byte) []byte {
	if opts.RequestID == "" {
		return nil
	}
	hash := sha256.New()
	for _, part := range []string{opts.Parent, kind} {
		hash.Write([]byte(part))
		hash.Write([]byte{0})
	}
	hash.Write(input)
	return hash.Sum(nil)
}

// startResult turns the store's answer to an insert into the started
// operation, or into ALREADY_EXISTS for a request ID reused with another
// kind or input.
func (c *Client) startResult(params *lrostore.OperationInsertParams, res *lrostore.OperationInsertResult) (*longrunningpb.Operation, error) {
	if res.Existing {
		if string(res.Operation.RequestHash) != string(params.RequestHash) {
			name := OperationName(res.Operation.Parent, res.Operation.ID)
			e := newError(ErrAlreadyExists, "REQUEST_ID_REUSED", "request_id",
				"request_id %q was already used to start %s with another kind or input", params.RequestID, name)
			e.Resource = name
			return nil, e
		}
	}
	return c.toProto(res.Operation)
}

// insertMany stores operations in one transaction, the first of them
// claimed by this client when it can run them at once (eager starts, see
// Config.DisableEagerStart), and starts their handlers.
func (c *Client) insertMany(ctx context.Context, ops []*lrostore.OperationInsertParams) ([]*lrostore.OperationInsertResult, error) {
	eager := c.reserveEager(len(ops))
	sent := time.Now()
	for _, p := range ops[:eager] {
		p.LeaseOwner, p.LeaseTTL = c.config.ID, c.config.LeaseTTL
	}
	results, err := c.store.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ops})
	if err != nil {
		c.startEager(nil, eager, time.Time{})
		return nil, err
	}
	pending := false
	claimed := make([]*lrostore.Operation, 0, eager)
	for _, res := range results {
		switch {
		case res.Existing:
		case res.Operation.State == lrostore.StatePending:
			pending = true
		default: // stored claimed by this client
			claimed = append(claimed, res.Operation)
		}
	}
	c.startEager(claimed, eager, sent.Add(c.config.LeaseTTL))
	if pending {
		c.mu.Lock()
		c.backlog = true
		c.mu.Unlock()
		c.signal(c.wake)
	}
	return results, nil
}

// GetOperation returns the latest state of an operation. A malformed name is
// INVALID_ARGUMENT; an unknown one NOT_FOUND.
func (c *Client) GetOperation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	op, err := c.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.toProto(op)
}

// OperationInfo is what lro knows of an operation that a
// google.longrunning.Operation does not show, for operators.
type OperationInfo struct {
	// State is "pending", "running", "succeeded", "failed" or "cancelled".
	State string
	// LeaseExpireTime, while the operation runs, is when the lease of the
	// worker running it expires unless a heartbeat renews it first. A live
	// worker's heartbeats keep moving it forward; once it has passed, the
	// worker is gone and the operation runs again (or fails, its attempts
	// used up) at the next rescue. Zero while the operation does not run.
	LeaseExpireTime time.Time
}

// GetOperationInfo is GetOperation, with the operation's OperationInfo,
// from the same read.
func (c *Client) GetOperationInfo(ctx context.Context, name string) (*longrunningpb.Operation, *OperationInfo, error) {
	op, err := c.get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	out, err := c.toProto(op)
	if err != nil {
		return nil, nil, err
	}
	return out, &OperationInfo{State: op.State.String(), LeaseExpireTime: op.LeaseExpireTime}, nil
}

func (c *Client) get(ctx context.Context, name string) (*lrostore.Operation, error) {
	parent, id, err := parseName("name", name)
	if err != nil {
		return nil, err
	}
	op, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Brief: true})
	if err == nil && op.Parent != parent {
		err = lrostore.ErrNotFound
	}
	if err != nil {
		return nil, c.notFound("get operation", name, err)
	}
	return op, nil
}

// notFound turns a store error of a call on the operation name into
// NOT_FOUND, or into the store error of what the call was doing.
func (c *Client) notFound(what, name string, err error) error {
	if errors.Is(err, lrostore.ErrNotFound) {
		e := newError(ErrNotFound, "OPERATION_NOT_FOUND", "", "operation %q not found", name)
		e.Resource = name
		return e
	}
	return c.storeError(what, err)
}

// storeUnavailable is what a client is told of a store error.
const storeUnavailable = "the store is unavailable"

// storeError turns an unexpected store error into UNAVAILABLE (reason
// STORE_UNAVAILABLE) whose message says only that, and logs the error
// itself; context errors are kept as they are. The returned error wraps the
// store's, for errors.Is and errors.As in Go callers.
func (c *Client) storeError(what string, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, lrostore.ErrClosed), errors.Is(err, batch.ErrStopped):
		return newError(ErrClosed, "CLIENT_STOPPED", "", "the lro client is stopped")
	}
	// The store's error goes to the log only (throttled: during an outage
	// every call fails): it may name the database's host, user and schema,
	// or quote SQL, none of which is the client's business.
	c.logs.Log(context.Background(), slog.LevelError, "store error: "+what, "store error", slog.String("during", what), slog.Any("error", err))
	msg := storeUnavailable
	if what != "" {
		msg = what + ": " + storeUnavailable
	}
	return &Error{Code: codes.Unavailable, Reason: "STORE_UNAVAILABLE", Message: msg, Err: err}
}

// ListOperations returns a page of operations (AIP-158, AIP-160), newest first.
// req.Name is the collection: "operations", "{parent}/operations", or the
// parent itself. The filter, page size and page token are checked as the
// AIPs say: an invalid one is INVALID_ARGUMENT. A page ends early, with a
// next_page_token, when its operations would take more than PageBytesMax.
func (c *Client) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	parent, err := parseCollection("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if req.GetReturnPartialSuccess() {
		return nil, newError(ErrUnimplemented, "PARTIAL_SUCCESS_UNSUPPORTED", "return_partial_success",
			"return_partial_success is not supported: a list covers one parent, which is never partly unreachable")
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidArgument("page_size", "INVALID_PAGE_SIZE", "page_size %d is negative", size)
	case size == 0:
		size = c.config.PageSize
	case size > c.config.PageSizeMax:
		size = c.config.PageSizeMax
	}
	expr, err := lrostore.ParseFilter(req.GetFilter())
	if err != nil {
		return nil, invalidArgument("filter", "INVALID_FILTER", "invalid filter: %v", err)
	}
	key, err := c.pageTokenKey(ctx)
	if err != nil {
		return nil, c.storeError("list operations", err)
	}
	binding := parent + "\x00" + req.GetFilter()
	var before string
	if req.GetPageToken() != "" {
		before, err = pagetoken.Decode(key, binding, req.GetPageToken())
		if err != nil {
			return nil, invalidArgument("page_token", "INVALID_PAGE_TOKEN",
				"page_token is invalid: it was altered, or it comes from a list with another name or filter")
		}
	}
	ops, err := c.store.OperationList(ctx, &lrostore.OperationListParams{Parent: parent, Filter: expr, BeforeID: before,
		Limit: size + 1, Brief: true, MaxBytes: PageBytesMax})
	if err != nil {
		return nil, c.storeError("list operations", err)
	}
	// The store read one operation more than the page holds, by count or
	// by size, if there are more; but for a first operation that is over
	// PageBytesMax on its own, which is the page, and may have others after
	// it.
	n, bytes := 0, 0
	for ; n < len(ops) && n < size; n++ {
		bytes += ops[n].Size()
		if n > 0 && bytes > PageBytesMax {
			break
		}
	}
	resp := &longrunningpb.ListOperationsResponse{}
	if n < len(ops) || bytes > PageBytesMax {
		ops = ops[:n]
		resp.NextPageToken, err = pagetoken.Encode(key, binding, ops[len(ops)-1].ID)
		if err != nil {
			return nil, c.storeError("list operations", err)
		}
	}
	for _, op := range ops {
		p, err := c.toProto(op)
		if err != nil {
			return nil, err
		}
		resp.Operations = append(resp.Operations, p)
	}
	return resp, nil
}

func (c *Client) pageTokenKey(ctx context.Context) ([]byte, error) {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.key != nil {
		return c.key, nil
	}
	key, err := c.store.KeyGetOrCreate(ctx, &lrostore.KeyGetOrCreateParams{Name: "page_token", New: []byte(rand.Text() + rand.Text())})
	if err != nil {
		return nil, err
	}
	c.key = key
	return key, nil
}

// CancelOperation requests the cancellation of an operation (best effort): a pending
// one ends at once, and a running one's handler sees its context cancelled
// with cause ErrCancelRequested; it ends with code CANCELLED unless its
// handler still succeeds. A done operation stays as it is. It returns the
// operation's state after the request.
func (c *Client) CancelOperation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	parent, id, err := parseName("name", name)
	if err != nil {
		return nil, err
	}
	op, err := c.store.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: id, Parent: parent, CancelledError: cancelledFailure})
	if err != nil {
		return nil, c.notFound("cancel operation", name, err)
	}
	switch {
	case op.State.Done():
		c.waiters.notify(op.ID) // it may have been pending, and ended now
	case op.State == lrostore.StateRunning:
		c.cancelJob(op.ID, ErrCancelRequested)
	}
	return c.toProto(op)
}

// DeleteOperation deletes a done operation: its result is no longer wanted
// (it does not cancel). An operation that is not done yet is
// FAILED_PRECONDITION: cancel it, or wait for it, first.
func (c *Client) DeleteOperation(ctx context.Context, name string) error {
	parent, id, err := parseName("name", name)
	if err != nil {
		return err
	}
	err = c.store.OperationDelete(ctx, &lrostore.OperationDeleteParams{ID: id, Parent: parent})
	if errors.Is(err, lrostore.ErrNotDone) {
		e := newError(ErrFailedPrecondition, "OPERATION_NOT_DONE", "",
			"operation %q is not done: cancel it or wait for it before deleting it", name)
		e.Resource = name
		return e
	}
	if err != nil {
		return c.notFound("delete operation", name, err)
	}
	return nil
}

// WaitOperation waits until the operation is done, and returns it. It returns the
// latest state, not done, when the timeout passes first; the timeout is
// capped by Config.WaitMax and by ctx's deadline (less a margin so that
// the answer arrives in time). A timeout of zero means Config.WaitMax. It
// wakes as soon as the operation ends, without polling.
func (c *Client) WaitOperation(ctx context.Context, name string, timeout time.Duration) (*longrunningpb.Operation, error) {
	if timeout < 0 {
		return nil, invalidArgument("timeout", "INVALID_TIMEOUT", "timeout %v is negative", timeout)
	}
	parent, id, err := parseName("name", name)
	if err != nil {
		return nil, err
	}
	if timeout == 0 || timeout > c.config.WaitMax {
		timeout = c.config.WaitMax
	}
	if deadline, ok := ctx.Deadline(); ok {
		// Answer before the caller's deadline, so that it gets the latest
		// state rather than DEADLINE_EXCEEDED.
		left := time.Until(deadline)
		left -= min(left/5, 200*time.Millisecond)
		timeout = min(timeout, left)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	first := true
	for {
		// Subscribe before reading, so that an end between the read and the
		// wait still wakes it.
		woken, release := c.waiters.subscribe(id)
		op, err := c.readForWait(ctx, name, parent, id, first)
		if err != nil || op.State.Done() || timeout <= 0 {
			release()
			if err != nil {
				return nil, err
			}
			return c.toProto(op)
		}
		first = false
		select {
		case <-woken:
			// Done, or a wake-up that only asks to read again (a listener
			// that reconnected).
			release()
		case <-timer.C:
			release()
			timeout = 0 // read the latest state once more, and return it
		case <-c.closing:
			release()
			timeout = 0
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
}

// readForWait reads an operation for WaitOperation. The first read fails
// as GetOperation does; later ones use a context of their own, since the
// caller's deadline may be close and the answer is due before it.
func (c *Client) readForWait(ctx context.Context, name, parent, id string, first bool) (*lrostore.Operation, error) {
	if first {
		return c.get(ctx, name)
	}
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	op, err := c.store.OperationGet(readCtx, &lrostore.OperationGetParams{ID: id, Brief: true})
	switch {
	case err == nil && op.Parent == parent:
		return op, nil
	case err == nil, errors.Is(err, lrostore.ErrNotFound):
		return nil, c.notFound("wait operation", name, lrostore.ErrNotFound) // deleted meanwhile
	default:
		return nil, c.storeError("wait operation", err)
	}
}

// Ping checks that the store answers reads and takes writes, for health
// checks: it returns nil when it does, and the store's error when it does
// not. The write changes no operation and does not grow the store (see
// lrostore.Store.WriteCheck), so a store that can be read but not written,
// such as a read-only file or a full disk, fails the check.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: uuid.Nil.String(), Brief: true})
	if err != nil && !errors.Is(err, lrostore.ErrNotFound) {
		return fmt.Errorf("read: %w", err)
	}
	if err := c.store.WriteCheck(ctx); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// toProto turns a stored operation into a google.longrunning.Operation.
func (c *Client) toProto(op *lrostore.Operation) (*longrunningpb.Operation, error) {
	out := &longrunningpb.Operation{Name: OperationName(op.Parent, op.ID), Done: op.State.Done()}
	corrupt := func(what string, err error) error {
		c.logger.Error("stored operation does not decode", slog.String("operation", out.Name), slog.String("field", what), slog.Any("error", err))
		return &Error{Code: codes.DataLoss, Reason: "CORRUPT_OPERATION", Message: fmt.Sprintf("operation %q: stored %s does not decode", out.Name, what), Err: err}
	}
	if op.Metadata != nil {
		out.Metadata = &anypb.Any{}
		if err := proto.Unmarshal(op.Metadata, out.Metadata); err != nil {
			return nil, corrupt("metadata", err)
		}
	}
	switch op.State {
	case lrostore.StateSucceeded:
		resp := &anypb.Any{}
		if err := proto.Unmarshal(op.Response, resp); err != nil {
			return nil, corrupt("response", err)
		}
		out.Result = &longrunningpb.Operation_Response{Response: resp}
	case lrostore.StateFailed, lrostore.StateCancelled:
		st := &spb.Status{}
		if op.Error == nil {
			return nil, corrupt("error", errors.New("missing"))
		}
		if err := proto.Unmarshal(op.Error.Status, st); err != nil {
			return nil, corrupt("error", err)
		}
		out.Result = &longrunningpb.Operation_Error{Error: st}
	}
	return out, nil
}

var (
	cancelledFailure = failure(codes.Canceled, "OPERATION_CANCELLED", "operation cancelled")
	exhaustedFailure = failure(codes.Aborted, "ATTEMPTS_EXHAUSTED",
		"operation abandoned: every attempt lost its worker (the process stopped or its lease expired) and the attempt limit is reached")
)

func (c *Client) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
