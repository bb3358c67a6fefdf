package lro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"lro.dev/lro/internal/batch"
	"lro.dev/lro/internal/leasetoken"
	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/testsignal"
	"lro.dev/lro/lrostore"
)

// Client starts, runs and follows operations over a store. Create it with
// NewClient, register kinds, then Start it; Stop it on shutdown. A client
// made by NewRemoteClient runs its handlers for a server instead, without
// a store.
//
// The client serves the operation methods itself and wires the services
// that do its background work, each of which owns its state: the producer
// claims operations for the worker slots (producer.go), the handler
// executor runs them and writes their results (executor.go), the lease
// keeper renews their leases and writes their metadata (leases.go), the
// rescuer brings back the operations of lost workers (rescuer.go), the
// retainer deletes expired ones (retention.go), the listener follows the
// events of a shared store (listener.go), and the wait set wakes waiters
// (waitset.go). The client also serves the Workers service, through which
// workers in other processes claim and run operations (workers.go).
type Client struct {
	store  lrostore.Store // nil for a remote client
	remote *remote        // nil for a local client
	config *Config
	logger *slog.Logger
	kinds  kindSet

	allHandled bool // this client runs every kind it has (none is declared); set by Start

	mu      sync.Mutex // guards state
	state   clientState
	stop    context.CancelCauseFunc // ends everything, last
	closing chan struct{}           // closed when Stop begins
	done    chan struct{}           // closed when Stop has finished

	inserter *batch.Batcher[*lrostore.OperationInsertParams, *lrostore.OperationInsertResult]
	producer *producer
	exec     *handlerExecutor
	leases   *leaseKeeper
	rescuer  *rescuer
	retainer *retainer
	listener *listener // nil unless the store is a Notifier
	waiters  waitSet

	keyMu      sync.Mutex
	key        []byte                           // page token key
	leaseCodec atomic.Pointer[leasetoken.Codec] // lease tokens (workers.go); set under keyMu

	// pending wakes the claim long polls of remote workers (workers.go)
	// whenever pendingMayExist wakes the producer.
	pending pendingBroadcast
	// alarm wakes the claims when the operations that wait on this client
	// become due: delayed starts, and the next attempts of retries; expiry
	// runs the rescuer when an operation started here reaches its
	// deadline.
	alarm, expiry alarm
	// claimWaiting is signalled when a claim long poll found nothing and
	// waits.
	claimWaiting testsignal.Signal[struct{}]
	// claimTurn rotates the lease TTL group that a claim of several
	// starts with.
	claimTurn atomic.Uint64

	logs *logthrottle.Logger // the store's failures, throttled by kind

	tracing *tracing // spans of starts and attempts (tracing.go)
	metrics *metrics // nil unless Config.Metrics is set
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
	var m *metrics
	if cfg.Metrics != nil {
		if m, err = newMetrics(cfg.Metrics); err != nil {
			return nil, err
		}
		store = newTimedStore(store, m.statements)
	}
	c := newClient(store, store, cfg)
	c.setMetrics(m)
	return c, nil
}

// newClient wires a client's services: work is store for a local client,
// and the Workers service's adapter for a remote one (store nil).
func newClient(store lrostore.Store, work workStore, cfg *Config) *Client {
	c := &Client{
		store:   store,
		config:  cfg,
		logger:  cfg.Logger.With(slog.String("component", "lro"), slog.String("client", cfg.ID)),
		kinds:   kindSet{kinds: map[string]*kind{}},
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	c.logs = logthrottle.New(c.logger, storeWarnEvery)
	c.alarm.ring = c.pendingMayExist
	c.tracing = newTracing(cfg.TracerProvider)
	c.exec = newHandlerExecutor(work, cfg, c.logger, c.logs, &c.kinds, &c.waiters)
	c.exec.tracing = c.tracing
	c.producer = newProducer(work, cfg, c.logs, c.exec)
	c.leases = newLeaseKeeper(work, cfg, c.logs, c.exec)
	c.exec.slots, c.exec.leases = c.producer, c.leases
	c.rescuer = &rescuer{store: store, config: cfg, logger: c.logger, logs: c.logs, waiters: &c.waiters, wake: c.pendingMayExist,
		kick: make(chan struct{}, 1), cancelJob: c.exec.cancelJob}
	c.rescuer.kinds = c.kinds.get
	c.expiry.ring = c.rescuer.kickNow
	c.exec.wakeAt = c.alarm.set
	c.exec.jsonCopies = store != nil
	c.exec.ends = store != nil
	c.retainer = &retainer{store: store, config: cfg, logger: c.logger, logs: c.logs}
	raw := store
	if t, ok := store.(*timedStore); ok {
		raw = t.Store // its capabilities
	}
	if notifier, ok := raw.(lrostore.Notifier); ok {
		c.listener = &listener{notifier: notifier, logs: c.logs, waiters: &c.waiters, cancel: c.exec.cancelJob, wake: c.pendingMayExist}
	}
	return c
}

func (c *Client) register(k *kind) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateNew {
		return fmt.Errorf("lro: register %s: the client is already started", k.name)
	}
	if c.remote != nil && !k.handled() {
		return fmt.Errorf("lro: register %s: a remote client only runs kinds: this one has no Run (declare it on the server)", k.name)
	}
	c.kinds.mu.Lock()
	defer c.kinds.mu.Unlock()
	if _, ok := c.kinds.kinds[k.name]; ok {
		return fmt.Errorf("lro: register %s: kind already registered", k.name)
	}
	if k.maxAttempts == 0 {
		k.maxAttempts = int32(c.config.MaxAttempts)
	}
	if k.attemptTimeout < 0 || k.timeout < 0 {
		return fmt.Errorf("lro: register %s: AttemptTimeout and Timeout must not be negative", k.name)
	}
	retry, err := k.retry.normalized()
	if err != nil {
		return fmt.Errorf("lro: register %s: Retry: %w", k.name, err)
	}
	k.retry = retry
	if k.leaseTTL == 0 {
		k.leaseTTL = c.config.LeaseTTL
	}
	k.metrics = c.metrics.forKind(k.name)
	k.startSpanName, k.attemptSpanName = "lro.start "+k.name, "lro.attempt "+k.name
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
			ResponseType: k.response.Descriptor().FullName(), MaxAttempts: int(k.maxAttempts),
			LeaseTTL: k.leaseTTL, Handled: k.handled(), InputSchema: k.inputSchema,
			Retry: k.retry.clone(), AttemptTimeout: k.attemptTimeout, Timeout: k.timeout}
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
	if c.metrics != nil {
		c.metrics.nodes.add(c) // removed by shutdown
	}
	if c.remote != nil {
		return c.startRemote(ctx)
	}
	bg, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	c.stop = stop
	c.allHandled = len(c.handledKinds()) == len(c.Kinds())
	c.inserter = batch.New(bg, insertBatchMax, c.insertMany)
	c.exec.Start(bg, c.done)
	c.state = stateStarted
	c.producer.eager.Store(true)
	// The services are new: their Start fails only on a second start.
	_ = c.rescuer.Start(bg)
	if c.config.Retention > 0 {
		_ = c.retainer.Start(bg)
	}
	if c.listener != nil {
		_ = c.listener.Start(bg)
	}
	if c.config.Workers > 0 {
		c.producer.kinds = c.handledKinds()
		_ = c.producer.Start(bg)
		_ = c.leases.Start(bg)
	}
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

// shutdown stops the services, in the order that lets running handlers
// finish and their operations be released: no more claims or maintenance,
// then the handlers' grace and release, then the leases and the listener
// that served them, then the batching of writes.
func (c *Client) shutdown(ctx context.Context) {
	c.producer.eager.Store(false)
	c.exec.beginStop()
	close(c.closing)
	c.waiters.notifyAll()
	c.alarm.stop()
	c.producer.Stop()
	c.rescuer.Stop()
	c.expiry.stop()
	c.retainer.Stop()
	c.exec.Stop(ctx)
	if c.listener != nil {
		c.listener.Stop()
	}
	c.leases.Stop()
	c.exec.StopWrites()
	if c.inserter != nil {
		c.inserter.Stop()
	}
	c.stop(ErrShutdown)
	c.logs.Stop()
	if c.metrics != nil {
		c.metrics.nodes.remove(c)
	}
}

// handledKinds returns the names of the kinds that this client runs.
func (c *Client) handledKinds() []string {
	var names []string
	for _, k := range c.Kinds() {
		if k.Handled {
			names = append(names, k.Name)
		}
	}
	return names
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
