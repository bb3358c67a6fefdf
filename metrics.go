package lro

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"

	"lro.dev/lro/lrostore"
)

// How the client is measured: with Config.Metrics set, the client
// registers its collectors there (see docs/metrics.md for each metric).
// Each kind resolves its label children once, when it is registered
// (kindMetrics), so that counting an operation costs an atomic add and no
// allocation; a nil *metrics or *kindMetrics, when Config.Metrics is nil,
// costs a nil check.
//
// Several clients may register on one registry: they share the counters
// and histograms (each counts what it does), and the gauges of worker
// slots and remote workers sum over them. The pending gauge reads the
// store of the first client started, as clients that share a registry
// are expected to share a store.

// Outcomes of an operation (lro_operations_finished_total) and of an
// attempt (lro_attempt_duration_seconds).
const (
	outcomeSucceeded         = "succeeded"
	outcomeFailed            = "failed"
	outcomeCancelled         = "cancelled"
	outcomeDeadlineExceeded  = "deadline_exceeded"
	outcomeAttemptsExhausted = "attempts_exhausted"
	outcomeRetried           = "retried" // attempts only: another is scheduled
	outcomeLost              = "lost"    // attempts only: the lease was lost
	outcomeReleased          = "released"
)

// pendingSampleEvery is how long a sample of the pending operations is
// served before the store is asked again.
const pendingSampleEvery = 10 * time.Second

// Histogram buckets: waits and run times from a millisecond to an hour;
// store statements from 100µs to 10s.
var (
	durationBuckets  = prometheus.ExponentialBucketsRange(0.001, 3600, 20)
	statementBuckets = prometheus.ExponentialBucketsRange(0.0001, 10, 16)
)

// metrics are the collectors of a client; nil when Config.Metrics is nil.
type metrics struct {
	started       *prometheus.CounterVec
	finished      *prometheus.CounterVec
	retried       *prometheus.CounterVec
	rescued       prometheus.Counter
	queueWait     *prometheus.HistogramVec
	attempt       *prometheus.HistogramVec
	opDuration    *prometheus.HistogramVec
	running       *prometheus.GaugeVec
	remoteClaimed *prometheus.CounterVec
	waits         prometheus.Gauge
	statements    *prometheus.HistogramVec
	nodes         *nodeCollector

	remoteWorkers atomic.Int64 // ClaimOperations calls under way on this client
}

// newMetrics registers a client's collectors on r. A collector that is
// registered already (by another client) is shared; one that conflicts
// with another of r's (the same name, other labels) is an error.
func newMetrics(r prometheus.Registerer) (*metrics, error) {
	var err error
	m := &metrics{
		started: register(r, &err, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lro_operations_started_total",
			Help: "Operations started (stored) by this node."}, []string{"kind"})),
		finished: register(r, &err, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lro_operations_finished_total",
			Help: "Operations that ended on this node, by outcome (succeeded, failed, cancelled, deadline_exceeded, attempts_exhausted) and google.rpc code name."},
			[]string{"kind", "outcome", "code"})),
		retried: register(r, &err, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lro_operations_retried_total",
			Help: "Attempts that failed on this node and left their operation to run again."}, []string{"kind"})),
		rescued: register(r, &err, prometheus.NewCounter(prometheus.CounterOpts{Name: "lro_operations_rescued_total",
			Help: "Operations whose worker was lost (its lease expired) that this node made pending again."})),
		queueWait: register(r, &err, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lro_operation_queue_wait_seconds",
			Help: "Time from an operation's start to its first claim, for the operations this node claimed.", Buckets: durationBuckets},
			[]string{"kind"})),
		attempt: register(r, &err, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lro_attempt_duration_seconds",
			Help: "Run time of the handlers of this node, by the attempt's outcome.", Buckets: durationBuckets},
			[]string{"kind", "outcome"})),
		opDuration: register(r, &err, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lro_operation_duration_seconds",
			Help: "Time from an operation's start to its end, for the operations that ended on this node.", Buckets: durationBuckets},
			[]string{"kind"})),
		running: register(r, &err, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lro_operations_running",
			Help: "Handlers running on this node."}, []string{"kind"})),
		remoteClaimed: register(r, &err, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lro_remote_claimed_total",
			Help: "Operations that remote workers claimed through this node."}, []string{"kind"})),
		waits: register(r, &err, prometheus.NewGauge(prometheus.GaugeOpts{Name: "lro_wait_operations_in_flight",
			Help: "WaitOperation calls under way on this node."})),
		statements: register(r, &err, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lro_store_statement_duration_seconds",
			Help: "Duration of the store's calls, by statement (the Store method).", Buckets: statementBuckets},
			[]string{"statement"})),
		nodes: register(r, &err, &nodeCollector{
			slots: prometheus.NewDesc("lro_worker_slots", "Worker slots of this node, busy (a handler runs in it, or an eager start took it) or free.",
				[]string{"state"}, nil),
			remote: prometheus.NewDesc("lro_remote_workers", "Remote workers with a claim under way on this node (ClaimOperations calls).",
				nil, nil),
			pending: prometheus.NewDesc("lro_operations_pending", "Pending operations in the store, by kind (delayed starts and retries waiting included), sampled at most every 10s.",
				[]string{"kind"}, nil),
		}),
	}
	if err != nil {
		return nil, fmt.Errorf("lro: Config.Metrics: %w", err)
	}
	return m, nil
}

// register registers c on r and returns it, or the collector of the same
// description that r has already. It sets *errp, if nil, when r refuses c
// for another reason.
func register[C prometheus.Collector](r prometheus.Registerer, errp *error, c C) C {
	if err := r.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}

// kindMetrics are the label children of one kind, resolved once.
type kindMetrics struct {
	m             *metrics
	kind          string
	started       prometheus.Counter
	retried       prometheus.Counter
	remoteClaimed prometheus.Counter
	queueWait     prometheus.Observer
	opDuration    prometheus.Observer
	running       prometheus.Gauge

	attempt [8]atomic.Pointer[observerBox] // by attemptOutcomes' index, resolved at first use
	done    [4]atomic.Pointer[counterBox]  // succeeded, cancelled, deadline_exceeded, attempts_exhausted
	failed  [17]atomic.Pointer[counterBox] // failed, by code
}

type (
	counterBox  struct{ prometheus.Counter }
	observerBox struct{ prometheus.Observer }
)

var attemptOutcomes = [8]string{outcomeSucceeded, outcomeFailed, outcomeCancelled, outcomeDeadlineExceeded,
	outcomeRetried, outcomeLost, outcomeReleased, outcomeAttemptsExhausted}

// forKind returns the children of a kind; nil when m is nil.
func (m *metrics) forKind(name string) *kindMetrics {
	if m == nil {
		return nil
	}
	return &kindMetrics{m: m, kind: name,
		started: m.started.WithLabelValues(name), retried: m.retried.WithLabelValues(name),
		remoteClaimed: m.remoteClaimed.WithLabelValues(name), queueWait: m.queueWait.WithLabelValues(name),
		opDuration: m.opDuration.WithLabelValues(name), running: m.running.WithLabelValues(name)}
}

// claimed records the claim of op, now.
func (km *kindMetrics) claimed(op *lrostore.Operation, now time.Time) {
	if km == nil || op.Attempt != 1 {
		return // a retry's wait was its backoff
	}
	km.queueWait.Observe(max(0, now.Sub(op.CreateTime).Seconds()))
}

// attemptEnded records an attempt that ran for d.
func (km *kindMetrics) attemptEnded(outcome string, d time.Duration) {
	if km == nil {
		return
	}
	i := 0
	for i < len(attemptOutcomes)-1 && attemptOutcomes[i] != outcome {
		i++
	}
	box := km.attempt[i].Load()
	if box == nil {
		box = &observerBox{km.m.attempt.WithLabelValues(km.kind, attemptOutcomes[i])}
		km.attempt[i].Store(box)
	}
	box.Observe(d.Seconds())
}

// ended records an operation that ended, in state with failure f (nil
// when it succeeded), created at created, now.
func (km *kindMetrics) ended(state lrostore.State, f *lrostore.Failure, outcome string, created, now time.Time) {
	if km == nil {
		return
	}
	code := codes.OK
	if f != nil {
		code = codes.Code(f.Code)
		if code > 16 {
			code = codes.Unknown
		}
	}
	if outcome == "" {
		outcome = outcomeOf(state)
	}
	if outcome == outcomeCancelled {
		code = codes.Canceled // a failure stored as a cancellation keeps its own code
	}
	var box *counterBox
	switch outcome {
	case outcomeFailed:
		if box = km.failed[code].Load(); box == nil {
			box = &counterBox{km.m.finished.WithLabelValues(km.kind, outcome, rpccode.Code(code).String())}
			km.failed[code].Store(box)
		}
	default:
		i := 0
		switch outcome {
		case outcomeCancelled:
			i = 1
		case outcomeDeadlineExceeded:
			i = 2
		case outcomeAttemptsExhausted:
			i = 3
		}
		if box = km.done[i].Load(); box == nil {
			box = &counterBox{km.m.finished.WithLabelValues(km.kind, outcome, rpccode.Code(code).String())}
			km.done[i].Store(box)
		}
	}
	box.Inc()
	if !created.IsZero() {
		km.opDuration.Observe(max(0, now.Sub(created).Seconds()))
	}
}

// outcomeOf returns the outcome of an operation that ended in state.
func outcomeOf(state lrostore.State) string {
	switch state {
	case lrostore.StateSucceeded:
		return outcomeSucceeded
	case lrostore.StateCancelled:
		return outcomeCancelled
	}
	return outcomeFailed
}

// nodeCollector reports the gauges that are read when scraped: the worker
// slots and remote workers of the clients registered on one registry, and
// the pending operations of the first one's store.
type nodeCollector struct {
	slots, remote, pending *prometheus.Desc

	mu      sync.Mutex
	clients []*Client

	sampleMu sync.Mutex // one sample at a time
	sampled  time.Time
	counts   map[string]int64
}

func (n *nodeCollector) add(c *Client) {
	n.mu.Lock()
	n.clients = append(n.clients, c)
	n.mu.Unlock()
}

func (n *nodeCollector) remove(c *Client) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, x := range n.clients {
		if x == c {
			n.clients = append(n.clients[:i:i], n.clients[i+1:]...)
			return
		}
	}
}

// Describe implements prometheus.Collector.
func (n *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- n.slots
	ch <- n.remote
	ch <- n.pending
}

// Collect implements prometheus.Collector.
func (n *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n.mu.Lock()
	clients := n.clients
	n.mu.Unlock()
	var busy, free, remote float64
	var (
		store lrostore.Store
		first *Client // whose store is sampled
	)
	for _, c := range clients {
		if c.config.Workers > 0 {
			running := float64(c.producer.running.Load())
			busy += running
			free += max(0, float64(c.config.Workers)-running)
		}
		remote += float64(c.metrics.remoteWorkers.Load())
		if store == nil && c.store != nil {
			store, first = c.store, c
		}
	}
	ch <- prometheus.MustNewConstMetric(n.slots, prometheus.GaugeValue, busy, "busy")
	ch <- prometheus.MustNewConstMetric(n.slots, prometheus.GaugeValue, free, "free")
	ch <- prometheus.MustNewConstMetric(n.remote, prometheus.GaugeValue, remote)
	if store == nil {
		return
	}
	counts := n.pendingCounts(store)
	for kind, count := range counts {
		ch <- prometheus.MustNewConstMetric(n.pending, prometheus.GaugeValue, float64(count), kind)
	}
	for _, k := range first.Kinds() { // a kind with none pending reads 0, not absent
		if _, ok := counts[k.Name]; !ok {
			ch <- prometheus.MustNewConstMetric(n.pending, prometheus.GaugeValue, 0, k.Name)
		}
	}
}

// pendingCounts returns the pending operations by kind, sampled from the
// store at most every pendingSampleEvery; the last sample when the store
// fails.
func (n *nodeCollector) pendingCounts(store lrostore.Store) map[string]int64 {
	n.sampleMu.Lock()
	defer n.sampleMu.Unlock()
	if time.Since(n.sampled) < pendingSampleEvery {
		return n.counts
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := store.OperationCountPending(ctx)
	if err != nil {
		return n.counts
	}
	n.sampled, n.counts = time.Now(), counts
	return counts
}

// setMetrics gives the client and its services their metrics (m may be
// nil), before any kind is registered.
func (c *Client) setMetrics(m *metrics) {
	if m == nil {
		return
	}
	c.metrics = m
	c.exec.metrics = m
	c.rescuer.metrics = m
}

// measure records the attempt of job j that ran for ran, and its
// operation's end when the attempt ended it, once its result is stored.
func (e *handlerExecutor) measure(j *job, km *kindMetrics, stored storedResult, cause error, ran time.Duration) {
	timedOut := errors.Is(cause, ErrTimeout)
	switch {
	case stored.state == lrostore.StatePending:
		km.attemptEnded(outcomeRetried, ran)
		if e.ends {
			km.retried.Inc()
		}
		return
	case stored.state == lrostore.StateFailed && timedOut:
		km.attemptEnded(outcomeDeadlineExceeded, ran)
	default:
		km.attemptEnded(outcomeOf(stored.state), ran)
	}
	if e.ends {
		outcome := ""
		if stored.state == lrostore.StateFailed && timedOut {
			outcome = outcomeDeadlineExceeded
		}
		km.ended(stored.state, stored.failure, outcome, j.op.CreateTime, time.Now())
	}
}
