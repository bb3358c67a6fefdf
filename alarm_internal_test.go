package lro

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The alarm rings at each time it was given, the earliest first, whatever
// the order they came in, and not at all once stopped.
func TestAlarm(t *testing.T) {
	t.Parallel()
	rang := make(chan time.Time, 10)
	a := &alarm{ring: func() { rang <- time.Now() }}
	now := time.Now()
	a.set(now.Add(150 * time.Millisecond))
	a.set(now.Add(50 * time.Millisecond))
	a.set(now.Add(50 * time.Millisecond)) // the same time again rings once with it
	for _, want := range []time.Duration{50 * time.Millisecond, 150 * time.Millisecond} {
		select {
		case at := <-rang:
			require.False(t, at.Before(now.Add(want)), "rang %v early", now.Add(want).Sub(at))
		case <-time.After(10 * time.Second):
			t.Fatalf("no ring for %v", want)
		}
	}
	a.set(now.Add(-time.Second)) // already past: rings at once
	select {
	case <-rang:
	case <-time.After(10 * time.Second):
		t.Fatal("no ring for a time past")
	}

	a.set(time.Now().Add(20 * time.Millisecond))
	a.stop()
	a.set(time.Now())
	time.Sleep(100 * time.Millisecond) // what would be the ring's time, to show none comes
	require.Empty(t, rang, "stopped")
}
