package lro

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro/internal/slogtest"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// stubWorkers answers the adapter's calls with what the test sets.
type stubWorkers struct {
	lropb.WorkersClient
	claim  func(*lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error)
	finish func(*lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error)
	calls  int
}

func (s *stubWorkers) ClaimOperations(_ context.Context, in *lropb.ClaimOperationsRequest, _ ...grpc.CallOption) (*lropb.ClaimOperationsResponse, error) {
	return s.claim(in)
}

func (s *stubWorkers) FinishOperations(_ context.Context, in *lropb.FinishOperationsRequest, _ ...grpc.CallOption) (*lropb.FinishOperationsResponse, error) {
	s.calls++
	return s.finish(in)
}

func claimN(n int) func(*lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
	return func(*lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
		in, _ := anypb.New(wrapperspb.String("x"))
		resp := &lropb.ClaimOperationsResponse{}
		for i := range n {
			resp.Operations = append(resp.Operations, &lropb.ClaimedOperation{
				Name: fmt.Sprintf("operations/0190a000-0000-7000-8000-%012d", i), Kind: "k", LeaseToken: fmt.Sprintf("wire-%d", i),
				Attempt: 1, KindInput: &lropb.ClaimedOperation_TypedInput{TypedInput: in}})
		}
		return resp, nil
	}
}

func succeeded(t *testing.T, l lrostore.Lease) *lrostore.OperationFinishParams {
	resp, _, err := marshalAny(wrapperspb.String("r"))
	require.NoError(t, err)
	return &lrostore.OperationFinishParams{Lease: l, State: lrostore.StateSucceeded, Response: resp}
}

func leasesOf(ops []*lrostore.Operation) []lrostore.Lease {
	out := make([]lrostore.Lease, len(ops))
	for i, op := range ops {
		out[i] = lrostore.Lease{ID: op.ID, Token: op.LeaseToken}
	}
	return out
}

func newStubStore(t *testing.T, stub *stubWorkers) *remoteWorkStore {
	return newRemoteWorkStore(stub, "w", slog.New(slogtest.Logger(t).Handler()))
}

// Claimed operations get local tokens of their own, and carry their
// request as the stored Any.
func TestRemoteStoreClaimMapsTokens(t *testing.T) {
	s := newStubStore(t, &stubWorkers{claim: claimN(2)})
	ops, err := s.OperationClaim(context.Background(), &lrostore.OperationClaimParams{Kinds: []string{"k"}, Max: 5000})
	require.NoError(t, err)
	require.Len(t, ops, 2)
	require.NotEqual(t, ops[0].LeaseToken, ops[1].LeaseToken)
	require.Equal(t, "", ops[0].Parent)
	a := &anypb.Any{}
	require.NoError(t, proto.Unmarshal(ops[0].Input, a))
	v := &wrapperspb.StringValue{}
	require.NoError(t, a.UnmarshalTo(v))
	require.Equal(t, "x", v.Value)
	require.Equal(t, 2, s.held())
}

// A finish that failed as a whole may have landed: FAILED_PRECONDITION
// (already done) on the retry is this worker's own result, while on a
// first try it is not; ABORTED is a lease lost. Answered leases are
// forgotten; those of a failed call are kept for the retry.
func TestRemoteStoreFinishOutcomes(t *testing.T) {
	stub := &stubWorkers{claim: claimN(3)}
	s := newStubStore(t, stub)
	ctx := context.Background()
	ops, err := s.OperationClaim(ctx, &lrostore.OperationClaimParams{Max: 3})
	require.NoError(t, err)
	ls := leasesOf(ops)

	stub.finish = func(*lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
		return nil, status.Error(codes.Unavailable, "connection lost")
	}
	_, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{succeeded(t, ls[0])}})
	require.Equal(t, codes.Unavailable, status.Code(err))
	require.False(t, lrostore.IsPermanent(err))
	require.Equal(t, 3, s.held())

	stub.finish = func(in *lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
		resp := &lropb.FinishOperationsResponse{}
		for range in.Results {
			resp.Results = append(resp.Results, &spb.Status{Code: int32(codes.FailedPrecondition)})
		}
		resp.Results[len(resp.Results)-1].Code = int32(codes.Aborted)
		return resp, nil
	}
	res, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{
		succeeded(t, ls[0]), succeeded(t, ls[1]), succeeded(t, ls[2])}})
	require.NoError(t, err)
	require.True(t, res[0].Finished, "the retry finds its own earlier write")
	require.False(t, res[1].Finished, "done by another")
	require.False(t, res[2].Finished, "lease lost")
	require.Equal(t, 0, s.held())

	// A forgotten lease is not sent again: it is not written.
	calls := stub.calls
	res, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{succeeded(t, ls[0])}})
	require.NoError(t, err)
	require.False(t, res[0].Finished)
	require.Equal(t, calls, stub.calls)
}

// An item the server finds malformed makes the batch a PermanentError, so
// that the executor writes each alone; large batches are split into calls
// of at most 1,000.
func TestRemoteStoreFinishInvalidAndChunks(t *testing.T) {
	stub := &stubWorkers{claim: claimN(2500)}
	s := newStubStore(t, stub)
	ctx := context.Background()
	ops, err := s.OperationClaim(ctx, &lrostore.OperationClaimParams{Max: 1000})
	require.NoError(t, err)
	ls := leasesOf(ops)
	var sizes []int
	stub.finish = func(in *lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
		sizes = append(sizes, len(in.Results))
		resp := &lropb.FinishOperationsResponse{}
		for _, r := range in.Results {
			st := &spb.Status{}
			switch r.Name {
			case "operations/" + ops[1].ID:
				st.Code = int32(codes.InvalidArgument)
			case "operations/" + ops[2].ID:
				st.Code = int32(codes.Internal)
			}
			resp.Results = append(resp.Results, st)
		}
		return resp, nil
	}
	_, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{succeeded(t, ls[0]), succeeded(t, ls[1])}})
	require.True(t, lrostore.IsPermanent(err))
	// Each alone, as the executor writes them then: the first was written.
	calls := stub.calls
	res, err := s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{succeeded(t, ls[0])}})
	require.NoError(t, err)
	require.True(t, res[0].Finished)
	require.Equal(t, calls, stub.calls, "not sent again")
	_, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{succeeded(t, ls[1])}})
	require.True(t, lrostore.IsPermanent(err))
	_, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{succeeded(t, ls[2])}})
	require.True(t, lrostore.IsPermanent(err), "a result the server's store refuses for good")

	var fs []*lrostore.OperationFinishParams
	for _, l := range ls[3:] {
		fs = append(fs, succeeded(t, l))
	}
	sizes = nil
	res, err = s.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: fs})
	require.NoError(t, err)
	require.Equal(t, []int{1000, 1000, 497}, sizes)
	for _, r := range res {
		require.True(t, r.Finished)
	}
}
