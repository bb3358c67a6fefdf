// Package gopool runs functions on goroutines kept from earlier runs.
//
// A new goroutine's stack starts small and is copied each time it
// doubles; a goroutine kept from an earlier run has grown it already. For
// work whose runs are short and deep (decode a request, call a handler,
// encode its response), the copies are a measurable share of the CPU: lro's
// benchmark of single starts, with a goroutine per operation, spent 5% of
// the server's CPU in runtime.copystack (BENCHMARKS.md, change 20). gRPC's
// NumStreamWorkers does the same for calls.
//
// The runtime still shrinks an idle goroutine's stack at garbage collection
// when it uses little of it, so a kept goroutine does not hold on to a
// stack that one deep run grew. A function that leaves its goroutine locked
// to its thread (runtime.LockOSThread without the unlock) leaves the next
// functions on that thread, as it would with gRPC's stream workers.
package gopool

import (
	"sync/atomic"
)

// Pool runs functions, each on a goroutine of its own at a time: an idle
// goroutine kept from an earlier run if one is waiting, else a new one.
// After its function returns, a goroutine waits for the next one while
// fewer than max goroutines wait, and exits otherwise, or once stop is
// closed. The zero Pool is not usable; use New.
type Pool struct {
	work chan func() // unbuffered: a send succeeds only to an idle goroutine
	stop <-chan struct{}
	max  int32
	idle atomic.Int32

	// Test hooks: called as Go starts a goroutine, and by a goroutine about
	// to wait and as it exits.
	spawned, waiting, exited func()
}

// New returns a Pool that keeps up to max idle goroutines, until stop is
// closed.
func New(max int, stop <-chan struct{}) *Pool {
	return &Pool{work: make(chan func()), stop: stop, max: int32(max), spawned: func() {}, waiting: func() {}, exited: func() {}}
}

// Go runs f on an idle goroutine, or a new one, and does not wait for it.
func (p *Pool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.spawned()
		go p.loop(f)
	}
}

func (p *Pool) loop(f func()) {
	defer p.exited()
	for {
		f()
		if p.idle.Add(1) > p.max {
			p.idle.Add(-1)
			return
		}
		p.waiting()
		select {
		case f = <-p.work:
			p.idle.Add(-1)
		case <-p.stop:
			p.idle.Add(-1)
			return
		}
	}
}
