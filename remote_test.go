package lro_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	spb "google.golang.org/genproto/googleapis/rpc/status"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
)

// fakeWorkers is a Workers (and Lro.ListKinds) server that keeps its
// operations in memory, so that the remote client's adapter and producer
// can be tested without a store: the test adds operations, marks leases
// cancelled or lost, and reads what the worker wrote.
type fakeWorkers struct {
	lropb.UnimplementedWorkersServer
	lropb.UnimplementedLroServer

	kinds []*lropb.Kind

	mu       sync.Mutex
	pending  []*lropb.ClaimedOperation
	wake     chan struct{}                     // closed and replaced when operations are added
	leases   map[string]*fakeLease             // by lease token
	finished map[string]*lropb.OperationResult // by operation name
	released []string                          // operation names
	next     int

	renewFail    atomic.Bool   // renewals fail, as when the server is unreachable
	claimWaiting chan struct{} // a claim waits on an empty queue
	renewed      chan *lropb.RenewLeasesRequest
	finishes     chan *lropb.OperationResult
}

type fakeLease struct {
	name            string
	cancelRequested bool
	lost            bool
	done            bool
	metadata        *anypb.Any
}

func newFakeWorkers(kinds ...*lropb.Kind) *fakeWorkers {
	return &fakeWorkers{kinds: kinds, wake: make(chan struct{}), leases: map[string]*fakeLease{},
		finished: map[string]*lropb.OperationResult{}, claimWaiting: make(chan struct{}, 100),
		renewed: make(chan *lropb.RenewLeasesRequest, 1000), finishes: make(chan *lropb.OperationResult, 10000)}
}

// stringKind is the server's description of a kind of the StringValue
// types the tests register.
func stringKind(name string, ttl time.Duration) *lropb.Kind {
	return &lropb.Kind{Name: name, RequestType: "google.protobuf.StringValue", MetadataType: "google.protobuf.StringValue",
		ResponseType: "google.protobuf.StringValue", MaxAttempts: 3, LeaseTtl: durationpb.New(ttl)}
}

// add queues an operation of kind with a StringValue request, and returns
// its name.
func (f *fakeWorkers) add(kind, value string) string {
	input, _ := anypb.New(wrapperspb.String(value))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	name := fmt.Sprintf("operations/0190a000-0000-7000-8000-%012d", f.next)
	f.pending = append(f.pending, &lropb.ClaimedOperation{Name: name, Kind: kind, Attempt: 1, MaxAttempts: 3,
		KindInput: &lropb.ClaimedOperation_TypedInput{TypedInput: input}, LeaseTtl: durationpb.New(time.Second)})
	close(f.wake)
	f.wake = make(chan struct{})
	return name
}

// lease returns the lease of an operation's latest claim.
func (f *fakeWorkers) lease(name string) *fakeLease {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.leases {
		if l.name == name {
			return l
		}
	}
	return nil
}

func (f *fakeWorkers) set(name string, change func(l *fakeLease)) {
	l := f.lease(name)
	f.mu.Lock()
	change(l)
	f.mu.Unlock()
}

func (f *fakeWorkers) ListKinds(context.Context, *lropb.ListKindsRequest) (*lropb.ListKindsResponse, error) {
	return &lropb.ListKindsResponse{Kinds: f.kinds}, nil
}

func (f *fakeWorkers) ClaimOperations(ctx context.Context, req *lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
	if req.Max < 1 || req.Max > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "max %d", req.Max)
	}
	timer := time.NewTimer(req.Wait.AsDuration())
	defer timer.Stop()
	for {
		f.mu.Lock()
		if len(f.pending) > 0 {
			n := min(int(req.Max), len(f.pending))
			ops := f.pending[:n]
			f.pending = f.pending[n:]
			for _, op := range ops {
				f.next++
				op.LeaseToken = fmt.Sprintf("token-%d", f.next)
				f.leases[op.LeaseToken] = &fakeLease{name: op.Name}
			}
			f.mu.Unlock()
			return &lropb.ClaimOperationsResponse{Operations: ops}, nil
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case f.claimWaiting <- struct{}{}:
		default:
		}
		select {
		case <-wake:
		case <-timer.C:
			return &lropb.ClaimOperationsResponse{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (f *fakeWorkers) RenewLeases(_ context.Context, req *lropb.RenewLeasesRequest) (*lropb.RenewLeasesResponse, error) {
	if f.renewFail.Load() {
		return nil, status.Error(codes.Unavailable, "unreachable")
	}
	resp := &lropb.RenewLeasesResponse{}
	f.mu.Lock()
	for _, r := range req.Leases {
		l := f.leases[r.LeaseToken]
		st := &lropb.LeaseState{Name: r.Name, State: lropb.LeaseState_HELD}
		switch {
		case l == nil || l.lost || l.done || l.name != r.Name:
			st.State = lropb.LeaseState_LOST
		case l.cancelRequested:
			st.State = lropb.LeaseState_CANCEL_REQUESTED
		}
		if st.State != lropb.LeaseState_LOST && r.GetTypedMetadata() != nil {
			l.metadata = r.GetTypedMetadata()
		}
		resp.Leases = append(resp.Leases, st)
	}
	f.mu.Unlock()
	f.renewed <- req
	return resp, nil
}

func (f *fakeWorkers) FinishOperations(_ context.Context, req *lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
	resp := &lropb.FinishOperationsResponse{}
	f.mu.Lock()
	var results []*lropb.OperationResult
	for _, r := range req.Results {
		l := f.leases[r.LeaseToken]
		switch {
		case l == nil || l.name != r.Name:
			resp.Results = append(resp.Results, &spb.Status{Code: int32(codes.NotFound)})
		case l.done:
			resp.Results = append(resp.Results, &spb.Status{Code: int32(codes.FailedPrecondition)})
		case l.lost:
			resp.Results = append(resp.Results, &spb.Status{Code: int32(codes.Aborted)})
		default:
			l.done = true
			f.finished[r.Name] = r
			results = append(results, r)
			resp.Results = append(resp.Results, &spb.Status{})
		}
	}
	f.mu.Unlock()
	for _, r := range results {
		f.finishes <- r
	}
	return resp, nil
}

func (f *fakeWorkers) ReleaseOperations(_ context.Context, req *lropb.ReleaseOperationsRequest) (*lropb.ReleaseOperationsResponse, error) {
	resp := &lropb.ReleaseOperationsResponse{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range req.Leases {
		l := f.leases[r.LeaseToken]
		if l == nil || l.lost || l.done {
			resp.Results = append(resp.Results, &spb.Status{Code: int32(codes.Aborted)})
			continue
		}
		l.lost = true
		f.released = append(f.released, r.Name)
		resp.Results = append(resp.Results, &spb.Status{})
	}
	return resp, nil
}

// serveFake serves f over an in-memory connection and returns a
// connection to it.
func serveFake(t *testing.T, f *fakeWorkers, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	lropb.RegisterWorkersServer(s, f)
	lropb.RegisterLroServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// newRemote returns a remote client over conn with fast timings, its kinds
// registered by register, started, and stopped when the test ends.
func newRemote(t *testing.T, conn grpc.ClientConnInterface, config *lro.Config, register func(c *lro.Client)) *lro.Client {
	t.Helper()
	cfg := lro.Config{Logger: testLogger(t), MetadataInterval: 10 * time.Millisecond, ShutdownGrace: 200 * time.Millisecond,
		PollInterval: 50 * time.Millisecond}
	if config != nil {
		merge(&cfg, config)
	}
	c, err := lro.NewRemoteClient(conn, &cfg)
	require.NoError(t, err)
	if register != nil {
		register(c)
	}
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func anyString(t *testing.T, a *anypb.Any) string {
	t.Helper()
	v := &wrapperspb.StringValue{}
	require.NoError(t, a.UnmarshalTo(v))
	return v.Value
}

func nextFinish(t *testing.T, f *fakeWorkers) *lropb.OperationResult {
	t.Helper()
	select {
	case r := <-f.finishes:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no operation finished")
		return nil
	}
}

// A remote client runs its handler on what it claims: the request arrives
// typed, metadata reaches the server with a renewal while the handler runs
// and with the result, and the response is sent typed. The claim is a long
// poll: an operation added while the claim waits runs at once.
func TestRemoteRunsHandler(t *testing.T) {
	f := newFakeWorkers(stringKind("test.echo", time.Second))
	p := newProbe()
	c := newRemote(t, serveFake(t, f), nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.echo", Run: p.blocking})
	})
	<-f.claimWaiting // the claim waits on the server
	name := f.add("test.echo", "hello")
	r := p.next(t)
	require.Equal(t, "hello", r.job.Request.Value)
	require.Equal(t, name, r.job.Name)
	require.Equal(t, 1, r.job.Attempt)
	require.NoError(t, r.job.SetMetadata(wrapperspb.String("half")))
	require.NoError(t, r.job.SetMetadata(wrapperspb.String("halfway"))) // coalesced with the first
	require.Eventually(t, func() bool {
		l := f.lease(name)
		f.mu.Lock()
		defer f.mu.Unlock()
		return l.metadata != nil && anyString(t, l.metadata) == "halfway"
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, r.job.SetMetadata(wrapperspb.String("done")))
	r.release <- result{resp: wrapperspb.String("echo hello")}
	res := nextFinish(t, f)
	require.Equal(t, name, res.Name)
	require.Equal(t, "echo hello", anyString(t, res.GetTypedResponse()))
	require.Equal(t, "done", anyString(t, res.GetTypedMetadata()))
	require.Eventually(t, func() bool { return lro.RemoteLeasesHeld(c) == 0 }, 10*time.Second, time.Millisecond,
		"the adapter forgets a finished operation's lease")
}

// Errors and panics are sent as statuses, as a local client stores them.
func TestRemoteFailures(t *testing.T) {
	f := newFakeWorkers(stringKind("test.fail", time.Second))
	newRemote(t, serveFake(t, f), nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.fail", Run: func(ctx context.Context, j *job) (str, error) {
			switch j.Request.Value {
			case "panic":
				panic("kaboom")
			case "plain":
				return nil, errors.New("plain error")
			}
			return nil, status.Error(codes.FailedPrecondition, "boom")
		}})
	})
	want := map[string]struct {
		code codes.Code
		msg  string
	}{}
	want[f.add("test.fail", "panic")] = struct {
		code codes.Code
		msg  string
	}{codes.Internal, "the handler panicked: kaboom"}
	want[f.add("test.fail", "plain")] = struct {
		code codes.Code
		msg  string
	}{codes.Unknown, "plain error"}
	want[f.add("test.fail", "status")] = struct {
		code codes.Code
		msg  string
	}{codes.FailedPrecondition, "boom"}
	for range want {
		res := nextFinish(t, f)
		w := want[res.Name]
		require.Equal(t, int32(w.code), res.GetError().Code, res.Name)
		require.Equal(t, w.msg, res.GetError().Message)
	}
}

// A remote client's kind decides its retries, as a local one does, and
// tells the server: retryable, with the delay as a RetryInfo; an error it
// does not retry is sent as not retryable, so that the server's policy
// does not retry it either.
func TestRemoteRetryDecisions(t *testing.T) {
	f := newFakeWorkers(stringKind("test.flaky", time.Second))
	newRemote(t, serveFake(t, f), nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.flaky", Retry: &lro.RetryPolicy{InitialDelay: time.Minute, Jitter: -1},
			Run: func(ctx context.Context, j *job) (str, error) {
				if j.Request.Value == "down" {
					return nil, status.Error(codes.Unavailable, "down")
				}
				return nil, status.Error(codes.InvalidArgument, "bad")
			}})
	})
	down := f.add("test.flaky", "down")
	res := nextFinish(t, f)
	require.Equal(t, down, res.Name)
	require.Equal(t, int32(codes.Unavailable), res.GetError().GetCode())
	require.True(t, res.GetRetryable())
	require.Len(t, res.GetError().GetDetails(), 1)
	info := &errdetails.RetryInfo{}
	require.NoError(t, res.GetError().GetDetails()[0].UnmarshalTo(info))
	require.InDelta(t, time.Minute.Seconds(), info.GetRetryDelay().AsDuration().Seconds(), 5, "the policy's delay")

	bad := f.add("test.flaky", "bad")
	res = nextFinish(t, f)
	require.Equal(t, bad, res.Name)
	require.NotNil(t, res.Retryable)
	require.False(t, res.GetRetryable())
	require.Empty(t, res.GetError().GetDetails())
}

// A cancellation that a renewal reports reaches the handler with cause
// ErrCancelRequested; one already requested at the claim cancels the
// handler at once.
func TestRemoteCancel(t *testing.T) {
	f := newFakeWorkers(stringKind("test.block", time.Second))
	p := newProbe()
	newRemote(t, serveFake(t, f), &lro.Config{HeartbeatInterval: 20 * time.Millisecond}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.block", Run: p.blocking})
	})
	name := f.add("test.block", "x")
	r := p.next(t)
	f.set(name, func(l *fakeLease) { l.cancelRequested = true })
	<-r.ctx.Done()
	require.ErrorIs(t, context.Cause(r.ctx), lro.ErrCancelRequested)
	res := nextFinish(t, f)
	require.Equal(t, name, res.Name)
	require.NotNil(t, res.GetError(), "a cancelled handler's error is sent (the server stores CANCELLED)")
}

// A lease that the server reports lost cancels the handler with
// ErrLeaseLost, and nothing is written for it.
func TestRemoteLeaseLost(t *testing.T) {
	f := newFakeWorkers(stringKind("test.block", time.Second))
	p := newProbe()
	c := newRemote(t, serveFake(t, f), &lro.Config{HeartbeatInterval: 20 * time.Millisecond}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.block", Run: p.blocking})
	})
	name := f.add("test.block", "x")
	r := p.next(t)
	f.set(name, func(l *fakeLease) { l.lost = true })
	<-r.ctx.Done()
	require.ErrorIs(t, context.Cause(r.ctx), lro.ErrLeaseLost)
	require.ErrorIs(t, r.job.SetMetadata(wrapperspb.String("late")), lro.ErrLeaseLost)
	require.Eventually(t, func() bool { return lro.RemoteLeasesHeld(c) == 0 }, 10*time.Second, time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Empty(t, f.finished)
}

// Stop cancels the claim that waits on the server, cancels the handlers
// that outlive the grace period with ErrShutdown, and releases their
// operations.
func TestRemoteStopReleases(t *testing.T) {
	f := newFakeWorkers(stringKind("test.block", time.Second))
	p := newProbe()
	c := newRemote(t, serveFake(t, f), &lro.Config{ShutdownGrace: -1}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.block", Run: p.blocking})
	})
	name := f.add("test.block", "x")
	r := p.next(t)
	<-f.claimWaiting // the next claim waits
	stopped := time.Now()
	require.NoError(t, c.Stop(context.Background()))
	require.Less(t, time.Since(stopped), 5*time.Second, "Stop does not wait for the long poll")
	require.ErrorIs(t, context.Cause(r.ctx), lro.ErrShutdown)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, []string{name}, f.released)
	require.Empty(t, f.finished)
}

// The producer keeps claiming while slots are free: operations that come
// one by one run without a PollInterval gap, and a pool of slots runs many
// operations, each finished once.
func TestRemoteManyOperations(t *testing.T) {
	f := newFakeWorkers(stringKind("test.echo", time.Second))
	newRemote(t, serveFake(t, f), &lro.Config{Workers: 10, PollInterval: time.Hour}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.echo", Run: func(ctx context.Context, j *job) (str, error) {
			return j.Request, nil
		}})
	})
	for i := range 5 {
		<-f.claimWaiting
		name := f.add("test.echo", fmt.Sprint(i))
		require.Equal(t, name, nextFinish(t, f).Name, "no PollInterval between claims")
	}
	const n = 500
	names := map[string]bool{}
	for i := range n {
		names[f.add("test.echo", fmt.Sprint(i))] = true
	}
	for range n {
		res := nextFinish(t, f)
		require.True(t, names[res.Name], "finished once: %s", res.Name)
		delete(names, res.Name)
	}
}

// Start checks the registered kinds against the server's, naming the kind
// and the difference; the heartbeat follows the server's lease TTL.
func TestRemoteStartChecksKinds(t *testing.T) {
	newC := func(t *testing.T, f *fakeWorkers, name string) (*lro.Client, error) {
		c, err := lro.NewRemoteClient(serveFake(t, f), &lro.Config{Logger: testLogger(t)})
		require.NoError(t, err)
		lro.MustRegister(c, kind{Name: name, Run: newProbe().blocking})
		t.Cleanup(func() { c.Stop(context.Background()) })
		return c, c.Start(context.Background())
	}
	_, err := newC(t, newFakeWorkers(stringKind("test.other", time.Second)), "test.echo")
	require.ErrorContains(t, err, `kind "test.echo" is not a kind of the server (it has "test.other")`)

	k := stringKind("test.echo", time.Second)
	k.ResponseType = "google.protobuf.Struct"
	_, err = newC(t, newFakeWorkers(k), "test.echo")
	require.ErrorContains(t, err, `kind "test.echo": the response type is google.protobuf.StringValue here but google.protobuf.Struct on the server`)

	k = stringKind("test.echo", 3*time.Second)
	k.MaxAttempts = 7
	c, err := newC(t, newFakeWorkers(k), "test.echo")
	require.NoError(t, err)
	info := c.Kinds()[0]
	require.Equal(t, 3*time.Second, info.LeaseTTL)
	require.Equal(t, 7, info.MaxAttempts)
	require.Equal(t, time.Second, lro.HeartbeatInterval(c))
}

// A remote client runs kinds: one without Run is refused, as is a declared
// one; the client-side calls that the API cannot serve are UNIMPLEMENTED.
func TestRemoteRefuses(t *testing.T) {
	c, err := lro.NewRemoteClient(serveFake(t, newFakeWorkers()), &lro.Config{Logger: testLogger(t)})
	require.NoError(t, err)
	require.ErrorContains(t, lro.Register(c, kind{Name: "test.norun"}), "a remote client only runs kinds")
	require.ErrorContains(t, lro.Declare(c, lro.DeclaredKind{Name: "test.declared"}), "a remote client only runs kinds")
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background())
	_, err = c.StartOperations(context.Background(), nil)
	require.Equal(t, codes.Unimplemented, status.Code(err))
	require.ErrorIs(t, err, lro.ErrUnimplemented)
	_, _, err = c.GetOperationInfo(context.Background(), "operations/x")
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = c.CountOperations(context.Background())
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = c.KindStats(context.Background(), "k", time.Hour, time.Minute)
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = lro.NewRemoteClient(nil, nil)
	require.Error(t, err)
}

var _ = proto.Marshal

// A remote client does not serve the Workers service itself.
func TestRemoteIsNotAServer(t *testing.T) {
	c, err := lro.NewRemoteClient(serveFake(t, newFakeWorkers()), &lro.Config{Logger: testLogger(t)})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = c.RenewLeases(ctx, &lropb.RenewLeasesRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = c.FinishOperations(ctx, &lropb.FinishOperationsRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = c.ReleaseOperations(ctx, &lropb.ReleaseOperationsRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
}

// While renewals fail, each handler goes on until its own kind's lease
// TTL (the server's) has passed since the last renewal, not the smallest
// TTL of the client's kinds.
func TestRemoteLeaseExpiryPerKind(t *testing.T) {
	f := newFakeWorkers(stringKind("test.short", 300*time.Millisecond), stringKind("test.long", time.Hour))
	p := newProbe()
	newRemote(t, serveFake(t, f), nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "test.short", Run: p.blocking})
		lro.MustRegister(c, kind{Name: "test.long", Run: p.blocking})
	})
	f.add("test.long", "long")
	f.add("test.short", "short")
	runs := map[string]*run{}
	for range 2 {
		r := p.next(t)
		runs[r.job.Request.Value] = r
	}
	// One renewal of both, so that the long kind's estimate is its own.
	<-f.renewed
	<-f.renewed
	f.renewFail.Store(true)
	<-runs["short"].ctx.Done()
	require.ErrorIs(t, context.Cause(runs["short"].ctx), lro.ErrLeaseLost)
	require.NoError(t, runs["long"].ctx.Err(), "the long kind's lease has not run out")
	f.renewFail.Store(false)
	runs["long"].release <- result{resp: wrapperspb.String("ok")}
	require.Equal(t, "ok", anyString(t, nextFinish(t, f).GetTypedResponse()))
}

// A server that answers claims at once with nothing (it is stopping) is
// not claimed from in a busy loop: the next claim waits PollInterval.
func TestRemoteEmptyClaimsBackOff(t *testing.T) {
	claims := make(chan time.Time, 100)
	empty := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == lropb.Workers_ClaimOperations_FullMethodName {
			select {
			case claims <- time.Now():
			default:
			}
			return nil // an empty answer, at once
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	const poll = 100 * time.Millisecond
	newRemote(t, serveFake(t, newFakeWorkers(stringKind("test.echo", time.Second)), empty), &lro.Config{PollInterval: poll},
		func(c *lro.Client) { lro.MustRegister(c, kind{Name: "test.echo", Run: newProbe().blocking}) })
	first := <-claims
	<-claims
	third := <-claims
	require.GreaterOrEqual(t, third.Sub(first), 3*poll/2, "claims that found nothing at once are a poll apart")
}
