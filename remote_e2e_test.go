package lro_test

// End-to-end tests of the remote client against a real server: an lro
// client over a store whose kinds have no Run, served by lrogrpc, and
// remote clients that run the handlers over gRPC.

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

const remoteKind = "test.remote"

// newServerNode starts a client over store that declares remoteKind (no
// Run: remote workers run it), serves it over gRPC in memory, and returns
// the client and a function that dials it (each call a new connection,
// with opts).
func newServerNode(t *testing.T, store lrostore.Store, config *lro.Config) (*lro.Client, func(opts ...grpc.DialOption) *grpc.ClientConn) {
	t.Helper()
	c := newClient(t, store, config, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: remoteKind})
	})
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	lrogrpc.Register(s, c)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	dial := func(opts ...grpc.DialOption) *grpc.ClientConn {
		opts = append([]grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
		}, opts...)
		conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	return c, dial
}

// remoteWorker starts a remote client over conn that runs remoteKind with
// run.
func remoteWorker(t *testing.T, conn grpc.ClientConnInterface, config *lro.Config, run func(ctx context.Context, j *job) (str, error)) *lro.Client {
	t.Helper()
	return newRemote(t, conn, config, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: remoteKind, Run: run})
	})
}

func getOp(t *testing.T, c *lro.Client, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := c.GetOperation(context.Background(), name)
	require.NoError(t, err)
	return op
}

func metadataValue(op *longrunningpb.Operation) string {
	v := &wrapperspb.StringValue{}
	if op.GetMetadata() == nil || op.GetMetadata().UnmarshalTo(v) != nil {
		return ""
	}
	return v.GetValue()
}

// A remote worker runs what the server starts: its progress and its
// result are visible on the server; the client-side calls of the remote
// client forward to the server.
func TestRemoteE2EResultAndProgress(t *testing.T) {
	store := openStore(t)
	server, dial := newServerNode(t, store, nil)
	p := newProbe()
	worker := remoteWorker(t, dial(), nil, p.blocking)

	op := start(t, server, remoteKind, "hello")
	r := p.next(t)
	require.Equal(t, "hello", r.job.Request.GetValue())
	require.Equal(t, op.GetName(), r.job.Name)
	require.NoError(t, r.job.SetMetadata(wrapperspb.String("half")))
	require.Eventually(t, func() bool { return metadataValue(getOp(t, server, op.GetName())) == "half" },
		10*time.Second, 5*time.Millisecond, "progress is visible on the server")
	require.NoError(t, r.job.SetMetadata(wrapperspb.String("all")))
	r.release <- result{resp: wrapperspb.String("done hello")}

	done, err := worker.WaitOperation(context.Background(), op.GetName(), 10*time.Second)
	require.NoError(t, err)
	require.True(t, done.GetDone())
	require.Equal(t, "done hello", responseValue(t, done))
	require.Equal(t, "all", metadataValue(done))
	require.Equal(t, "done hello", responseValue(t, getOp(t, server, op.GetName())))
	require.Eventually(t, func() bool { return lro.RemoteLeasesHeld(worker) == 0 }, 10*time.Second, time.Millisecond)

	// Forwarded calls: a start through the worker's connection, the list,
	// and errors with their sentinels.
	op2, err := worker.StartOperation(context.Background(), remoteKind, wrapperspb.String("two"), nil)
	require.NoError(t, err)
	r2 := p.next(t)
	require.Equal(t, "two", r2.job.Request.GetValue())
	r2.release <- result{resp: wrapperspb.String("2")}
	list, err := worker.ListOperations(context.Background(), "operations", &lro.ListOptions{PageSize: 10})
	require.NoError(t, err)
	require.Len(t, list.GetOperations(), 2)
	_, err = worker.GetOperation(context.Background(), "operations/0190a000-0000-7000-8000-000000000000")
	require.ErrorIs(t, err, lro.ErrNotFound)
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = worker.StartOperation(context.Background(), "test.nosuch", nil, nil)
	require.ErrorIs(t, err, lro.ErrInvalidArgument)
	done2, err := worker.WaitOperation(context.Background(), op2.GetName(), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "2", responseValue(t, done2))
	require.NoError(t, worker.DeleteOperation(context.Background(), op2.GetName()))
	require.ErrorIs(t, worker.Ping(context.Background()), nil)
}

// A remote client applies the size limits of local handlers: metadata
// over the limit is refused by SetMetadata and the last metadata kept, a
// response over the limit fails the operation with RESOURCE_EXHAUSTED.
func TestRemoteE2ESizeLimits(t *testing.T) {
	server, dial := newServerNode(t, openStore(t), nil)
	p := newProbe()
	remoteWorker(t, dial(), &lro.Config{MetadataBytesMax: 100, ResponseBytesMax: 100}, p.blocking)
	op := start(t, server, remoteKind, "x")
	r := p.next(t)
	require.NoError(t, r.job.SetMetadata(wrapperspb.String("small")))
	require.ErrorIs(t, r.job.SetMetadata(wrapperspb.String(strings.Repeat("m", 200))), lro.ErrMetadataTooLarge)
	r.release <- result{resp: wrapperspb.String(strings.Repeat("r", 200))}
	done := waitDone(t, server, op.GetName())
	require.Equal(t, int32(codes.ResourceExhausted), done.GetError().GetCode())
	require.Equal(t, "small", metadataValue(done))
}

// A cancellation on the server reaches the remote handler (cause
// ErrCancelRequested), and the operation ends CANCELLED.
func TestRemoteE2ECancel(t *testing.T) {
	server, dial := newServerNode(t, openStore(t), nil)
	p := newProbe()
	worker := remoteWorker(t, dial(), nil, p.blocking)
	op := start(t, server, remoteKind, "x")
	r := p.next(t)
	_, err := worker.CancelOperation(context.Background(), op.GetName())
	require.NoError(t, err)
	select {
	case <-r.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the cancellation did not reach the remote handler")
	}
	require.ErrorIs(t, context.Cause(r.ctx), lro.ErrCancelRequested)
	done := waitDone(t, server, op.GetName())
	require.Equal(t, int32(codes.Canceled), done.GetError().GetCode())
}

// A remote worker that dies (its connection closed, nothing released)
// loses its operations: they run again on another worker once their lease
// expires, as a later attempt.
func TestRemoteE2EWorkerDies(t *testing.T) {
	store := openStore(t)
	server, dial := newServerNode(t, store, nil)
	p1, p2 := newProbe(), newProbe()
	conn1 := dial()
	w1 := remoteWorker(t, conn1, nil, p1.blocking)
	op := start(t, server, remoteKind, "x")
	r1 := p1.next(t)
	require.Equal(t, 1, r1.job.Attempt)
	require.NoError(t, conn1.Close())
	remoteWorker(t, dial(), nil, p2.blocking)
	r2 := p2.next(t)
	require.Equal(t, 2, r2.job.Attempt)
	require.Equal(t, op.GetName(), r2.job.Name)
	r2.release <- result{resp: wrapperspb.String("second")}
	require.Equal(t, "second", responseValue(t, waitDone(t, server, op.GetName())))
	<-r1.ctx.Done()
	require.ErrorIs(t, context.Cause(r1.ctx), lro.ErrLeaseLost, "the dead worker's handler stops once its lease runs out")
	require.Eventually(t, func() bool { return lro.RemoteLeasesHeld(w1) == 0 }, 10*time.Second, time.Millisecond,
		"the dead worker forgets the lease it lost")
}

// Stop releases what the handlers did not finish: the operation is pending
// again at once, its attempt not counted, and the next worker runs it.
func TestRemoteE2EStopReleases(t *testing.T) {
	store := openStore(t)
	server, dial := newServerNode(t, store, nil)
	p1, p2 := newProbe(), newProbe()
	w1 := remoteWorker(t, dial(), &lro.Config{ShutdownGrace: -1}, p1.blocking)
	op := start(t, server, remoteKind, "x")
	p1.next(t)
	require.NoError(t, w1.Stop(context.Background()))
	stored := storedOp(t, store, op.GetName())
	require.Equal(t, lrostore.StatePending, stored.State)
	require.Equal(t, int32(0), stored.Attempt)
	remoteWorker(t, dial(), nil, p2.blocking)
	r2 := p2.next(t)
	require.Equal(t, 1, r2.job.Attempt, "the released attempt does not count")
	r2.release <- result{resp: wrapperspb.String("ok")}
	waitDone(t, server, op.GetName())
}

// partitioned makes a connection's lease renewals succeed without reaching
// the server, once on: the worker believes it holds its leases while the
// server sees none of its heartbeats.
func partitioned(on *atomic.Bool) grpc.DialOption {
	return grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if on.Load() && method == lropb.Workers_RenewLeases_FullMethodName {
			out := reply.(*lropb.RenewLeasesResponse)
			for _, l := range req.(*lropb.RenewLeasesRequest).GetLeases() {
				out.Leases = append(out.Leases, &lropb.LeaseState{Name: l.GetName(), State: lropb.LeaseState_HELD})
			}
			return nil
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

// A worker whose heartbeats no longer reach the server keeps running, but
// once another worker has the operation, its result is rejected: the
// operation ends once, with the new worker's result.
func TestRemoteE2EStaleWorkerRejected(t *testing.T) {
	store := openStore(t)
	server, dial := newServerNode(t, store, nil)
	var cut atomic.Bool
	p1, p2 := newProbe(), newProbe()
	// One slot, held by the stubborn handler: the partitioned worker does
	// not claim the operation again.
	remoteWorker(t, dial(partitioned(&cut)), &lro.Config{Workers: 1}, p1.stubborn)
	op := start(t, server, remoteKind, "x")
	r1 := p1.next(t)
	cut.Store(true)
	remoteWorker(t, dial(), nil, p2.blocking)
	r2 := p2.next(t) // after the server rescued the operation
	require.Equal(t, 2, r2.job.Attempt)

	r1.release <- result{resp: wrapperspb.String("stale")}
	require.Never(t, func() bool { return storedOp(t, store, op.GetName()).State.Done() }, 300*time.Millisecond, 10*time.Millisecond,
		"the stale worker's result is rejected")
	r2.release <- result{resp: wrapperspb.String("fresh")}
	require.Equal(t, "fresh", responseValue(t, waitDone(t, server, op.GetName())))
	require.Equal(t, "fresh", responseValue(t, getOp(t, server, op.GetName())))
}

// runCounter is a handler that counts its runs by operation, and returns
// its request.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func newRunCounter() *runCounter { return &runCounter{runs: map[string]int{}} }

func (rc *runCounter) run(_ context.Context, j *job) (str, error) {
	rc.mu.Lock()
	rc.runs[j.Name]++
	rc.mu.Unlock()
	return j.Request, nil
}

// startMany starts n operations of remoteKind on c, and checks that each
// ends, as waiter sees it, with its own request as response, and that rc
// ran each exactly once.
func startMany(t *testing.T, c, waiter *lro.Client, rc *runCounter, n int) {
	t.Helper()
	reqs := make([]lro.StartRequest, n)
	for i := range reqs {
		reqs[i] = lro.StartRequest{Kind: remoteKind, Request: wrapperspb.String(fmt.Sprint(i))}
	}
	ops, err := c.StartOperations(context.Background(), reqs)
	require.NoError(t, err)
	for i, op := range ops {
		require.Equal(t, fmt.Sprint(i), responseValue(t, waitDone(t, waiter, op.GetName())))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Len(t, rc.runs, n)
	for name, runs := range rc.runs {
		require.Equal(t, 1, runs, "runs of %s", name)
	}
}

// Many operations, run by a remote worker with 100 slots: each exactly
// once.
func TestRemoteE2EManyOperations(t *testing.T) {
	server, dial := newServerNode(t, openStore(t), nil)
	rc := newRunCounter()
	remoteWorker(t, dial(), &lro.Config{Workers: 100}, rc.run)
	startMany(t, server, server, rc, 2000)
}

// On PostgreSQL with two server nodes, a remote worker connected to the
// node that did not start the operations runs them (the start wakes its
// long poll through the store's events), a cancellation sent to the other
// node reaches it, and many operations run exactly once.
func TestRemoteE2EPostgresTwoNodes(t *testing.T) {
	dsn := pgtest.Schema(t)
	open := func() lrostore.Store {
		s, err := lropgx.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	// Leases of 5 s, not the tests' 1 s: on a loaded machine a remote
	// worker with 100 slots may miss a 1 s lease, and its operations then
	// rightly run again, which this test counts as a failure.
	config := &lro.Config{LeaseTTL: 5 * time.Second}
	nodeA, _ := newServerNode(t, open(), config)
	nodeB, dialB := newServerNode(t, open(), config)
	rc := newRunCounter()
	p := newProbe()
	remoteWorker(t, dialB(), &lro.Config{Workers: 100}, func(ctx context.Context, j *job) (str, error) {
		if j.Request.GetValue() == "block" {
			return p.blocking(ctx, j)
		}
		return rc.run(ctx, j)
	})
	startMany(t, nodeA, nodeB, rc, 1000)

	op := start(t, nodeA, remoteKind, "block")
	var r *run
	select {
	case r = <-p.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no handler started")
	}
	_, err := nodeA.CancelOperation(context.Background(), op.GetName())
	require.NoError(t, err)
	<-r.ctx.Done()
	require.ErrorIs(t, context.Cause(r.ctx), lro.ErrCancelRequested)
	require.Equal(t, int32(codes.Canceled), waitDone(t, nodeA, op.GetName()).GetError().GetCode())
}

// refusingResultStore refuses for good every batch of results that holds a
// response with "poison" in it.
type refusingResultStore struct{ lrostore.Store }

func (s refusingResultStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	for _, f := range p.Finishes {
		if strings.Contains(string(f.Response), "poison") {
			return nil, &lrostore.PermanentError{Err: fmt.Errorf("refused")}
		}
	}
	return s.Store.OperationFinishMany(ctx, p)
}

// A result that the server's store refuses for good fails its operation
// with INTERNAL, as a local handler's would, and does not hold back the
// others written with it.
func TestRemoteE2EResultRefused(t *testing.T) {
	server, dial := newServerNode(t, refusingResultStore{openStore(t)}, nil)
	p := newProbe()
	remoteWorker(t, dial(), nil, p.blocking)
	good := start(t, server, remoteKind, "good")
	bad := start(t, server, remoteKind, "bad")
	runs := map[string]*run{}
	for range 2 {
		r := p.next(t)
		runs[r.job.Request.GetValue()] = r
	}
	runs["bad"].release <- result{resp: wrapperspb.String("poison")}
	runs["good"].release <- result{resp: wrapperspb.String("fine")}
	require.Equal(t, "fine", responseValue(t, waitDone(t, server, good.GetName())))
	require.Equal(t, int32(codes.Internal), waitDone(t, server, bad.GetName()).GetError().GetCode())
}

// On PostgreSQL with two server nodes, an operation whose remote worker
// (connected to one node) dies runs again, after its TTL, on a worker
// connected to the other node.
func TestRemoteE2EPostgresTakeOver(t *testing.T) {
	dsn := pgtest.Schema(t)
	open := func() lrostore.Store {
		s, err := lropgx.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	nodeA, dialA := newServerNode(t, open(), nil)
	_, dialB := newServerNode(t, open(), nil)
	p1, p2 := newProbe(), newProbe()
	connB := dialB()
	remoteWorker(t, connB, nil, p1.blocking)
	op := start(t, nodeA, remoteKind, "x")
	require.Equal(t, 1, p1.next(t).job.Attempt)
	require.NoError(t, connB.Close())
	remoteWorker(t, dialA(), nil, p2.blocking)
	r2 := p2.next(t)
	require.Equal(t, 2, r2.job.Attempt)
	r2.release <- result{resp: wrapperspb.String("taken over")}
	require.Equal(t, "taken over", responseValue(t, waitDone(t, nodeA, op.GetName())))
}

// A delayed start through a remote client reaches the server with its
// delay: pending until its time, then claimed by the remote worker, whose
// long poll the server's alarm wakes.
func TestRemoteE2EDelayedStart(t *testing.T) {
	store := openStore(t)
	server, dial := newServerNode(t, store, nil)
	p := newProbe()
	worker := remoteWorker(t, dial(), nil, p.blocking)

	began := time.Now()
	op, err := worker.StartOperation(context.Background(), remoteKind, wrapperspb.String("later"),
		&lro.StartOptions{Delay: 300 * time.Millisecond})
	require.NoError(t, err)
	_, info, err := server.GetOperationInfo(context.Background(), op.GetName())
	require.NoError(t, err)
	require.Equal(t, "pending", info.State)
	require.WithinDuration(t, began.Add(300*time.Millisecond), info.NotBefore, 200*time.Millisecond)
	r := p.next(t)
	require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)
	r.release <- result{resp: wrapperspb.String("ran")}
	done, err := worker.WaitOperation(context.Background(), op.GetName(), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "ran", responseValue(t, done))

	_, err = worker.StartOperation(context.Background(), remoteKind, nil, &lro.StartOptions{Delay: -time.Second})
	require.ErrorIs(t, err, lro.ErrInvalidArgument)
}
