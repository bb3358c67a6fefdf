// Package gopool runs functions on goroutines kept from earlier runs.
//
// A new goroutine's stack starts small and is copied each time it
// doubles; a goroutine kept from an earlier run has grown it already. For
// work whose runs are short and deep (decode a request, call a handler,
// encode its response), the copies (runtime.copystack) are a measurable
// share of the CPU. gRPC's NumStreamWorkers does the same for calls.
//
// The runtime still shrinks an idle goroutine's stack at garbage collection
// when it uses little of it, so a kept goroutine does not hold on to a
// stack that one deep run grew. A function that leaves its goroutine locked
// to its thread (runtime.LockOSThread without the unlock) leaves the next
// functions on that thread, as it would with gRPC's stream workers.
package gopool

import (
	"slices"
	"sync"
)

// Pool runs functions, each on a goroutine of its own at a time: the
// goroutine that went idle last, if one is idle, else a new one. After its
// function returns, a goroutine waits for the next one while fewer than max
// goroutines wait, and exits otherwise, or once stop is closed. The zero
// Pool is not usable; use New.
type Pool struct {
	stop <-chan struct{}
	max  int

	mu   sync.Mutex
	idle []chan func() // of the idle goroutines, the last to go idle last

	// Test hooks: called as Go starts a goroutine, and by a goroutine once
	// it is idle, when it sees stop closed while idle, and as it exits.
	spawned, waiting, stopping, exited func()
}

// New returns a Pool that keeps up to max idle goroutines, until stop is
// closed.
func New(max int, stop <-chan struct{}) *Pool {
	return &Pool{stop: stop, max: max, spawned: func() {}, waiting: func() {}, stopping: func() {}, exited: func() {}}
}

// Observe sets functions that each goroutine calls once its function has
// returned: idle as it goes idle, exited as it exits. It is for the tests of
// the pool's users, and must be called before the first Go.
func (p *Pool) Observe(idle, exited func()) { p.waiting, p.exited = idle, exited }

// Go runs f on an idle goroutine, or a new one, and does not wait for it.
func (p *Pool) Go(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		next := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		next <- f // buffered: the goroutine takes it when it gets to it
		return
	}
	p.mu.Unlock()
	p.spawned()
	go p.loop(f)
}

func (p *Pool) loop(f func()) {
	defer p.exited()
	next := make(chan func(), 1)
	for {
		f()
		select {
		case <-p.stop:
			return
		default:
		}
		p.mu.Lock()
		if len(p.idle) >= p.max {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, next)
		p.mu.Unlock()
		p.waiting()
		select {
		case f = <-next:
		case <-p.stop:
			p.stopping()
			if p.leave(next) {
				return
			}
			f = <-next // Go took it from the idle ones, and gives it a function
		}
	}
}

// leave takes the channel of an idle goroutine out of the idle ones, and
// reports false if Go had taken it already.
func (p *Pool) leave(next chan func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.idle, next)
	if i < 0 {
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	return true
}
