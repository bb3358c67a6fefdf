package lrostore

import "context"

// Notifier is an optional capability of a store that several nodes share:
// it carries events from the node whose write caused them to every node,
// itself included. Stores publish events in the transaction of the write, so
// an event is delivered only if the write commits.
//
// Callers detect the capability by type assertion. A store without it (such
// as SQLite, which one process uses) needs none: the client that writes
// knows what it wrote.
type Notifier interface {
	// Listen calls fn with each event until ctx ends or the store is
	// closed. Events arrive in the order they committed. Once it listens,
	// and again each time it listens after losing its connection (it
	// reconnects by itself), it calls fn with an event whose Resync is
	// set: events before it may have been missed, so the caller re-checks
	// what it waits for. Listen returns ctx's error, or ErrClosed.
	//
	// fn runs on the listening goroutine: it must return quickly.
	Listen(ctx context.Context, fn func(*Event)) error
}

// Event tells what happened to operations. Only the fields of what
// happened are set.
type Event struct {
	// Done lists operations that ended: finished, failed, cancelled while
	// pending, or ended by a rescue.
	Done []string
	// CancelRequested lists running operations whose cancellation was
	// requested; the node running each should cancel its handler.
	CancelRequested []string
	// Pending is set when operations became pending (started, released,
	// or rescued to run again): nodes with free workers should claim.
	Pending bool
	// Resync is set after the listener reconnected: events may have been
	// lost, and waiters should read the state again.
	Resync bool
}
