package lro

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/internal/batch"
	"lro.dev/lro/internal/gopool"
	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/lrostore"
)

// How an operation runs: the handler executor takes the operations that
// the producer claimed (or that a start stored claimed, see
// Config.DisableEagerStart), runs each one's handler in the worker slot
// taken for it, and writes its result under the operation's lease. It owns
// the jobs running on this client, which the lease keeper renews, and the
// leases that handlers give up on shutdown.
//
// A handler's slot goes back to the producer as soon as the handler
// returns, while its result is written in a batch with others (see
// freeSlot): the next operation does not wait for the write.

// How long Stop waits, after cancelling the handlers that outlived the grace
// period, before it releases their operations anyway.
const shutdownCancelWait = time.Second

// slotFreer takes back the worker slots of the operations that an executor
// was given, as each frees.
type slotFreer interface {
	// freeSlots gives n slots back, and says that a slot may be free (n may
	// be 0 for the wake-up alone).
	freeSlots(n int)
}

// handlerExecutor runs claimed operations on this client's handlers.
type handlerExecutor struct {
	store   workStore
	config  *Config
	logger  *slog.Logger
	logs    *logthrottle.Logger
	kinds   *kindSet
	waiters *waitSet
	slots   slotFreer    // set when the client wires its services
	leases  *leaseKeeper // set when the client wires its services

	// jsonCopies: results and metadata carry the JSON copies that filters
	// on their fields read. Set on a client with a store of its own; a
	// remote client's server makes them from what it sends.
	jsonCopies bool

	// wakeAt, when set, is told when an operation that failed an attempt
	// runs again, to wake this client's claims then.
	wakeAt func(time.Time)

	// tracing starts the attempts' spans; set when the client wires its
	// services.
	tracing *tracing

	// forget, when set (by a remote client), is told of each job that
	// ended without a lease left to release: the store may drop what it
	// keeps for the lease.
	forget func(lrostore.Lease)

	// metrics, when set, measures the jobs (see metrics.go); ends says
	// that this executor's result writes end operations in its own store,
	// which then counts them (a remote client's server counts those of
	// its workers).
	metrics *metrics
	ends    bool

	// Set by start.
	ctx      context.Context // parent of handler contexts
	runners  *gopool.Pool    // the jobs' goroutines, kept until the client has stopped
	finisher *batch.Batcher[*lrostore.OperationFinishParams, finishOutcome]

	writing atomic.Int64   // results being written whose handler gave its slot back
	running sync.WaitGroup // the jobs, from their start to the end of their result's write

	mu        sync.Mutex
	jobs      map[string]*job  // the latest run of each operation on this client, by ID
	stopping  bool             // Stop has begun: eager starts are released, not run
	releasing []lrostore.Lease // leases that handlers gave up on shutdown
	released  bool             // Stop has released them
}

func newHandlerExecutor(store workStore, config *Config, logger *slog.Logger, logs *logthrottle.Logger, kinds *kindSet, waiters *waitSet) *handlerExecutor {
	return &handlerExecutor{store: store, config: config, logger: logger, logs: logs, kinds: kinds, waiters: waiters,
		jobs: map[string]*job{}}
}

// Start makes the executor ready to run jobs, under ctx, until done is
// closed.
func (e *handlerExecutor) Start(ctx context.Context, done <-chan struct{}) {
	e.ctx = ctx
	e.finisher = batch.NewCooldown(ctx, finishBatchMax, e.config.FinishInterval, e.finishMany)
	// A job's goroutine runs its handler in a worker slot, then writes its
	// result, most often after giving the slot to the next job (freeSlot):
	// up to Workers + writersMax() goroutines run at once. The pool keeps
	// that many, so that a burst of writes does not leave goroutines to exit
	// and the next claims to start new ones, whose stacks grow again
	// (runtime.copystack).
	e.runners = gopool.New(e.config.Workers+e.writersMax(), done)
}

// execute runs the handlers of claimed operations, each in a worker slot
// that the producer took for it.
func (e *handlerExecutor) execute(ops []*lrostore.Operation, leaseExpire time.Time) {
	for _, op := range ops {
		e.mu.Lock()
		j, previous := e.addJobLocked(op, leaseExpire)
		e.mu.Unlock()
		e.launch(j, previous)
	}
}

// executeEager is execute for the operations that a start stored claimed
// by this client. Once Stop has begun, they are released instead, to run
// again at once, on another node or after a restart, and their slots go
// back.
func (e *handlerExecutor) executeEager(ops []*lrostore.Operation, leaseExpire time.Time) {
	type started struct{ j, previous *job }
	var (
		jobs    []started
		release []lrostore.Lease
	)
	refused := 0
	e.mu.Lock()
	for _, op := range ops {
		if e.stopping {
			refused++
			l := lrostore.Lease{ID: op.ID, Token: op.LeaseToken}
			if e.released {
				release = append(release, l)
			} else {
				e.releasing = append(e.releasing, l) // Stop releases them with the rest
			}
			continue
		}
		j, previous := e.addJobLocked(op, leaseExpire)
		jobs = append(jobs, started{j, previous})
	}
	e.mu.Unlock()
	if refused > 0 {
		e.slots.freeSlots(refused)
	}
	for _, s := range jobs {
		e.launch(s.j, s.previous)
	}
	e.release(release)
}

// addJobLocked registers the job of a claimed operation and returns it with
// the job it replaces. e.mu is held: the job is counted in e.running before
// Stop, which waits for them, can begin.
func (e *handlerExecutor) addJobLocked(op *lrostore.Operation, leaseExpire time.Time) (j, previous *job) {
	k := e.kinds.get(op.Kind)
	ctx, cancel := context.WithCancelCause(e.ctx)
	now := time.Now()
	k.metrics.claimed(op, now)
	if deadline, cause := attemptDeadline(k, op, now); cause != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, deadline, cause)
		cancelOnly := cancel
		cancel = func(cause error) { cancelOnly(cause); stop() }
	}
	j = &job{
		e:           e,
		kind:        k,
		op:          op,
		name:        OperationName(op.Parent, op.ID),
		lease:       lrostore.Lease{ID: op.ID, Token: op.LeaseToken},
		ctx:         ctx,
		cancel:      cancel,
		leaseExpire: leaseExpire,
	}
	previous = e.jobs[op.ID]
	e.jobs[op.ID] = j
	e.running.Add(1)
	return j, previous
}

// launch runs a job added by addJobLocked.
func (e *handlerExecutor) launch(j, previous *job) {
	if previous != nil {
		// This client claimed the operation again after losing it: the old
		// run's lease is gone even if its heartbeat has not noticed yet.
		previous.loseLease()
	}
	if j.op.CancelRequested {
		j.cancel(ErrCancelRequested)
	}
	e.runners.Go(func() {
		defer e.running.Done()
		e.runJob(j)
	})
}

func (e *handlerExecutor) runJob(j *job) {
	defer e.endJob(j)
	// The span starts here, in the job's goroutine, rather than in
	// addJobLocked: that runs in the producer's, under e.mu, for each
	// operation of a claim, and the next claim waits for it.
	j.ctx, j.span = e.tracing.attemptSpan(j.ctx, j.op, j.name, j.kind.attemptSpanName)
	outcome, failed := outcomeLost, (*lrostore.Failure)(nil) // the attempt's, for its span
	if j.span != nil {
		defer func() { endAttempt(j.span, j.op, j.name, outcome, failed) }()
	}
	km := j.kind.metrics
	if km != nil {
		km.running.Inc()
		j.started = time.Now()
	}
	resp, err := e.callHandler(j)
	cause := context.Cause(j.ctx)
	var ran time.Duration
	if km != nil {
		ran = time.Since(j.started)
	}
	switch {
	case errors.Is(cause, ErrLeaseLost):
		km.attemptEnded(outcomeLost, ran)
		return // another worker may own it now; nothing to write
	case errors.Is(cause, ErrShutdown) && err != nil:
		outcome = outcomeReleased
		km.attemptEnded(outcomeReleased, ran)
		// Stop releases it, with the others, in one statement.
		e.mu.Lock()
		if !e.released {
			e.releasing = append(e.releasing, j.lease)
			j.toRelease = true
		}
		e.mu.Unlock()
		return
	}
	f := &lrostore.OperationFinishParams{Lease: j.lease}
	if err == nil {
		if resp == nil {
			resp = j.kind.response.New().Interface()
		}
		f.State = lrostore.StateSucceeded
		f.Response, f.ResponseType, err = marshalAny(resp)
		if err != nil {
			err = status.Errorf(codes.Internal, "the response does not encode: %v", err)
		} else if len(f.Response) > e.config.ResponseBytesMax {
			f.State, f.Error = lrostore.StateFailed, e.responseTooLarge(j, len(f.Response))
			f.Response, f.ResponseType = nil, ""
		} else if e.jsonCopies {
			f.ResponseJSON = responseJSON(resp)
		}
	}
	if err != nil {
		f.ResponseJSON = nil
		err = timeoutError(err, cause)
		f.State = lrostore.StateFailed
		f.Error = e.handlerFailure(j, err)
		f.Response, f.ResponseType = nil, ""
		now := time.Now()
		if delay, ok := retryDelay(j.kind, j.op, err, f.Error, cause, now); ok {
			f.State, f.NotBefore = lrostore.StatePending, now.Add(delay)
		} else {
			f.Error = withAttempts(f.Error, j.op.Attempt)
		}
	}
	j.mu.Lock()
	j.finishing = true
	if j.meta != nil {
		f.Metadata, f.MetadataType = j.meta, j.metaType
		f.MetadataJSON = e.metadataJSON(j)
	}
	lost := j.lost
	j.mu.Unlock()
	if lost {
		km.attemptEnded(outcomeLost, ran)
		return
	}
	e.freeSlot(j)
	stored, ok := e.writeResult(j, f)
	if !ok {
		km.attemptEnded(outcomeLost, ran)
		return
	}
	switch outcome, failed = outcomeFailed, f.Error; f.State {
	case lrostore.StateSucceeded:
		outcome, failed = outcomeSucceeded, nil
	case lrostore.StatePending:
		outcome = outcomeRetried
	}
	if km != nil {
		e.measure(j, km, stored, cause, ran)
	}
	if f.State == lrostore.StatePending {
		if e.wakeAt != nil {
			e.wakeAt(f.NotBefore) // its next attempt may be claimed here then
		}
	} else {
		e.waiters.notify(j.op.ID)
	}
}

// How long writeResult waits between tries, at first and at most.
const (
	resultRetryMin = 50 * time.Millisecond
	resultRetryMax = time.Second
)

// storedResult is what a result write stored: the operation's state, and
// its failure (nil when it succeeded).
type storedResult struct {
	state   lrostore.State
	failure *lrostore.Failure
}

// writeResult writes a job's result, and reports whether it is stored
// and what. A
// result is not given up for a failed write: while the lease holds (the job
// stays registered, so heartbeats renew it), it tries again, backing off,
// until the write lands, the lease is found gone, or the lease runs out, or
// the client is stopped. The lease token makes a repeat harmless: a write
// that landed but whose answer was lost makes the next try find the lease
// gone, and the operation done.
//
// A write that the store refuses for good (lrostore.IsPermanent), which no
// retry can fix, ends the operation with INTERNAL (resultNotStored) in
// place of its result; the store's error goes to the log.
func (e *handlerExecutor) writeResult(j *job, f *lrostore.OperationFinishParams) (stored storedResult, ok bool) {
	delay := resultRetryMin
	for tries := 1; ; tries++ {
		out, err := e.finisher.Do(e.ctx, f)
		res := out.res
		if err == nil {
			err = out.err
		}
		if err == nil && res.Finished {
			return storedResult{res.State, f.Error}, true
		}
		if err == nil { // the lease is gone
			if tries > 1 && e.storedDone(j) {
				return storedResult{f.State, f.Error}, true // an earlier try landed
			}
			j.logThrottled(slog.LevelWarn, "result dropped", "lease lost before the result was written; the result is dropped")
			return storedResult{}, false
		}
		if lrostore.IsPermanent(err) {
			if f.Error == resultNotStored {
				j.logThrottled(slog.LevelError, "result not stored", "the store refused the operation's failure too; it runs again once its lease expires",
					slog.Any("error", err))
				return storedResult{}, false
			}
			j.logThrottled(slog.LevelError, "result not stored", "the store refused the operation's result; the operation fails with INTERNAL",
				slog.String("state", f.State.String()), slog.Any("error", err))
			f = &lrostore.OperationFinishParams{Lease: f.Lease, State: lrostore.StateFailed, Error: resultNotStored}
			continue
		}
		e.mu.Lock()
		expired := time.Now().After(j.leaseExpire)
		e.mu.Unlock()
		if expired || e.ctx.Err() != nil {
			j.logThrottled(slog.LevelError, "result not written", "the result could not be written; the operation runs again once its lease expires",
				slog.Int("tries", tries), slog.Any("error", err))
			return storedResult{}, false
		}
		warnStore(e.ctx, e.logs, "write results (retrying while their leases hold)", err)
		select {
		case <-e.ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, resultRetryMax)
	}
}

// storedDone reports whether the job's operation is done in the store under
// the job's own lease (another claim would have changed the token).
func (e *handlerExecutor) storedDone(j *job) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
	defer cancel()
	op, err := e.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: j.op.ID})
	return err == nil && op.State.Done() && op.LeaseToken == j.lease.Token
}

// callHandler runs the kind's handler on the decoded request, turning a
// panic into an INTERNAL error.
func (e *handlerExecutor) callHandler(j *job) (resp proto.Message, err error) {
	input := &anypb.Any{}
	req := j.kind.request.New().Interface()
	if err := proto.Unmarshal(j.op.Input, input); err != nil {
		return nil, status.Errorf(codes.DataLoss, "the stored request does not decode: %v", err)
	}
	if err := input.UnmarshalTo(req); err != nil {
		return nil, status.Errorf(codes.DataLoss, "the stored request does not decode as %s: %v", j.kind.request.Descriptor().FullName(), err)
	}
	defer func() {
		if r := recover(); r != nil {
			j.logger().Error("handler panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			resp, err = nil, status.Errorf(codes.Internal, "the handler panicked: %v", r)
		}
	}()
	return j.kind.run(j.ctx, j, req)
}

func marshalAny(m proto.Message) ([]byte, string, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, "", err
	}
	b, err := proto.Marshal(a)
	return b, a.TypeUrl, err
}

// writersMax is how many jobs may write their results after giving their
// slot back (see freeSlot).
func (e *handlerExecutor) writersMax() int { return max(e.config.Workers, finishBatchMax) }

// freeSlot gives the job's worker slot to the next operation while its
// result is written (the job keeps its lease, renewed by heartbeats, until
// the write ends), unless as many results as fill a finish batch (or as
// there are workers, if more) are being written already: then the slot
// waits for the write.
func (e *handlerExecutor) freeSlot(j *job) {
	if e.writing.Add(1) > int64(e.writersMax()) {
		e.writing.Add(-1)
		return
	}
	j.slotFreed = true
	e.slots.freeSlots(1)
}

func (e *handlerExecutor) endJob(j *job) {
	j.ended.Store(true) // its metadata is no longer written
	if km := j.kind.metrics; km != nil {
		km.running.Dec()
	}
	e.mu.Lock()
	if e.jobs[j.op.ID] == j {
		delete(e.jobs, j.op.ID)
	}
	toRelease := j.toRelease
	e.mu.Unlock()
	if e.forget != nil && !toRelease {
		e.forget(j.lease)
	}
	j.cancel(context.Canceled)
	if j.slotFreed {
		e.writing.Add(-1)
		e.slots.freeSlots(0)
	} else {
		e.slots.freeSlots(1)
	}
}

// release gives leases back so that the operations run again at once.
func (e *handlerExecutor) release(leases []lrostore.Lease) {
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
	defer cancel()
	released, err := e.store.OperationReleaseMany(ctx, &lrostore.OperationReleaseManyParams{Leases: leases})
	if err != nil {
		e.logs.Log(ctx, slog.LevelError, "release", "release operations; they run again when their leases expire", slog.Any("error", err))
		return
	}
	e.logger.Info("released operations", slog.Int("count", len(released)))
}

// cancelJob cancels the handler running the operation id here, if one is.
func (e *handlerExecutor) cancelJob(id string, cause error) {
	e.mu.Lock()
	j := e.jobs[id]
	e.mu.Unlock()
	if j != nil {
		j.cancel(cause)
	}
}

// beginStop makes the executor release, rather than run, the operations
// that starts store claimed from now on.
func (e *handlerExecutor) beginStop() {
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
}

// Stop lets running handlers finish for up to Config.ShutdownGrace (or
// until ctx ends), cancels the rest with cause ErrShutdown, and releases
// their operations in one statement, with those of handlers that ignore
// their cancellation.
func (e *handlerExecutor) Stop(ctx context.Context) {
	jobsDone := make(chan struct{})
	go func() {
		e.running.Wait()
		close(jobsDone)
	}()
	grace := time.NewTimer(max(e.config.ShutdownGrace, 0)) // negative: no grace
	defer grace.Stop()
	select {
	case <-jobsDone:
	case <-grace.C:
	case <-ctx.Done():
	}
	e.mu.Lock()
	for _, j := range e.jobs {
		j.cancel(ErrShutdown)
	}
	e.mu.Unlock()
	stubborn := 0
	select {
	case <-jobsDone:
	case <-time.After(shutdownCancelWait):
		// Handlers that ignore their context: release their operations
		// anyway. Whatever they write later is rejected: a released
		// operation is no longer running under their lease.
		e.mu.Lock()
		for _, j := range e.jobs {
			j.mu.Lock()
			j.lost = true
			j.mu.Unlock()
			e.releasing = append(e.releasing, j.lease)
			j.toRelease = true
			stubborn++
		}
		e.mu.Unlock()
	}
	// Release in one statement what the handlers gave up.
	e.mu.Lock()
	leases := e.releasing
	e.releasing, e.released = nil, true
	e.mu.Unlock()
	e.release(leases)
	if stubborn > 0 {
		e.logger.Warn("handlers did not return after cancellation; their operations were released", slog.Int("count", stubborn))
	}
}

// StopWrites stops the batching of result writes, once nothing is left to
// write.
func (e *handlerExecutor) StopWrites() { e.finisher.Stop() }

// heldLeases returns the leases of the jobs running here.
func (e *handlerExecutor) heldLeases() []lrostore.Lease {
	e.mu.Lock()
	defer e.mu.Unlock()
	leases := make([]lrostore.Lease, 0, len(e.jobs))
	for _, j := range e.jobs {
		leases = append(leases, j.lease)
	}
	return leases
}

// expiredJobs returns the jobs whose lease has run out by now.
func (e *handlerExecutor) expiredJobs(now time.Time) []*job {
	e.mu.Lock()
	defer e.mu.Unlock()
	var expired []*job
	for _, j := range e.jobs {
		if now.After(j.leaseExpire) {
			expired = append(expired, j)
		}
	}
	return expired
}

// renewed records a heartbeat sent at sent for leases: a lease the store
// renewed now expires its kind's lease TTL after sent (Config.LeaseTTL on
// a local client; the server's TTL of the kind on a remote one). It
// returns the jobs whose lease the store no longer holds, and those whose
// cancellation was requested, among the jobs that still run under those
// leases.
func (e *handlerExecutor) renewed(leases []lrostore.Lease, cancelRequested map[string]bool, sent time.Time) (lost, cancelled []*job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range leases {
		j := e.jobs[l.ID]
		if j == nil || j.lease != l {
			continue
		}
		cr, ok := cancelRequested[l.ID]
		switch {
		case !ok:
			lost = append(lost, j)
		case cr:
			cancelled = append(cancelled, j)
			fallthrough
		default:
			j.leaseExpire = sent.Add(j.kind.leaseTTL)
		}
	}
	return lost, cancelled
}
