package lro

import (
	"context"
	"errors"
	"time"

	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/startstop"
	"lro.dev/lro/lrostore"
)

// The store listener follows the events of a store that several nodes
// share (a store that implements lrostore.Notifier): an operation that
// ended on any node wakes the waiters here, a cancellation sent to any
// node cancels the handler running here, and operations that became
// pending anywhere wake the producer. Heartbeats also carry cancellations,
// so a lost event delays one by a heartbeat at most; after a reconnection
// (an event with Resync), every waiter reads its operation again.

// listener follows a Notifier's events.
type listener struct {
	startstop.Service

	notifier lrostore.Notifier
	logs     *logthrottle.Logger
	waiters  *waitSet
	cancel   func(id string, cause error) // cancels the handler of id running here
	wake     func()                       // pending operations may be there to claim
}

// Start starts listening.
func (l *listener) Start(ctx context.Context) error {
	return l.Service.Start(ctx, l.listenLoop)
}

func (l *listener) listenLoop(ctx context.Context) {
	for {
		err := l.notifier.Listen(ctx, l.handleEvent)
		if ctx.Err() != nil || errors.Is(err, lrostore.ErrClosed) {
			return
		}
		warnStore(ctx, l.logs, "listen for events; retrying", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (l *listener) handleEvent(e *lrostore.Event) {
	for _, id := range e.Done {
		l.waiters.notify(id)
	}
	for _, id := range e.CancelRequested {
		l.cancel(id, ErrCancelRequested)
	}
	if e.Pending || e.Resync {
		l.wake()
	}
	if e.Resync {
		// Events may have been missed: every waiter reads its operation
		// again (and goes on waiting if it is not done).
		l.waiters.notifyAll()
	}
}
