package lro

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/slogtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
)

// recordingExecutor is an executor that runs nothing: it records what it
// is given.
type recordingExecutor struct {
	mu  sync.Mutex
	ops []*lrostore.Operation
}

func (r *recordingExecutor) execute(ops []*lrostore.Operation, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, ops...)
}

func (r *recordingExecutor) executeEager(ops []*lrostore.Operation, leaseExpire time.Time) {
	r.execute(ops, leaseExpire)
}

// The claim side works with any executor: it takes a slot for each
// operation it claims, hands the operations over, and claims again only
// for the slots the executor gives back.
func TestProducerClaimsForAnyExecutor(t *testing.T) {
	ctx := context.Background()
	store, err := lrosqlite.Open(ctx, ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	insert := func(n int) {
		params := &lrostore.OperationInsertManyParams{}
		for range n {
			params.Operations = append(params.Operations, &lrostore.OperationInsertParams{
				ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1})
		}
		_, err := store.OperationInsertMany(ctx, params)
		require.NoError(t, err)
	}
	insert(3)

	cfg, err := (&Config{Workers: 2, PollInterval: time.Hour, Logger: slogtest.Logger(t)}).withDefaults()
	require.NoError(t, err)
	exec := &recordingExecutor{}
	logs := logthrottle.New(cfg.Logger, storeWarnEvery)
	t.Cleanup(logs.Stop)
	p := newProducer(store, cfg, logs, exec)
	p.kinds = []string{"k"}
	p.claimed.Init()
	require.NoError(t, p.Start(ctx))
	t.Cleanup(p.Stop)

	p.claimed.Wait(t)
	exec.mu.Lock()
	require.Len(t, exec.ops, 2, "one operation for each worker slot")
	exec.mu.Unlock()
	require.Equal(t, 0, p.free())

	p.freeSlots(1)
	p.claimed.Wait(t)
	exec.mu.Lock()
	require.Len(t, exec.ops, 3, "the third once a slot is given back")
	exec.mu.Unlock()
	require.Equal(t, 0, p.free(), "the claim took the slot that was given back")
}
