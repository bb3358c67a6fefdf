package lro

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/internal/batch"
	"lro.dev/lro/internal/pagetoken"
	"lro.dev/lro/lrostore"
)

// GetOperation returns the latest state of an operation. A malformed name is
// INVALID_ARGUMENT; an unknown one NOT_FOUND.
func (c *Client) GetOperation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	if c.remote != nil {
		return c.remote.getOperation(ctx, name)
	}
	op, err := c.get(ctx, name, false)
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
	// NotBefore, while a delayed operation waits (see StartOptions.RunAfter),
	// is when it becomes due. Zero otherwise.
	NotBefore time.Time
	// Attempt is how many attempts have started, from 0.
	Attempt int
	// LastError, while the operation waits to run again after an attempt
	// failed (see RetryPolicy), is that attempt's error: the operation's
	// own error stays empty until it is done. Nil when no attempt failed.
	LastError *status.Status
	// Deadline is when the operation ends with DEADLINE_EXCEEDED if it is
	// not done by then (Kind.Timeout); zero when none.
	Deadline time.Time

	// Kind is the operation's kind; Parent its collection ("" for the
	// default one).
	Kind, Parent string
	// MaxAttempts is how many attempts the operation may make.
	MaxAttempts int
	// LeaseOwner is the worker running the operation; "" when none.
	LeaseOwner string
	// CreateTime, UpdateTime and EndTime are when the operation was
	// started, last changed, and done (zero until then).
	CreateTime, UpdateTime, EndTime time.Time
	// CancelRequested is true once a cancellation was requested.
	CancelRequested bool
	// Attempts are the operation's latest attempts (at most 100), the
	// oldest first.
	Attempts []AttemptInfo
}

// AttemptInfo is one attempt of an operation: a claim by a worker, and how
// it ended. Times are to the millisecond.
type AttemptInfo struct {
	// Number is the operation's attempt count with this one; an attempt
	// given back (see the outcome "released") does not count, and the next
	// has the same number.
	Number int
	// Worker is the worker that claimed the operation.
	Worker string
	// StartTime is when the worker claimed it; DueTime when it was due (its
	// start, or the end of a delay or of a retry's backoff): StartTime
	// less DueTime is the time it waited in the queue.
	StartTime, DueTime time.Time
	// EndTime is when the attempt ended; zero while it runs.
	EndTime time.Time
	// Outcome is "" while the attempt runs, then "succeeded", "failed",
	// "retry" (it failed and the operation runs again), "cancelled",
	// "lost" (the worker's lease expired), "released" (the worker gave the
	// operation back, as it does when it stops) or "deadline" (the
	// operation's deadline ended it).
	Outcome string
	// Error is the attempt's failure; nil when none. Its message is
	// clipped to 512 bytes.
	Error *status.Status
}

// GetOperationInfo is GetOperation, with the operation's OperationInfo,
// from the same read.
func (c *Client) GetOperationInfo(ctx context.Context, name string) (*longrunningpb.Operation, *OperationInfo, error) {
	if c.remote != nil {
		return nil, nil, remoteUnimplemented("GetOperationInfo", "the API does not show an operation's lease; call GetOperation")
	}
	parent, id, err := parseName("name", name)
	if err != nil {
		return nil, nil, err
	}
	// A full read, with the attempt history: it is for operators, not a
	// hot path.
	op, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Attempts: true})
	if err == nil && op.Parent != parent {
		err = lrostore.ErrNotFound
	}
	if err != nil {
		return nil, nil, c.notFound("get operation", name, err)
	}
	out, err := c.toProto(op)
	if err != nil {
		return nil, nil, err
	}
	info := &OperationInfo{State: op.State.String(), LeaseExpireTime: op.LeaseExpireTime, NotBefore: op.NotBefore,
		Attempt: int(op.Attempt), Deadline: op.Deadline,
		Kind: op.Kind, Parent: op.Parent, MaxAttempts: int(op.MaxAttempts), LeaseOwner: op.LeaseOwner,
		CreateTime: op.CreateTime, UpdateTime: op.UpdateTime, EndTime: op.EndTime, CancelRequested: op.CancelRequested}
	if op.State != lrostore.StateRunning {
		info.LeaseExpireTime = time.Time{}
	}
	if op.State != lrostore.StatePending {
		info.NotBefore = time.Time{}
	}
	if op.LastError != nil {
		info.LastError = failureStatus(op.LastError)
	}
	if len(op.Attempts) > 0 {
		info.Attempts = make([]AttemptInfo, len(op.Attempts))
		for i, a := range op.Attempts {
			info.Attempts[i] = AttemptInfo{Number: int(a.Number), Worker: a.Worker, StartTime: a.StartTime, DueTime: a.DueTime,
				EndTime: a.EndTime, Outcome: a.Outcome}
			if a.Code != 0 {
				info.Attempts[i].Error = status.New(codes.Code(a.Code), a.Message)
			}
		}
	}
	return out, info, nil
}

// get reads the operation name briefly, and with live what tells where it
// stands (see lrostore.OperationGetParams.Live).
func (c *Client) get(ctx context.Context, name string, live bool) (*lrostore.Operation, error) {
	parent, id, err := parseName("name", name)
	if err != nil {
		return nil, err
	}
	op, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Brief: true, Live: live})
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

// ListOptions are the optional parts of a list of operations.
type ListOptions struct {
	// Filter selects operations (AIP-160): for example
	// `done = true AND kind = "images.resize"`. Empty selects all.
	Filter string
	// PageSize is the most operations a page holds (AIP-158): 0 is
	// Config.PageSize, more than Config.PageSizeMax is PageSizeMax, and a
	// negative size is INVALID_ARGUMENT.
	PageSize int
	// PageToken is the NextPageToken of the page before, from a list with
	// the same name and filter; empty for the first page.
	PageToken string
}

// ListOperations returns a page of operations (AIP-158, AIP-160), newest first.
// name is the collection: "operations", "{parent}/operations", or the
// parent itself; opts may be nil. The filter, page size and page token are
// checked as the AIPs say: an invalid one is INVALID_ARGUMENT. A page ends
// early, with a next_page_token, when its operations would take more than
// PageBytesMax.
func (c *Client) ListOperations(ctx context.Context, name string, opts *ListOptions) (*longrunningpb.ListOperationsResponse, error) {
	if c.remote != nil {
		return c.remote.listOperations(ctx, name, opts)
	}
	if opts == nil {
		opts = &ListOptions{}
	}
	parent, err := parseCollection("name", name)
	if err != nil {
		return nil, err
	}
	size := opts.PageSize
	switch {
	case size < 0:
		return nil, invalidArgument("page_size", "INVALID_PAGE_SIZE", "page_size %d is negative", size)
	case size == 0:
		size = c.config.PageSize
	case size > c.config.PageSizeMax:
		size = c.config.PageSizeMax
	}
	expr, err := lrostore.ParseFilterKinds(opts.Filter, c.filterKinds())
	if err != nil {
		return nil, invalidArgument("filter", "INVALID_FILTER", "invalid filter: %v", err)
	}
	key, err := c.pageTokenKey(ctx)
	if err != nil {
		return nil, c.storeError("list operations", err)
	}
	binding := parent + "\x00" + opts.Filter
	var before string
	if opts.PageToken != "" {
		before, err = pagetoken.Decode(key, binding, opts.PageToken)
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
	if c.remote != nil {
		return c.remote.cancelOperation(ctx, name)
	}
	parent, id, err := parseName("name", name)
	if err != nil {
		return nil, err
	}
	res, err := c.store.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: id, Parent: parent, CancelledError: cancelledFailure})
	if err != nil {
		return nil, c.notFound("cancel operation", name, err)
	}
	op := res.Operation
	switch {
	case res.Ended:
		// It was pending: no worker ends it, so this node counts its end.
		if k := c.kinds.get(op.Kind); k != nil && k.metrics != nil {
			k.metrics.ended(op.State, op.Error, outcomeCancelled, op.CreateTime, op.EndTime)
		}
		c.waiters.notify(op.ID)
	case op.State.Done():
		c.waiters.notify(op.ID) // another request may have ended it just now
	case op.State == lrostore.StateRunning:
		c.exec.cancelJob(op.ID, ErrCancelRequested)
	}
	return c.toProto(op)
}

// DeleteOperation deletes a done operation: its result is no longer wanted
// (it does not cancel). An operation that is not done yet is
// FAILED_PRECONDITION: cancel it, or wait for it, first.
func (c *Client) DeleteOperation(ctx context.Context, name string) error {
	if c.remote != nil {
		return c.remote.deleteOperation(ctx, name)
	}
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
	if c.remote != nil {
		return c.remote.waitOperation(ctx, name, timeout)
	}
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
	if c.metrics != nil {
		c.metrics.waits.Inc()
		defer c.metrics.waits.Dec()
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
		return c.get(ctx, name, false)
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
	if c.remote != nil {
		return c.remote.ping(ctx)
	}
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
	timeoutFailure = failure(codes.DeadlineExceeded, "OPERATION_TIMED_OUT",
		"the operation did not end within its time limit (its kind's timeout)")
)
