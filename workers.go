package lro

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro/internal/leasetoken"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// The server side of the Workers service (lro.v1.Workers): workers outside
// this process, in any language, claim operations of this client's kinds,
// renew their leases, and finish or release them. Each call works on many
// operations, and each write goes to the store fenced by the lease token of
// the claim, exactly as the writes of local handlers do: a worker that lost
// its lease changes nothing. Expired remote leases are rescued as local ones
// are (rescuer.go), so a worker that dies is a lost lease.
//
// A claim gives each operation an opaque lease token (internal/leasetoken)
// that carries the store's fencing token and the operation's kind, bound
// to the operation's name by an HMAC under a key kept in the store: later
// calls learn the kind (its lease TTL, its metadata and response types)
// without reading the operation, and a forged or altered token is refused
// before the store is asked.

// Limits of the Workers service.
const (
	// WorkerItemsMax caps the operations that one Workers call claims,
	// renews, finishes or releases, and the kinds that a claim names.
	WorkerItemsMax = 1000
	// WorkerNameMax caps the length of a worker's name, in bytes.
	WorkerNameMax = 256
	// ClaimWaitDefault is how long a claim waits for a pending operation
	// when the request does not say (capped by Config.WaitMax).
	ClaimWaitDefault = 30 * time.Second
	// workerDefault names a worker that does not name itself.
	workerDefault = "worker"
	// leaseKeyName is the name of the lease tokens' key in the store.
	leaseKeyName = "lease_token"
)

// pendingBroadcast wakes the claim long polls of the Workers service when
// pending operations may exist. Firing costs one atomic load while no poll
// waits, so that the hot paths that fire it (every start that stores
// pending operations) pay nothing for a server without remote workers.
type pendingBroadcast struct {
	waiting atomic.Int64
	mu      sync.Mutex
	ch      chan struct{} // closed by fire; nil until someone waits
}

// subscribe returns a channel closed at the next fire; call done when no
// longer waiting. Subscribe before looking for pending operations, so that
// one that arrives between the look and the wait still wakes the waiter.
func (b *pendingBroadcast) subscribe() (<-chan struct{}, func()) {
	b.waiting.Add(1)
	b.mu.Lock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	ch := b.ch
	b.mu.Unlock()
	return ch, func() { b.waiting.Add(-1) }
}

// fire wakes every waiter.
func (b *pendingBroadcast) fire() {
	if b.waiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
	b.mu.Unlock()
}

// pendingMayExist tells whoever claims on this client (its producer, and
// the long polls of remote workers) that pending operations may be there.
func (c *Client) pendingMayExist() {
	c.producer.wakeUp()
	c.pending.fire()
}

// ClaimOperations implements lro.v1.Workers.ClaimOperations: it claims up to
// req.Max pending operations of req.Kinds for the worker req.Worker,
// each under its kind's lease TTL. Kinds that share a lease TTL are
// claimed together, oldest first, in one store claim; kinds of different
// TTLs in as many claims, each call starting with another group, and the
// operations are returned oldest first. When none is pending it
// waits up to req.Wait (unset: ClaimWaitDefault; capped by Config.WaitMax
// and by ctx's deadline) for one, waking as soon as one may be there, and
// returns none after the wait, or once the client stops. A malformed
// request (no kinds, an unknown kind, max outside 1..WorkerItemsMax, a
// negative wait, a bad worker name) is INVALID_ARGUMENT.
func (c *Client) ClaimOperations(ctx context.Context, req *lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
	if c.remote != nil {
		return nil, remoteUnimplemented("ClaimOperations", "a remote client is a worker, not a server")
	}
	owner, err := workerName(req.GetWorker())
	if err != nil {
		return nil, err
	}
	groups, err := c.claimGroups(req.GetKinds())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetMax())
	if limit < 1 || limit > WorkerItemsMax {
		return nil, invalidArgument("max", "INVALID_MAX", "max is %d: claim from 1 to %d operations", req.GetMax(), WorkerItemsMax)
	}
	wait := ClaimWaitDefault
	if w := req.GetWait(); w != nil {
		if err := w.CheckValid(); err != nil {
			return nil, invalidArgument("wait", "INVALID_WAIT", "wait is not a valid duration: %v", err)
		}
		if wait = w.AsDuration(); wait < 0 {
			return nil, invalidArgument("wait", "INVALID_WAIT", "wait %v is negative", wait)
		}
	}
	wait = min(wait, c.config.WaitMax)
	if deadline, ok := ctx.Deadline(); ok {
		// Answer before the caller's deadline, with none rather than
		// DEADLINE_EXCEEDED: the wait leaves a fifth of the time left, up
		// to a second, for the last claim and the answer, which a loaded
		// machine may take hundreds of milliseconds over.
		left := time.Until(deadline)
		wait = max(0, min(wait, left-min(left/5, time.Second)))
	}
	if err := c.checkStarted(); err != nil {
		return nil, err
	}
	if c.metrics != nil {
		c.metrics.remoteWorkers.Add(1)
		defer c.metrics.remoteWorkers.Add(-1)
	}
	var timer *time.Timer
	for {
		var (
			woken <-chan struct{}
			done  func()
		)
		if wait > 0 {
			woken, done = c.pending.subscribe()
		}
		ops, err := c.claimFor(ctx, owner, groups, limit, req.GetJson())
		if err != nil || len(ops) > 0 || wait <= 0 {
			if done != nil {
				done()
			}
			if err != nil {
				return nil, err
			}
			return &lropb.ClaimOperationsResponse{Operations: ops}, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		c.claimWaiting.Signal(struct{}{})
		select {
		case <-woken:
			done()
		case <-timer.C:
			done()
			return &lropb.ClaimOperationsResponse{}, nil
		case <-c.closing:
			done()
			return &lropb.ClaimOperationsResponse{}, nil
		case <-ctx.Done():
			done()
			return nil, ctx.Err()
		}
	}
}

// claimGroup is the kinds of a claim that share a lease TTL: one store
// claim takes them together.
type claimGroup struct {
	ttl   time.Duration
	kinds []string
}

// claimGroups checks a claim's kinds and groups them by lease TTL.
func (c *Client) claimGroups(names []string) ([]claimGroup, error) {
	if len(names) == 0 {
		return nil, invalidArgument("kinds", "KINDS_REQUIRED", "kinds is required: name at least one kind to claim")
	}
	if len(names) > WorkerItemsMax {
		return nil, invalidArgument("kinds", "TOO_MANY_KINDS", "%d kinds: a claim names at most %d", len(names), WorkerItemsMax)
	}
	var groups []claimGroup
	for i, name := range names {
		k, err := c.kind(name)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				out := *e
				out.Field = fmt.Sprintf("kinds[%d]", i)
				return nil, &out
			}
			return nil, err
		}
		g := slices.IndexFunc(groups, func(g claimGroup) bool { return g.ttl == k.leaseTTL })
		if g < 0 {
			groups = append(groups, claimGroup{ttl: k.leaseTTL})
			g = len(groups) - 1
		}
		if !slices.Contains(groups[g].kinds, name) {
			groups[g].kinds = append(groups[g].kinds, name)
		}
	}
	return groups, nil
}

// claimFor claims up to limit operations, one store claim per group. When
// a later group's claim fails after an earlier one claimed operations, it
// returns those: they are the worker's now.
func (c *Client) claimFor(ctx context.Context, owner string, groups []claimGroup, limit int, asJSON bool) ([]*lropb.ClaimedOperation, error) {
	tokens, err := c.leaseTokens(ctx)
	if err != nil {
		return nil, c.storeError("claim operations", err)
	}
	var out []*lropb.ClaimedOperation
	var leases []lrostore.Lease // out's
	var (
		broken      []*lrostore.OperationFinishParams
		brokenKinds []string // broken's
	)
	first := 0
	if len(groups) > 1 {
		// Each call starts with another group, so that no group starves
		// the others when work is plentiful.
		first = int(c.claimTurn.Add(1) % uint64(len(groups)))
	}
	for n := range groups {
		g := groups[(first+n)%len(groups)]
		if limit <= 0 {
			break
		}
		ops, err := c.store.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: owner, Kinds: g.kinds, Max: limit, LeaseTTL: g.ttl})
		if err != nil {
			if len(out) > 0 {
				break
			}
			return nil, c.storeError("claim operations", err)
		}
		limit -= len(ops)
		if out == nil {
			out = make([]*lropb.ClaimedOperation, 0, len(ops))
		}
		for _, op := range ops {
			claimed, err := c.claimedOperation(tokens, op, g.ttl, asJSON)
			if err != nil {
				// The stored request does not decode: the operation fails,
				// as it would in a local handler.
				c.logger.Error("stored request does not decode; the operation fails", slog.String("operation", OperationName(op.Parent, op.ID)), slog.Any("error", err))
				brokenKinds = append(brokenKinds, op.Kind)
				broken = append(broken, &lrostore.OperationFinishParams{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken},
					State: lrostore.StateFailed, Error: failure(codes.DataLoss, "CORRUPT_INPUT", "the stored request does not decode as the kind's request")})
				continue
			}
			out = append(out, claimed)
			leases = append(leases, lrostore.Lease{ID: op.ID, Token: op.LeaseToken})
			if c.metrics != nil {
				if km := c.kinds.get(op.Kind).metrics; km != nil {
					km.remoteClaimed.Inc()
					km.claimed(op, time.Now())
				}
			}
		}
	}
	if len(broken) > 0 {
		c.finishBroken(ctx, broken, brokenKinds)
	}
	if ctx.Err() != nil && len(out) > 0 {
		// The caller went away (it stopped, or its deadline passed) while
		// the store claimed for it: the answer would be lost, and the
		// operations left to their lease TTL with the attempt counted.
		// Give them back at once instead.
		c.releaseUnanswered(ctx, leases)
		return nil, ctx.Err()
	}
	if len(groups) > 1 {
		slices.SortFunc(out, func(a, b *lropb.ClaimedOperation) int { return compareIDs(a.GetName(), b.GetName()) })
	}
	return out, nil
}

// releaseUnanswered releases claimed operations whose claim cannot be
// answered.
func (c *Client) releaseUnanswered(ctx context.Context, leases []lrostore.Lease) {
	if _, err := c.store.OperationReleaseMany(context.WithoutCancel(ctx), &lrostore.OperationReleaseManyParams{Leases: leases}); err != nil {
		c.logs.Log(ctx, slog.LevelWarn, "release unanswered", "release operations claimed for a caller that went away; they run again when their leases expire", slog.Any("error", err))
		return
	}
	c.pendingMayExist()
}

// compareIDs orders operation names by their IDs (which sort by creation
// time), whatever their parents.
func compareIDs(a, b string) int {
	_, ida, _ := cutLast(a, "/")
	_, idb, _ := cutLast(b, "/")
	switch {
	case ida < idb:
		return -1
	case ida > idb:
		return 1
	}
	return 0
}

// finishBroken fails the claimed operations whose stored request does not
// decode; kinds are theirs.
func (c *Client) finishBroken(ctx context.Context, fs []*lrostore.OperationFinishParams, kinds []string) {
	res, err := c.store.OperationFinishMany(context.WithoutCancel(ctx), &lrostore.OperationFinishManyParams{Finishes: fs, CancelledError: cancelledFailure,
		CreateTimes: c.metrics != nil})
	if err != nil {
		c.logs.Log(ctx, slog.LevelError, "finish broken", "fail operations whose request does not decode; they run again when their leases expire", slog.Any("error", err))
		return
	}
	for i, r := range res {
		if r.Finished {
			if c.metrics != nil {
				if k := c.kinds.get(kinds[i]); k != nil {
					k.metrics.ended(r.State, fs[i].Error, "", r.CreateTime, time.Now())
				}
			}
			c.waiters.notify(fs[i].Lease.ID)
		}
	}
}

// claimedOperation describes a claimed operation to its worker.
func (c *Client) claimedOperation(tokens *leasetoken.Codec, op *lrostore.Operation, ttl time.Duration, asJSON bool) (*lropb.ClaimedOperation, error) {
	name := OperationName(op.Parent, op.ID)
	out := &lropb.ClaimedOperation{
		Name:              name,
		Kind:              op.Kind,
		LeaseToken:        tokens.Encode(name, op.LeaseToken, op.Kind),
		Attempt:           op.Attempt,
		MaxAttempts:       op.MaxAttempts,
		LeaseTtl:          durationpb.New(ttl),
		HeartbeatInterval: durationpb.New(ttl / 3),
		CancelRequested:   op.CancelRequested,
		Traceparent:       op.TraceParent,
		Tracestate:        op.TraceState,
	}
	k := c.kinds.get(op.Kind)
	if k == nil {
		return nil, fmt.Errorf("kind %q is not registered", op.Kind)
	}
	if deadline, cause := attemptDeadline(k, op, op.UpdateTime); cause != nil {
		out.Deadline = timestamppb.New(deadline)
	}
	if asJSON {
		v, err := anyToJSON(op.Input, k.request)
		if err != nil {
			return nil, err
		}
		out.KindInput = &lropb.ClaimedOperation_Input{Input: v}
	} else {
		a, err := decodeAny(op.Input)
		if err != nil {
			return nil, err
		}
		out.KindInput = &lropb.ClaimedOperation_TypedInput{TypedInput: a}
	}
	return out, nil
}

// workerName checks a worker's name, and returns the lease owner it
// stands for.
func workerName(w string) (string, error) {
	if w == "" {
		return workerDefault, nil
	}
	if len(w) > WorkerNameMax || !utf8.ValidString(w) {
		return "", invalidArgument("worker", "INVALID_WORKER", "worker must be at most %d bytes of printable UTF-8", WorkerNameMax)
	}
	for _, r := range w {
		if !unicode.IsPrint(r) {
			return "", invalidArgument("worker", "INVALID_WORKER", "worker must be at most %d bytes of printable UTF-8", WorkerNameMax)
		}
	}
	return w, nil
}

// leaseTokens returns the codec of the lease tokens, whose key is read
// from the store (created there by the first node that needs it) once.
func (c *Client) leaseTokens(ctx context.Context) (*leasetoken.Codec, error) {
	if codec := c.leaseCodec.Load(); codec != nil {
		return codec, nil
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if codec := c.leaseCodec.Load(); codec != nil {
		return codec, nil
	}
	key, err := c.store.KeyGetOrCreate(ctx, &lrostore.KeyGetOrCreateParams{Name: leaseKeyName, New: []byte(rand.Text() + rand.Text())})
	if err != nil {
		return nil, err
	}
	codec := leasetoken.New(key)
	c.leaseCodec.Store(codec)
	return codec, nil
}

// LeaseKind returns the kind of the operation that a worker's lease token
// for name is on, as the token says: tokens are signed, so a worker cannot
// change the kind in one. It reads no operation (only, once, the key of the
// tokens), so that a server can decide whether the caller may work on
// that kind before a renew, finish or release touches anything; lrogrpc's
// authorization does. A token that was altered, or that belongs to
// another operation, is INVALID_ARGUMENT; on a remote client, LeaseKind is
// UNIMPLEMENTED.
func (c *Client) LeaseKind(ctx context.Context, name, token string) (string, error) {
	if c.remote != nil {
		return "", remoteUnimplemented("LeaseKind", "a remote client is a worker, not a server")
	}
	tokens, err := c.leaseTokens(ctx)
	if err != nil {
		return "", c.storeError("read lease tokens", err)
	}
	_, kind, err := tokens.Decode(name, token)
	if err != nil {
		return "", invalidArgument("lease_token", "INVALID_LEASE_TOKEN",
			"lease_token is invalid: it was altered, or it comes from a claim of another operation")
	}
	return kind, nil
}

// heldLease is one item of a renew, finish or release whose name and lease
// token are good: the lease it names, and the operation's kind.
type heldLease struct {
	name  string
	lease lrostore.Lease
	kind  *kind
}

// checkItems checks the size of a call's list of items.
func checkItems(field string, n int) error {
	if n > WorkerItemsMax {
		return invalidArgument(field, "TOO_MANY_ITEMS", "%d %s: at most %d in one call", n, field, WorkerItemsMax)
	}
	return nil
}

// lease checks an item's name and lease token. A token that was altered or
// forged, or that names another operation, is INVALID_ARGUMENT; so is one
// whose kind this client no longer has.
func (c *Client) lease(tokens *leasetoken.Codec, list string, i int, name, token string) (heldLease, *Error) {
	_, id, err := parseName("name", name)
	if err != nil {
		var e *Error
		errors.As(err, &e)
		out := *e
		out.Field = itemField(list, i, "name") // built on this rare path only
		return heldLease{}, &out
	}
	fence, kindName, err := tokens.Decode(name, token)
	if err != nil {
		return heldLease{}, invalidArgument(itemField(list, i, "lease_token"), "INVALID_LEASE_TOKEN",
			"lease_token is invalid: it was altered, or it comes from a claim of another operation")
	}
	k := c.kinds.get(kindName)
	if k == nil {
		return heldLease{}, invalidArgument(itemField(list, i, "lease_token"), "UNKNOWN_KIND",
			"the lease is on an operation of kind %q, which this server no longer has", kindName)
	}
	return heldLease{name: name, lease: lrostore.Lease{ID: id, Token: fence}, kind: k}, nil
}

// refused diagnoses an item whose lease the store did not hold: NOT_FOUND
// when the operation is gone, FAILED_PRECONDITION when it is done (such as
// finished already), else ABORTED: the lease was lost (it expired, or the
// operation was released or claimed again). It reads the operation: this
// is the rare path.
func (c *Client) refused(ctx context.Context, h heldLease) *Error {
	op, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: h.lease.ID, Brief: true})
	switch {
	case errors.Is(err, lrostore.ErrNotFound), err == nil && OperationName(op.Parent, op.ID) != h.name:
		e := newError(ErrNotFound, "OPERATION_NOT_FOUND", "", "operation %q not found", h.name)
		e.Resource = h.name
		return e
	case err == nil && op.State.Done():
		e := newError(ErrFailedPrecondition, "OPERATION_DONE", "", "operation %q is done already", h.name)
		e.Resource = h.name
		return e
	}
	return leaseLost(h.name)
}

// leaseLost is the error of an item whose lease is lost.
func leaseLost(name string) *Error {
	return &Error{Code: codes.Aborted, Reason: "LEASE_LOST", Resource: name, Err: ErrLeaseLost,
		Message: fmt.Sprintf("the lease on %q is lost: it expired, or the operation was released or claimed again; the worker must stop", name)}
}

type spbStatus = spb.Status

// itemStatus is the google.rpc.Status of an item's outcome.
func itemStatus(e *Error) *spbStatus {
	if e == nil {
		return &spbStatus{}
	}
	return e.GRPCStatus().Proto()
}

// ttlGroups returns the distinct lease TTLs of items, in order of first
// appearance.
func ttlGroups(items []heldLease, ok []bool) []time.Duration {
	var ttls []time.Duration
	for i, h := range items {
		if ok[i] && !slices.Contains(ttls, h.kind.leaseTTL) {
			ttls = append(ttls, h.kind.leaseTTL)
		}
	}
	return ttls
}
