// Package batch groups concurrent requests into one call, so that many
// callers share one database transaction (group commit).
//
// A Batcher runs one call at a time and, while it runs, requests queue up;
// the next call takes all of them (up to Max). One caller alone waits no
// longer than for its own call, and under load each call carries as many
// requests as arrived during the last one. With a cooldown, calls also start
// at least that far apart: a request that arrives sooner after the start of
// the last call waits for the rest of the cooldown, gathering the requests
// that arrive meanwhile, so that a busy batcher makes fewer, larger calls,
// while one that was idle for a cooldown calls at once.
package batch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrStopped is returned for requests made after Stop.
var ErrStopped = errors.New("batcher stopped")

// Func does one batch. It returns one output per input, in order, or an
// error for them all.
type Func[In, Out any] func(ctx context.Context, in []In) ([]Out, error)

// Batcher groups requests to a Func.
type Batcher[In, Out any] struct {
	fn       Func[In, Out]
	max      int
	cooldown time.Duration
	queue    chan *request[In, Out]
	stop     chan struct{}
	stopped  chan struct{}
	once     sync.Once
}

type request[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}

	// Group only: the caller's context, and, when set before done is
	// closed, a call that the caller's goroutine must run (it holds the
	// request itself).
	ctx  context.Context
	lead []*request[In, Out]
}

// New returns a Batcher that calls fn with at most max inputs at a time, and
// starts its goroutine; ctx is the context of every call to fn.
func New[In, Out any](ctx context.Context, max int, fn Func[In, Out]) *Batcher[In, Out] {
	return NewCooldown(ctx, max, 0, fn)
}

// NewCooldown returns a Batcher as New does, whose calls start at least
// cooldown apart.
func NewCooldown[In, Out any](ctx context.Context, max int, cooldown time.Duration, fn Func[In, Out]) *Batcher[In, Out] {
	if max < 1 {
		panic("batch: max must be at least 1")
	}
	b := &Batcher[In, Out]{
		fn:       fn,
		max:      max,
		cooldown: cooldown,
		queue:    make(chan *request[In, Out], max),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go b.run(ctx)
	return b
}

// Do queues in for the next batch and waits for its output. A request whose
// ctx has ended is not queued; when ctx ends while the request waits, Do
// returns ctx's error, but the request may still be carried out.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	r := &request[In, Out]{in: in, done: make(chan struct{})}
	select {
	case b.queue <- r:
	case <-b.stop:
		return zero, ErrStopped
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case <-r.done:
		return r.out, r.err
	case <-b.stopped:
		// The loop finished every request it took before it stopped.
		select {
		case <-r.done:
			return r.out, r.err
		default:
			return zero, ErrStopped
		}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Stop finishes the requests already queued, then stops. It waits for the
// goroutine and may be called more than once.
func (b *Batcher[In, Out]) Stop() {
	b.once.Do(func() { close(b.stop) })
	<-b.stopped
}

func (b *Batcher[In, Out]) run(ctx context.Context) {
	defer close(b.stopped)
	batch := make([]*request[In, Out], 0, b.max)
	var last time.Time // when the last call started
	for {
		batch = batch[:0]
		select {
		case r := <-b.queue:
			batch = append(batch, r)
		case <-b.stop:
			// Finish what was queued before Stop, in batches as usual.
			for batch = b.fill(batch); len(batch) > 0; batch = b.fill(batch[:0]) {
				b.call(ctx, batch)
			}
			return
		}
		if wait := b.cooldown - time.Since(last); wait > 0 {
			batch = b.gather(batch, wait)
		}
		last = time.Now()
		b.call(ctx, b.fill(batch))
	}
}

// gather adds requests to batch as they arrive, for up to wait, until it
// holds max or Stop is called.
func (b *Batcher[In, Out]) gather(batch []*request[In, Out], wait time.Duration) []*request[In, Out] {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < b.max {
		select {
		case r := <-b.queue:
			batch = append(batch, r)
		case <-timer.C:
			return batch
		case <-b.stop:
			return batch
		}
	}
	return batch
}

// fill adds queued requests to batch, up to max, without waiting.
func (b *Batcher[In, Out]) fill(batch []*request[In, Out]) []*request[In, Out] {
	for len(batch) < b.max {
		select {
		case r := <-b.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (b *Batcher[In, Out]) call(ctx context.Context, batch []*request[In, Out]) {
	apply(ctx, b.fn, batch)
	for _, r := range batch {
		close(r.done)
	}
}

// apply calls fn with the inputs of batch and gives each request its
// output, or the call's error.
func apply[In, Out any](ctx context.Context, fn Func[In, Out], batch []*request[In, Out]) {
	in := make([]In, len(batch))
	for i, r := range batch {
		in[i] = r.in
	}
	out, err := fn(ctx, in)
	if err == nil && len(out) != len(in) {
		err = errors.New("batch: function returned the wrong number of outputs")
	}
	for i, r := range batch {
		if err != nil {
			r.err = err
		} else {
			r.out = out[i]
		}
	}
}
