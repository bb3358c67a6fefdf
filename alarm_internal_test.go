package lro

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAlarmCallsAtEachTime(t *testing.T) {
	t.Parallel()
	calls := make(chan time.Time, 10)
	a := newAlarm(func() { calls <- time.Now() })
	defer a.stop()
	start := time.Now()
	for _, d := range []time.Duration{60 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		a.at(start.Add(d))
	}
	for _, d := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond} {
		select {
		case at := <-calls:
			require.GreaterOrEqual(t, at.Sub(start), d-time.Millisecond, "not before its time")
		case <-time.After(10 * time.Second):
			t.Fatalf("no call for the time %v after the start", d)
		}
	}
	a.at(start.Add(-time.Hour)) // passed: at once
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no call for a time that passed")
	}
}

func TestAlarmStop(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 10)
	a := newAlarm(func() { calls <- struct{}{} })
	a.at(time.Now().Add(20 * time.Millisecond))
	a.stop()
	a.at(time.Now())
	time.Sleep(100 * time.Millisecond) // a call would come within this; none may
	require.Empty(t, calls)
}
