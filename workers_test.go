package lro_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// workersLeaseTTL is the lease TTL of the kinds of newWorkersClient: long
// enough that no lease expires in a test that does not mean it to, even
// on a busy machine.
const workersLeaseTTL = time.Minute

// newWorkersClient starts a client that declares "json" (JSON in and out)
// and "typed" (StringValue in, out and as metadata), which only remote
// workers run, with leases of workersLeaseTTL unless config says
// otherwise, and stops it when the test ends.
func newWorkersClient(t *testing.T, store lrostore.Store, config *lro.Config, register func(c *lro.Client)) *lro.Client {
	t.Helper()
	cfg := lro.Config{LeaseTTL: workersLeaseTTL}
	if config != nil {
		merge(&cfg, config)
	}
	return newClient(t, store, &cfg, func(c *lro.Client) {
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
	eachStore(t, func(t *testing.T, store lrostore.Store) {
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
		require.Equal(t, workersLeaseTTL, got.GetLeaseTtl().AsDuration())
		require.Equal(t, workersLeaseTTL/3, got.GetHeartbeatInterval().AsDuration())
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
	})
}

// finishOne finishes one operation and returns its item's status.
func finishOne(t *testing.T, c *lro.Client, r *lropb.OperationResult) *spb.Status {
	t.Helper()
	resp, err := c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{r}})
	require.NoError(t, err)
	require.Len(t, resp.GetResults(), 1)
	return resp.GetResults()[0]
}

// renewOne renews one lease and returns its state.
func renewOne(t *testing.T, c *lro.Client, l *lropb.LeaseRenewal) *lropb.LeaseState {
	t.Helper()
	resp, err := c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{l}})
	require.NoError(t, err)
	require.Len(t, resp.GetLeases(), 1)
	return resp.GetLeases()[0]
}

// releaseOne releases one lease and returns its item's status.
func releaseOne(t *testing.T, c *lro.Client, op *lropb.ClaimedOperation) *spb.Status {
	t.Helper()
	resp, err := c.ReleaseOperations(context.Background(), &lropb.ReleaseOperationsRequest{
		Leases: []*lropb.Lease{{Name: op.GetName(), LeaseToken: op.GetLeaseToken()}}})
	require.NoError(t, err)
	require.Len(t, resp.GetResults(), 1)
	return resp.GetResults()[0]
}

func requireInvalid(t *testing.T, err error, reason string) {
	t.Helper()
	var e *lro.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, codes.InvalidArgument, e.Code, "%v", err)
	require.Equal(t, reason, e.Reason, "%v", err)
}

// reasonOf returns the ErrorInfo reason of an item's status.
func reasonOf(t *testing.T, st *spb.Status) string {
	t.Helper()
	for _, d := range st.GetDetails() {
		info := &errdetails.ErrorInfo{}
		if d.MessageIs(info) {
			require.NoError(t, d.UnmarshalTo(info))
			return info.GetReason()
		}
	}
	t.Fatalf("no ErrorInfo in %v", st)
	return ""
}

func TestClaimLongPoll(t *testing.T) {
	t.Parallel()
	t.Run("ReturnsWhenAStartArrives", func(t *testing.T) {
		t.Parallel()
		c := newWorkersClient(t, openStore(t), nil, func(c *lro.Client) { lro.ClaimWaitingSignal(c).Init() })
		type claimed struct {
			resp *lropb.ClaimOperationsResponse
			err  error
		}
		got := make(chan claimed, 1)
		go func() {
			resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{
				Kinds: []string{"json"}, Max: 10, Wait: durationpb.New(time.Minute)})
			got <- claimed{resp, err}
		}()
		lro.ClaimWaitingSignal(c).Wait(t) // the poll found nothing and waits
		op, err := c.StartOperation(context.Background(), "json", nil, nil)
		require.NoError(t, err)
		select {
		case r := <-got:
			require.NoError(t, r.err)
			require.Len(t, r.resp.GetOperations(), 1)
			require.Equal(t, op.GetName(), r.resp.GetOperations()[0].GetName())
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll did not return on the start")
		}
	})
	t.Run("EmptyAfterWait", func(t *testing.T) {
		t.Parallel()
		c := newWorkersClient(t, openStore(t), nil, nil)
		began := time.Now()
		claim(t, c, 0, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Wait: durationpb.New(100 * time.Millisecond)})
		require.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond)
	})
	t.Run("WaitsOnAfterAStartOfAnotherKind", func(t *testing.T) {
		t.Parallel()
		c := newWorkersClient(t, openStore(t), nil, func(c *lro.Client) { lro.ClaimWaitingSignal(c).Init() })
		got := make(chan *lropb.ClaimOperationsResponse, 1)
		go func() {
			resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{
				Kinds: []string{"json"}, Max: 10, Wait: durationpb.New(time.Minute)})
			if err != nil {
				t.Error(err)
			}
			got <- resp
		}()
		lro.ClaimWaitingSignal(c).Wait(t)
		start(t, c, "typed", "other") // wakes the poll, which finds nothing
		lro.ClaimWaitingSignal(c).Wait(t)
		op, err := c.StartOperation(context.Background(), "json", nil, nil)
		require.NoError(t, err)
		select {
		case resp := <-got:
			require.Len(t, resp.GetOperations(), 1)
			require.Equal(t, op.GetName(), resp.GetOperations()[0].GetName())
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll did not return on the start")
		}
	})
	t.Run("CappedByWaitMax", func(t *testing.T) {
		t.Parallel()
		c := newWorkersClient(t, openStore(t), &lro.Config{WaitMax: 50 * time.Millisecond}, nil)
		began := time.Now()
		claim(t, c, 0, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Wait: durationpb.New(time.Hour)})
		require.Less(t, time.Since(began), 10*time.Second)
	})
	t.Run("EndsWhenTheClientStops", func(t *testing.T) {
		t.Parallel()
		c := newWorkersClient(t, openStore(t), nil, func(c *lro.Client) { lro.ClaimWaitingSignal(c).Init() })
		got := make(chan *lropb.ClaimOperationsResponse, 1)
		go func() {
			resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{
				Kinds: []string{"json"}, Max: 10, Wait: durationpb.New(time.Minute)})
			if err != nil {
				t.Error(err)
			}
			got <- resp
		}()
		lro.ClaimWaitingSignal(c).Wait(t)
		require.NoError(t, c.Stop(context.Background()))
		select {
		case resp := <-got:
			require.Empty(t, resp.GetOperations())
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll did not end when the client stopped")
		}
	})
	t.Run("KindsGroupedByLeaseTTL", func(t *testing.T) {
		t.Parallel()
		c := newWorkersClient(t, openStore(t), nil, func(c *lro.Client) {
			require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "short", LeaseTTL: 200 * time.Millisecond}))
			require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "long", LeaseTTL: time.Hour}))
		})
		var names []string
		for _, k := range []string{"long", "short", "json", "long"} {
			op, err := c.StartOperation(context.Background(), k, nil, nil)
			require.NoError(t, err)
			names = append(names, op.GetName())
		}
		ops := claim(t, c, 3, &lropb.ClaimOperationsRequest{Kinds: []string{"short", "long", "json", "short"}, Max: 3})
		ops = append(ops, claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"short", "long", "json"}, Max: 3})...)
		ttls := map[string]time.Duration{"long": time.Hour, "short": 200 * time.Millisecond, "json": workersLeaseTTL}
		var got []string
		for i, op := range ops {
			if i > 0 && i < 3 {
				require.Less(t, ops[i-1].GetName(), op.GetName(), "oldest first")
			}
			require.Equal(t, ttls[op.GetKind()], op.GetLeaseTtl().AsDuration(), op.GetKind())
			require.Equal(t, ttls[op.GetKind()]/3, op.GetHeartbeatInterval().AsDuration())
			got = append(got, op.GetName())
		}
		require.ElementsMatch(t, names, got)
		claim(t, c, 0, &lropb.ClaimOperationsRequest{Kinds: []string{"short", "long", "json"}})
	})
}

func TestClaimRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	c := newWorkersClient(t, openStore(t), nil, nil)
	_, err := c.StartOperation(context.Background(), "json", nil, nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		req    *lropb.ClaimOperationsRequest
		reason string
	}{
		{"NoKinds", &lropb.ClaimOperationsRequest{Max: 1}, "KINDS_REQUIRED"},
		{"TooManyKinds", &lropb.ClaimOperationsRequest{Kinds: make([]string, lro.WorkerItemsMax+1), Max: 1}, "TOO_MANY_KINDS"},
		{"UnknownKind", &lropb.ClaimOperationsRequest{Kinds: []string{"json", "nope"}, Max: 1}, "UNKNOWN_KIND"},
		{"EmptyKind", &lropb.ClaimOperationsRequest{Kinds: []string{""}, Max: 1}, "INVALID_KIND"},
		{"MaxZero", &lropb.ClaimOperationsRequest{Kinds: []string{"json"}}, "INVALID_MAX"},
		{"MaxNegative", &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: -1}, "INVALID_MAX"},
		{"MaxMillion", &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1_000_000}, "INVALID_MAX"},
		{"NegativeWait", &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1, Wait: durationpb.New(-time.Second)}, "INVALID_WAIT"},
		{"InvalidWait", &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1, Wait: &durationpb.Duration{Seconds: 1, Nanos: -1}}, "INVALID_WAIT"},
		{"WorkerTooLong", &lropb.ClaimOperationsRequest{Worker: strings.Repeat("w", 257), Kinds: []string{"json"}, Max: 1}, "INVALID_WORKER"},
		{"WorkerNotPrintable", &lropb.ClaimOperationsRequest{Worker: "w\n1", Kinds: []string{"json"}, Max: 1}, "INVALID_WORKER"},
		{"WorkerNotUTF8", &lropb.ClaimOperationsRequest{Worker: "w\xff", Kinds: []string{"json"}, Max: 1}, "INVALID_WORKER"},
	} {
		_, err := c.ClaimOperations(context.Background(), tc.req)
		requireInvalid(t, err, tc.reason)
	}
	// Nothing was claimed.
	claim(t, c, 1, &lropb.ClaimOperationsRequest{Worker: strings.Repeat("w", 256), Kinds: []string{"json"}})
}

func TestWorkerLeaseTokens(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, nil, nil)
		first, err := c.StartOperation(context.Background(), "typed", wrapperspb.String("a"), nil)
		require.NoError(t, err)
		second, err := c.StartOperation(context.Background(), "typed", wrapperspb.String("b"), nil)
		require.NoError(t, err)
		ops := claim(t, c, 2, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}})
		a, b := ops[0], ops[1]
		require.Equal(t, first.GetName(), a.GetName())
		require.Equal(t, second.GetName(), b.GetName())

		t.Run("Forged", func(t *testing.T) {
			for _, token := range []string{"", "Zm9yZ2Vk", a.GetLeaseToken() + "x", b.GetLeaseToken()} {
				st := finishOne(t, c, &lropb.OperationResult{Name: a.GetName(), LeaseToken: token})
				requireCode(t, codes.InvalidArgument, st)
				require.Equal(t, "INVALID_LEASE_TOKEN", reasonOf(t, st))
				l := renewOne(t, c, &lropb.LeaseRenewal{Name: a.GetName(), LeaseToken: token})
				require.Equal(t, lropb.LeaseState_LOST, l.GetState())
				requireCode(t, codes.InvalidArgument, l.GetError())
			}
			st := finishOne(t, c, &lropb.OperationResult{Name: "operations/nope", LeaseToken: a.GetLeaseToken()})
			requireCode(t, codes.InvalidArgument, st)
			require.Equal(t, "INVALID_NAME", reasonOf(t, st))
			require.Equal(t, lrostore.StateRunning, storedOp(t, store, a.GetName()).State)
		})
		t.Run("Stale", func(t *testing.T) {
			requireCode(t, codes.OK, releaseOne(t, c, a))
			again := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}, Worker: "w2"})[0]
			require.Equal(t, a.GetName(), again.GetName())
			before := storedOp(t, store, a.GetName())
			meta, err := anypb.New(wrapperspb.String("stale"))
			require.NoError(t, err)
			l := renewOne(t, c, &lropb.LeaseRenewal{Name: a.GetName(), LeaseToken: a.GetLeaseToken(),
				MetadataValue: &lropb.LeaseRenewal_TypedMetadata{TypedMetadata: meta}})
			require.Equal(t, lropb.LeaseState_LOST, l.GetState())
			requireCode(t, codes.Aborted, l.GetError())
			st := finishOne(t, c, &lropb.OperationResult{Name: a.GetName(), LeaseToken: a.GetLeaseToken(),
				Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(codes.Internal), Message: "stale"}}})
			requireCode(t, codes.Aborted, st)
			require.Equal(t, "LEASE_LOST", reasonOf(t, st))
			requireCode(t, codes.Aborted, releaseOne(t, c, a))
			after := storedOp(t, store, a.GetName())
			require.Equal(t, before, after, "the stale worker changed nothing")
			require.Equal(t, "w2", after.LeaseOwner)
			requireCode(t, codes.OK, finishOne(t, c, &lropb.OperationResult{Name: again.GetName(), LeaseToken: again.GetLeaseToken()}))
		})
		t.Run("FinishedTwice", func(t *testing.T) {
			requireCode(t, codes.OK, finishOne(t, c, &lropb.OperationResult{Name: b.GetName(), LeaseToken: b.GetLeaseToken()}))
			st := finishOne(t, c, &lropb.OperationResult{Name: b.GetName(), LeaseToken: b.GetLeaseToken(),
				Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(codes.Internal)}}})
			requireCode(t, codes.FailedPrecondition, st)
			require.Equal(t, "OPERATION_DONE", reasonOf(t, st))
			done := waitDone(t, c, b.GetName())
			require.Empty(t, responseValue(t, done), "the first finish stands: an empty response")
			// Metadata after the finish: the lease is lost, nothing is written.
			meta, err := anypb.New(wrapperspb.String("late"))
			require.NoError(t, err)
			l := renewOne(t, c, &lropb.LeaseRenewal{Name: b.GetName(), LeaseToken: b.GetLeaseToken(),
				MetadataValue: &lropb.LeaseRenewal_TypedMetadata{TypedMetadata: meta}})
			require.Equal(t, lropb.LeaseState_LOST, l.GetState())
			requireCode(t, codes.FailedPrecondition, l.GetError())
			require.Nil(t, storedOp(t, store, b.GetName()).Metadata)
			requireCode(t, codes.FailedPrecondition, releaseOne(t, c, b))
		})
		t.Run("Deleted", func(t *testing.T) {
			require.NoError(t, c.DeleteOperation(context.Background(), b.GetName()))
			st := finishOne(t, c, &lropb.OperationResult{Name: b.GetName(), LeaseToken: b.GetLeaseToken()})
			requireCode(t, codes.NotFound, st)
			require.Equal(t, "OPERATION_NOT_FOUND", reasonOf(t, st))
		})
	})
}

func TestWorkerMessagesAreChecked(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, &lro.Config{MetadataBytesMax: 100, ResponseBytesMax: 200, ErrorBytesMax: 300}, nil)
		start(t, c, "typed", "x")
		_, err := c.StartOperation(context.Background(), "json", nil, nil)
		require.NoError(t, err)
		ops := claim(t, c, 2, &lropb.ClaimOperationsRequest{Kinds: []string{"typed", "json"}})
		typed, jsonOp := ops[0], ops[1]
		wrong, err := anypb.New(wrapperspb.Int32(7))
		require.NoError(t, err)
		good, err := anypb.New(wrapperspb.String("ok"))
		require.NoError(t, err)
		big := strings.Repeat("x", 300)
		bigAny, err := anypb.New(wrapperspb.String(big))
		require.NoError(t, err)
		garbage := &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.StringValue", Value: []byte{0xff}}
		refused := []struct {
			name   string
			result *lropb.OperationResult
			reason string
		}{
			{"TypedResponseOfAnotherType", &lropb.OperationResult{Result: &lropb.OperationResult_TypedResponse{TypedResponse: wrong}}, "INVALID_RESPONSE"},
			{"TypedResponseThatDoesNotDecode", &lropb.OperationResult{Result: &lropb.OperationResult_TypedResponse{TypedResponse: garbage}}, "INVALID_RESPONSE"},
			{"JSONResponseOfAnotherType", &lropb.OperationResult{Result: &lropb.OperationResult_Response{Response: jsonObject(t, map[string]any{"a": 1})}}, "INVALID_RESPONSE"},
			{"TypedMetadataOfAnotherType", &lropb.OperationResult{MetadataValue: &lropb.OperationResult_TypedMetadata{TypedMetadata: wrong}}, "INVALID_METADATA"},
			{"ResponseTooLarge", &lropb.OperationResult{Result: &lropb.OperationResult_TypedResponse{TypedResponse: bigAny}}, "RESPONSE_TOO_LARGE"},
			{"MetadataTooLarge", &lropb.OperationResult{MetadataValue: &lropb.OperationResult_Metadata{Metadata: structpb.NewStringValue(big)}}, "METADATA_TOO_LARGE"},
			{"ErrorTooLarge", &lropb.OperationResult{Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: 2, Message: big}}}, "ERROR_TOO_LARGE"},
			{"ErrorCodeOK", &lropb.OperationResult{Result: &lropb.OperationResult_Error{Error: &spb.Status{Message: "fine"}}}, "INVALID_ERROR_CODE"},
			{"ErrorCodeUnknown", &lropb.OperationResult{Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: 17}}}, "INVALID_ERROR_CODE"},
		}
		for _, tc := range refused {
			tc.result.Name, tc.result.LeaseToken = typed.GetName(), typed.GetLeaseToken()
			st := finishOne(t, c, tc.result)
			requireCode(t, codes.InvalidArgument, st)
			require.Equal(t, tc.reason, reasonOf(t, st), tc.name)
		}
		stored := storedOp(t, store, typed.GetName())
		require.Equal(t, lrostore.StateRunning, stored.State, "nothing was written")
		require.Nil(t, stored.Metadata)

		// Metadata refused in a renewal: the lease is renewed all the same.
		l := renewOne(t, c, &lropb.LeaseRenewal{Name: typed.GetName(), LeaseToken: typed.GetLeaseToken(),
			MetadataValue: &lropb.LeaseRenewal_TypedMetadata{TypedMetadata: wrong}})
		require.Equal(t, lropb.LeaseState_HELD, l.GetState())
		requireCode(t, codes.InvalidArgument, l.GetError())
		require.True(t, storedOp(t, store, typed.GetName()).LeaseExpireTime.After(stored.LeaseExpireTime), "renewed")
		require.Nil(t, storedOp(t, store, typed.GetName()).Metadata)
		l = renewOne(t, c, &lropb.LeaseRenewal{Name: jsonOp.GetName(), LeaseToken: jsonOp.GetLeaseToken(),
			MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: structpb.NewListValue(&structpb.ListValue{})}})
		require.Equal(t, lropb.LeaseState_HELD, l.GetState())
		require.Equal(t, "INVALID_METADATA", reasonOf(t, l.GetError()))

		// The typed forms, accepted: typed metadata, then a typed response.
		l = renewOne(t, c, &lropb.LeaseRenewal{Name: typed.GetName(), LeaseToken: typed.GetLeaseToken(),
			MetadataValue: &lropb.LeaseRenewal_TypedMetadata{TypedMetadata: good}})
		require.Equal(t, lropb.LeaseState_HELD, l.GetState())
		require.Nil(t, l.GetError())
		requireCode(t, codes.OK, finishOne(t, c, &lropb.OperationResult{Name: typed.GetName(), LeaseToken: typed.GetLeaseToken(),
			Result: &lropb.OperationResult_Response{Response: structpb.NewStringValue("done")}}))
		done := waitDone(t, c, typed.GetName())
		require.Equal(t, "done", responseValue(t, done))
		meta := &wrapperspb.StringValue{}
		require.NoError(t, done.GetMetadata().UnmarshalTo(meta))
		require.Equal(t, "ok", meta.GetValue())

		// A failure keeps the worker's status.
		requireCode(t, codes.OK, finishOne(t, c, &lropb.OperationResult{Name: jsonOp.GetName(), LeaseToken: jsonOp.GetLeaseToken(),
			Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(codes.NotFound), Message: "no such file"}}}))
		failed := waitDone(t, c, jsonOp.GetName())
		require.Equal(t, int32(codes.NotFound), failed.GetError().GetCode())
		require.Equal(t, "no such file", failed.GetError().GetMessage())
	})
}

func TestWorkerCallsRefuseTooManyItems(t *testing.T) {
	t.Parallel()
	c := newWorkersClient(t, openStore(t), nil, nil)
	_, err := c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: make([]*lropb.LeaseRenewal, lro.WorkerItemsMax+1)})
	requireInvalid(t, err, "TOO_MANY_ITEMS")
	_, err = c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Results: make([]*lropb.OperationResult, lro.WorkerItemsMax+1)})
	requireInvalid(t, err, "TOO_MANY_ITEMS")
	_, err = c.ReleaseOperations(context.Background(), &lropb.ReleaseOperationsRequest{Leases: make([]*lropb.Lease, lro.WorkerItemsMax+1)})
	requireInvalid(t, err, "TOO_MANY_ITEMS")
	_, err = c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Worker: "\x00"})
	requireInvalid(t, err, "INVALID_WORKER")
	resp, err := c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{})
	require.NoError(t, err)
	require.Empty(t, resp.GetResults())
}

func TestWorkerCancel(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, nil, nil)
		op, err := c.StartOperation(context.Background(), "json", nil, nil)
		require.NoError(t, err)
		claimed := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}})[0]
		require.False(t, claimed.GetCancelRequested())
		l := renewOne(t, c, &lropb.LeaseRenewal{Name: op.GetName(), LeaseToken: claimed.GetLeaseToken()})
		require.Equal(t, lropb.LeaseState_HELD, l.GetState())
		_, err = c.CancelOperation(context.Background(), op.GetName())
		require.NoError(t, err)
		l = renewOne(t, c, &lropb.LeaseRenewal{Name: op.GetName(), LeaseToken: claimed.GetLeaseToken()})
		require.Equal(t, lropb.LeaseState_CANCEL_REQUESTED, l.GetState())
		require.Nil(t, l.GetError())
		// The worker stops, and fails the operation: it is stored as cancelled.
		requireCode(t, codes.OK, finishOne(t, c, &lropb.OperationResult{Name: op.GetName(), LeaseToken: claimed.GetLeaseToken(),
			Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(codes.Aborted), Message: "stopped"}}}))
		require.Equal(t, int32(codes.Canceled), waitDone(t, c, op.GetName()).GetError().GetCode())
	})
}

func TestRemoteLeaseExpiry(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, nil, func(c *lro.Client) {
			require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "brief", LeaseTTL: lro.LeaseTTLMin, MaxAttempts: 2}))
		})
		op, err := c.StartOperation(context.Background(), "brief", nil, nil)
		require.NoError(t, err)
		first := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"brief"}})[0]
		require.EqualValues(t, 1, first.GetAttempt())
		require.EqualValues(t, 2, first.GetMaxAttempts())
		// The worker dies: its lease expires, the rescue makes the operation
		// pending again, and wakes the long poll.
		resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{Kinds: []string{"brief"}, Max: 1,
			Wait: durationpb.New(10 * time.Second)})
		require.NoError(t, err)
		require.Len(t, resp.GetOperations(), 1)
		second := resp.GetOperations()[0]
		require.Equal(t, op.GetName(), second.GetName())
		require.EqualValues(t, 2, second.GetAttempt())
		st := finishOne(t, c, &lropb.OperationResult{Name: first.GetName(), LeaseToken: first.GetLeaseToken()})
		requireCode(t, codes.Aborted, st)
		// The second attempt is lost too: the attempts are used up.
		failed := waitDone(t, c, op.GetName())
		require.Equal(t, int32(codes.Aborted), failed.GetError().GetCode())
		requireCode(t, codes.FailedPrecondition, finishOne(t, c, &lropb.OperationResult{Name: second.GetName(), LeaseToken: second.GetLeaseToken()}))
	})
}

func TestWorkerRelease(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, nil, func(c *lro.Client) { lro.ClaimWaitingSignal(c).Init() })
		op, err := c.StartOperation(context.Background(), "json", nil, nil)
		require.NoError(t, err)
		claimed := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}})[0]
		got := make(chan *lropb.ClaimOperationsResponse, 1)
		go func() {
			resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1,
				Wait: durationpb.New(time.Minute)})
			if err != nil {
				t.Error(err)
			}
			got <- resp
		}()
		lro.ClaimWaitingSignal(c).Wait(t)
		requireCode(t, codes.OK, releaseOne(t, c, claimed))
		select {
		case resp := <-got:
			require.Len(t, resp.GetOperations(), 1, "the release wakes the long poll")
			again := resp.GetOperations()[0]
			require.Equal(t, op.GetName(), again.GetName())
			require.EqualValues(t, 1, again.GetAttempt(), "the released attempt does not count")
		case <-time.After(10 * time.Second):
			t.Fatal("the release did not wake the long poll")
		}
	})
}

func TestWorkerBatches(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newWorkersClient(t, store, nil, nil)
		const n = lro.WorkerItemsMax
		reqs := make([]lro.StartRequest, n)
		for i := range reqs {
			reqs[i] = lro.StartRequest{Kind: "typed", Request: wrapperspb.String(strings.Repeat("i", i%7))}
		}
		started, err := c.StartOperations(context.Background(), reqs)
		require.NoError(t, err)
		ops := claim(t, c, n, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}, Max: n, Json: true})
		renewals := make([]*lropb.LeaseRenewal, n)
		results := make([]*lropb.OperationResult, n)
		for i, op := range ops {
			require.Equal(t, started[i].GetName(), op.GetName())
			require.Equal(t, strings.Repeat("i", i%7), op.GetInput().GetStringValue())
			renewals[i] = &lropb.LeaseRenewal{Name: op.GetName(), LeaseToken: op.GetLeaseToken(),
				MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: structpb.NewStringValue("half")}}
			results[i] = &lropb.OperationResult{Name: op.GetName(), LeaseToken: op.GetLeaseToken(),
				Result: &lropb.OperationResult_Response{Response: structpb.NewStringValue(op.GetName())}}
		}
		renewed, err := c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: renewals})
		require.NoError(t, err)
		for i, l := range renewed.GetLeases() {
			require.Equal(t, lropb.LeaseState_HELD, l.GetState(), "lease %d: %v", i, l.GetError())
			require.Equal(t, ops[i].GetName(), l.GetName())
		}
		finished, err := c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Results: results})
		require.NoError(t, err)
		for i, st := range finished.GetResults() {
			requireCode(t, codes.OK, st)
			if i%100 == 0 {
				done := waitDone(t, c, ops[i].GetName())
				require.Equal(t, ops[i].GetName(), responseValue(t, done))
			}
		}
		// A renewal that names an operation twice: only the latest claim holds.
		start(t, c, "typed", "twice")
		one := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}})[0]
		requireCode(t, codes.OK, releaseOne(t, c, one))
		two := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}})[0]
		resp, err := c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
			{Name: two.GetName(), LeaseToken: two.GetLeaseToken()}, {Name: one.GetName(), LeaseToken: one.GetLeaseToken()}}})
		require.NoError(t, err)
		require.Equal(t, lropb.LeaseState_HELD, resp.GetLeases()[0].GetState())
		require.Equal(t, lropb.LeaseState_LOST, resp.GetLeases()[1].GetState())
		requireCode(t, codes.Aborted, resp.GetLeases()[1].GetError())
		// The same lease twice: both are held.
		resp, err = c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
			{Name: two.GetName(), LeaseToken: two.GetLeaseToken()}, {Name: two.GetName(), LeaseToken: two.GetLeaseToken()}}})
		require.NoError(t, err)
		require.Equal(t, lropb.LeaseState_HELD, resp.GetLeases()[0].GetState())
		require.Equal(t, lropb.LeaseState_HELD, resp.GetLeases()[1].GetState())
	})
}

// brokenStore fails every write of the Workers service with an error that
// quotes SQL, which clients must not see.
type brokenStore struct{ lrostore.Store }

var errBroken = errors.New(`pq: relation "lro_operation" does not exist: SELECT id FROM lro_operation`)

func (brokenStore) OperationClaim(context.Context, *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	return nil, errBroken
}

func (brokenStore) OperationHeartbeat(context.Context, *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	return nil, errBroken
}

func (brokenStore) OperationFinishMany(context.Context, *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	return nil, errBroken
}

func (brokenStore) OperationReleaseMany(context.Context, *lrostore.OperationReleaseManyParams) ([]string, error) {
	return nil, errBroken
}

func TestWorkerCallsInAStoreOutage(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	healthy := newWorkersClient(t, store, nil, nil)
	_, err := healthy.StartOperation(context.Background(), "json", nil, nil)
	require.NoError(t, err)
	op := claim(t, healthy, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}})[0]
	c := newWorkersClient(t, brokenStore{store}, &lro.Config{Workers: -1}, nil)
	requireUnavailable := func(err error) {
		t.Helper()
		var e *lro.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, codes.Unavailable, e.Code)
		require.Equal(t, "STORE_UNAVAILABLE", e.Reason)
		require.NotContains(t, e.Error(), "SELECT")
	}
	_, err = c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1})
	requireUnavailable(err)
	_, err = c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{{Name: op.GetName(), LeaseToken: op.GetLeaseToken()}}})
	requireUnavailable(err)
	_, err = c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{{Name: op.GetName(), LeaseToken: op.GetLeaseToken()}}})
	requireUnavailable(err)
	_, err = c.ReleaseOperations(context.Background(), &lropb.ReleaseOperationsRequest{Leases: []*lropb.Lease{{Name: op.GetName(), LeaseToken: op.GetLeaseToken()}}})
	requireUnavailable(err)
	require.Equal(t, lrostore.StateRunning, storedOp(t, store, op.GetName()).State)
	requireCode(t, codes.OK, finishOne(t, healthy, &lropb.OperationResult{Name: op.GetName(), LeaseToken: op.GetLeaseToken()}))
}

// refusingStore refuses for good (lrostore.PermanentError) every batch of
// finishes or metadata updates that holds a value with "refuse" in it.
type refusingStore struct{ lrostore.Store }

var errRefusedForGood = &lrostore.PermanentError{Err: errors.New(`pq: invalid byte sequence: INSERT INTO lro_operation`)}

func (s refusingStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	for _, f := range p.Finishes {
		if bytes.Contains(f.Response, []byte("refuse")) {
			return nil, errRefusedForGood
		}
	}
	return s.Store.OperationFinishMany(ctx, p)
}

func (s refusingStore) OperationSetMetadataMany(ctx context.Context, p *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	for _, u := range p.Updates {
		if bytes.Contains(u.Metadata, []byte("refuse")) {
			return nil, errRefusedForGood
		}
	}
	return s.Store.OperationSetMetadataMany(ctx, p)
}

// A result or metadata that the store refuses for good fails its item
// alone, with INTERNAL and without the store's words; the others of the
// call are written.
func TestWorkerItemsRefusedByTheStore(t *testing.T) {
	t.Parallel()
	store := refusingStore{openStore(t)}
	c := newWorkersClient(t, store, nil, nil)
	for _, v := range []string{"a", "b", "c"} {
		start(t, c, "typed", v)
	}
	ops := claim(t, c, 3, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}})
	renewed, err := c.RenewLeases(context.Background(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
		{Name: ops[0].GetName(), LeaseToken: ops[0].GetLeaseToken(), MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: structpb.NewStringValue("fine")}},
		{Name: ops[1].GetName(), LeaseToken: ops[1].GetLeaseToken(), MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: structpb.NewStringValue("refuse")}},
	}})
	require.NoError(t, err)
	require.Equal(t, lropb.LeaseState_HELD, renewed.GetLeases()[0].GetState())
	require.Nil(t, renewed.GetLeases()[0].GetError())
	require.Equal(t, lropb.LeaseState_HELD, renewed.GetLeases()[1].GetState())
	requireCode(t, codes.Internal, renewed.GetLeases()[1].GetError())
	require.Equal(t, "METADATA_NOT_STORED", reasonOf(t, renewed.GetLeases()[1].GetError()))
	require.NotContains(t, renewed.GetLeases()[1].GetError().GetMessage(), "INSERT")

	var results []*lropb.OperationResult
	for i, v := range []string{"one", "refuse", "three"} {
		results = append(results, &lropb.OperationResult{Name: ops[i].GetName(), LeaseToken: ops[i].GetLeaseToken(),
			Result: &lropb.OperationResult_Response{Response: structpb.NewStringValue(v)}})
	}
	finished, err := c.FinishOperations(context.Background(), &lropb.FinishOperationsRequest{Results: results})
	require.NoError(t, err)
	requireCode(t, codes.OK, finished.GetResults()[0])
	requireCode(t, codes.Internal, finished.GetResults()[1])
	require.Equal(t, "RESULT_NOT_STORED", reasonOf(t, finished.GetResults()[1]))
	require.NotContains(t, finished.GetResults()[1].GetMessage(), "INSERT")
	requireCode(t, codes.OK, finished.GetResults()[2])
	require.Equal(t, "three", responseValue(t, waitDone(t, c, ops[2].GetName())))
	require.Equal(t, lrostore.StateRunning, storedOp(t, store, ops[1].GetName()).State)
	// The worker can still end it otherwise.
	requireCode(t, codes.OK, finishOne(t, c, &lropb.OperationResult{Name: ops[1].GetName(), LeaseToken: ops[1].GetLeaseToken(),
		Result: &lropb.OperationResult_Error{Error: &spb.Status{Code: int32(codes.Internal), Message: "could not store"}}}))
}

// An operation whose stored request does not decode as its kind's is not
// handed to a worker: it fails with DATA_LOSS, as in a local handler, and
// the claim goes on with the others. The metrics count its end.
func TestClaimOfACorruptRequest(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	reg := prometheus.NewPedanticRegistry()
	c := newWorkersClient(t, store, &lro.Config{Metrics: reg}, nil)
	id := "01a20000-0000-7000-8000-000000000001"
	_, err := store.OperationInsertMany(context.Background(), &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
		{ID: id, Kind: "typed", Input: []byte{0xff, 0xff}, MaxAttempts: 3}}})
	require.NoError(t, err)
	good := start(t, c, "typed", "fine")
	for _, asJSON := range []bool{true, false} {
		ops := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"typed"}, Json: asJSON})
		require.Equal(t, good.GetName(), ops[0].GetName())
		requireCode(t, codes.OK, releaseOne(t, c, ops[0]))
	}
	failed := waitDone(t, c, "operations/"+id)
	require.Equal(t, int32(codes.DataLoss), failed.GetError().GetCode())
	got := scrape(t, reg)
	require.Equal(t, 1.0, value(got, "lro_operations_finished_total", map[string]string{"kind": "typed", "outcome": "failed", "code": "DATA_LOSS"}))
	require.Equal(t, 1.0, total(got, "lro_operations_finished_total"))
	require.Equal(t, 2.0, value(got, "lro_remote_claimed_total", map[string]string{"kind": "typed"}), "the good one, twice")
}

// The store's events wake the claims that wait: Pending (another node
// stored pending operations) and Resync (events may have been missed).
func TestClaimWokenByStoreEvents(t *testing.T) {
	t.Parallel()
	for _, event := range []*lrostore.Event{{Pending: true}, {Resync: true}} {
		store := newNotifyingStore(openStore(t))
		c := newWorkersClient(t, store, nil, func(c *lro.Client) { lro.ClaimWaitingSignal(c).Init() })
		<-store.listening
		got := make(chan *lropb.ClaimOperationsResponse, 1)
		go func() {
			resp, err := c.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1,
				Wait: durationpb.New(time.Minute)})
			if err != nil {
				t.Error(err)
			}
			got <- resp
		}()
		lro.ClaimWaitingSignal(c).Wait(t)
		// Another node's start: stored without this client.
		id := "01a20000-0000-7000-8000-00000000000a"
		in, err := anypb.New(&structpb.Struct{})
		require.NoError(t, err)
		input, err := proto.Marshal(in)
		require.NoError(t, err)
		_, err = store.Store.OperationInsertMany(context.Background(), &lrostore.OperationInsertManyParams{
			Operations: []*lrostore.OperationInsertParams{{ID: id, Kind: "json", Input: input, MaxAttempts: 1}}})
		require.NoError(t, err)
		store.send(t, event)
		select {
		case resp := <-got:
			require.Len(t, resp.GetOperations(), 1, "woken by %+v", event)
			require.Equal(t, "operations/"+id, resp.GetOperations()[0].GetName())
		case <-time.After(10 * time.Second):
			t.Fatalf("the event %+v did not wake the claim", event)
		}
	}
}

// cancellingStore cancels its caller's context once a claim has taken
// operations: the caller of ClaimOperations goes away just as the store
// claims for it.
type cancellingStore struct {
	lrostore.Store
	cancel context.CancelFunc
}

func (s *cancellingStore) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	ops, err := s.Store.OperationClaim(ctx, p)
	if len(ops) > 0 {
		s.cancel()
	}
	return ops, err
}

// A claim whose caller went away while the store claimed cannot be
// answered: its operations are released at once, not left to their lease
// TTL with the attempt counted.
func TestClaimForACallerThatLeft(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newWorkersClient(t, &cancellingStore{Store: openStore(t), cancel: cancel}, nil, nil)
	op, err := c.StartOperation(context.Background(), "json", &structpb.Struct{}, nil)
	require.NoError(t, err)
	_, err = c.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: 1, Wait: durationpb.New(0)})
	require.ErrorIs(t, err, context.Canceled)
	// Pending again, the attempt not counted: the next claim gets it as
	// attempt 1.
	claimed := claim(t, c, 1, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}})
	require.Equal(t, op.GetName(), claimed[0].GetName())
	require.Equal(t, int32(1), claimed[0].GetAttempt())
}
