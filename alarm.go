package lro

import (
	"container/heap"
	"sync"
	"time"
)

// alarmTimesMax caps the times an alarm keeps: past it, the later times are
// dropped, and what they would have woken waits for the next poll instead.
const alarmTimesMax = 10000

// An alarm calls a function at each of the times it is given (times within
// a millisecond of each other at once): the moments when operations that
// wait, a retry's next attempt or a deadline, become due on this node.
// Other nodes find them by polling.
type alarm struct {
	fn func()

	mu      sync.Mutex
	times   timeHeap
	timer   *time.Timer
	next    time.Time // what timer is set for; zero when unset
	stopped bool
}

func newAlarm(fn func()) *alarm { return &alarm{fn: fn} }

// at asks for a call at t (at once if t has passed).
func (a *alarm) at(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || len(a.times) >= alarmTimesMax {
		return
	}
	heap.Push(&a.times, t)
	a.scheduleLocked()
}

// scheduleLocked sets the timer for the earliest time.
func (a *alarm) scheduleLocked() {
	if len(a.times) == 0 {
		return
	}
	first := a.times[0]
	if !a.next.IsZero() && !first.Before(a.next) {
		return // the timer fires first
	}
	a.next = first
	d := time.Until(first)
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.fire)
	} else {
		a.timer.Reset(d)
	}
}

// fire calls fn for the times that are due, and sets the timer for the
// next.
func (a *alarm) fire() {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	due := time.Now().Add(time.Millisecond)
	for len(a.times) > 0 && !a.times[0].After(due) {
		heap.Pop(&a.times)
	}
	a.next = time.Time{}
	a.scheduleLocked()
	a.mu.Unlock()
	a.fn()
}

// stop cancels the calls to come; a call under way may still finish.
func (a *alarm) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	a.times = nil
	if a.timer != nil {
		a.timer.Stop()
	}
}

// timeHeap is a min-heap of times.
type timeHeap []time.Time

func (h *timeHeap) Len() int           { return len(*h) }
func (h *timeHeap) Less(i, j int) bool { return (*h)[i].Before((*h)[j]) }
func (h *timeHeap) Swap(i, j int)      { (*h)[i], (*h)[j] = (*h)[j], (*h)[i] }
func (h *timeHeap) Push(x any)         { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
