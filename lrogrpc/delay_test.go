package lrogrpc_test

import (
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
)

// A start's delay or run_after keeps the operation pending, as Google's
// client sees it, until its time; then it runs.
func TestDelayedStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	in := typedInput(t, &demopb.SleepRequest{FailMessage: "later"})
	for name, req := range map[string]func() *lropb.StartOperationRequest{
		"delay": func() *lropb.StartOperationRequest {
			return &lropb.StartOperationRequest{Kind: kindEcho, KindInput: in,
				StartTime: &lropb.StartOperationRequest_Delay{Delay: durationpb.New(300 * time.Millisecond)}}
		},
		"run_after": func() *lropb.StartOperationRequest {
			return &lropb.StartOperationRequest{Kind: kindEcho, KindInput: in,
				StartTime: &lropb.StartOperationRequest_RunAfter{RunAfter: timestamppb.New(time.Now().Add(300 * time.Millisecond))}}
		},
	} {
		began := time.Now()
		op := e.startReq(t, req())
		var header metadata.MD
		got, err := e.raw.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()}, grpc.Header(&header))
		require.NoError(t, err)
		require.False(t, got.GetDone(), name)
		_, info, err := e.client.GetOperationInfo(t.Context(), op.GetName())
		require.NoError(t, err)
		require.Equal(t, "pending", info.State, name)
		require.Equal(t, []string{"pending"}, header.Get(lrogrpc.StateHeader))
		require.Equal(t, []string{info.NotBefore.Format(time.RFC3339Nano)}, header.Get(lrogrpc.NotBeforeHeader))
		requireResponse(t, e.waitDone(t, op.GetName()), wrapperspb.String("later"))
		require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond, name)
	}

	// Cancelled while it waits, it ends at once.
	op := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, KindInput: in,
		StartTime: &lropb.StartOperationRequest_Delay{Delay: durationpb.New(time.Hour)}})
	_, err := e.raw.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	requireCancelled(t, e.get(t, op.GetName()))

	for name, req := range map[string]*lropb.StartOperationRequest{
		"negative delay": {StartTime: &lropb.StartOperationRequest_Delay{Delay: durationpb.New(-time.Second)}},
		"delay too long": {StartTime: &lropb.StartOperationRequest_Delay{Delay: durationpb.New(lro.DelayMax + time.Second)}},
		"bad duration":   {StartTime: &lropb.StartOperationRequest_Delay{Delay: &durationpb.Duration{Seconds: 1, Nanos: -1}}},
		"too far":        {StartTime: &lropb.StartOperationRequest_RunAfter{RunAfter: timestamppb.New(time.Now().AddDate(2, 0, 0))}},
		"bad timestamp":  {StartTime: &lropb.StartOperationRequest_RunAfter{RunAfter: &timestamppb.Timestamp{Nanos: 2e9}}},
	} {
		req.Kind, req.KindInput = kindEcho, in
		_, err := e.lro.StartOperation(t.Context(), req)
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%s: %v", name, err)
	}
}
