package lro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// remoteItemsMax is how many items one call of the Workers service takes.
const remoteItemsMax = 1000

// remoteClaimWait is how long a remote client's claim waits on the server
// for pending operations (the server caps it at its own limit).
const remoteClaimWait = 30 * time.Second

// remoteWorkStore is the workStore of a remote client: it claims, renews,
// finishes and releases operations through the Workers service of an lro
// server, so that the producer, the handler executor and the lease keeper
// run as they do over a local store.
//
// The service's lease tokens are opaque strings; the executor keys jobs by
// int64 tokens. The adapter gives each claim a token of its own (a
// counter), maps it to the operation's name and wire token, and forgets
// the mapping once the operation ends here (finished, released or lost).
// An item that the service answers with ABORTED, FAILED_PRECONDITION or
// NOT_FOUND is a lease no longer held: a finish not written, metadata not
// written, a lease lost.
type remoteWorkStore struct {
	workers lropb.WorkersClient
	worker  string // the lease owner: Config.ID
	wait    time.Duration
	logger  *slog.Logger

	mu     sync.Mutex
	next   int64
	leases map[lrostore.Lease]*remoteLease
}

// remoteLease is a lease as the Workers service knows it.
type remoteLease struct {
	name  string // the operation's name
	token string // the service's lease token
	// finishTried is set when a finish carrying the lease failed as a
	// whole: it may have landed, so that a later FAILED_PRECONDITION
	// (already done) is this worker's own result.
	finishTried bool
	// finished is set when a finish of the lease was written in a batch
	// that fails as a whole for another item's sake (see
	// OperationFinishMany).
	finished bool
}

func newRemoteWorkStore(workers lropb.WorkersClient, worker string, logger *slog.Logger) *remoteWorkStore {
	return &remoteWorkStore{workers: workers, worker: worker, wait: remoteClaimWait, logger: logger,
		leases: map[lrostore.Lease]*remoteLease{}}
}

// lookup returns the wire lease of a local one, or nil once forgotten.
func (s *remoteWorkStore) lookup(l lrostore.Lease) *remoteLease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases[l]
}

func (s *remoteWorkStore) forget(ls ...lrostore.Lease) {
	s.mu.Lock()
	for _, l := range ls {
		delete(s.leases, l)
	}
	s.mu.Unlock()
}

// held returns how many leases the adapter maps (for tests).
func (s *remoteWorkStore) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leases)
}

// OperationClaim claims with a long poll: the call waits on the server
// until operations are pending, or for s.wait.
func (s *remoteWorkStore) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	resp, err := s.workers.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{
		Worker: s.worker, Kinds: p.Kinds, Max: int32(min(p.Max, remoteItemsMax)), Wait: durationpb.New(s.wait),
	})
	if err != nil {
		return nil, err
	}
	ops := make([]*lrostore.Operation, 0, len(resp.Operations))
	var unusable []*lropb.Lease
	s.mu.Lock()
	for _, c := range resp.Operations {
		parent, id, err := parseName("name", c.Name)
		var input []byte
		if err == nil {
			if c.GetTypedInput() == nil {
				err = errors.New("no typed_input")
			} else {
				input, err = proto.Marshal(c.GetTypedInput())
			}
		}
		if err != nil {
			// Not an operation this client can run: give it back.
			unusable = append(unusable, &lropb.Lease{Name: c.Name, LeaseToken: c.LeaseToken})
			s.logger.Error("claimed an operation that cannot run here; releasing it", slog.String("operation", c.Name), slog.Any("error", err))
			continue
		}
		s.next++
		op := &lrostore.Operation{
			ID: id, Parent: parent, Kind: c.Kind, State: lrostore.StateRunning, Input: input,
			Attempt: c.Attempt, MaxAttempts: c.MaxAttempts, LeaseOwner: s.worker, LeaseToken: s.next,
			CancelRequested: c.CancelRequested, TraceParent: c.Traceparent, TraceState: c.Tracestate,
		}
		s.leases[lrostore.Lease{ID: id, Token: s.next}] = &remoteLease{name: c.Name, token: c.LeaseToken}
		ops = append(ops, op)
	}
	s.mu.Unlock()
	if len(unusable) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = s.workers.ReleaseOperations(rctx, &lropb.ReleaseOperationsRequest{Worker: s.worker, Leases: unusable})
		cancel()
	}
	return ops, nil
}

// OperationHeartbeat renews leases; a lease the service answers LOST (or
// no longer mapped here) is left out of the result, as a store does.
func (s *remoteWorkStore) OperationHeartbeat(ctx context.Context, p *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	out := make([]*lrostore.OperationHeartbeatResult, 0, len(p.Leases))
	for chunk := range chunks(p.Leases) {
		req := &lropb.RenewLeasesRequest{Worker: s.worker, Leases: make([]*lropb.LeaseRenewal, 0, len(chunk))}
		sent := make([]lrostore.Lease, 0, len(chunk))
		for _, l := range chunk {
			if r := s.lookup(l); r != nil {
				req.Leases = append(req.Leases, &lropb.LeaseRenewal{Name: r.name, LeaseToken: r.token})
				sent = append(sent, l)
			}
		}
		if len(sent) == 0 {
			continue
		}
		states, err := s.renew(ctx, req)
		if err != nil {
			return nil, err
		}
		for i, st := range states {
			switch st.State {
			case lropb.LeaseState_HELD, lropb.LeaseState_CANCEL_REQUESTED:
				out = append(out, &lrostore.OperationHeartbeatResult{ID: sent[i].ID, CancelRequested: st.State == lropb.LeaseState_CANCEL_REQUESTED})
			default:
				s.forget(sent[i])
			}
		}
	}
	return out, nil
}

// renew calls RenewLeases and checks that it answers each lease.
func (s *remoteWorkStore) renew(ctx context.Context, req *lropb.RenewLeasesRequest) ([]*lropb.LeaseState, error) {
	resp, err := s.workers.RenewLeases(ctx, req)
	if err != nil {
		return nil, callError(err)
	}
	if len(resp.Leases) != len(req.Leases) {
		return nil, fmt.Errorf("lro: the server answered %d leases of %d", len(resp.Leases), len(req.Leases))
	}
	return resp.Leases, nil
}

// OperationSetMetadataMany writes metadata with a renewal of the leases.
// Metadata that the service refuses (the lease is renewed all the same) is
// dropped and logged, as a local client drops metadata that its store
// refuses for good.
func (s *remoteWorkStore) OperationSetMetadataMany(ctx context.Context, p *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	written := make([]bool, 0, len(p.Updates))
	for chunk := range chunks(p.Updates) {
		req := &lropb.RenewLeasesRequest{Worker: s.worker, Leases: make([]*lropb.LeaseRenewal, 0, len(chunk))}
		idx := make([]int, 0, len(chunk)) // the updates sent, by index in chunk
		base := len(written)
		for i, u := range chunk {
			written = append(written, false)
			r := s.lookup(u.Lease)
			if r == nil {
				continue
			}
			meta := &anypb.Any{}
			if err := proto.Unmarshal(u.Metadata, meta); err != nil {
				return nil, &lrostore.PermanentError{Err: err}
			}
			req.Leases = append(req.Leases, &lropb.LeaseRenewal{Name: r.name, LeaseToken: r.token,
				MetadataValue: &lropb.LeaseRenewal_TypedMetadata{TypedMetadata: meta}})
			idx = append(idx, i)
		}
		if len(idx) == 0 {
			continue
		}
		states, err := s.renew(ctx, req)
		if err != nil {
			return nil, err
		}
		for k, st := range states {
			i := idx[k]
			switch st.State {
			case lropb.LeaseState_HELD, lropb.LeaseState_CANCEL_REQUESTED:
				written[base+i] = true
				if st.Error != nil {
					s.logger.Error("the server refused an operation's metadata; it is dropped",
						slog.String("operation", st.Name), slog.String("error", st.Error.Message))
				}
			default:
				s.forget(chunk[i].Lease)
			}
		}
	}
	return written, nil
}

// OperationFinishMany writes results. A result that the service finds
// malformed (INVALID_ARGUMENT), or that its store refuses for good
// (INTERNAL), makes the whole batch a PermanentError:
// the executor then writes each result alone, and the malformed one fails
// its operation with INTERNAL, as a result that a store refuses does.
func (s *remoteWorkStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	out := make([]*lrostore.OperationFinishResult, 0, len(p.Finishes))
	for chunk := range chunks(p.Finishes) {
		req := &lropb.FinishOperationsRequest{Worker: s.worker, Results: make([]*lropb.OperationResult, 0, len(chunk))}
		idx := make([]int, 0, len(chunk))
		sent := make([]*remoteLease, 0, len(chunk))
		base := len(out)
		for i, f := range chunk {
			out = append(out, &lrostore.OperationFinishResult{State: f.State})
			r := s.lookup(f.Lease)
			if r == nil {
				continue // lost already: not written
			}
			if r.finished {
				// Written by a batch that another item made permanent.
				out[base+i].Finished = true
				s.forget(f.Lease)
				continue
			}
			res, err := remoteResult(r, f)
			if err != nil {
				return nil, &lrostore.PermanentError{Err: err}
			}
			req.Results = append(req.Results, res)
			idx = append(idx, i)
			sent = append(sent, r)
		}
		if len(idx) == 0 {
			continue
		}
		resp, err := s.workers.FinishOperations(ctx, req)
		if err == nil && len(resp.Results) != len(req.Results) {
			err = fmt.Errorf("lro: the server answered %d results of %d", len(resp.Results), len(req.Results))
		}
		if err != nil {
			s.mu.Lock()
			for _, r := range sent {
				r.finishTried = true
			}
			s.mu.Unlock()
			return nil, callError(err)
		}
		var invalid error
		for k, st := range resp.Results {
			i := idx[k]
			switch codes.Code(st.Code) {
			case codes.OK:
				out[base+i].Finished = true
			case codes.InvalidArgument, codes.Internal:
				// Malformed, or refused by the server's store for good:
				// the same result again cannot be written.
				invalid = &lrostore.PermanentError{Err: status.ErrorProto(st)}
			case codes.FailedPrecondition:
				s.mu.Lock()
				out[base+i].Finished = sent[k].finishTried // an earlier try landed
				s.mu.Unlock()
			}
		}
		if invalid != nil {
			// The executor writes each result again, alone: those written
			// now answer that they are, the malformed one fails alone.
			s.mu.Lock()
			for k := range resp.Results {
				if out[base+idx[k]].Finished {
					sent[k].finished = true
				}
			}
			s.mu.Unlock()
			return nil, invalid
		}
		for k := range resp.Results {
			s.forget(chunk[idx[k]].Lease)
		}
	}
	return out, nil
}

// hasRetryInfo reports whether st has a google.rpc.RetryInfo detail.
func hasRetryInfo(st *spb.Status) bool {
	for _, d := range st.GetDetails() {
		if d.MessageIs((*errdetails.RetryInfo)(nil)) {
			return true
		}
	}
	return false
}

// remoteResult is a finish as the Workers service takes it.
func remoteResult(r *remoteLease, f *lrostore.OperationFinishParams) (*lropb.OperationResult, error) {
	res := &lropb.OperationResult{Name: r.name, LeaseToken: r.token}
	switch f.State {
	case lrostore.StateSucceeded:
		resp := &anypb.Any{}
		if err := proto.Unmarshal(f.Response, resp); err != nil {
			return nil, err
		}
		res.Result = &lropb.OperationResult_TypedResponse{TypedResponse: resp}
	default:
		st := &spb.Status{}
		if f.Error != nil {
			if err := proto.Unmarshal(f.Error.Status, st); err != nil {
				return nil, err
			}
		}
		if st.Code == 0 {
			st.Code = int32(codes.Unknown)
		}
		res.Result = &lropb.OperationResult_Error{Error: st}
		// The handler's kind decided, as on a local client: the server
		// keeps its decision, within the operation's attempts and deadline.
		retry := f.State == lrostore.StatePending
		res.Retryable = &retry
		if retry && !hasRetryInfo(st) {
			info, err := anypb.New(&errdetails.RetryInfo{RetryDelay: durationpb.New(max(time.Until(f.NotBefore), time.Millisecond))})
			if err != nil {
				return nil, err
			}
			st.Details = append(st.Details, info)
		}
	}
	if f.Metadata != nil {
		meta := &anypb.Any{}
		if err := proto.Unmarshal(f.Metadata, meta); err != nil {
			return nil, err
		}
		res.MetadataValue = &lropb.OperationResult_TypedMetadata{TypedMetadata: meta}
	}
	return res, nil
}

// OperationReleaseMany gives leases back; it returns the IDs released.
func (s *remoteWorkStore) OperationReleaseMany(ctx context.Context, p *lrostore.OperationReleaseManyParams) ([]string, error) {
	var released []string
	for chunk := range chunks(p.Leases) {
		req := &lropb.ReleaseOperationsRequest{Worker: s.worker, Leases: make([]*lropb.Lease, 0, len(chunk))}
		sent := make([]lrostore.Lease, 0, len(chunk))
		for _, l := range chunk {
			if r := s.lookup(l); r != nil {
				req.Leases = append(req.Leases, &lropb.Lease{Name: r.name, LeaseToken: r.token})
				sent = append(sent, l)
			}
		}
		if len(sent) == 0 {
			continue
		}
		resp, err := s.workers.ReleaseOperations(ctx, req)
		if err != nil {
			return released, callError(err)
		}
		for i, st := range resp.Results {
			if i < len(sent) && st.Code == int32(codes.OK) {
				released = append(released, sent[i].ID)
			}
		}
		s.forget(sent...)
	}
	return released, nil
}

// OperationGet is not served remotely: a result write that was retried
// relies on FAILED_PRECONDITION instead (see OperationFinishMany).
func (s *remoteWorkStore) OperationGet(context.Context, *lrostore.OperationGetParams) (*lrostore.Operation, error) {
	return nil, lrostore.ErrNotFound
}

// callError marks a call that the server refused as malformed as
// permanent: repeating it cannot help.
func callError(err error) error {
	if status.Code(err) == codes.InvalidArgument {
		return &lrostore.PermanentError{Err: err}
	}
	return err
}

// chunks splits items into calls of at most remoteItemsMax.
func chunks[T any](items []T) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(items) > 0 {
			n := min(len(items), remoteItemsMax)
			if !yield(items[:n]) {
				return
			}
			items = items[n:]
		}
	}
}
