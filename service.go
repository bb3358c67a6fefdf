package lro

import (
	"context"
	"log/slog"
	"time"

	"lro.dev/lro/internal/logthrottle"
)

// What the client's services share: their loops' timing, and the
// throttled log of the store's failures.

// storeWarnEvery is how often one kind of store failure is logged while it
// lasts: a store that does not answer is said once per interval, with a
// count of the lines held back, not at every call and every retry.
const storeWarnEvery = 10 * time.Second

// warnStore logs an error of the store met by a background task, throttled
// for each task (see storeWarnEvery).
func warnStore(ctx context.Context, logs *logthrottle.Logger, what string, err error) {
	logs.Log(ctx, slog.LevelWarn, what, what, slog.Any("error", err))
}

// every calls step after first, then again after each delay that step
// returns, until ctx ends.
func every(ctx context.Context, first time.Duration, step func() time.Duration) {
	everyOrKicked(ctx, first, nil, step)
}

// everyOrKicked is every, which also calls step at once when kick
// receives.
func everyOrKicked(ctx context.Context, first time.Duration, kick <-chan struct{}, step func() time.Duration) {
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-kick:
		}
		timer.Reset(step()) // discards a firing that the kick overtook (Go 1.23 timers)
	}
}
