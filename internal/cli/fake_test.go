package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
)

// fakeServer is an in-memory lro server: lro.v1.Lro and
// google.longrunning.Operations with canned, deterministic state.
type fakeServer struct {
	longrunningpb.UnimplementedOperationsServer
	lropb.UnimplementedLroServer

	addr string // where it listens

	mu     sync.Mutex
	ops    map[string]*longrunningpb.Operation
	order  []string // names in creation order
	nextID int
	// calls counts the RPCs by method name; deadline records whether the
	// last call of each method had a deadline.
	calls    map[string]int
	deadline map[string]bool
	starts   []*lropb.StartOperationRequest
	lists    []*longrunningpb.ListOperationsRequest
	// waitsLeft is how many more WaitOperation calls return the named
	// operation not done before one finishes it; operations not in it are
	// never finished by WaitOperation.
	waitsLeft map[string]int
	// blockWait makes WaitOperation ignore its timeout and block until its
	// call ends, unless the operation is done.
	blockWait bool
	// noWait makes WaitOperation UNIMPLEMENTED.
	noWait bool
	// unavailable is how many WaitOperation calls answer UNAVAILABLE
	// first, as a server that restarts.
	unavailable int
	// leaseExpire is the lease expiry that GetOperation tells, in its
	// header metadata, of the named running operations.
	leaseExpire map[string]time.Time
	// notBefore is when a delayed operation runs, as GetOperation tells it.
	notBefore map[string]time.Time
}

// fixedTime is the time of every timestamp of the fake.
var fixedTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// newFakeServer starts an empty fake on 127.0.0.1, stopped when the test
// ends.
func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	return newFakeServerWith(t)
}

// newFakeServerWith is newFakeServer with options for its grpc.Server.
func newFakeServerWith(t *testing.T, options ...grpc.ServerOption) *fakeServer {
	t.Helper()
	f := &fakeServer{
		ops:       map[string]*longrunningpb.Operation{},
		nextID:    1,
		calls:     map[string]int{},
		deadline:  map[string]bool{},
		waitsLeft: map[string]int{},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	s := grpc.NewServer(options...)
	longrunningpb.RegisterOperationsServer(s, f)
	lropb.RegisterLroServer(s, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return f
}

// newSeededFakeServer starts a fake holding:
//
//	operations/op-1  succeeded, demo metadata and response
//	operations/op-2  running, 42%
//	operations/op-3  failed: FAILED_PRECONDITION with an ErrorInfo detail
//	operations/op-4  cancelled
//	operations/op-5  succeeded, metadata and response of unknown types
func newSeededFakeServer(t *testing.T) *fakeServer {
	f := newFakeServer(t)
	f.add(&longrunningpb.Operation{
		Metadata: mustAny(t, sleepMetadata(100)),
		Done:     true,
		Result: &longrunningpb.Operation_Response{Response: mustAny(t, &demopb.SleepResponse{
			Slept:     durationpb.New(30 * time.Second),
			StartTime: timestamppb.New(fixedTime),
			EndTime:   timestamppb.New(fixedTime.Add(30 * time.Second)),
		})},
	})
	f.add(&longrunningpb.Operation{Metadata: mustAny(t, sleepMetadata(42))})
	f.add(&longrunningpb.Operation{
		Metadata: mustAny(t, sleepMetadata(7)),
		Done:     true,
		Result: &longrunningpb.Operation_Error{Error: &spb.Status{
			Code:    int32(code.Code_FAILED_PRECONDITION),
			Message: "the disk <sdb> is full",
			Details: []*anypb.Any{mustAny(t, &errdetails.ErrorInfo{Reason: "DISK_FULL", Domain: "lro.dev"})},
		}},
	})
	f.add(&longrunningpb.Operation{
		Metadata: mustAny(t, sleepMetadata(10)),
		Done:     true,
		Result: &longrunningpb.Operation_Error{Error: &spb.Status{
			Code:    int32(code.Code_CANCELLED),
			Message: "operation cancelled",
		}},
	})
	f.add(&longrunningpb.Operation{
		Metadata: &anypb.Any{TypeUrl: "type.googleapis.com/example.v1.Unknown", Value: []byte{0x08, 0x2a}},
		Done:     true,
		Result: &longrunningpb.Operation_Response{Response: &anypb.Any{
			TypeUrl: "type.googleapis.com/example.v1.UnknownResponse", Value: []byte{0x0a, 0x03, 'a', 'b', 'c'},
		}},
	})
	return f
}

func sleepMetadata(percent int32) *demopb.SleepMetadata {
	return &demopb.SleepMetadata{
		ProgressPercent: percent,
		StartTime:       timestamppb.New(fixedTime),
		UpdateTime:      timestamppb.New(fixedTime.Add(10 * time.Second)),
		Attempt:         1,
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// add stores op under the next name in the default collection.
func (f *fakeServer) add(op *longrunningpb.Operation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addLocked("", op)
}

func (f *fakeServer) addLocked(parent string, op *longrunningpb.Operation) {
	op.Name = "operations/op-" + strconv.Itoa(f.nextID)
	if parent != "" {
		op.Name = parent + "/" + op.Name
	}
	f.nextID++
	f.ops[op.Name] = op
	f.order = append(f.order, op.Name)
}

// called counts a call; the caller holds f.mu.
func (f *fakeServer) called(ctx context.Context, method string) {
	f.calls[method]++
	_, ok := ctx.Deadline()
	f.deadline[method] = ok
}

// locked calls fn with f.mu held.
func (f *fakeServer) locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// fakeRequests are the requests that a fake recorded.
type fakeRequests struct {
	starts []*lropb.StartOperationRequest
	lists  []*longrunningpb.ListOperationsRequest
}

// requests returns the requests recorded so far.
func (f *fakeServer) requests() fakeRequests {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeRequests{
		starts: append([]*lropb.StartOperationRequest(nil), f.starts...),
		lists:  append([]*longrunningpb.ListOperationsRequest(nil), f.lists...),
	}
}

// callCount returns how many times method was called.
func (f *fakeServer) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeServer) get(name string) (*longrunningpb.Operation, error) {
	op, ok := f.ops[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", name)
	}
	return proto.Clone(op).(*longrunningpb.Operation), nil
}

func (f *fakeServer) StartOperation(ctx context.Context, req *lropb.StartOperationRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called(ctx, "StartOperation")
	f.starts = append(f.starts, req)
	if req.GetKind() != "demo.sleep" {
		return nil, status.Errorf(codes.InvalidArgument, "unknown kind %q", req.GetKind())
	}
	md, err := anypb.New(&demopb.SleepMetadata{StartTime: timestamppb.New(fixedTime), Attempt: 1})
	if err != nil {
		return nil, err
	}
	op := &longrunningpb.Operation{Metadata: md}
	f.addLocked(req.GetParent(), op)
	return proto.Clone(op).(*longrunningpb.Operation), nil
}

func (f *fakeServer) ListKinds(ctx context.Context, req *lropb.ListKindsRequest) (*lropb.ListKindsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called(ctx, "ListKinds")
	return &lropb.ListKindsResponse{Kinds: []*lropb.Kind{
		{
			Name:         "demo.sleep",
			RequestType:  "lro.demo.v1.SleepRequest",
			MetadataType: "lro.demo.v1.SleepMetadata",
			ResponseType: "lro.demo.v1.SleepResponse",
			MaxAttempts:  3,
			LeaseTtl:     durationpb.New(30 * time.Second),
			Handled:      true,
		},
		{
			Name:         "example.export",
			RequestType:  "example.v1.ExportRequest",
			ResponseType: "example.v1.ExportResponse",
			MaxAttempts:  1,
			LeaseTtl:     durationpb.New(30 * time.Second),
			Handled:      true,
		},
		{
			Name:         "media.transcode",
			RequestType:  "google.protobuf.Struct",
			MetadataType: "google.protobuf.Struct",
			ResponseType: "google.protobuf.Struct",
			MaxAttempts:  5,
			LeaseTtl:     durationpb.New(2 * time.Minute),
			InputSchema: &structpb.Struct{Fields: map[string]*structpb.Value{
				"type":     structpb.NewStringValue("object"),
				"required": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("source")}}),
			}},
		},
	}}, nil
}

func (f *fakeServer) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called(ctx, "GetOperation")
	if expire, ok := f.leaseExpire[req.GetName()]; ok {
		grpc.SetHeader(ctx, metadata.Pairs(lrogrpc.StateHeader, "running",
			lrogrpc.LeaseExpireTimeHeader, expire.Format(time.RFC3339Nano)))
	}
	if at, ok := f.notBefore[req.GetName()]; ok {
		grpc.SetHeader(ctx, metadata.Pairs(lrogrpc.StateHeader, "pending",
			lrogrpc.NotBeforeHeader, at.Format(time.RFC3339Nano)))
	}
	return f.get(req.GetName())
}

// ListOperations pages through the collection in creation order; its page
// tokens are "offset-N".
func (f *fakeServer) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called(ctx, "ListOperations")
	f.lists = append(f.lists, req)
	if req.GetName() != "operations" && !strings.HasSuffix(req.GetName(), "/operations") {
		return nil, status.Errorf(codes.InvalidArgument, "%q is not a collection of operations", req.GetName())
	}
	var ops []*longrunningpb.Operation
	for _, name := range f.order {
		if op, ok := f.ops[name]; ok && strings.HasPrefix(name, req.GetName()+"/") {
			ops = append(ops, op)
		}
	}
	start := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "offset-"))
		if err != nil || !strings.HasPrefix(tok, "offset-") || n > len(ops) {
			return nil, status.Errorf(codes.InvalidArgument, "bad page token %q", tok)
		}
		start = n
	}
	end := len(ops)
	if size := int(req.GetPageSize()); size > 0 && start+size < end {
		end = start + size
	}
	resp := &longrunningpb.ListOperationsResponse{}
	for _, op := range ops[start:end] {
		resp.Operations = append(resp.Operations, proto.Clone(op).(*longrunningpb.Operation))
	}
	if end < len(ops) {
		resp.NextPageToken = fmt.Sprintf("offset-%d", end)
	}
	return resp, nil
}

func (f *fakeServer) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called(ctx, "CancelOperation")
	op, ok := f.ops[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", req.GetName())
	}
	if !op.Done {
		op.Done = true
		op.Result = &longrunningpb.Operation_Error{Error: &spb.Status{
			Code:    int32(code.Code_CANCELLED),
			Message: "operation cancelled",
		}}
	}
	return &emptypb.Empty{}, nil
}

func (f *fakeServer) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called(ctx, "DeleteOperation")
	if _, ok := f.ops[req.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", req.GetName())
	}
	delete(f.ops, req.GetName())
	return &emptypb.Empty{}, nil
}

func (f *fakeServer) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	f.called(ctx, "WaitOperation")
	if f.noWait {
		f.mu.Unlock()
		return nil, status.Error(codes.Unimplemented, "method WaitOperation not implemented")
	}
	if f.unavailable > 0 {
		f.unavailable--
		f.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	op, err := f.get(req.GetName())
	if err != nil || op.GetDone() {
		f.mu.Unlock()
		return op, err
	}
	if f.blockWait {
		f.mu.Unlock()
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	defer f.mu.Unlock()
	left, ok := f.waitsLeft[req.GetName()]
	if !ok {
		return op, nil
	}
	if left > 0 {
		f.waitsLeft[req.GetName()] = left - 1
		return op, nil
	}
	// Finish it.
	stored := f.ops[req.GetName()]
	md, err := anypb.New(sleepMetadata(100))
	if err != nil {
		return nil, err
	}
	resp, err := anypb.New(&demopb.SleepResponse{Slept: durationpb.New(time.Second)})
	if err != nil {
		return nil, err
	}
	stored.Metadata = md
	stored.Done = true
	stored.Result = &longrunningpb.Operation_Response{Response: resp}
	return f.get(req.GetName())
}
