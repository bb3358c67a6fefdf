package logthrottle_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/logthrottle"
)

// fakeClock runs timers when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) logthrottle.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// advance moves the clock on by d and runs the timers due, in the test's
// goroutine.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
			return true
		}
		return t.stopped
	})
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// lines records what is logged.
type lines struct {
	mu  sync.Mutex
	got []line
}

type line struct {
	msg        string
	err        string
	suppressed int64
}

func (h *lines) Enabled(context.Context, slog.Level) bool { return true }
func (h *lines) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *lines) WithGroup(string) slog.Handler            { return h }
func (h *lines) Handle(_ context.Context, r slog.Record) error {
	l := line{msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "error":
			l.err = a.Value.String()
		case "suppressed":
			l.suppressed = a.Value.Int64()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, l)
	return nil
}

func (h *lines) take() []line {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.got
	h.got = nil
	return got
}

func setup() (*logthrottle.Logger, *fakeClock, *lines) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := &lines{}
	return logthrottle.NewWithClock(slog.New(h), 10*time.Second, clock), clock, h
}

func logErr(l *logthrottle.Logger, key, err string) {
	l.Log(context.Background(), slog.LevelWarn, key, key, slog.String("error", err))
}

func TestThrottle(t *testing.T) {
	t.Run("FirstAtOnceRestCountedAtTheEndOfTheInterval", func(t *testing.T) {
		l, clock, h := setup()
		logErr(l, "heartbeat", "e0")
		require.Equal(t, []line{{msg: "heartbeat", err: "e0"}}, h.take())
		for i := range 37 {
			clock.advance(100 * time.Millisecond)
			logErr(l, "heartbeat", "e"+string(rune('a'+i%26)))
		}
		require.Empty(t, h.take(), "held back within the interval")
		clock.advance(10*time.Second - 3700*time.Millisecond - time.Millisecond)
		require.Empty(t, h.take(), "not before the interval ends")
		clock.advance(time.Millisecond)
		require.Equal(t, []line{{msg: "heartbeat (37 more like it suppressed in the last 10s)", err: "e" + string(rune('a'+36%26)), suppressed: 37}}, h.take(),
			"the count, with the last error held back")
	})

	t.Run("OneLinePerIntervalWhileFailuresLast", func(t *testing.T) {
		l, clock, h := setup()
		for range 599 { // a minute, a failure every 100ms
			logErr(l, "claim", "down")
			clock.advance(100 * time.Millisecond)
		}
		logErr(l, "claim", "down")
		// The first at once, then one line every 10s: the first interval
		// held back 99 (0.1s to 9.9s), the next ones 100 each.
		got := h.take()
		require.Len(t, got, 6)
		require.Equal(t, int64(0), got[0].suppressed)
		require.Equal(t, int64(99), got[1].suppressed)
		for _, g := range got[2:] {
			require.Equal(t, int64(100), g.suppressed, "%+v", got)
		}
		clock.advance(10 * time.Second) // the failures stopped: the last count still comes
		got = h.take()
		require.Len(t, got, 1)
		require.Equal(t, int64(100), got[0].suppressed)
		clock.advance(time.Minute)
		require.Empty(t, h.take())
	})

	t.Run("QuietKindLogsAtOnce", func(t *testing.T) {
		l, clock, h := setup()
		logErr(l, "rescue", "1")
		clock.advance(10 * time.Second)
		logErr(l, "rescue", "2")
		clock.advance(time.Hour)
		logErr(l, "rescue", "3")
		require.Equal(t, []line{{msg: "rescue", err: "1"}, {msg: "rescue", err: "2"}, {msg: "rescue", err: "3"}}, h.take())
	})

	t.Run("KindsApart", func(t *testing.T) {
		l, _, h := setup()
		for range 5 {
			logErr(l, "heartbeat", "x")
			logErr(l, "claim", "x")
		}
		require.Equal(t, []line{{msg: "heartbeat", err: "x"}, {msg: "claim", err: "x"}}, h.take())
	})

	t.Run("StopLogsTheCountsAtOnce", func(t *testing.T) {
		l, clock, h := setup()
		logErr(l, "finish", "1")
		logErr(l, "finish", "2")
		logErr(l, "finish", "3")
		logErr(l, "claim", "1")
		h.take()
		l.Stop()
		require.Equal(t, []line{{msg: "finish (2 more like it suppressed in the last 10s)", err: "3", suppressed: 2}}, h.take())
		clock.advance(time.Minute)
		require.Empty(t, h.take(), "the timer was stopped")
		logErr(l, "finish", "4")
		logErr(l, "finish", "5")
		require.Len(t, h.take(), 2, "after Stop, lines are logged as they come")
	})
}
