package lro

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/lrostore"
)

// How long Stop waits, after cancelling the handlers that outlived the grace
// period, before it releases their operations anyway.
const shutdownCancelWait = time.Second

// rescueBatch caps how many expired leases one rescue handles.
const rescueBatch = 1000

// retentionBatch caps how many operations one retention pass deletes per
// statement.
const retentionBatch = 1000

// loops tracks the client's goroutines by the stage of shutdown that ends
// them.
type loops struct {
	stopClaiming context.CancelFunc // producer, rescuer, retention
	claiming     sync.WaitGroup
	stopTending  context.CancelFunc // heartbeats, metadata
	tending      sync.WaitGroup
	jobs         sync.WaitGroup
}

// job is one attempt at running an operation on this client.
type job struct {
	c      *Client
	kind   *kind
	op     *lrostore.Operation
	name   string
	lease  lrostore.Lease
	ctx    context.Context
	cancel context.CancelCauseFunc

	leaseExpire time.Time // guarded by c.mu
	slotFreed   bool      // guarded by c.mu; see freeSlot

	mu        sync.Mutex
	meta      []byte
	metaType  string
	metaDirty bool
	finishing bool // the handler returned: the result carries the metadata
	lost      bool

	metaTooLarge bool // metadata over the limit was refused (and logged)
}

func (j *job) setMetadata(b []byte, typeURL string) error {
	if err := j.checkMetadata(len(b)); err != nil {
		return err
	}
	j.mu.Lock()
	switch {
	case j.lost:
		j.mu.Unlock()
		return ErrLeaseLost
	case j.finishing:
		j.mu.Unlock()
		return nil
	}
	j.meta, j.metaType, j.metaDirty = b, typeURL, true
	j.mu.Unlock()
	j.c.mu.Lock()
	j.c.dirty[j] = struct{}{}
	j.c.mu.Unlock()
	return nil
}

// logger returns the client's logger with the job's operation, kind and
// attempt (built when a job has something to log, not for every job).
func (j *job) logger() *slog.Logger {
	return j.c.logger.With(slog.String("operation", j.name), slog.String("kind", j.op.Kind), slog.Int("attempt", int(j.op.Attempt)))
}

// logThrottled logs a line about the job that many jobs may log at once
// (when the store fails), throttled by key: see Client.logs.
func (j *job) logThrottled(level slog.Level, key, msg string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.String("operation", j.name), slog.String("kind", j.op.Kind), slog.Int("attempt", int(j.op.Attempt))}, attrs...)
	j.c.logs.Log(context.Background(), level, key, msg, attrs...)
}

// loseLease cancels the job because its lease is gone, unless it already
// returned.
func (j *job) loseLease() {
	j.mu.Lock()
	finishing := j.finishing
	if !finishing {
		j.lost = true
	}
	j.mu.Unlock()
	if !finishing {
		j.logThrottled(slog.LevelWarn, "lease lost", "lease lost; cancelling the handler")
		j.cancel(ErrLeaseLost)
	}
}

func (c *Client) startLoops(bg context.Context) {
	claimCtx, stopClaiming := context.WithCancel(bg)
	tendCtx, stopTending := context.WithCancel(bg)
	c.loops.stopClaiming, c.loops.stopTending = stopClaiming, stopTending
	c.loops.claiming.Go(func() { c.rescueLoop(claimCtx) })
	if c.config.Retention > 0 {
		c.loops.claiming.Go(func() { c.retentionLoop(claimCtx) })
	}
	if notifier, ok := c.store.(lrostore.Notifier); ok {
		c.loops.tending.Go(func() { c.listenLoop(tendCtx, notifier) })
	}
	if c.config.Workers > 0 {
		c.loops.claiming.Go(func() { c.produce(claimCtx) })
		c.loops.tending.Go(func() { c.heartbeatLoop(tendCtx) })
		c.loops.tending.Go(func() { c.metadataLoop(tendCtx) })
	}
}

func (c *Client) shutdown(ctx context.Context) {
	close(c.closing)
	c.waiters.notifyAll()
	c.loops.stopClaiming()
	c.loops.claiming.Wait()

	jobsDone := make(chan struct{})
	go func() {
		c.loops.jobs.Wait()
		close(jobsDone)
	}()
	grace := time.NewTimer(max(c.config.ShutdownGrace, 0)) // negative: no grace
	defer grace.Stop()
	select {
	case <-jobsDone:
	case <-grace.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	for _, j := range c.jobs {
		j.cancel(ErrShutdown)
	}
	c.mu.Unlock()
	stubborn := 0
	select {
	case <-jobsDone:
	case <-time.After(shutdownCancelWait):
		// Handlers that ignore their context: release their operations
		// anyway. Whatever they write later is rejected: a released
		// operation is no longer running under their lease.
		c.mu.Lock()
		for _, j := range c.jobs {
			j.mu.Lock()
			j.lost = true
			j.mu.Unlock()
			c.releasing = append(c.releasing, j.lease)
			stubborn++
		}
		c.mu.Unlock()
	}
	// Release in one statement what the handlers gave up.
	c.mu.Lock()
	leases := c.releasing
	c.releasing, c.released = nil, true
	c.mu.Unlock()
	c.release(leases)
	if stubborn > 0 {
		c.logger.Warn("handlers did not return after cancellation; their operations were released", slog.Int("count", stubborn))
	}
	c.loops.stopTending()
	c.loops.tending.Wait()
	c.finisher.Stop()
	c.inserter.Stop()
	c.stop(ErrShutdown)
	c.logs.Stop()
}

func (c *Client) kindNames() []string {
	infos := c.Kinds()
	names := make([]string, len(infos))
	for i, k := range infos {
		names[i] = k.Name
	}
	return names
}

// produce claims pending operations while worker slots are free. It claims
// as many as there are free slots in one statement, and looks again when
// this client starts an operation, when a slot frees up while more may be
// pending, and every PollInterval.
func (c *Client) produce(ctx context.Context) {
	kinds := c.kindNames()
	if len(kinds) == 0 {
		return
	}
	poll := time.NewTicker(c.config.PollInterval)
	defer poll.Stop()
	more := true // there may be pending operations to claim
	var (
		last  time.Time // when the last claim started
		short bool      // it found fewer pending operations than it could take
	)
	for {
		if more && short {
			if wait := c.config.ClaimInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		if more {
			c.mu.Lock()
			free := c.config.Workers - c.running
			c.mu.Unlock()
			if free > 0 && free < c.config.Workers && !short {
				// Slots free one by one as handlers return: let more of
				// those that are returning now do so, and claim for them
				// all in one statement.
				free = c.gatherFree(ctx, free)
			}
			if free > 0 {
				n := min(free, c.config.ClaimBatch)
				sent := time.Now()
				last = sent
				ops, err := c.store.OperationClaim(ctx, &lrostore.OperationClaimParams{
					Owner: c.config.ID, Kinds: kinds, Max: n, LeaseTTL: c.config.LeaseTTL,
				})
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					c.warnStore(ctx, "claim operations", err)
					more = false // again at the next poll
				} else {
					for _, op := range ops {
						c.startJob(op, sent.Add(c.config.LeaseTTL))
					}
					more = len(ops) == n
					short = !more
					c.mu.Lock()
					c.backlog = more
					c.mu.Unlock()
					if c.afterClaim != nil {
						c.afterClaim()
					}
					if more && free > n {
						continue
					}
				}
			}
		}
		var freed chan struct{}
		if more {
			freed = c.freed
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			more = true
		case <-poll.C:
			more = true
		case <-freed:
		}
	}
}

// gatherFreeWait is how long a claim that would not fill every worker slot
// waits for more slots to free up.
const gatherFreeWait = time.Millisecond

// gatherFree waits up to gatherFreeWait for every worker slot to be free,
// and returns how many are. Handlers that return together free their slots
// one by one, as each is scheduled: claiming for each as it frees made
// claims of half the slots, twice as many of them.
func (c *Client) gatherFree(ctx context.Context, free int) int {
	timer := time.NewTimer(gatherFreeWait)
	defer timer.Stop()
	for free < c.config.Workers {
		select {
		case <-ctx.Done():
			return free
		case <-timer.C:
			return free
		case <-c.freed:
			c.mu.Lock()
			free = c.config.Workers - c.running
			c.mu.Unlock()
		}
	}
	return free
}

// startJob runs a claimed operation's handler in a worker slot.
func (c *Client) startJob(op *lrostore.Operation, leaseExpire time.Time) {
	c.mu.Lock()
	c.running++
	j, previous := c.addJobLocked(op, leaseExpire)
	c.mu.Unlock()
	c.launch(j, previous)
}

// addJobLocked registers the job of a claimed operation, in a worker slot
// already counted in c.running, and returns it with the job it replaces.
// c.mu is held: the job is counted in c.loops.jobs before Stop, which
// waits for them, can begin.
func (c *Client) addJobLocked(op *lrostore.Operation, leaseExpire time.Time) (j, previous *job) {
	ctx, cancel := context.WithCancelCause(c.workCtx)
	j = &job{
		c:           c,
		kind:        c.kinds.get(op.Kind),
		op:          op,
		name:        OperationName(op.Parent, op.ID),
		lease:       lrostore.Lease{ID: op.ID, Token: op.LeaseToken},
		ctx:         ctx,
		cancel:      cancel,
		leaseExpire: leaseExpire,
	}
	previous = c.jobs[op.ID]
	c.jobs[op.ID] = j
	c.loops.jobs.Add(1)
	return j, previous
}

// launch runs a job added by addJobLocked.
func (c *Client) launch(j, previous *job) {
	if previous != nil {
		// This client claimed the operation again after losing it: the old
		// run's lease is gone even if its heartbeat has not noticed yet.
		previous.loseLease()
	}
	if j.op.CancelRequested {
		j.cancel(ErrCancelRequested)
	}
	c.runners.Go(func() {
		defer c.loops.jobs.Done()
		c.runJob(j)
	})
}

// reserveEager takes worker slots for up to n operations about to be
// started, to store them claimed by this client (see
// Config.DisableEagerStart), and returns how many it took: none while
// pending operations may be waiting, or once Stop has begun.
func (c *Client) reserveEager(n int) int {
	if c.config.DisableEagerStart || c.config.Workers <= 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateStarted || c.backlog {
		return 0
	}
	n = max(0, min(n, c.config.Workers-c.running))
	c.running += n
	return n
}

// startEager runs the handlers of the operations that an insert stored
// claimed by this client, in the reserved worker slots, and gives back
// the reserved slots they did not take (starts whose request ID was taken,
// or a failed insert). Once Stop has begun, the operations are released
// instead, to run again at once, on another node or after a restart.
func (c *Client) startEager(ops []*lrostore.Operation, reserved int, leaseExpire time.Time) {
	type started struct{ j, previous *job }
	var (
		jobs    []started
		release []lrostore.Lease
	)
	c.mu.Lock()
	c.running -= reserved - len(ops)
	for _, op := range ops {
		if c.state != stateStarted {
			c.running--
			l := lrostore.Lease{ID: op.ID, Token: op.LeaseToken}
			if c.released {
				release = append(release, l)
			} else {
				c.releasing = append(c.releasing, l) // Stop releases them with the rest
			}
			continue
		}
		j, previous := c.addJobLocked(op, leaseExpire)
		jobs = append(jobs, started{j, previous})
	}
	c.mu.Unlock()
	for _, s := range jobs {
		c.launch(s.j, s.previous)
	}
	c.release(release)
	if len(ops) < reserved {
		c.signal(c.freed)
	}
}

func (c *Client) runJob(j *job) {
	defer c.endJob(j)
	resp, err := c.callHandler(j)
	cause := context.Cause(j.ctx)
	switch {
	case errors.Is(cause, ErrLeaseLost):
		return // another worker may own it now; nothing to write
	case errors.Is(cause, ErrShutdown) && err != nil:
		// Stop releases it, with the others, in one statement.
		c.mu.Lock()
		if !c.released {
			c.releasing = append(c.releasing, j.lease)
		}
		c.mu.Unlock()
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
		} else if len(f.Response) > c.config.ResponseBytesMax {
			f.State, f.Error = lrostore.StateFailed, c.responseTooLarge(j, len(f.Response))
			f.Response, f.ResponseType = nil, ""
		}
	}
	if err != nil {
		f.State = lrostore.StateFailed
		f.Error = c.handlerFailure(j, err)
		f.Response, f.ResponseType = nil, ""
	}
	j.mu.Lock()
	j.finishing = true
	if j.meta != nil {
		f.Metadata, f.MetadataType = j.meta, j.metaType
	}
	lost := j.lost
	j.mu.Unlock()
	if lost {
		return
	}
	c.freeSlot(j)
	if c.writeResult(j, f) {
		c.waiters.notify(j.op.ID)
	}
}

// How long writeResult waits between tries, at first and at most.
const (
	resultRetryMin = 50 * time.Millisecond
	resultRetryMax = time.Second
)

// writeResult writes a job's result, and reports whether it is stored. A
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
func (c *Client) writeResult(j *job, f *lrostore.OperationFinishParams) bool {
	delay := resultRetryMin
	for tries := 1; ; tries++ {
		out, err := c.finisher.Do(c.workCtx, f)
		res := out.res
		if err == nil {
			err = out.err
		}
		if err == nil && res.Finished {
			return true
		}
		if err == nil { // the lease is gone
			if tries > 1 && c.storedDone(j) {
				return true // an earlier try landed
			}
			j.logThrottled(slog.LevelWarn, "result dropped", "lease lost before the result was written; the result is dropped")
			return false
		}
		if lrostore.IsPermanent(err) {
			if f.Error == resultNotStored {
				j.logThrottled(slog.LevelError, "result not stored", "the store refused the operation's failure too; it runs again once its lease expires",
					slog.Any("error", err))
				return false
			}
			j.logThrottled(slog.LevelError, "result not stored", "the store refused the operation's result; the operation fails with INTERNAL",
				slog.String("state", f.State.String()), slog.Any("error", err))
			f = &lrostore.OperationFinishParams{Lease: f.Lease, State: lrostore.StateFailed, Error: resultNotStored}
			continue
		}
		c.mu.Lock()
		expired := time.Now().After(j.leaseExpire)
		c.mu.Unlock()
		if expired || c.workCtx.Err() != nil {
			j.logThrottled(slog.LevelError, "result not written", "the result could not be written; the operation runs again once its lease expires",
				slog.Int("tries", tries), slog.Any("error", err))
			return false
		}
		c.warnStore(c.workCtx, "write results (retrying while their leases hold)", err)
		select {
		case <-c.workCtx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, resultRetryMax)
	}
}

// storedDone reports whether the job's operation is done in the store under
// the job's own lease (another claim would have changed the token).
func (c *Client) storedDone(j *job) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.workCtx), 5*time.Second)
	defer cancel()
	op, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: j.op.ID})
	return err == nil && op.State.Done() && op.LeaseToken == j.lease.Token
}

// callHandler runs the kind's handler on the decoded request, turning a
// panic into an INTERNAL error.
func (c *Client) callHandler(j *job) (resp proto.Message, err error) {
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

// freeSlot gives the job's worker slot to the next operation while its
// result is written (the job keeps its lease, renewed by heartbeats, until
// the write ends), unless as many results as fill a finish batch (or as there are workers, if more) are being written already:
// then the slot waits for the write.
func (c *Client) freeSlot(j *job) {
	c.mu.Lock()
	if c.writing < max(c.config.Workers, finishBatchMax) {
		c.writing++
		c.running--
		j.slotFreed = true
	}
	c.mu.Unlock()
	if j.slotFreed {
		c.signal(c.freed)
	}
}

func (c *Client) endJob(j *job) {
	c.mu.Lock()
	if c.jobs[j.op.ID] == j {
		delete(c.jobs, j.op.ID)
	}
	delete(c.dirty, j)
	if j.slotFreed {
		c.writing--
	} else {
		c.running--
	}
	c.mu.Unlock()
	j.cancel(context.Canceled)
	c.signal(c.freed)
}

// release gives leases back so that the operations run again at once.
func (c *Client) release(leases []lrostore.Lease) {
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.workCtx), 5*time.Second)
	defer cancel()
	released, err := c.store.OperationReleaseMany(ctx, &lrostore.OperationReleaseManyParams{Leases: leases})
	if err != nil {
		c.logs.Log(ctx, slog.LevelError, "release", "release operations; they run again when their leases expire", slog.Any("error", err))
		return
	}
	c.logger.Info("released operations", slog.Int("count", len(released)))
}

func (c *Client) cancelJob(id string, cause error) {
	c.mu.Lock()
	j := c.jobs[id]
	c.mu.Unlock()
	if j != nil {
		j.cancel(cause)
	}
}

// heartbeatLoop renews all of this client's leases in one statement every
// HeartbeatInterval, retrying sooner after an error. A lease that is gone
// (or that could not be renewed before it expired) cancels its handler with
// ErrLeaseLost; a cancellation requested elsewhere cancels it with
// ErrCancelRequested.
func (c *Client) heartbeatLoop(ctx context.Context) {
	every(ctx, c.config.HeartbeatInterval, func() time.Duration {
		if err := c.heartbeat(ctx); err != nil && ctx.Err() == nil {
			c.warnStore(ctx, "heartbeat", err)
			return min(c.config.HeartbeatInterval, time.Second)
		}
		return c.config.HeartbeatInterval
	})
}

func (c *Client) heartbeat(ctx context.Context) error {
	c.mu.Lock()
	leases := make([]lrostore.Lease, 0, len(c.jobs))
	for _, j := range c.jobs {
		leases = append(leases, j.lease)
	}
	c.mu.Unlock()
	if len(leases) == 0 {
		return nil
	}
	sent := time.Now()
	held, err := c.store.OperationHeartbeat(ctx, &lrostore.OperationHeartbeatParams{Leases: leases, LeaseTTL: c.config.LeaseTTL})
	if err != nil {
		// Handlers whose lease has run out stop: another worker may take over.
		c.mu.Lock()
		var expired []*job
		for _, j := range c.jobs {
			if time.Now().After(j.leaseExpire) {
				expired = append(expired, j)
			}
		}
		c.mu.Unlock()
		for _, j := range expired {
			j.loseLease()
		}
		return err
	}
	cancelRequested := make(map[string]bool, len(held))
	for _, h := range held {
		cancelRequested[h.ID] = h.CancelRequested
	}
	var lost, cancelled []*job
	c.mu.Lock()
	for _, l := range leases {
		j := c.jobs[l.ID]
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
			j.leaseExpire = sent.Add(c.config.LeaseTTL)
		}
	}
	c.mu.Unlock()
	for _, j := range lost {
		j.loseLease()
	}
	for _, j := range cancelled {
		j.cancel(ErrCancelRequested)
	}
	return nil
}

// metadataLoop writes the metadata that handlers set, for all operations in
// one statement, every MetadataInterval.
func (c *Client) metadataLoop(ctx context.Context) {
	every(ctx, c.config.MetadataInterval, func() time.Duration {
		if err := c.flushMetadata(ctx); err != nil && ctx.Err() == nil {
			c.warnStore(ctx, "write metadata", err)
		}
		return c.config.MetadataInterval
	})
}

func (c *Client) flushMetadata(ctx context.Context) error {
	c.mu.Lock()
	if len(c.dirty) == 0 {
		c.mu.Unlock()
		return nil
	}
	dirty := c.dirty
	c.dirty = map[*job]struct{}{}
	c.mu.Unlock()
	jobs := make([]*job, 0, len(dirty))
	updates := make([]*lrostore.OperationSetMetadataParams, 0, len(dirty))
	for j := range dirty {
		j.mu.Lock()
		if j.metaDirty && !j.finishing && !j.lost {
			j.metaDirty = false
			jobs = append(jobs, j)
			updates = append(updates, &lrostore.OperationSetMetadataParams{Lease: j.lease, Metadata: j.meta, MetadataType: j.metaType})
		}
		j.mu.Unlock()
	}
	if len(updates) == 0 {
		return nil
	}
	written, err := c.store.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{Updates: updates})
	if lrostore.IsPermanent(err) {
		written, err = c.setMetadataEach(ctx, jobs, updates)
	}
	if err != nil {
		// Write them with the next flush.
		c.mu.Lock()
		for _, j := range jobs {
			j.mu.Lock()
			j.metaDirty = true
			j.mu.Unlock()
			c.dirty[j] = struct{}{}
		}
		c.mu.Unlock()
		return err
	}
	for i, ok := range written {
		if !ok {
			jobs[i].loseLease()
		}
	}
	return nil
}

// rescueLoop recovers the operations of workers that were lost: after the
// lease expired, an operation runs again, or fails once its attempts are
// used up, or ends cancelled if that was requested.
func (c *Client) rescueLoop(ctx context.Context) {
	every(ctx, 0, func() time.Duration {
		res, err := c.store.OperationRescue(ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhaustedFailure, CancelledError: cancelledFailure, Max: rescueBatch,
		})
		if err != nil {
			if ctx.Err() == nil {
				c.warnStore(ctx, "rescue operations", err)
			}
			return c.config.RescueInterval
		}
		if len(res.Retried) > 0 {
			c.logger.InfoContext(ctx, "operations of lost workers run again", slog.Int("count", len(res.Retried)))
			c.signal(c.wake)
		}
		for _, id := range res.Ended {
			c.waiters.notify(id)
		}
		if len(res.Retried)+len(res.Ended) == rescueBatch {
			return 0 // more to do
		}
		return c.config.RescueInterval
	})
}

// retentionLoop deletes done operations older than Config.Retention.
func (c *Client) retentionLoop(ctx context.Context) {
	interval := min(c.config.Retention/10, time.Hour)
	every(ctx, 0, func() time.Duration {
		n, err := c.store.OperationDeleteDoneBefore(ctx, &lrostore.OperationDeleteDoneBeforeParams{
			Before: time.Now().Add(-c.config.Retention), Max: retentionBatch,
		})
		switch {
		case err != nil:
			if ctx.Err() == nil {
				c.warnStore(ctx, "delete expired operations", err)
			}
		case n > 0:
			c.logger.InfoContext(ctx, "deleted expired operations", slog.Int("count", n))
			if n == retentionBatch {
				return 0 // more to do
			}
		}
		return interval
	})
}

// listenLoop follows the events of a store that several nodes share: an
// operation that ended on any node wakes the waiters here, a cancellation
// sent to any node cancels the handler running here, and operations that
// became pending anywhere wake the claimer. Heartbeats also carry
// cancellations, so a lost event delays one by a heartbeat at most.
func (c *Client) listenLoop(ctx context.Context, notifier lrostore.Notifier) {
	for {
		err := notifier.Listen(ctx, c.handleEvent)
		if ctx.Err() != nil || errors.Is(err, lrostore.ErrClosed) {
			return
		}
		c.warnStore(ctx, "listen for events; retrying", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (c *Client) handleEvent(e *lrostore.Event) {
	for _, id := range e.Done {
		c.waiters.notify(id)
	}
	for _, id := range e.CancelRequested {
		c.cancelJob(id, ErrCancelRequested)
	}
	if e.Pending || e.Resync {
		c.signal(c.wake)
	}
	if e.Resync {
		// Events may have been missed: every waiter reads its operation
		// again (and goes on waiting if it is not done).
		c.waiters.notifyAll()
	}
}

// storeWarnEvery is how often one kind of store failure is logged while it
// lasts: a store that does not answer is said once per interval, with a
// count of the lines held back, not at every call and every retry.
const storeWarnEvery = 10 * time.Second

// warnStore logs an error of the store met by a background task, throttled
// for each task (see storeWarnEvery).
func (c *Client) warnStore(ctx context.Context, what string, err error) {
	c.logs.Log(ctx, slog.LevelWarn, what, what, slog.Any("error", err))
}

// every calls step after first, then again after each delay that step
// returns, until ctx ends.
func every(ctx context.Context, first time.Duration, step func() time.Duration) {
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(step())
	}
}

// waitSet wakes the waiters of an operation when it ends.
type waitSet struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch chan struct{}
	n  int
}

// subscribe returns a channel closed when id is notified; call release when
// done waiting.
func (w *waitSet) subscribe(id string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*waitEntry{}
	}
	e := w.m[id]
	if e == nil {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[id] = e
	}
	e.n++
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		e.n--
		if e.n == 0 && w.m[id] == e {
			delete(w.m, id)
		}
	}
}

func (w *waitSet) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.m[id]; e != nil {
		close(e.ch)
		delete(w.m, id)
	}
}

func (w *waitSet) notifyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, e := range w.m {
		close(e.ch)
		delete(w.m, id)
	}
}
