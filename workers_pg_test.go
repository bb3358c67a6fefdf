package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// eventStore is a PostgreSQL store that tells the test when its listener
// has received an event: from then on, it hears the other nodes.
type eventStore struct {
	*lropgx.Store
	events chan struct{}
}

func (s *eventStore) Listen(ctx context.Context, fn func(*lrostore.Event)) error {
	return s.Store.Listen(ctx, func(e *lrostore.Event) {
		fn(e)
		select {
		case s.events <- struct{}{}:
		default:
		}
	})
}

// TestWorkersOnTwoNodes runs a remote worker against node B of two nodes
// that share a PostgreSQL database: an operation started on node A
// reaches B's waiting claim through the store's event, and the worker's
// finish on B wakes a waiter on A.
func TestWorkersOnTwoNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	open := func() *lropgx.Store {
		s, err := lropgx.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	storeA := open()
	storeB := &eventStore{Store: open(), events: make(chan struct{}, 1)}
	declare := func(c *lro.Client) { require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "warm"})) }
	a := newWorkersClient(t, storeA, &lro.Config{ID: "node-a"}, declare)
	b := newWorkersClient(t, storeB, &lro.Config{ID: "node-b"}, func(c *lro.Client) {
		declare(c)
		lro.ClaimWaitingSignal(c).Init()
	})

	// Until B's listener hears A's starts, start on A.
	heard := false
	for range 100 {
		_, err := a.StartOperation(context.Background(), "warm", nil, nil)
		require.NoError(t, err)
		select {
		case <-storeB.events:
			heard = true
		case <-time.After(100 * time.Millisecond):
		}
		if heard {
			break
		}
	}
	require.True(t, heard, "node B never heard of node A's starts")

	got := make(chan *lropb.ClaimOperationsResponse, 1)
	go func() {
		resp, err := b.ClaimOperations(context.Background(), &lropb.ClaimOperationsRequest{Worker: "remote-1",
			Kinds: []string{"json"}, Max: 10, Wait: durationpb.New(time.Minute), Json: true})
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	lro.ClaimWaitingSignal(b).Wait(t)
	in, err := structpb.NewStruct(map[string]any{"from": "a"})
	require.NoError(t, err)
	began := time.Now()
	op, err := a.StartOperation(context.Background(), "json", in, nil)
	require.NoError(t, err)
	var claimed *lropb.ClaimedOperation
	select {
	case resp := <-got:
		require.Len(t, resp.GetOperations(), 1)
		claimed = resp.GetOperations()[0]
	case <-time.After(10 * time.Second):
		t.Fatal("the claim on node B did not wake for the start on node A")
	}
	t.Logf("start on A to claim on B: %v", time.Since(began))
	require.Equal(t, op.GetName(), claimed.GetName())
	require.Equal(t, "a", claimed.GetInput().GetStructValue().GetFields()["from"].GetStringValue())

	// A waits; B's worker renews, then finishes.
	waited := make(chan error, 1)
	go func() {
		done, err := a.WaitOperation(context.Background(), op.GetName(), time.Minute)
		if err == nil && !done.GetDone() {
			err = context.DeadlineExceeded
		}
		waited <- err
	}()
	// The lease token works on either node: its key is in the store.
	l := renewOne(t, a, &lropb.LeaseRenewal{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken()})
	require.Equal(t, lropb.LeaseState_HELD, l.GetState())
	requireCode(t, codes.OK, finishOne(t, b, &lropb.OperationResult{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken(),
		Result: &lropb.OperationResult_Response{Response: jsonObject(t, map[string]any{"by": "remote-1"})}}))
	requireCode(t, codes.FailedPrecondition, finishOne(t, a, &lropb.OperationResult{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken()}))
	select {
	case err := <-waited:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter on node A did not wake")
	}
}

// eachStore runs test on SQLite and, when LRO_TEST_POSTGRES is set, on
// PostgreSQL, in parallel subtests.
func eachStore(t *testing.T, test func(t *testing.T, store lrostore.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		test(t, openStore(t))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		s, err := lropgx.Open(context.Background(), pgtest.Schema(t))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
}
