package lro

import "sync"

// A waiter (WaitOperation) wakes as soon as its operation ends, without
// polling: it subscribes to the operation's ID before reading it, and
// whatever ends the operation on this client (a result written, a
// cancellation, a rescue) or tells of its end from another node (the store
// listener) notifies the ID. A wake-up only asks the waiter to read the
// operation again; notifyAll wakes every waiter when events may have been
// missed, or when the client stops.

// waitSet wakes the waiters of an operation when it ends.
type waitSet struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch chan struct{}
	n  int
}

// subscribe returns a channel closed when id is notified; call release when
// done waiting.
func (w *waitSet) subscribe(id string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*waitEntry{}
	}
	e := w.m[id]
	if e == nil {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[id] = e
	}
	e.n++
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		e.n--
		if e.n == 0 && w.m[id] == e {
			delete(w.m, id)
		}
	}
}

func (w *waitSet) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.m[id]; e != nil {
		close(e.ch)
		delete(w.m, id)
	}
}

func (w *waitSet) notifyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, e := range w.m {
		close(e.ch)
		delete(w.m, id)
	}
}
