// Package logthrottle keeps a recurring log line from flooding the log: the
// errors of a store that does not answer, met by every call and every retry
// of every background task, are said once per interval for each kind of
// failure, with a count of the lines held back.
//
// The first line of a kind is logged at once. Those of the same kind within
// the next interval are counted, not logged; at the end of the interval, if
// any were held back, the last of them is logged with the count ("… (37
// more like it suppressed in the last 10s)", and a suppressed attribute),
// and a new interval begins. While failures last, a kind logs one line per
// interval; once they stop, the count of the last interval still reaches
// the log, within an interval. A kind that has been quiet for an interval
// logs its next line at once.
package logthrottle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Logger logs lines by kind, at most one per kind per interval.
type Logger struct {
	logger *slog.Logger
	every  time.Duration
	clock  Clock

	mu      sync.Mutex
	kinds   map[string]*kind
	stopped bool
}

// kind is the state of one kind of line while it is throttled.
type kind struct {
	end        time.Time // the end of the current interval
	suppressed int
	timer      Timer // set while lines are held back
	// The last line held back, logged with the count.
	ctx   context.Context
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// Clock is the time source of a Logger: the real one by default, a fake
// one in tests.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer of a Clock.
type Timer interface {
	// Stop prevents the call, and reports whether it did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// New returns a Logger that writes to logger, one line per kind per every.
func New(logger *slog.Logger, every time.Duration) *Logger {
	return NewWithClock(logger, every, realClock{})
}

// NewWithClock is New with a clock of the caller's (tests).
func NewWithClock(logger *slog.Logger, every time.Duration, clock Clock) *Logger {
	if every <= 0 {
		panic("logthrottle: the interval must be positive")
	}
	return &Logger{logger: logger, every: every, clock: clock, kinds: map[string]*kind{}}
}

// Log logs msg with attrs at level, unless a line of the same key was logged
// less than an interval ago: then it is held back and counted. The key names
// the kind of failure (such as "heartbeat"); lines of other keys are
// throttled apart.
func (l *Logger) Log(ctx context.Context, level slog.Level, key, msg string, attrs ...slog.Attr) {
	if !l.logger.Enabled(ctx, level) {
		return
	}
	now := l.clock.Now()
	l.mu.Lock()
	k := l.kinds[key]
	if l.stopped || k == nil || (k.suppressed == 0 && !now.Before(k.end)) {
		if !l.stopped {
			if k == nil {
				k = &kind{}
				l.kinds[key] = k
			}
			k.end = now.Add(l.every)
		}
		l.mu.Unlock()
		l.logger.LogAttrs(ctx, level, msg, attrs...)
		return
	}
	k.suppressed++
	k.ctx, k.level, k.msg, k.attrs = context.WithoutCancel(ctx), level, msg, attrs
	if k.timer == nil {
		k.timer = l.clock.AfterFunc(max(k.end.Sub(now), 0), func() { l.flush(key, k) })
	}
	l.mu.Unlock()
}

// flush logs the count of the lines of a kind held back in its interval,
// and starts the next interval.
func (l *Logger) flush(key string, k *kind) {
	l.mu.Lock()
	if l.kinds[key] != k || k.timer == nil {
		l.mu.Unlock()
		return // Stop flushed it
	}
	line := l.take(k)
	k.end = l.clock.Now().Add(l.every)
	l.mu.Unlock()
	line()
}

// take returns the call that logs k's held-back lines, and resets them.
// l.mu is held.
func (l *Logger) take(k *kind) func() {
	ctx, level, n := k.ctx, k.level, k.suppressed
	msg := fmt.Sprintf("%s (%d more like it suppressed in the last %v)", k.msg, n, l.every)
	attrs := append(k.attrs[:len(k.attrs):len(k.attrs)], slog.Int("suppressed", n))
	k.suppressed, k.timer, k.ctx, k.msg, k.attrs = 0, nil, nil, "", nil
	return func() { l.logger.LogAttrs(ctx, level, msg, attrs...) }
}

// Stop logs the counts of the lines held back so far, at once, and stops
// throttling: later lines are logged as they come. Call it when the
// component that logs stops, so that no count is lost and nothing is
// logged after it.
func (l *Logger) Stop() {
	l.mu.Lock()
	l.stopped = true
	var lines []func()
	for _, k := range l.kinds {
		if k.timer != nil {
			k.timer.Stop()
			lines = append(lines, l.take(k))
		}
	}
	l.mu.Unlock()
	for _, line := range lines {
		line()
	}
}
