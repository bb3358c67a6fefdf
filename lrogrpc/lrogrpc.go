// Package lrogrpc serves lro over gRPC: the standard
// google.longrunning.Operations service; lro.v1.Lro, which starts
// operations of registered kinds; and lro.v1.Workers, through which
// workers outside the server, in any language, claim, renew, finish and
// release operations; all over one *lro.Client.
//
// Mount them on a server with Register:
//
//	s := grpc.NewServer(lrogrpc.ServerOptions()...) // the options are optional
//	lrogrpc.Register(s, client)
//
// With WithAuthorize, every call is decided by an lroauth.AuthorizeFunc,
// on the principal that an authentication interceptor put in the call's
// context, before it reads or changes anything:
//
//	lrogrpc.Register(s, client, lrogrpc.WithAuthorize(lroauth.Grants))
//
// Every error these services return is a google.rpc.Status that carries a
// google.rpc.ErrorInfo (AIP-193) with domain lro.ErrorDomain.
package lrogrpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lropb"
)

// Server implements longrunningpb.OperationsServer, lropb.LroServer and
// lropb.WorkersServer.
type Server struct {
	longrunningpb.UnimplementedOperationsServer
	lropb.UnimplementedLroServer
	lropb.UnimplementedWorkersServer
	client    *lro.Client
	authorize lroauth.AuthorizeFunc // nil: every call is allowed
}

var (
	_ longrunningpb.OperationsServer = (*Server)(nil)
	_ lropb.LroServer                = (*Server)(nil)
	_ lropb.WorkersServer            = (*Server)(nil)
)

// NewServer returns the services over client, configured by opts.
func NewServer(client *lro.Client, opts ...Option) *Server {
	s := &Server{client: client}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Register registers the three services of client on s, configured by
// opts.
func Register(s grpc.ServiceRegistrar, client *lro.Client, opts ...Option) *Server {
	srv := NewServer(client, opts...)
	longrunningpb.RegisterOperationsServer(s, srv)
	lropb.RegisterLroServer(s, srv)
	lropb.RegisterWorkersServer(s, srv)
	return srv
}

// StreamWorkers is the number of goroutines that ServerOptions keeps for
// running calls.
const StreamWorkers = 128

// FlowControlWindow is the fixed flow-control window, of each call and of
// each connection, that ServerOptions sets: 16 MiB, the most that gRPC's
// dynamic flow control grows a window to.
const FlowControlWindow = 16 << 20

// MaxRecvMsgSize is the largest request that ServerOptions lets the
// server receive: 4 MiB, grpc-go's default, set explicitly so that it does
// not change with grpc-go. It is well above what lro accepts in one
// operation (lro.InputBytesMaxDefault), and lists send no more than
// lro.PageBytesMax in a page, so that they stay within the same 4 MiB that
// clients receive by default.
const MaxRecvMsgSize = 4 << 20

// ServerOptions returns the grpc.Server options that lro serve runs with,
// for a server that mounts these services. They are optional.
//
// They hold grpc.NumStreamWorkers(StreamWorkers): a call runs on a
// goroutine kept from earlier calls, whose stack has grown already, rather
// than on a goroutine of its own, whose stack starts small and grows, by
// copying, in every call: for short calls, a noticeable share of the
// server's CPU. While every worker is busy, as with many long
// WaitOperation calls, a call gets a goroutine of its own, as without the
// option.
//
// They also fix the flow-control windows at FlowControlWindow
// (grpc.StaticStreamWindowSize and grpc.StaticConnWindowSize). gRPC's
// dynamic flow control measures each connection with a ping whenever data
// arrives and no such ping is out; its windows grow only when a message is
// large, so with small messages it never stops: a client making one call at
// a time costs the server a ping, and the client a reply to it, per call (a
// write, and a read and a wake-up on the other side). Fixed at the size
// that the dynamic windows grow to at most, the windows hold back no large
// message either.
//
// And they cap requests at MaxRecvMsgSize (grpc.MaxRecvMsgSize); a larger
// one is RESOURCE_EXHAUSTED.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.NumStreamWorkers(StreamWorkers),
		grpc.StaticStreamWindowSize(FlowControlWindow),
		grpc.StaticConnWindowSize(FlowControlWindow),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
	}
}

// GetOperation implements google.longrunning.Operations.
//
// While the operation is not done, the response's header metadata tells
// operators where it stands: StateHeader ("pending" or "running"),
// AttemptHeader, while it runs LeaseExpireTimeHeader, when its worker's
// lease expires unless renewed (RFC 3339), while it waits (a delayed start,
// or a retry's next attempt) NotBeforeHeader, and when they apply
// DeadlineHeader and LastErrorHeader (the failure of the last attempt,
// while the operation waits to run again). Over HTTP they are the response
// headers Lro-State, Lro-Attempt, Lro-Lease-Expire-Time, Lro-Not-Before,
// Lro-Deadline and Lro-Last-Error-Bin. A done operation gets none.
func (s *Server) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	if s.authorize != nil {
		if err := s.allowName(ctx, lroauth.MethodGetOperation, req.GetName()); err != nil {
			return nil, err
		}
	}
	op, info, err := s.client.GetOperationInfo(ctx, req.GetName())
	if err != nil {
		return nil, Status(err)
	}
	if !op.GetDone() {
		md := metadata.Pairs(StateHeader, info.State, AttemptHeader, strconv.Itoa(info.Attempt))
		if !info.LeaseExpireTime.IsZero() {
			md.Set(LeaseExpireTimeHeader, info.LeaseExpireTime.Format(time.RFC3339Nano))
		}
		if !info.NotBefore.IsZero() {
			md.Set(NotBeforeHeader, info.NotBefore.Format(time.RFC3339Nano))
		}
		if !info.Deadline.IsZero() {
			md.Set(DeadlineHeader, info.Deadline.Format(time.RFC3339Nano))
		}
		if info.LastError != nil {
			if b, err := proto.Marshal(info.LastError.Proto()); err == nil {
				md.Set(LastErrorHeader, string(b))
			}
		}
		grpc.SetHeader(ctx, md) // fails only when the call has ended, and then nobody reads it
	}
	return op, nil
}

// The header metadata of GetOperation on an operation that is not done.
const (
	// StateHeader is the operation's state: "pending" or "running".
	StateHeader = "lro-state"
	// LeaseExpireTimeHeader is, while the operation runs, when the lease of
	// its worker expires unless a heartbeat renews it (RFC 3339): a live
	// worker keeps moving it forward; a dead one's runs out, and the
	// operation then runs again.
	LeaseExpireTimeHeader = "lro-lease-expire-time"
	// NotBeforeHeader is, while a delayed operation waits (see
	// StartOperationRequest.run_after and delay), when it may run
	// (RFC 3339).
	NotBeforeHeader = "lro-not-before"
	// AttemptHeader is how many attempts have started.
	AttemptHeader = "lro-attempt"
	// DeadlineHeader is when the operation ends with DEADLINE_EXCEEDED if
	// it is not done by then (RFC 3339), if its kind has a timeout.
	DeadlineHeader = "lro-deadline"
	// LastErrorHeader, while the operation waits to run again after an
	// attempt failed, is that attempt's error: a google.rpc.Status in
	// binary (base64 without padding over HTTP, as gRPC sends -bin headers). The
	// operation's own error stays empty until it is done.
	LastErrorHeader = "lro-last-error-bin"
)

// ListOperations implements google.longrunning.Operations.
func (s *Server) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	if req.GetReturnPartialSuccess() {
		return nil, Status(&lro.Error{Code: codes.Unimplemented, Reason: "PARTIAL_SUCCESS_UNSUPPORTED", Field: "return_partial_success",
			Message: "return_partial_success is not supported: a list covers one parent, which is never partly unreachable",
			Err:     lro.ErrUnimplemented})
	}
	if s.authorize != nil {
		parent, err := lro.CollectionParent(req.GetName())
		if err != nil {
			return nil, Status(err)
		}
		if err := s.allow(ctx, &lroauth.Call{Method: lroauth.MethodListOperations, Parent: parent}); err != nil {
			return nil, err
		}
	}
	resp, err := s.client.ListOperations(ctx, req.GetName(), &lro.ListOptions{
		Filter: req.GetFilter(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	return resp, Status(err)
}

// CancelOperation implements google.longrunning.Operations.
func (s *Server) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	if s.authorize != nil {
		if err := s.allowName(ctx, lroauth.MethodCancelOperation, req.GetName()); err != nil {
			return nil, err
		}
	}
	if _, err := s.client.CancelOperation(ctx, req.GetName()); err != nil {
		return nil, Status(err)
	}
	return &emptypb.Empty{}, nil
}

// DeleteOperation implements google.longrunning.Operations.
func (s *Server) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	if s.authorize != nil {
		if err := s.allowName(ctx, lroauth.MethodDeleteOperation, req.GetName()); err != nil {
			return nil, err
		}
	}
	if err := s.client.DeleteOperation(ctx, req.GetName()); err != nil {
		return nil, Status(err)
	}
	return &emptypb.Empty{}, nil
}

// WaitOperation implements google.longrunning.Operations.
func (s *Server) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	if s.authorize != nil {
		if err := s.allowName(ctx, lroauth.MethodWaitOperation, req.GetName()); err != nil {
			return nil, err
		}
	}
	var timeout time.Duration
	if t := req.GetTimeout(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, Status(&lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_TIMEOUT", Field: "timeout",
				Message: fmt.Sprintf("timeout is not a valid duration: %v", err), Err: lro.ErrInvalidArgument})
		}
		timeout = t.AsDuration()
	}
	op, err := s.client.WaitOperation(ctx, req.GetName(), timeout)
	return op, Status(err)
}

// StartOperation implements lro.v1.Lro.
func (s *Server) StartOperation(ctx context.Context, req *lropb.StartOperationRequest) (*longrunningpb.Operation, error) {
	if s.authorize != nil {
		call := &lroauth.Call{Method: lroauth.MethodStartOperation, Parent: req.GetParent(), Kinds: []string{req.GetKind()}}
		if err := s.allow(ctx, call); err != nil {
			return nil, err
		}
	}
	input, err := s.client.NewRequest(req.GetKind())
	if err != nil {
		return nil, Status(err)
	}
	if err := decodeInput(req, input); err != nil {
		return nil, Status(err)
	}
	opts := &lro.StartOptions{Parent: req.GetParent(), RequestID: req.GetRequestId()}
	if err := startTime(req, opts); err != nil {
		return nil, Status(err)
	}
	// The call's span, when the server is traced (otelgrpc, or otelhttp
	// in front of lrohttp), is the start's.
	op, err := s.client.StartOperation(lro.StartInCallerSpan(ctx), req.GetKind(), input, opts)
	return op, Status(err)
}

// startTime reads a start's run_after or delay into opts.
func startTime(req *lropb.StartOperationRequest, opts *lro.StartOptions) error {
	bad := func(field, format string, args ...any) error {
		return &lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_START_TIME", Field: field,
			Message: fmt.Sprintf(format, args...), Err: lro.ErrInvalidArgument}
	}
	switch t := req.GetStartTime().(type) {
	case *lropb.StartOperationRequest_RunAfter:
		if err := t.RunAfter.CheckValid(); err != nil {
			return bad("run_after", "run_after is not a valid timestamp: %v", err)
		}
		opts.RunAfter = t.RunAfter.AsTime()
	case *lropb.StartOperationRequest_Delay:
		if err := t.Delay.CheckValid(); err != nil {
			return bad("delay", "delay is not a valid duration: %v", err)
		}
		opts.Delay = t.Delay.AsDuration()
	}
	return nil
}

func decodeInput(req *lropb.StartOperationRequest, input proto.Message) error {
	typeName := input.ProtoReflect().Descriptor().FullName()
	bad := func(format string, args ...any) error {
		return &lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_INPUT", Field: "input",
			Message: fmt.Sprintf(format, args...), Err: lro.ErrInvalidArgument}
	}
	switch in := req.GetKindInput().(type) {
	case *lropb.StartOperationRequest_Input:
		b, err := protojson.Marshal(in.Input)
		if err != nil {
			return bad("input does not encode as JSON: %v", err)
		}
		if err := protojson.Unmarshal(b, input); err != nil {
			return badInputJSON(req.GetKind(), input, in.Input, err)
		}
	case *lropb.StartOperationRequest_TypedInput:
		url := in.TypedInput.GetTypeUrl()
		if url[strings.LastIndex(url, "/")+1:] != string(typeName) {
			return bad("typed_input is a %q; kind %q takes a %s", in.TypedInput.GetTypeUrl(), req.GetKind(), typeName)
		}
		if err := anypb.UnmarshalTo(in.TypedInput, input, proto.UnmarshalOptions{}); err != nil {
			return bad("typed_input does not decode as a %s: %v", typeName, err)
		}
	}
	return nil
}

// ListKinds implements lro.v1.Lro.
func (s *Server) ListKinds(ctx context.Context, req *lropb.ListKindsRequest) (*lropb.ListKindsResponse, error) {
	if s.authorize != nil {
		if err := s.allow(ctx, &lroauth.Call{Method: lroauth.MethodListKinds}); err != nil {
			return nil, err
		}
	}
	resp := &lropb.ListKindsResponse{}
	for _, k := range s.client.Kinds() {
		resp.Kinds = append(resp.Kinds, &lropb.Kind{
			Name:         k.Name,
			RequestType:  string(k.RequestType),
			MetadataType: string(k.MetadataType),
			ResponseType: string(k.ResponseType),
			MaxAttempts:  int32(k.MaxAttempts),
			LeaseTtl:     durationpb.New(k.LeaseTTL),
			Handled:      k.Handled,
			InputSchema:  k.InputSchema,
		})
	}
	return resp, nil
}

// ClaimOperations implements lro.v1.Workers (see lro.Client.ClaimOperations).
func (s *Server) ClaimOperations(ctx context.Context, req *lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
	if s.authorize != nil {
		if err := s.allow(ctx, &lroauth.Call{Method: lroauth.MethodClaimOperations, Kinds: req.GetKinds()}); err != nil {
			return nil, err
		}
	}
	resp, err := s.client.ClaimOperations(ctx, req)
	return resp, Status(err)
}

// RenewLeases implements lro.v1.Workers (see lro.Client.RenewLeases).
func (s *Server) RenewLeases(ctx context.Context, req *lropb.RenewLeasesRequest) (*lropb.RenewLeasesResponse, error) {
	if s.authorize != nil {
		if err := allowLeases(ctx, s, lroauth.MethodRenewLeases, req.GetLeases()); err != nil {
			return nil, err
		}
	}
	resp, err := s.client.RenewLeases(ctx, req)
	return resp, Status(err)
}

// FinishOperations implements lro.v1.Workers (see lro.Client.FinishOperations).
func (s *Server) FinishOperations(ctx context.Context, req *lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
	if s.authorize != nil {
		if err := allowLeases(ctx, s, lroauth.MethodFinishOperations, req.GetResults()); err != nil {
			return nil, err
		}
	}
	resp, err := s.client.FinishOperations(ctx, req)
	return resp, Status(err)
}

// ReleaseOperations implements lro.v1.Workers (see lro.Client.ReleaseOperations).
func (s *Server) ReleaseOperations(ctx context.Context, req *lropb.ReleaseOperationsRequest) (*lropb.ReleaseOperationsResponse, error) {
	if s.authorize != nil {
		if err := allowLeases(ctx, s, lroauth.MethodReleaseOperations, req.GetLeases()); err != nil {
			return nil, err
		}
	}
	resp, err := s.client.ReleaseOperations(ctx, req)
	return resp, Status(err)
}

// UnknownServiceHandler answers calls to methods the server does not have
// with UNIMPLEMENTED and an ErrorInfo, as every other error; pass it to
// grpc.NewServer with grpc.UnknownServiceHandler.
func UnknownServiceHandler(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	return Status(&lro.Error{Code: codes.Unimplemented, Reason: "METHOD_NOT_FOUND",
		Message: fmt.Sprintf("unknown method %s", method), Err: lro.ErrUnimplemented})
}

// Status turns an error from lro into a gRPC status error that carries an
// ErrorInfo: lro's errors keep their code and details, context errors
// become CANCELLED or DEADLINE_EXCEEDED, and other errors keep the code of
// the status they carry (UNKNOWN if none). It returns nil for nil.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var st *status.Status
	switch {
	case errors.Is(err, context.Canceled):
		st = status.New(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		st = status.New(codes.DeadlineExceeded, err.Error())
	default:
		st = status.Convert(err)
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Err()
		}
	}
	reason := strings.ToUpper(st.Code().String())
	if name, ok := codeNames[st.Code()]; ok {
		reason = name
	}
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: lro.ErrorDomain}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// codeNames are the google.rpc.Code names, for ErrorInfo reasons.
var codeNames = map[codes.Code]string{
	codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}
