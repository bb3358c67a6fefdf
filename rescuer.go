package lro

import (
	"context"
	"log/slog"
	"time"

	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/startstop"
	"lro.dev/lro/internal/testsignal"
	"lro.dev/lro/lrostore"
)

// How a dead worker's operation comes back: the rescuer looks, each
// RescueInterval, for running operations whose lease expired (their worker
// stopped, or lost the store, without releasing them). Each runs again, or
// fails with ABORTED once its attempts are used up, or ends cancelled if
// that was requested.
//
// The rescuer runs on every node, as the retainer does, rather than on an
// elected leader. Its statement is idempotent and fenced: it changes only
// operations that are running with an expired lease, and leaves each
// pending or done, so a second rescue finds nothing left to do with them
// (one on another node at the same moment skips the rows that the first
// holds, or waits for the store's single writer); and every write of a
// worker names its lease token and needs the operation running, so a
// worker that comes back after its operation was rescued finds its lease
// gone (the next claim gives the operation a new token). Running it on
// each node is therefore safe and needs no election, nor the delay of a
// leader's failover; what it costs is one cheap statement per node per
// RescueInterval.

// rescueBatch caps how many expired leases one rescue handles.
const rescueBatch = 1000

// rescuer brings back the operations of lost workers.
type rescuer struct {
	startstop.Service

	store   lrostore.Store
	config  *Config
	logger  *slog.Logger
	logs    *logthrottle.Logger
	waiters *waitSet
	wake    func() // operations run again: the producer may claim them

	kick      chan struct{}              // buffered (1): run the loop now
	cancelJob func(id string, err error) // stops a handler running an operation here

	metrics *metrics           // nil unless Config.Metrics is set
	kinds   func(string) *kind // the kinds, for their metrics

	passed testsignal.Signal[struct{}] // each pass of the loop, to tests
}

// Start starts the rescue loop.
func (r *rescuer) Start(ctx context.Context) error {
	return r.Service.Start(ctx, r.rescueLoop)
}

// rescueLoop recovers the operations of workers that were lost: after the
// lease expired, an operation runs again, or fails once its attempts are
// used up, or ends cancelled if that was requested. It also ends the
// operations whose deadline passed (Kind.Timeout). It runs each
// RescueInterval, and at once when kicked (an alarm for a deadline that
// this node set).
func (r *rescuer) rescueLoop(ctx context.Context) {
	everyOrKicked(ctx, 0, r.kick, func() time.Duration {
		more := r.expire(ctx)
		more = r.rescue(ctx) || more
		r.passed.Signal(struct{}{})
		if more {
			return 0 // more to do
		}
		return r.config.RescueInterval
	})
}

// kickNow makes the loop run at once.
func (r *rescuer) kickNow() {
	select {
	case r.kick <- struct{}{}:
	default: // a kick is pending already
	}
}

// rescue runs one rescue, and reports whether more may be left.
func (r *rescuer) rescue(ctx context.Context) bool {
	res, err := r.store.OperationRescue(ctx, &lrostore.OperationRescueParams{
		ExhaustedError: exhaustedFailure, CancelledError: cancelledFailure, Max: rescueBatch,
	})
	if err != nil {
		if ctx.Err() == nil {
			warnStore(ctx, r.logs, "rescue operations", err)
		}
		return false
	}
	if len(res.Retried) > 0 {
		r.logger.InfoContext(ctx, "operations of lost workers run again", slog.Int("count", len(res.Retried)))
		r.wake()
	}
	if r.metrics != nil { // before the waiters wake, who may read the metrics
		r.metrics.rescued.Add(float64(len(res.Retried)))
		r.measureEnded(ctx, res.Ended, outcomeAttemptsExhausted)
	}
	for _, id := range res.Ended {
		r.waiters.notify(id)
	}
	return len(res.Retried)+len(res.Ended) == rescueBatch
}

// expire ends the operations whose deadline passed, and reports whether
// more may be left.
func (r *rescuer) expire(ctx context.Context) bool {
	ended, err := r.store.OperationExpire(ctx, &lrostore.OperationExpireParams{Error: timeoutFailure, Max: rescueBatch})
	if err != nil {
		if ctx.Err() == nil {
			warnStore(ctx, r.logs, "end operations past their deadline", err)
		}
		return false
	}
	if len(ended) > 0 {
		r.logger.InfoContext(ctx, "operations past their deadline ended", slog.Int("count", len(ended)))
	}
	if r.metrics != nil { // before the waiters wake, who may read the metrics
		r.measureEnded(ctx, ended, outcomeDeadlineExceeded)
	}
	for _, id := range ended {
		r.waiters.notify(id)
		r.cancelJob(id, ErrTimeout)
	}
	return len(ended) == rescueBatch
}

// measureEnded counts the operations that a rescue or an expiry ended.
// The store's answer gives their IDs only: each is read for its kind and
// error, which costs a read per operation that a lost worker or a
// deadline ended, and nothing without metrics. A rescue ends an operation
// cancelled when that was requested, else with its attempts exhausted.
func (r *rescuer) measureEnded(ctx context.Context, ids []string, outcome string) {
	for _, id := range ids {
		op, err := r.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: id})
		if err != nil {
			continue // deleted meanwhile, or the store fails: not counted
		}
		k := r.kinds(op.Kind)
		if k == nil {
			continue
		}
		o := outcome
		if op.State == lrostore.StateCancelled {
			o = outcomeCancelled
		}
		k.metrics.ended(op.State, op.Error, o, op.CreateTime, op.EndTime)
	}
}
