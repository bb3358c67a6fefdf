package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// A worker's failure retries under the declared kind's policy; the
// worker's retryable flag and RetryInfo override it; the claim carries
// the attempt's deadline.
func TestWorkerFailuresRetryUnderTheKindsPolicy(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, nil, func(c *lro.Client) {
			require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "retried", MaxAttempts: 3,
				Retry:          &lro.RetryPolicy{InitialDelay: 20 * time.Millisecond, Jitter: -1},
				AttemptTimeout: time.Hour}))
		})
		op, err := c.StartOperation(context.Background(), "retried", nil, nil)
		require.NoError(t, err)
		fail := func(claimed *lropb.ClaimedOperation, code codes.Code, mut func(*lropb.OperationResult)) {
			t.Helper()
			res := &lropb.OperationResult{Name: op.GetName(), LeaseToken: claimed.GetLeaseToken(),
				Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(code), Message: code.String()}}}
			if mut != nil {
				mut(res)
			}
			requireCode(t, codes.OK, finishOne(t, c, res))
		}
		claimNext := func() *lropb.ClaimedOperation {
			t.Helper()
			resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{
				Kinds: []string{"retried"}, Max: 1, Wait: durationpb.New(10 * time.Second)})
			require.NoError(t, err)
			require.Len(t, resp.GetOperations(), 1)
			return resp.GetOperations()[0]
		}

		first := claimNext()
		require.NotNil(t, first.GetDeadline(), "the attempt's deadline comes with the claim")
		require.WithinDuration(t, time.Now().Add(time.Hour), first.GetDeadline().AsTime(), time.Minute)
		fail(first, codes.Unavailable, nil) // retried by the default codes

		_, info, err := c.GetOperationInfo(context.Background(), op.GetName())
		require.NoError(t, err)
		require.Equal(t, "pending", info.State)
		require.Equal(t, codes.Unavailable, info.LastError.Code())

		second := claimNext()
		require.Equal(t, int32(2), second.GetAttempt())
		retry := true
		fail(second, codes.Internal, func(r *lropb.OperationResult) { r.Retryable = &retry }) // retried as the worker says

		third := claimNext()
		require.Equal(t, int32(3), third.GetAttempt())
		fail(third, codes.Unavailable, nil) // the last attempt: final
		done := waitDone(t, c, op.GetName())
		require.Equal(t, int32(codes.Unavailable), done.GetError().GetCode())
		require.Equal(t, "Unavailable (after 3 attempts)", done.GetError().GetMessage())

		// retryable false ends it at once; RetryInfo sets the delay.
		op, err = c.StartOperation(context.Background(), "retried", nil, nil)
		require.NoError(t, err)
		no := false
		fail(claimNext(), codes.Unavailable, func(r *lropb.OperationResult) { r.Retryable = &no })
		require.Equal(t, int32(codes.Unavailable), waitDone(t, c, op.GetName()).GetError().GetCode())

		op, err = c.StartOperation(context.Background(), "retried", nil, nil)
		require.NoError(t, err)
		info2, err := anypb.New(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Hour)})
		require.NoError(t, err)
		fail(claimNext(), codes.Unavailable, func(r *lropb.OperationResult) {
			st := r.GetError()
			st.Details = append(st.Details, info2)
		})
		resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{
			Kinds: []string{"retried"}, Max: 1, Wait: durationpb.New(200 * time.Millisecond)})
		require.NoError(t, err)
		require.Empty(t, resp.GetOperations(), "RetryInfo's hour has not passed")
		_, info, err = c.GetOperationInfo(context.Background(), op.GetName())
		require.NoError(t, err)
		require.Equal(t, "pending", info.State)
		require.Len(t, info.LastError.Proto().GetDetails(), 1, "the last error keeps its details")
	})
}
