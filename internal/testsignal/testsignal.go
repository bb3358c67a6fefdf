// Package testsignal lets a test wait for a moment inside a running
// component (a claim taken into account, a LISTEN issued) without a hook of
// its own in each component.
//
// A component holds a Signal for each such moment and calls Signal there. A
// Signal does nothing until a test calls Init, so production code pays one
// nil check. A test calls Init before starting the component, then Wait (or
// receives from C) where it needs the moment to have happened.
package testsignal

import "time"

// Capacity is how many signals a Signal keeps unread; more are dropped, so a
// component never blocks on a test that stopped reading.
const Capacity = 1000

// WaitTimeout is how long Wait waits before it fails the test.
const WaitTimeout = 10 * time.Second

// Signal is one moment of a component that a test may wait for, carrying a
// value of type T (struct{} when there is nothing to say). The zero value
// is off.
type Signal[T any] struct {
	ch chan T
}

// Init turns s on. It must be called before the component that signals
// starts, not concurrently with Signal.
func (s *Signal[T]) Init() { s.ch = make(chan T, Capacity) }

// Signal records v if s is on. It never blocks.
func (s *Signal[T]) Signal(v T) {
	if s.ch == nil {
		return
	}
	select {
	case s.ch <- v:
	default:
	}
}

// C returns the channel of recorded values, for a select that also awaits
// something else. It is nil if s is off.
func (s *Signal[T]) C() <-chan T { return s.ch }

// TB is the part of testing.TB that Wait uses (this package does not import
// testing, so that components may hold signals).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Wait returns the next recorded value, failing t if none comes within
// WaitTimeout or if s is off.
func (s *Signal[T]) Wait(t TB) T {
	t.Helper()
	if s.ch == nil {
		t.Fatalf("testsignal: Wait on a signal that was not initialised")
		var zero T
		return zero
	}
	select {
	case v := <-s.ch:
		return v
	case <-time.After(WaitTimeout):
		t.Fatalf("testsignal: no signal within %v", WaitTimeout)
	}
	var zero T
	return zero
}
