package lrogrpc

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
)

// An Option configures a Server.
type Option func(*Server)

// WithAuthorize has every call decided by f before it does anything: f gets
// the principal of the call's context (lroauth.FromContext; nil if none)
// and the lroauth.Call, and the call goes on only if f returns nil. Else
// the call changes and reads nothing, and returns f's error: an
// *lro.Error or a gRPC status error keeps its code, any other error is
// PERMISSION_DENIED. lroauth.Grants is the usual f.
//
// What each method's Call holds:
//   - GetOperation, WaitOperation, CancelOperation, DeleteOperation: the
//     operation's Name and its Parent. A malformed name is refused with
//     INVALID_ARGUMENT first, as without f: the check of a name reads
//     nothing, so the answer leaks nothing.
//   - ListOperations: the Parent of the collection it lists. A list covers
//     one parent, so it is allowed whole or refused whole.
//   - StartOperation: the Parent and the kind, in Kinds.
//   - ListKinds: nothing but the method. A caller allowed to list kinds
//     gets them all: a kind's name and types are not secret, and a worker
//     needs the list to know what it may claim.
//   - ClaimOperations: the kinds it asks for (none: any kind).
//   - RenewLeases, FinishOperations, ReleaseOperations: the kinds of the
//     operations whose lease tokens the items carry (see
//     lro.Client.LeaseKind), each once. An item whose token does not decode
//     adds none; the call refuses that item anyway.
func WithAuthorize(f lroauth.AuthorizeFunc) Option {
	return func(s *Server) { s.authorize = f }
}

// allow asks the server's AuthorizeFunc whether the call may go on; it
// returns nil if so, or if there is none, else the status error to return.
func (s *Server) allow(ctx context.Context, call *lroauth.Call) error {
	err := s.authorize(ctx, lroauth.FromContext(ctx), call)
	if err == nil {
		return nil
	}
	var e *lro.Error
	if errors.As(err, &e) {
		return Status(err)
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.OK {
		return Status(err)
	}
	return Status(&lro.Error{Code: codes.PermissionDenied, Reason: "PERMISSION_DENIED",
		Message: "permission denied: " + err.Error(), Err: err})
}

// allowName authorizes a call on the operation name; a malformed name is
// INVALID_ARGUMENT, as the call would return.
func (s *Server) allowName(ctx context.Context, method, name string) error {
	parent, err := lro.OperationParent(name)
	if err != nil {
		return Status(err)
	}
	return s.allow(ctx, &lroauth.Call{Method: method, Name: name, Parent: parent})
}

// A leaseItem is an item of a renew, finish or release.
type leaseItem interface {
	GetName() string
	GetLeaseToken() string
}

// allowLeases authorizes a call of the Workers service on the kinds of the
// operations whose leases items hold.
func allowLeases[T leaseItem](ctx context.Context, s *Server, method string, items []T) error {
	var kinds []string
	for _, it := range items {
		k, err := s.client.LeaseKind(ctx, it.GetName(), it.GetLeaseToken())
		if err != nil {
			var e *lro.Error
			if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
				return Status(err) // the store did not answer
			}
			continue
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return s.allow(ctx, &lroauth.Call{Method: method, Kinds: kinds})
}
