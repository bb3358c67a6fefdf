package batch

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Group groups concurrent requests into shared calls, as a Batcher does,
// but has no goroutine of its own and runs up to a number of calls at once:
// it is made for reads, which need no order and should add no hand-off
// between goroutines.
//
// A request made while fewer than that many calls run takes a slot, and its
// caller yields the processor once (runtime.Gosched) before it makes the
// call: the goroutines ready to run go first, and the requests they make
// meanwhile queue. Those (up to Max with its own) join its call. Alone, it
// is a call of its own, made under its caller's context: one caller alone
// waits for nothing but its own call. A request made while every slot is
// taken queues. When a call ends, the requests queued meanwhile (up to Max)
// become the next call, which the first of them runs in its own goroutine,
// so that each caller runs at most one call and returns as soon as its
// output is ready.
//
// The yield costs a lone caller next to nothing, and under load it lets
// requests that arrive together share a call, which for reads of a
// database means fewer statements and round trips.
//
// A call that requests joined, like a queued call, runs under the Group's
// context, and ends when the contexts of all its requests have ended. A
// caller whose context ends leaves at once while its request is queued;
// once its request is part of a call, it waits for that call's outputs,
// which the call's other requests share (and the call may be its to run).
type Group[In, Out any] struct {
	fn    Func[In, Out]
	ctx   context.Context
	max   int
	calls int

	mu      sync.Mutex
	running int
	queue   []*request[In, Out]

	yield func() // runtime.Gosched; tests replace it
}

// NewGroup returns a Group that calls fn with at most max inputs at a time
// and runs at most calls of them at once. Queued calls run under ctx.
func NewGroup[In, Out any](ctx context.Context, max, calls int, fn Func[In, Out]) *Group[In, Out] {
	if max < 1 || calls < 1 {
		panic("batch: max and calls must be at least 1")
	}
	return &Group[In, Out]{fn: fn, ctx: ctx, max: max, calls: calls, yield: runtime.Gosched}
}

// Do returns fn's output for in, from a call of its own or one it shares.
func (g *Group[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	m := &request[In, Out]{in: in, ctx: ctx}
	g.mu.Lock()
	if g.running < g.calls {
		g.running++
		g.mu.Unlock()
		g.yield()
		if call := g.join(m); len(call) > 1 {
			callCtx, cancel := g.callContext(call)
			g.run(callCtx, m, call)
			cancel()
		} else {
			g.run(ctx, m, call)
		}
		return m.out, m.err
	}
	m.done = make(chan struct{})
	g.queue = append(g.queue, m)
	g.mu.Unlock()
	select {
	case <-m.done:
	case <-ctx.Done():
		if g.leave(m) {
			return zero, ctx.Err()
		}
		<-m.done // taken into a call, which may be this goroutine's to run
	}
	if m.lead != nil {
		callCtx, cancel := g.callContext(m.lead)
		g.run(callCtx, m, m.lead)
		cancel()
	}
	return m.out, m.err
}

// join returns the call of m, a request that took a slot: m, and the
// requests queued since (up to max in all), which it takes out of the queue.
func (g *Group[In, Out]) join(m *request[In, Out]) []*request[In, Out] {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.queue), g.max-1)
	call := make([]*request[In, Out], 0, n+1)
	call = append(append(call, m), g.queue[:n]...)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	return call
}

// leave takes m out of the queue, and reports false if it was no longer
// there: a call had taken it.
func (g *Group[In, Out]) leave(m *request[In, Out]) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.queue {
		if q == m {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return true
		}
	}
	return false
}

// callContext is the context of a queued call: the Group's, ended also
// once the context of every member of the call has ended, since then no one
// waits for its outputs. Its cancel must be called when the call is over.
func (g *Group[In, Out]) callContext(call []*request[In, Out]) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(g.ctx)
	var left atomic.Int32
	left.Store(int32(len(call)))
	stops := make([]func() bool, len(call))
	for i, m := range call {
		stops[i] = context.AfterFunc(m.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// run makes one call for the members of call and gives them its outputs;
// self is the member of the running goroutine, whose done is not closed.
// Then it hands the requests queued meanwhile to the first of them as the
// next call, or frees its slot.
func (g *Group[In, Out]) run(ctx context.Context, self *request[In, Out], call []*request[In, Out]) {
	apply(ctx, g.fn, call)
	for _, m := range call {
		if m != self {
			close(m.done)
		}
	}
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.running--
		g.mu.Unlock()
		return
	}
	n := min(len(g.queue), g.max)
	next := make([]*request[In, Out], n)
	copy(next, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()
	next[0].lead = next
	close(next[0].done)
}
