package lrostoretest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// NewNodes returns two stores on one new database, as two nodes sharing
// it: events of writes through either reach the listeners of both. The
// suite closes them.
type NewNodes func(t *testing.T) (writer, listener lrostore.Store)

// RunNotifier runs the suite of the Notifier capability, for a store that
// has it: the events each write publishes, in commit order, and how Listen
// starts and ends.
func RunNotifier(t *testing.T, newNodes NewNodes) {
	// setup returns the writer's bundle and the listener's events, once
	// the listener listens.
	setup := func(t *testing.T) (*bundle, <-chan *lrostore.Event, lrostore.Notifier) {
		t.Helper()
		writer, listener := newNodes(t)
		t.Cleanup(func() { writer.Close(); listener.Close() })
		n, ok := listener.(lrostore.Notifier)
		require.True(t, ok, "the store is no lrostore.Notifier")
		events := make(chan *lrostore.Event, 1000)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Listen(ctx, func(e *lrostore.Event) { events <- e }) }()
		t.Cleanup(func() {
			cancel()
			require.ErrorIs(t, <-done, context.Canceled, "Listen returns its context's error")
		})
		require.Equal(t, &lrostore.Event{Resync: true}, nextEvent(t, events), "Listen starts with a Resync")
		return &bundle{ctx: context.Background(), store: writer, now: time.Now().UTC().Truncate(time.Microsecond)}, events, n
	}

	t.Run("InsertPublishesOnePending", func(t *testing.T) {
		t.Parallel()
		b, events, _ := setup(t)
		b.insert(t, 3)
		require.Equal(t, &lrostore.Event{Pending: true}, nextEvent(t, events), "one Pending for the batch")
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.LeaseOwner, p.LeaseTTL = "worker-1", time.Minute })
		b.insert(t, 1)
		require.Equal(t, &lrostore.Event{Pending: true}, nextEvent(t, events),
			"an operation inserted claimed is not pending: the next Pending is the next insert's")
	})
	t.Run("FinishPublishesDone", func(t *testing.T) {
		t.Parallel()
		b, events, _ := setup(t)
		op := b.insert(t, 1)[0]
		require.Equal(t, &lrostore.Event{Pending: true}, nextEvent(t, events))
		claimed := b.claim(t, 1, b.now)
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded,
			Response: []byte("r"), ResponseType: "type/r"}).Finished)
		require.Equal(t, &lrostore.Event{Done: []string{op.ID}}, nextEvent(t, events))
	})
	t.Run("CancelPublishesDoneOrCancelRequested", func(t *testing.T) {
		t.Parallel()
		b, events, _ := setup(t)
		ops := b.insert(t, 2)
		require.Equal(t, &lrostore.Event{Pending: true}, nextEvent(t, events))
		running := b.claim(t, 1, b.now)[0]
		require.Equal(t, ops[0].ID, running.ID)
		for _, op := range ops {
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
		}
		require.Equal(t, &lrostore.Event{CancelRequested: []string{ops[0].ID}}, nextEvent(t, events), "running: its worker cancels it")
		require.Equal(t, &lrostore.Event{Done: []string{ops[1].ID}}, nextEvent(t, events), "pending: cancelled at once")
	})
	t.Run("ReleaseAndRescuePublishPendingAndDone", func(t *testing.T) {
		t.Parallel()
		b, events, _ := setup(t)
		ops := b.insert(t, 2, func(p *lrostore.OperationInsertParams) { p.MaxAttempts = 1 })
		require.Equal(t, &lrostore.Event{Pending: true}, nextEvent(t, events))
		claimed := b.claim(t, 2, b.now.Add(-time.Minute)) // their leases have expired
		require.Len(t, claimed, 2)
		released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{Leases: []lrostore.Lease{lease(claimed[0])}})
		require.NoError(t, err)
		require.Equal(t, []string{ops[0].ID}, released)
		require.Equal(t, &lrostore.Event{Pending: true}, nextEvent(t, events))
		res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
			ExhaustedError: exhausted, CancelledError: cancelled, Max: 10, Now: b.now,
		})
		require.NoError(t, err)
		require.Equal(t, []string{ops[1].ID}, res.Ended, "its one attempt is used up")
		require.Equal(t, &lrostore.Event{Done: []string{ops[1].ID}}, nextEvent(t, events))
	})
	t.Run("ListenEndsWithItsContext", func(t *testing.T) {
		t.Parallel()
		_, listener := newNodes(t)
		t.Cleanup(func() { listener.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, listener.(lrostore.Notifier).Listen(ctx, func(*lrostore.Event) {}), context.DeadlineExceeded)
	})
	t.Run("ListenAfterCloseIsErrClosed", func(t *testing.T) {
		t.Parallel()
		_, listener := newNodes(t)
		require.NoError(t, listener.Close())
		require.ErrorIs(t, listener.(lrostore.Notifier).Listen(context.Background(), func(*lrostore.Event) {}), lrostore.ErrClosed)
	})
}

func nextEvent(t *testing.T, events <-chan *lrostore.Event) *lrostore.Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}
