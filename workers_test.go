package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// newWorkersClient starts a client that declares "json" (JSON in and out)
// and "typed" (StringValue in, out and as metadata), which only remote
// workers run, and stops it when the test ends.
func newWorkersClient(t *testing.T, store lrostore.Store, config *lro.Config, register func(c *lro.Client)) *lro.Client {
	t.Helper()
	return newClient(t, store, config, func(c *lro.Client) {
		require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "json"}))
		lro.MustRegister(c, kind{Name: "typed"})
		if register != nil {
			register(c)
		}
	})
}

func jsonObject(t *testing.T, m map[string]any) *structpb.Value {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return structpb.NewStructValue(s)
}

// claim claims operations without waiting, and requires n of them.
func claim(t *testing.T, c *lro.Client, n int, req *lropb.ClaimOperationsRequest) []*lropb.ClaimedOperation {
	t.Helper()
	if req.Max == 0 {
		req.Max = 1000
	}
	if req.Wait == nil {
		req.Wait = durationpb.New(0)
	}
	resp, err := c.ClaimOperations(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, resp.GetOperations(), n)
	return resp.GetOperations()
}

func requireCode(t *testing.T, want codes.Code, st *spb.Status) {
	t.Helper()
	require.Equal(t, int32(want), st.GetCode(), "status: %v", st)
}

func TestWorkersRoundTrip(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	c := newWorkersClient(t, store, nil, nil)
	in, err := structpb.NewStruct(map[string]any{"n": 1})
	require.NoError(t, err)
	op, err := c.StartOperation(context.Background(), "json", in, nil)
	require.NoError(t, err)
	typedOp := start(t, c, "typed", "hello")

	got := claim(t, c, 1, &lropb.ClaimOperationsRequest{Worker: "w1", Kinds: []string{"json"}, Json: true})[0]
	require.Equal(t, op.GetName(), got.GetName())
	require.Equal(t, "json", got.GetKind())
	require.EqualValues(t, 1, got.GetAttempt())
	require.EqualValues(t, lro.MaxAttemptsDefault, got.GetMaxAttempts())
	require.Equal(t, time.Second, got.GetLeaseTtl().AsDuration())
	require.Equal(t, time.Second/3, got.GetHeartbeatInterval().AsDuration())
	require.Equal(t, 1.0, got.GetInput().GetStructValue().GetFields()["n"].GetNumberValue())
	require.Equal(t, "w1", storedOp(t, store, op.GetName()).LeaseOwner)

	typed := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"typed", "json"}})[0]
	require.Equal(t, typedOp.GetName(), typed.GetName())
	v := &wrapperspb.StringValue{}
	require.NoError(t, typed.GetTypedInput().UnmarshalTo(v))
	require.Equal(t, "hello", v.GetValue())
	require.Equal(t, "worker", storedOp(t, store, typedOp.GetName()).LeaseOwner)

	renew, err := c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
		{Name: got.GetName(), LeaseToken: got.GetLeaseToken(), MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: jsonObject(t, map[string]any{"done": 0.5})}},
		{Name: typed.GetName(), LeaseToken: typed.GetLeaseToken()},
	}})
	require.NoError(t, err)
	require.Len(t, renew.GetLeases(), 2)
	for i, l := range renew.GetLeases() {
		require.Equal(t, lropb.LeaseState_HELD, l.GetState(), "lease %d: %v", i, l.GetError())
		require.Nil(t, l.GetError())
	}
	current, err := c.GetOperation(context.Background(), op.GetName())
	require.NoError(t, err)
	meta := &structpb.Struct{}
	require.NoError(t, current.GetMetadata().UnmarshalTo(meta))
	require.Equal(t, 0.5, meta.GetFields()["done"].GetNumberValue())

	resp, err := anypb.New(wrapperspb.String("world"))
	require.NoError(t, err)
	fin, err := c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
		{Name: got.GetName(), LeaseToken: got.GetLeaseToken(), Result: &lropb.OperationResult_Response{Response: jsonObject(t, map[string]any{"ok": true})}},
		{Name: typed.GetName(), LeaseToken: typed.GetLeaseToken(), Result: &lropb.OperationResult_TypedResponse{TypedResponse: resp}},
	}})
	require.NoError(t, err)
	require.Len(t, fin.GetResults(), 2)
	requireCode(t, codes.OK, fin.GetResults()[0])
	requireCode(t, codes.OK, fin.GetResults()[1])
	done := waitDone(t, c, op.GetName())
	out := &structpb.Struct{}
	require.NoError(t, done.GetResponse().UnmarshalTo(out))
	require.True(t, out.GetFields()["ok"].GetBoolValue())
	require.Equal(t, "world", responseValue(t, waitDone(t, c, typedOp.GetName())))
}
