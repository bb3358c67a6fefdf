package lro

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro/lrostore"
)

func TestRetryPolicyDefaults(t *testing.T) {
	t.Parallel()
	p, err := (*RetryPolicy)(nil).normalized()
	require.NoError(t, err)
	require.Equal(t, RetryInitialDelayDefault, p.InitialDelay)
	require.Equal(t, RetryMultiplierDefault, p.Multiplier)
	require.Equal(t, RetryMaxDelayDefault, p.MaxDelay)
	require.Equal(t, RetryJitterDefault, p.Jitter)
	require.True(t, p.retries(codes.Unavailable))
	require.False(t, p.retries(codes.Internal))
	require.False(t, p.retries(codes.DeadlineExceeded), "AIP-194: only UNAVAILABLE by default")

	p, err = (&RetryPolicy{InitialDelay: 10 * time.Minute}).normalized()
	require.NoError(t, err)
	require.Equal(t, 10*time.Minute, p.MaxDelay, "MaxDelay is at least InitialDelay")

	p, err = (&RetryPolicy{Jitter: -1}).normalized()
	require.NoError(t, err)
	require.Zero(t, p.Jitter)

	none, err := NoRetry.normalized()
	require.NoError(t, err)
	require.False(t, none.retries(codes.Unavailable))
}

func TestRetryPolicyRefused(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]*RetryPolicy{
		"negative delay":     {InitialDelay: -time.Second},
		"negative max":       {MaxDelay: -time.Second},
		"multiplier below 1": {Multiplier: 0.5},
		"jitter above 1":     {Jitter: 1.5},
		"max below initial":  {InitialDelay: time.Minute, MaxDelay: time.Second},
		"delay over max":     {InitialDelay: DelayMax + time.Hour},
		"OK is not a code":   {Codes: []codes.Code{codes.OK}},
		"unknown code":       {Codes: []codes.Code{17}},
	} {
		_, err := p.normalized()
		require.Error(t, err, name)
	}
}

func TestRetryPolicySchedule(t *testing.T) {
	t.Parallel()
	p, err := (&RetryPolicy{InitialDelay: time.Second, Multiplier: 3, MaxDelay: 20 * time.Second, Jitter: -1}).normalized()
	require.NoError(t, err)
	var got []time.Duration
	for n := int32(1); n <= 5; n++ {
		got = append(got, p.delay(n))
	}
	require.Equal(t, []time.Duration{time.Second, 3 * time.Second, 9 * time.Second, 20 * time.Second, 20 * time.Second}, got)
	require.Equal(t, 20*time.Second, p.delay(10000), "no overflow")

	p.Jitter = 0.2
	for range 1000 {
		d := p.spread(10 * time.Second)
		require.GreaterOrEqual(t, d, 8*time.Second)
		require.LessOrEqual(t, d, 12*time.Second)
	}
}

func TestRetryDecision(t *testing.T) {
	t.Parallel()
	p, err := (&RetryPolicy{InitialDelay: time.Second, Jitter: -1, Codes: []codes.Code{codes.Aborted}}).normalized()
	require.NoError(t, err)
	decide := func(err error, attempt int32) (bool, time.Duration) {
		st, _ := status.FromError(err)
		return retryDecision(p, err, st, attempt)
	}
	unavailable := status.Error(codes.Unavailable, "down")

	retry, d := decide(unavailable, 2)
	require.True(t, retry)
	require.Equal(t, 2*time.Second, d)
	retry, _ = decide(status.Error(codes.Aborted, "conflict"), 1)
	require.True(t, retry, "a code the policy adds")
	retry, _ = decide(status.Error(codes.InvalidArgument, "bad"), 1)
	require.False(t, retry)
	retry, _ = decide(errors.New("plain"), 1)
	require.False(t, retry, "UNKNOWN does not retry")

	retry, _ = decide(NonRetryable(unavailable), 1)
	require.False(t, retry, "the handler's mark wins over the code")
	retry, d = decide(Retryable(errors.New("flaky"), 0), 3)
	require.True(t, retry, "the handler's mark wins over the code")
	require.Equal(t, 4*time.Second, d, "the policy's delay when the mark gives none")
	retry, d = decide(Retryable(status.Error(codes.Internal, "x"), 42*time.Second), 1)
	require.True(t, retry)
	require.Equal(t, 42*time.Second, d)

	st, err := status.New(codes.Unavailable, "busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(7 * time.Second)})
	require.NoError(t, err)
	retry, d = decide(st.Err(), 1)
	require.True(t, retry)
	require.Equal(t, 7*time.Second, d, "RetryInfo sets the delay")
	st, err = status.New(codes.InvalidArgument, "bad").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(7 * time.Second)})
	require.NoError(t, err)
	retry, _ = decide(st.Err(), 1)
	require.False(t, retry, "RetryInfo alone does not make a code retryable")

	require.Equal(t, errors.Unwrap(Retryable(unavailable, 0)), unavailable)
	require.Equal(t, codes.Unavailable, status.Code(Retryable(unavailable, 0)), "the mark keeps the status")
	require.NoError(t, Retryable(nil, 0))
	require.NoError(t, NonRetryable(nil))
}

func TestRetryDelayLimits(t *testing.T) {
	t.Parallel()
	k := &kind{}
	var err error
	k.retry, err = (&RetryPolicy{InitialDelay: time.Second, Jitter: -1}).normalized()
	require.NoError(t, err)
	now := time.Now()
	down := status.Error(codes.Unavailable, "down")
	f := statusFailure(status.Convert(down).Proto())
	op := func(mut func(*lrostore.Operation)) *lrostore.Operation {
		o := &lrostore.Operation{Attempt: 1, MaxAttempts: 3}
		mut(o)
		return o
	}

	d, ok := retryDelay(k, op(func(*lrostore.Operation) {}), down, f, nil, now)
	require.True(t, ok)
	require.Equal(t, time.Second, d)
	_, ok = retryDelay(k, op(func(o *lrostore.Operation) { o.Attempt = 3 }), down, f, nil, now)
	require.False(t, ok, "the attempts are used up")
	_, ok = retryDelay(k, op(func(o *lrostore.Operation) { o.CancelRequested = true }), down, f, nil, now)
	require.False(t, ok, "cancellation was requested")
	_, ok = retryDelay(k, op(func(o *lrostore.Operation) { o.Deadline = now }), down, f, nil, now)
	require.False(t, ok, "the operation's deadline passed")
	_, ok = retryDelay(k, op(func(*lrostore.Operation) {}), down, f, ErrTimeout, now)
	require.False(t, ok, "the operation ran out of time")

	require.Equal(t, "down (after 3 attempts)", withAttempts(f, 3).Message)
	require.Equal(t, "down (after 3 attempts)", withAttempts(withAttempts(f, 3), 3).Message, "said once")
	require.Equal(t, f, withAttempts(f, 1))
	require.Equal(t, "down (after 3 attempts)", failureStatus(withAttempts(f, 3)).Message(), "in the status too")
}

func TestTimeoutError(t *testing.T) {
	t.Parallel()
	err := timeoutError(errors.New("context deadline exceeded"), ErrAttemptTimeout)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err))
	require.Contains(t, err.Error(), "AttemptTimeout")
	err = timeoutError(errors.New("x"), ErrTimeout)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err))
	own := status.Error(codes.Aborted, "mine")
	require.Equal(t, own, timeoutError(own, ErrAttemptTimeout), "a status of the handler's own is kept")
	plain := errors.New("plain")
	require.Equal(t, plain, timeoutError(plain, nil))
}

func TestAttemptDeadline(t *testing.T) {
	t.Parallel()
	now := time.Now()
	k := &kind{attemptTimeout: time.Minute}
	d, cause := attemptDeadline(k, &lrostore.Operation{}, now)
	require.Equal(t, now.Add(time.Minute), d)
	require.Equal(t, ErrAttemptTimeout, cause)
	d, cause = attemptDeadline(k, &lrostore.Operation{Deadline: now.Add(time.Second)}, now)
	require.Equal(t, now.Add(time.Second), d)
	require.Equal(t, ErrTimeout, cause, "the operation's deadline comes first")
	_, cause = attemptDeadline(&kind{}, &lrostore.Operation{}, now)
	require.NoError(t, cause)
}
