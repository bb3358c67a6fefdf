package lro

import (
	"container/heap"
	"sync"
	"time"
)

// alarmMax caps the times an alarm keeps: beyond it, a later time is
// dropped, and its operation is claimed at a poll (Config.PollInterval)
// after it becomes due, as on the nodes that did not start it.
const alarmMax = 10000

// alarm calls ring when each time it was given comes, so that the node
// that started a delayed operation claims it on time rather than at its
// next poll. One timer serves all the times, set for the earliest. Its
// times are hints: the store decides what is due.
type alarm struct {
	ring func()

	mu      sync.Mutex
	due     timeHeap
	timer   *time.Timer
	stopped bool
}

// set makes the alarm ring at t.
func (a *alarm) set(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || len(a.due) >= alarmMax {
		return
	}
	heap.Push(&a.due, t)
	if a.due[0].Equal(t) {
		a.arm()
	}
}

// arm sets the timer for the earliest time; a.mu is held.
func (a *alarm) arm() {
	d := time.Until(a.due[0])
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.fire)
		return
	}
	a.timer.Reset(d)
}

func (a *alarm) fire() {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	now := time.Now()
	rang := false
	for len(a.due) > 0 && !a.due[0].After(now) {
		heap.Pop(&a.due)
		rang = true
	}
	if len(a.due) > 0 {
		a.arm()
	}
	a.mu.Unlock()
	if rang {
		a.ring()
	}
}

// stop stops the timer for good: the alarm rings no more.
func (a *alarm) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	a.due = nil
	if a.timer != nil {
		a.timer.Stop()
	}
}

// timeHeap is a min-heap of times (container/heap).
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
