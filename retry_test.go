package lro_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// fastRetry retries UNAVAILABLE (and DEADLINE_EXCEEDED) after 50ms, then
// 100ms, 200ms..., without jitter, so that a test can check the delays.
var fastRetry = &lro.RetryPolicy{InitialDelay: 50 * time.Millisecond, Multiplier: 2, Jitter: -1,
	Codes: []codes.Code{codes.DeadlineExceeded}}

// wait waits for the operation to be done.
func wait(t *testing.T, c *lro.Client, op *longrunningpb.Operation) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		got, err := c.WaitOperation(ctx, op.GetName(), 10*time.Second)
		require.NoError(t, err)
		if got.GetDone() {
			return got
		}
	}
}

func TestRetrySucceedsAtTheExpectedAttemptAfterTheExpectedDelays(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "flaky", Run: p.blocking, Retry: fastRetry, MaxAttempts: 5})
		})
		op, err := c.StartOperation(context.Background(), "flaky", wrapperspb.String(""), nil)
		require.NoError(t, err)
		var starts []time.Time
		for attempt := 1; attempt <= 3; attempt++ {
			r := p.next(t)
			starts = append(starts, time.Now())
			require.Equal(t, attempt, r.job.Attempt)
			_, info, err := c.GetOperationInfo(context.Background(), op.GetName())
			require.NoError(t, err)
			require.Equal(t, attempt, info.Attempt)
			if attempt == 1 {
				require.Nil(t, info.LastError)
			} else {
				require.NotNil(t, info.LastError, "the last failure shows while the operation runs again")
				require.Equal(t, codes.Unavailable, info.LastError.Code())
				require.Equal(t, "down", info.LastError.Message())
			}
			if attempt < 3 {
				r.release <- result{err: status.Error(codes.Unavailable, "down")}
			} else {
				r.release <- result{resp: wrapperspb.String("up")}
			}
		}
		done := wait(t, c, op)
		require.Nil(t, done.GetError())
		require.NotNil(t, done.GetResponse())
		require.GreaterOrEqual(t, starts[1].Sub(starts[0]), 50*time.Millisecond, "the first delay")
		require.GreaterOrEqual(t, starts[2].Sub(starts[1]), 100*time.Millisecond, "the second delay, doubled")
	})
}

func TestRetryWaitsPendingWithItsLastError(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "flaky", Run: p.blocking})
		})
		op, err := c.StartOperation(context.Background(), "flaky", wrapperspb.String(""), nil)
		require.NoError(t, err)
		r := p.next(t)
		// A delay that the test never waits for: the operation stays
		// pending, and the cancel ends it at once.
		r.release <- result{err: lro.Retryable(status.Error(codes.Internal, "flaky"), time.Hour)}
		var info *lro.OperationInfo
		require.Eventually(t, func() bool {
			var got *longrunningpb.Operation
			got, info, err = c.GetOperationInfo(context.Background(), op.GetName())
			require.NoError(t, err)
			require.False(t, got.GetDone())
			require.Nil(t, got.GetResult(), "the error stays empty until the operation is done")
			return info.State == "pending"
		}, 10*time.Second, 5*time.Millisecond)
		require.Equal(t, codes.Internal, info.LastError.Code())
		require.Equal(t, 1, info.Attempt)

		start := time.Now()
		cancelled, err := c.CancelOperation(context.Background(), op.GetName())
		require.NoError(t, err)
		require.True(t, cancelled.GetDone(), "a cancel during the wait ends it at once")
		require.Equal(t, int32(codes.Canceled), cancelled.GetError().GetCode())
		require.Less(t, time.Since(start), 5*time.Second)
		select {
		case r := <-p.started:
			t.Fatalf("attempt %d ran after the cancel", r.job.Attempt)
		default:
		}
	})
}

func TestRetryNotForACodeOutsideThePolicy(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: p.blocking, Retry: fastRetry})
		})
		op, err := c.StartOperation(context.Background(), "k", wrapperspb.String(""), nil)
		require.NoError(t, err)
		p.next(t).release <- result{err: status.Error(codes.InvalidArgument, "bad")}
		done := wait(t, c, op)
		require.Equal(t, int32(codes.InvalidArgument), done.GetError().GetCode())
		require.Equal(t, "bad", done.GetError().GetMessage(), "one attempt: no count in the message")
		_, info, err := c.GetOperationInfo(context.Background(), op.GetName())
		require.NoError(t, err)
		require.Equal(t, 1, info.Attempt)

		// A handler's NonRetryable ends it at once whatever the code.
		op, err = c.StartOperation(context.Background(), "k", wrapperspb.String(""), nil)
		require.NoError(t, err)
		p.next(t).release <- result{err: lro.NonRetryable(status.Error(codes.Unavailable, "gone for good"))}
		done = wait(t, c, op)
		require.Equal(t, int32(codes.Unavailable), done.GetError().GetCode())
	})
}

func TestRetryUpToMaxAttemptsThenTheErrorSaysHowMany(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "down", MaxAttempts: 3, Retry: fastRetry,
				Run: func(context.Context, *job) (str, error) { return nil, status.Error(codes.Unavailable, "down") }})
		})
		op, err := c.StartOperation(context.Background(), "down", wrapperspb.String(""), nil)
		require.NoError(t, err)
		done := wait(t, c, op)
		require.Equal(t, int32(codes.Unavailable), done.GetError().GetCode())
		require.Equal(t, "down (after 3 attempts)", done.GetError().GetMessage())
	})
}

func TestAttemptTimeoutFailsTheAttemptWhichRetries(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "slow", Run: p.blocking, Retry: fastRetry, AttemptTimeout: 100 * time.Millisecond})
		})
		op, err := c.StartOperation(context.Background(), "slow", wrapperspb.String(""), nil)
		require.NoError(t, err)
		first := p.next(t) // left to run out of time
		<-first.ctx.Done()
		require.ErrorIs(t, context.Cause(first.ctx), lro.ErrAttemptTimeout)
		second := p.next(t)
		require.Equal(t, 2, second.job.Attempt, "DEADLINE_EXCEEDED is in the policy: it retries")
		_, info, err := c.GetOperationInfo(context.Background(), op.GetName())
		require.NoError(t, err)
		require.Equal(t, codes.DeadlineExceeded, info.LastError.Code())
		second.release <- result{resp: wrapperspb.String("in time")}
		require.NotNil(t, wait(t, c, op).GetResponse())
	})
}

func TestTimeoutEndsTheOperationWhateverItsState(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "timed", Run: p.blocking, Timeout: 300 * time.Millisecond, Retry: fastRetry})
			lro.MustRegister(c, kind{Name: "unrun", Timeout: 300 * time.Millisecond}) // no Run: it stays pending
		})
		expectTimeout := func(op *longrunningpb.Operation) {
			t.Helper()
			start := time.Now()
			done := wait(t, c, op)
			require.Equal(t, int32(codes.DeadlineExceeded), done.GetError().GetCode(), done.GetError().GetMessage())
			require.Less(t, time.Since(start), 5*time.Second)
		}

		pending, err := c.StartOperation(context.Background(), "unrun", wrapperspb.String(""), nil)
		require.NoError(t, err)
		expectTimeout(pending)

		running, err := c.StartOperation(context.Background(), "timed", wrapperspb.String(""), nil)
		require.NoError(t, err)
		r := p.next(t)
		expectTimeout(running)
		<-r.ctx.Done()
		require.ErrorIs(t, context.Cause(r.ctx), lro.ErrTimeout)

		waiting, err := c.StartOperation(context.Background(), "timed", wrapperspb.String(""), nil)
		require.NoError(t, err)
		p.next(t).release <- result{err: lro.Retryable(errors.New("later"), time.Hour)}
		expectTimeout(waiting)
	})
}

// A retried operation runs its next attempt on whichever node claims it
// then: node A fails the first attempt and stops; node B, sharing the
// PostgreSQL database, runs the second at its time. The schedule is in the
// store, so a restart keeps it too.
func TestRetryRunsOnAnotherNode(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	open := func() lrostore.Store {
		s, err := lropgx.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	pa, pb := newProbe(), newProbe()
	retry := &lro.RetryPolicy{InitialDelay: 300 * time.Millisecond, Jitter: -1}
	a := newClient(t, open(), &lro.Config{ID: "node-a"}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "flaky", Run: pa.blocking, Retry: retry})
	})
	op, err := a.StartOperation(context.Background(), "flaky", wrapperspb.String(""), nil)
	require.NoError(t, err)
	first := pa.next(t)
	failed := time.Now()
	first.release <- result{err: status.Error(codes.Unavailable, "node a is going away")}
	require.Eventually(t, func() bool {
		_, info, err := a.GetOperationInfo(context.Background(), op.GetName())
		require.NoError(t, err)
		return info.State == "pending"
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, a.Stop(context.Background()))

	b := newClient(t, open(), &lro.Config{ID: "node-b"}, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "flaky", Run: pb.blocking, Retry: retry})
	})
	second := pb.next(t)
	require.Equal(t, 2, second.job.Attempt)
	require.GreaterOrEqual(t, time.Since(failed), 300*time.Millisecond, "not before its time")
	second.release <- result{resp: wrapperspb.String("done on b")}
	require.NotNil(t, wait(t, b, op).GetResponse())
}
