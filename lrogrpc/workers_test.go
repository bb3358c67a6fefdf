package lrogrpc_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
)

// TestWorkers runs a worker over gRPC: the Workers service that Register
// registers, with its call-level errors as statuses with an ErrorInfo, and
// its per-item outcomes.
func TestWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	ctx := t.Context()

	t.Run("MalformedCalls", func(t *testing.T) {
		for _, tc := range []struct {
			req   *lropb.ClaimOperationsRequest
			field string
		}{
			{&lropb.ClaimOperationsRequest{Max: 1}, "kinds"},
			{&lropb.ClaimOperationsRequest{Kinds: []string{kindRemote, "no.such"}, Max: 1}, "kinds[1]"},
			{&lropb.ClaimOperationsRequest{Kinds: []string{kindRemote}}, "max"},
			{&lropb.ClaimOperationsRequest{Kinds: []string{kindRemote}, Max: 1_000_000}, "max"},
			{&lropb.ClaimOperationsRequest{Kinds: []string{kindRemote}, Max: 1, Wait: durationpb.New(-time.Second)}, "wait"},
		} {
			_, err := e.work.ClaimOperations(ctx, tc.req)
			requireFieldViolation(t, requireErrorInfo(t, err, codes.InvalidArgument), tc.field)
		}
		_, err := e.work.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: make([]*lropb.OperationResult, lro.WorkerItemsMax+1)})
		requireFieldViolation(t, requireErrorInfo(t, err, codes.InvalidArgument), "results")
	})

	t.Run("ClaimBeforeTheDeadline", func(t *testing.T) {
		// A claim whose call ends before its wait answers, empty, in time:
		// 2.5 s leaves 500 ms for the last claim and the answer.
		callCtx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		defer cancel()
		resp, err := e.work.ClaimOperations(callCtx, &lropb.ClaimOperationsRequest{Kinds: []string{kindRemote}, Max: 1,
			Wait: durationpb.New(time.Minute)})
		require.NoError(t, err)
		require.Empty(t, resp.GetOperations())
	})

	t.Run("RoundTrip", func(t *testing.T) {
		op := e.start(t, kindRemote, wrapperspb.String("in"))
		resp, err := e.work.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Worker: "grpc-worker", Kinds: []string{kindRemote}, Max: 5,
			Wait: durationpb.New(0), Json: true})
		require.NoError(t, err)
		require.Len(t, resp.GetOperations(), 1)
		claimed := resp.GetOperations()[0]
		require.Equal(t, op.GetName(), claimed.GetName())
		require.Equal(t, "in", claimed.GetInput().GetStringValue())

		progress, err := structpb.NewValue(map[string]any{"progressPercent": 50})
		require.NoError(t, err)
		renew, err := e.work.RenewLeases(ctx, &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
			{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken(), MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: progress}},
		}})
		require.NoError(t, err)
		require.Equal(t, lropb.LeaseState_HELD, renew.GetLeases()[0].GetState(), "%v", renew.GetLeases()[0].GetError())
		meta := &demopb.SleepMetadata{}
		require.NoError(t, e.get(t, op.GetName()).GetMetadata().UnmarshalTo(meta))
		require.EqualValues(t, 50, meta.GetProgressPercent())

		fin, err := e.work.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
			{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken(), Result: &lropb.OperationResult_TypedResponse{TypedResponse: mustAny(t, wrapperspb.Int64(1))}},
			{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken(), Result: &lropb.OperationResult_TypedResponse{TypedResponse: mustAny(t, wrapperspb.String("out"))}},
			{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken(), Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(codes.Internal)}}},
		}})
		require.NoError(t, err)
		codesOf := func(sts []*spb.Status) []codes.Code {
			var out []codes.Code
			for _, st := range sts {
				out = append(out, status.FromProto(st).Code())
			}
			return out
		}
		require.Equal(t, []codes.Code{codes.InvalidArgument, codes.OK, codes.FailedPrecondition}, codesOf(fin.GetResults()))
		done, err := e.raw.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(10 * time.Second)})
		require.NoError(t, err)
		out := &wrapperspb.StringValue{}
		require.NoError(t, done.GetResponse().UnmarshalTo(out))
		require.Equal(t, "out", out.GetValue())

		rel, err := e.work.ReleaseOperations(ctx, &lropb.ReleaseOperationsRequest{Leases: []*lropb.Lease{{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken()}}})
		require.NoError(t, err)
		require.Equal(t, []codes.Code{codes.FailedPrecondition}, codesOf(rel.GetResults()))
	})
}
