package lro

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/lrostore"
)

// Starting operations: a start is checked, stored (in a batch with the
// starts that arrive meanwhile), and, when this client has a free worker
// slot and no pending operations wait, stored claimed by this client and
// run at once (an eager start, see Config.DisableEagerStart).

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
	// RunAfter delays the operation: it stays pending (visible, and
	// cancellable at once) until then, and runs then, on whichever node
	// claims it first. A time already past runs it at once. At most
	// DelayMax ahead; not with Delay.
	RunAfter time.Time
	// Delay delays the operation by this long from the start, as RunAfter
	// does: not negative, at most DelayMax, not with RunAfter.
	Delay time.Duration
}

// DelayMax is how far ahead StartOptions.RunAfter and Delay may delay an
// operation.
const DelayMax = 366 * 24 * time.Hour

// notBefore returns when a start with these options becomes due: the zero
// time for one that runs at once.
func (o *StartOptions) notBefore(now time.Time) (time.Time, error) {
	switch {
	case !o.RunAfter.IsZero() && o.Delay != 0:
		return time.Time{}, invalidArgument("start_time", "INVALID_START_TIME", "give run_after or delay, not both")
	case o.Delay < 0:
		return time.Time{}, invalidArgument("delay", "INVALID_START_TIME", "delay %v is negative", o.Delay)
	case o.Delay > DelayMax:
		return time.Time{}, invalidArgument("delay", "INVALID_START_TIME", "delay %v is over the maximum of %v", o.Delay, DelayMax)
	case o.Delay > 0:
		return now.Add(o.Delay), nil
	case o.RunAfter.IsZero() || !o.RunAfter.After(now):
		return time.Time{}, nil
	case o.RunAfter.Sub(now) > DelayMax:
		return time.Time{}, invalidArgument("run_after", "INVALID_START_TIME", "run_after %s is more than %v ahead",
			o.RunAfter.UTC().Format(time.RFC3339), DelayMax)
	}
	return o.RunAfter, nil
}

// StartOperation starts an operation of a registered kind and returns it, not done,
// with the metadata of the kind's InitialMetadata if it has one.
// An unknown kind, a request of another type, or one the kind's Validate
// rejects is INVALID_ARGUMENT (see [Error]); a failure of InitialMetadata
// is as Kind.InitialMetadata says; nothing is stored then. The
// operation is durable when Start returns.
//
// Concurrent calls share commits: the starts that arrive while one commit
// is under way are written together in the next.
func (c *Client) StartOperation(ctx context.Context, kindName string, req proto.Message, opts *StartOptions) (*longrunningpb.Operation, error) {
	if c.remote != nil {
		if err := c.checkStarted(); err != nil {
			return nil, err
		}
		return c.remote.startOperation(ctx, kindName, req, opts)
	}
	ctx, span := c.tracing.startSpan(ctx, &c.kinds, kindName)
	op, err := c.startOperation(ctx, span, kindName, req, opts)
	endStart(span, kindName, op.GetName(), err)
	return op, err
}

// startOperation is StartOperation on a local client, in the start's span
// (nil when not traced).
func (c *Client) startOperation(ctx context.Context, span trace.Span, kindName string, req proto.Message, opts *StartOptions) (*longrunningpb.Operation, error) {
	params, err := c.prepareStart(kindName, req, opts)
	if err != nil {
		return nil, err
	}
	params.TraceParent, params.TraceState = storedTraceContext(span)
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
func (c *Client) StartOperations(ctx context.Context, reqs []StartRequest) (_ []*longrunningpb.Operation, err error) {
	if c.remote != nil {
		return nil, remoteUnimplemented("StartOperations", "the API has no call that starts several operations all or none; call StartOperation for each")
	}
	if len(reqs) > StartOperationsMax {
		return nil, invalidArgument("requests", "TOO_MANY_REQUESTS", "%d requests: at most %d operations start in one call", len(reqs), StartOperationsMax)
	}
	all := make([]*lrostore.OperationInsertParams, len(reqs))
	ctx, span := c.tracing.startBatchSpan(ctx)
	if span != nil {
		defer func() { endSpan(span, err, AttrOperationCount.Int(len(reqs))) }()
	}
	traceParent, traceState := storedTraceContext(span)
	for i, r := range reqs {
		params, err := c.prepareStart(r.Kind, r.Request, r.Options)
		if err != nil {
			return nil, indexed(i, err)
		}
		params.TraceParent, params.TraceState = traceParent, traceState
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
	notBefore, err := opts.notBefore(time.Now())
	if err != nil {
		return nil, err
	}
	if k.validate != nil {
		if err := k.validate(req); err != nil {
			return nil, validationError(kindName, err)
		}
	}
	var meta []byte
	var metaType string
	if k.initialMeta != nil {
		if meta, metaType, err = c.initialMetadata(k, req); err != nil {
			return nil, err
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
		ID:           id.String(),
		Parent:       opts.Parent,
		Kind:         kindName,
		Input:        inputBytes,
		Metadata:     meta,
		MetadataType: metaType,
		MetadataJSON: messageJSON(k.metadata, meta),
		RequestID:    opts.RequestID,
		RequestHash:  requestHash(opts, kindName, inputBytes),
		MaxAttempts:  k.maxAttempts,
		NotBefore:    notBefore,
		Deadline:     k.deadline(),
	}, nil
}

// initialMetadata runs a kind's InitialMetadata on a start's request and
// encodes what it returns as SetMetadata would: nil when it returns none.
// Its failures are the kind's, not the caller's (the request passed
// Validate): an error that carries a gRPC status is returned as is; any
// other error, a panic, a message of another type or one over
// Config.MetadataBytesMax is INTERNAL, and logged for the operator.
func (c *Client) initialMetadata(k *kind, req proto.Message) (meta []byte, typeURL string, err error) {
	fail := func(reason string, cause error, format string, args ...any) error {
		msg := fmt.Sprintf("kind %q: initial metadata: %s", k.name, fmt.Sprintf(format, args...))
		c.logs.Log(context.Background(), slog.LevelError, "initial metadata "+k.name, "a start was refused: "+msg,
			slog.String("kind", k.name), slog.String("reason", reason))
		return &Error{Code: codes.Internal, Reason: reason, Message: msg, Err: cause}
	}
	m, err := func() (m proto.Message, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
				m = nil
			}
		}()
		return k.initialMeta(req)
	}()
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
			return nil, "", err
		}
		return nil, "", fail("INITIAL_METADATA_FAILED", err, "%v", err)
	}
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, "", nil
	}
	if got, want := m.ProtoReflect().Descriptor().FullName(), k.metadata.Descriptor().FullName(); got != want {
		return nil, "", fail("INITIAL_METADATA_FAILED", nil, "a %s, not the kind's %s", got, want)
	}
	a, err := anypb.New(m)
	if err == nil {
		meta, err = proto.Marshal(a)
	}
	if err != nil {
		return nil, "", fail("INITIAL_METADATA_FAILED", err, "encode: %v", err)
	}
	if limit := c.config.MetadataBytesMax; len(meta) > limit {
		return nil, "", fail("METADATA_TOO_LARGE", ErrMetadataTooLarge,
			"%d bytes encoded, over the limit of %d bytes (Config.MetadataBytesMax)", len(meta), limit)
	}
	return meta, a.TypeUrl, nil
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

// delayed reports whether any of ops waits for its time.
func delayed(ops []*lrostore.OperationInsertParams) bool {
	for _, p := range ops {
		if !p.NotBefore.IsZero() {
			return true
		}
	}
	return false
}

// insertMany stores operations in one transaction, the first of them
// claimed by this client when it can run them at once (eager starts, see
// Config.DisableEagerStart), and starts their handlers.
func (c *Client) insertMany(ctx context.Context, ops []*lrostore.OperationInsertParams) ([]*lrostore.OperationInsertResult, error) {
	handled := len(ops) // operations of the kinds that this client runs at once
	if !c.allHandled || delayed(ops) {
		handled = 0
		for _, p := range ops {
			if p.NotBefore.IsZero() && c.kinds.get(p.Kind).handled() {
				handled++
			}
		}
	}
	eager := c.producer.reserveEager(handled)
	sent := time.Now()
	for i, n := 0, 0; n < eager; i++ {
		if p := ops[i]; p.NotBefore.IsZero() && c.kinds.get(p.Kind).handled() {
			p.LeaseOwner, p.LeaseTTL = c.config.ID, c.config.LeaseTTL
			n++
		}
	}
	results, err := c.store.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: ops})
	if err != nil {
		c.producer.startEager(nil, eager, time.Time{})
		return nil, err
	}
	pending := false
	claimed := make([]*lrostore.Operation, 0, eager)
	for _, res := range results {
		if c.metrics != nil && !res.Existing {
			c.kinds.get(res.Operation.Kind).metrics.started.Inc()
		}
		if !res.Existing && !res.Operation.Deadline.IsZero() {
			c.expiry.set(res.Operation.Deadline)
		}
		switch {
		case res.Existing:
		case !res.Operation.NotBefore.IsZero():
			// Due later: the alarm wakes the claims then.
			c.alarm.set(res.Operation.NotBefore)
		case res.Operation.State == lrostore.StatePending:
			pending = true
		default: // stored claimed by this client
			claimed = append(claimed, res.Operation)
		}
	}
	c.producer.startEager(claimed, eager, sent.Add(c.config.LeaseTTL))
	if pending {
		c.producer.pendingStored()
		c.pending.fire()
	}
	return results, nil
}
