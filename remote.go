package lro

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// remote is what a remote client has in place of a store: the services of
// an lro server, over one connection.
type remote struct {
	work       *remoteWorkStore
	lro        lropb.LroClient
	operations longrunningpb.OperationsClient
	// heartbeatSet is whether Config.HeartbeatInterval was given, rather
	// than derived from the server's lease TTLs at Start.
	heartbeatSet bool
}

// NewRemoteClient returns a client that runs operations of an lro server
// (`lro serve`, or any server of lrogrpc) in this process, talking to it
// over conn, without a store. It is how a Go team puts its workers in
// deployments of their own, apart from the server: register the same
// Kinds (with Run) as on a local client, Start, and the handlers run with
// the same Job: SetMetadata coalesced and written within
// MetadataInterval, ctx cancelled with cause ErrCancelRequested,
// ErrLeaseLost or ErrShutdown, a typed response or a status error, a panic
// failing the operation with INTERNAL, the same size limits. The client
// claims through the server's Workers service with a long poll (an
// operation started on the server reaches a waiting worker at once),
// renews its leases and writes metadata in one call per interval, and
// writes results in batches.
//
// Only kinds with Run can be registered: a kind that this process does
// not run is declared on the server instead. At Start, the client checks
// that the server has each registered kind, with the same request,
// metadata and response types; Start fails otherwise, naming the kind.
//
// The Config fields mean the same as for a local client where they apply:
// Workers (the handlers run at once), ShutdownGrace, MetadataInterval,
// FinishInterval, ClaimInterval, ClaimBatch (at most 1,000 per claim, the
// service's limit), PollInterval (how long to wait after a failed claim
// before the next), the size limits (MetadataBytesMax, ResponseBytesMax,
// ErrorBytesMax: the server enforces its own as well), ID (the worker name
// the server records as the lease owner, at most 256 printable bytes), and
// Logger. The lease TTL is the server's, per kind: Config.LeaseTTL is
// ignored; a handler whose renewals fail stops (ErrLeaseLost) once its
// kind's TTL has passed since the last renewal; HeartbeatInterval
// defaults to a third of the smallest lease TTL of the registered kinds
// (if set, it must be at most half of it).
// Fields about the store (Retention, RescueInterval, DisableEagerStart,
// InputBytesMax, PageSize, PageSizeMax, WaitMax) do not apply: the
// server's own configuration governs them.
//
// The client-side methods forward to the server over the same connection:
// StartOperation (the request packed as typed_input), GetOperation,
// ListOperations, CancelOperation, DeleteOperation, WaitOperation, and
// Ping. StartOperations (all-or-nothing, which the API has no call for)
// and GetOperationInfo (lease details the API does not show) return
// UNIMPLEMENTED (ErrUnimplemented). Errors keep the server's code, and
// wrap the same sentinels as a local client's (errors.Is(err, ErrNotFound)).
//
// A remote client does not rescue operations of lost workers, delete
// expired operations, or follow store events: the server does. Stop
// releases what its handlers did not finish, as a local client's Stop does.
// The client does not own conn: close it after Stop.
func NewRemoteClient(conn grpc.ClientConnInterface, config *Config) (*Client, error) {
	if conn == nil {
		return nil, errors.New("lro: NewRemoteClient: conn is nil")
	}
	if config == nil {
		config = &Config{}
	}
	cfg, err := config.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.ClaimBatch = min(cfg.ClaimBatch, remoteItemsMax)
	cfg.DisableEagerStart = true
	r := &remote{
		lro:          lropb.NewLroClient(conn),
		operations:   longrunningpb.NewOperationsClient(conn),
		heartbeatSet: config.HeartbeatInterval != 0,
	}
	c := newClient(nil, nil, cfg) // the work store is set below, once the logger is there
	r.work = newRemoteWorkStore(lropb.NewWorkersClient(conn), cfg.ID, c.logger)
	c.remote = r
	c.exec.store, c.producer.store, c.leases.store = r.work, r.work, r.work
	c.exec.forget = func(l lrostore.Lease) { r.work.forget(l) }
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics)
		if err != nil {
			return nil, err
		}
		c.setMetrics(m)
	}
	return c, nil
}

// startRemote is Start for a remote client; c.mu is held.
func (c *Client) startRemote(ctx context.Context) error {
	kinds := c.Kinds()
	if len(kinds) > 0 {
		if err := c.checkServerKinds(ctx, kinds); err != nil {
			return err
		}
	}
	bg, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	c.stop = stop
	c.allHandled = true
	c.exec.Start(bg, c.done)
	c.state = stateStarted
	if c.config.Workers > 0 && len(kinds) > 0 {
		c.producer.kinds = c.handledKinds()
		c.producer.longPoll = true
		_ = c.producer.Start(bg)
		_ = c.leases.Start(bg)
	}
	return nil
}

// checkServerKinds checks that the server has each registered kind with
// the same types, takes each kind's lease TTL and max attempts from the
// server, and sets the lease timings from the smallest TTL.
func (c *Client) checkServerKinds(ctx context.Context, kinds []KindInfo) error {
	resp, err := c.remote.lro.ListKinds(ctx, &lropb.ListKindsRequest{})
	if err != nil {
		return fmt.Errorf("lro: Start: list the server's kinds: %w", err)
	}
	server := make(map[string]*lropb.Kind, len(resp.Kinds))
	names := make([]string, 0, len(resp.Kinds))
	for _, k := range resp.Kinds {
		server[k.Name] = k
		names = append(names, fmt.Sprintf("%q", k.Name))
	}
	slices.Sort(names)
	var minTTL time.Duration
	for _, k := range kinds {
		s := server[k.Name]
		if s == nil {
			have := "no kinds"
			if len(names) > 0 {
				have = strings.Join(names, ", ")
			}
			return fmt.Errorf("lro: Start: kind %q is not a kind of the server (it has %s); declare it there", k.Name, have)
		}
		for _, t := range []struct{ what, local, server string }{
			{"request", string(k.RequestType), s.RequestType},
			{"metadata", string(k.MetadataType), s.MetadataType},
			{"response", string(k.ResponseType), s.ResponseType},
		} {
			if t.local != t.server {
				return fmt.Errorf("lro: Start: kind %q: the %s type is %s here but %s on the server",
					k.Name, t.what, orNone(t.local), orNone(t.server))
			}
		}
		ttl := s.LeaseTtl.AsDuration()
		if ttl <= 0 {
			ttl = c.config.LeaseTTL
		}
		if minTTL == 0 || ttl < minTTL {
			minTTL = ttl
		}
		lk := c.kinds.get(k.Name)
		c.kinds.mu.Lock()
		lk.leaseTTL = ttl
		if s.MaxAttempts > 0 {
			lk.maxAttempts = s.MaxAttempts
		}
		c.kinds.mu.Unlock()
	}
	// Config.LeaseTTL is the smallest TTL: the estimate of when a lease
	// claimed expires (after which a handler whose heartbeats fail stops)
	// until its first renewal, never later than the server's; renewals
	// then use the kind's own TTL (see handlerExecutor.renewed).
	c.config.LeaseTTL = minTTL
	if !c.remote.heartbeatSet {
		c.config.HeartbeatInterval = minTTL / 3
	} else if c.config.HeartbeatInterval > minTTL/2 {
		return fmt.Errorf("lro: Start: Config.HeartbeatInterval %v must be at most half of the smallest lease TTL of the server's kinds, %v",
			c.config.HeartbeatInterval, minTTL)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// remoteUnimplemented is the error of a method that a remote client
// cannot forward.
func remoteUnimplemented(method, why string) error {
	return newError(ErrUnimplemented, "REMOTE_UNIMPLEMENTED", "", "%s is not available on a remote client: %s", method, why)
}

func (r *remote) startOperation(ctx context.Context, kindName string, req proto.Message, opts *StartOptions) (*longrunningpb.Operation, error) {
	in := &lropb.StartOperationRequest{Kind: kindName}
	if opts != nil {
		in.Parent, in.RequestId = opts.Parent, opts.RequestID
		switch {
		case !opts.RunAfter.IsZero() && opts.Delay != 0:
			return nil, invalidArgument("start_time", "INVALID_START_TIME", "give run_after or delay, not both")
		case !opts.RunAfter.IsZero():
			in.StartTime = &lropb.StartOperationRequest_RunAfter{RunAfter: timestamppb.New(opts.RunAfter)}
		case opts.Delay != 0:
			in.StartTime = &lropb.StartOperationRequest_Delay{Delay: durationpb.New(opts.Delay)}
		}
	}
	if req != nil {
		a, err := anypb.New(req)
		if err != nil {
			return nil, invalidArgument("request", "INVALID_REQUEST", "the request does not encode: %v", err)
		}
		in.KindInput = &lropb.StartOperationRequest_TypedInput{TypedInput: a}
	}
	op, err := r.lro.StartOperation(ctx, in)
	return op, remoteError(err)
}

func (r *remote) getOperation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	op, err := r.operations.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	return op, remoteError(err)
}

func (r *remote) listOperations(ctx context.Context, name string, opts *ListOptions) (*longrunningpb.ListOperationsResponse, error) {
	in := &longrunningpb.ListOperationsRequest{Name: name}
	if opts != nil {
		in.Filter, in.PageSize, in.PageToken = opts.Filter, int32(opts.PageSize), opts.PageToken
	}
	resp, err := r.operations.ListOperations(ctx, in)
	return resp, remoteError(err)
}

func (r *remote) cancelOperation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	if _, err := r.operations.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
		return nil, remoteError(err)
	}
	return r.getOperation(ctx, name)
}

func (r *remote) deleteOperation(ctx context.Context, name string) error {
	_, err := r.operations.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: name})
	return remoteError(err)
}

func (r *remote) waitOperation(ctx context.Context, name string, timeout time.Duration) (*longrunningpb.Operation, error) {
	in := &longrunningpb.WaitOperationRequest{Name: name}
	if timeout > 0 {
		in.Timeout = durationpb.New(timeout)
	}
	op, err := r.operations.WaitOperation(ctx, in)
	return op, remoteError(err)
}

func (r *remote) ping(ctx context.Context) error {
	_, err := r.lro.ListKinds(ctx, &lropb.ListKindsRequest{})
	return remoteError(err)
}

// remoteError turns a status error from the server into an *Error that
// wraps the sentinel of its code, as a local client's errors do, keeping
// its reason, field and resource. Other errors are returned as they are.
func remoteError(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var sentinel error
	for s, code := range sentinelCodes {
		if code == st.Code() {
			sentinel = s
		}
	}
	if sentinel == nil {
		return err
	}
	out := &Error{Code: st.Code(), Message: st.Message(), Err: sentinel}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			out.Reason = d.Reason
		case *errdetails.BadRequest:
			if len(d.FieldViolations) > 0 {
				out.Field = d.FieldViolations[0].Field
			}
		case *errdetails.ResourceInfo:
			out.Resource = d.ResourceName
		case *errdetails.PreconditionFailure:
			if len(d.Violations) > 0 {
				out.Resource = d.Violations[0].Subject
			}
		}
	}
	return out
}
