package lro_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// counting registers kind "k", whose handler counts its runs and records
// when the last began.
type counting struct {
	runs  atomic.Int32
	began atomic.Int64 // Unix nanoseconds
}

func (k *counting) register(c *lro.Client) {
	lro.MustRegister(c, kind{Name: "k", Run: func(ctx context.Context, j *job) (str, error) {
		k.began.Store(time.Now().UnixNano())
		k.runs.Add(1)
		return wrapperspb.String("ran"), nil
	}})
}

func startDelayed(t *testing.T, c *lro.Client, opts *lro.StartOptions) *longrunningpb.Operation {
	t.Helper()
	op, err := c.StartOperation(context.Background(), "k", wrapperspb.String("x"), opts)
	require.NoError(t, err)
	require.False(t, op.GetDone())
	return op
}

func TestDelayedStart(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		t.Run("PendingUntilItsTimeThenRunsOnTime", func(t *testing.T) {
			// The client polls once an hour: only its alarm can run the
			// operation on time.
			k := &counting{}
			c := newClient(t, store, &lro.Config{PollInterval: time.Hour}, k.register)
			began := time.Now()
			// A second, so that a loaded machine reads it before its time.
			op := startDelayed(t, c, &lro.StartOptions{Delay: time.Second})
			_, info, err := c.GetOperationInfo(context.Background(), op.GetName())
			require.NoError(t, err)
			require.Equal(t, "pending", info.State, "not run eagerly")
			require.WithinDuration(t, began.Add(time.Second), info.NotBefore, 200*time.Millisecond)
			require.Equal(t, "ran", responseValue(t, waitDone(t, c, op.GetName())))
			ran := time.Unix(0, k.began.Load())
			require.False(t, ran.Before(info.NotBefore), "ran at %v, before %v", ran, info.NotBefore)
			require.Less(t, ran.Sub(info.NotBefore), 5*time.Second, "on time, not at the next poll")
			require.Equal(t, int32(1), k.runs.Load())
			_, info, err = c.GetOperationInfo(context.Background(), op.GetName())
			require.NoError(t, err)
			require.True(t, info.NotBefore.IsZero(), "done: no longer waits")
		})
		t.Run("RunAfterATimeAndInThePast", func(t *testing.T) {
			k := &counting{}
			c := newClient(t, store, &lro.Config{PollInterval: time.Hour}, k.register)
			at := time.Now().Add(200 * time.Millisecond)
			op := startDelayed(t, c, &lro.StartOptions{RunAfter: at})
			require.Equal(t, "ran", responseValue(t, waitDone(t, c, op.GetName())))
			require.False(t, time.Unix(0, k.began.Load()).Before(at.Truncate(time.Microsecond)))
			past := startDelayed(t, c, &lro.StartOptions{RunAfter: time.Now().Add(-time.Hour)})
			_, info, err := c.GetOperationInfo(context.Background(), past.GetName())
			require.NoError(t, err)
			require.True(t, info.NotBefore.IsZero(), "a time past runs at once")
			waitDone(t, c, past.GetName())
		})
		t.Run("CancelWhileWaitingEndsAtOnce", func(t *testing.T) {
			k := &counting{}
			c := newClient(t, store, nil, k.register)
			op := startDelayed(t, c, &lro.StartOptions{Delay: time.Hour})
			got, err := c.CancelOperation(context.Background(), op.GetName())
			require.NoError(t, err)
			require.True(t, got.GetDone())
			require.Equal(t, int32(codes.Canceled), got.GetError().GetCode())
			require.Zero(t, k.runs.Load())
		})
		t.Run("SurvivesARestartAndRunsOnce", func(t *testing.T) {
			first := &counting{}
			a, err := lro.NewClient(store, &lro.Config{Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
			require.NoError(t, err)
			first.register(a)
			require.NoError(t, a.Start(context.Background()))
			op := startDelayed(t, a, &lro.StartOptions{Delay: 200 * time.Millisecond, RequestID: "restart"})
			require.NoError(t, a.Stop(context.Background()))

			second := &counting{}
			b := newClient(t, store, nil, second.register)
			require.Equal(t, "ran", responseValue(t, waitDone(t, b, op.GetName())))
			require.Zero(t, first.runs.Load())
			require.Equal(t, int32(1), second.runs.Load())
		})
		t.Run("RequestIDReplayReturnsTheFirst", func(t *testing.T) {
			c := newClient(t, store, nil, (&counting{}).register)
			first := startDelayed(t, c, &lro.StartOptions{Delay: time.Hour, RequestID: "replay"})
			_, firstInfo, err := c.GetOperationInfo(context.Background(), first.GetName())
			require.NoError(t, err)
			again := startDelayed(t, c, &lro.StartOptions{Delay: time.Minute, RequestID: "replay"})
			require.Equal(t, first.GetName(), again.GetName())
			_, info, err := c.GetOperationInfo(context.Background(), first.GetName())
			require.NoError(t, err)
			require.Equal(t, firstInfo.NotBefore, info.NotBefore, "unchanged")
		})
	})
}

func TestDelayedStartInvalid(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), nil, (&counting{}).register)
	for name, opts := range map[string]*lro.StartOptions{
		"both":     {Delay: time.Second, RunAfter: time.Now().Add(time.Minute)},
		"negative": {Delay: -time.Second},
		"too long": {Delay: lro.DelayMax + time.Second},
		"too far":  {RunAfter: time.Now().Add(lro.DelayMax + time.Minute)},
	} {
		_, err := c.StartOperation(context.Background(), "k", nil, opts)
		require.ErrorIs(t, err, lro.ErrInvalidArgument, name)
		var e *lro.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "INVALID_START_TIME", e.Reason, name)
	}
	_, err := c.StartOperations(context.Background(), []lro.StartRequest{{Kind: "k"}, {Kind: "k", Options: &lro.StartOptions{Delay: -1}}})
	require.ErrorIs(t, err, lro.ErrInvalidArgument)
	require.ErrorContains(t, err, "requests[1]")
}

// A delayed operation started on node A runs on node B once due, A having
// stopped.
func TestDelayedStartOnAnotherNode(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	open := func() *lropgx.Store {
		s, err := lropgx.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	onA, onB := &counting{}, &counting{}
	a, err := lro.NewClient(open(), &lro.Config{ID: "node-a", Logger: testLogger(t)})
	require.NoError(t, err)
	onA.register(a)
	require.NoError(t, a.Start(context.Background()))
	b := newClient(t, open(), &lro.Config{ID: "node-b"}, onB.register)
	op := startDelayed(t, a, &lro.StartOptions{Delay: 200 * time.Millisecond})
	require.NoError(t, a.Stop(context.Background()))
	require.Equal(t, "ran", responseValue(t, waitDone(t, b, op.GetName())))
	require.Zero(t, onA.runs.Load())
	require.Equal(t, int32(1), onB.runs.Load())
}
