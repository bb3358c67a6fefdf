package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/slogtest"
	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore/lrosqlite"
)

func newClient(t *testing.T) *lro.Client {
	t.Helper()
	s, err := lrosqlite.Open(context.Background(), ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	c, err := lro.NewClient(s, &lro.Config{Logger: slogtest.Logger(t), MetadataInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, demo.Register(c))
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

// The README's example: {"duration": "0.1s", "fail_code": 14,
// "fail_attempts": 2} fails twice with UNAVAILABLE, which retries after
// 0.5s and 1s, and succeeds at attempt 3, its metadata saying so.
func TestFailAttemptsThenSucceed(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	start := time.Now()
	op, err := c.StartOperation(context.Background(), demo.KindSleep, &demopb.SleepRequest{
		Duration: durationpb.New(100 * time.Millisecond), FailCode: code.Code_UNAVAILABLE, FailAttempts: 2}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := c.WaitOperation(ctx, op.GetName(), 20*time.Second)
	require.NoError(t, err)
	require.True(t, done.GetDone())
	require.Nil(t, done.GetError())
	require.GreaterOrEqual(t, time.Since(start), 3*100*time.Millisecond+time.Duration(float64(demo.RetryInitialDelay*3)*(1-lro.RetryJitterDefault)),
		"three sleeps, and the delays before attempts 2 and 3 (0.5s, then 1s, less their jitter)")
	meta := &demopb.SleepMetadata{}
	require.NoError(t, done.GetMetadata().UnmarshalTo(meta))
	require.Equal(t, int32(3), meta.GetAttempt())
}

func TestFailAttemptsNegativeIsRefused(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	_, err := c.StartOperation(context.Background(), demo.KindSleep, &demopb.SleepRequest{FailAttempts: -1}, nil)
	require.ErrorContains(t, err, "fail_attempts must not be negative")
}
