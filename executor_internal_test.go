package lro

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/emptypb"

	"lro.dev/lro/internal/slogtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
)

// gatedStore holds every write of results until gate is closed.
type gatedStore struct {
	lrostore.Store
	gate chan struct{}
}

func (s *gatedStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.OperationFinishMany(ctx, p)
}

// A job's goroutine is kept for the next job once its result is written,
// also when more jobs wrote at once than there are worker slots: jobs give
// their slot back while they write, so that a slow write does not hold up
// the next handlers, and a goroutine that exited for each would leave the
// next claims to start new ones, whose stacks grow again.
func TestJobGoroutinesAreKeptAfterTheirWrites(t *testing.T) {
	ctx := context.Background()
	inner, err := lrosqlite.Open(ctx, ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { inner.Close() })
	store := &gatedStore{Store: inner, gate: make(chan struct{})}
	const workers, n = 2, 10
	c, err := NewClient(store, &Config{Workers: workers, Logger: slogtest.Logger(t)})
	require.NoError(t, err)
	ran := make(chan struct{}, n)
	MustRegister(c, Kind[*emptypb.Empty, *emptypb.Empty, *emptypb.Empty]{Name: "k",
		Run: func(context.Context, *Job[*emptypb.Empty, *emptypb.Empty]) (*emptypb.Empty, error) {
			ran <- struct{}{}
			return nil, nil
		}})
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { c.Stop(context.Background()) })
	// Each goroutine reports once its job has ended: kept (false) or gone
	// (true). Room for every report, those of Stop's exits included.
	ended := make(chan bool, 2*n)
	c.exec.runners.Observe(func() { ended <- false }, func() { ended <- true })

	for range n {
		_, err := c.StartOperation(ctx, "k", &emptypb.Empty{}, nil)
		require.NoError(t, err)
	}
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-ran:
		case <-timeout:
			t.Fatalf("%d of %d handlers ran while the writes waited", i, n)
		}
	}
	// All n ran in 2 slots: n goroutines wait for their writes.
	close(store.gate)
	exited := 0
	for i := range n {
		select {
		case gone := <-ended:
			if gone {
				exited++
			}
		case <-timeout:
			t.Fatalf("%d of %d jobs ended", i, n)
		}
	}
	require.Zero(t, exited, "every goroutine is kept for the next jobs")
}
