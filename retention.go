package lro

import (
	"context"
	"log/slog"
	"time"

	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/startstop"
	"lro.dev/lro/lrostore"
)

// Retention: done operations are deleted Config.Retention after they
// ended. Like the rescuer, the retainer runs on every node: its delete is
// idempotent (a row that another node deleted first is simply not found),
// so it needs no election.

// retentionBatch caps how many operations one retention pass deletes per
// statement.
const retentionBatch = 1000

// retainer deletes done operations older than Config.Retention.
type retainer struct {
	startstop.Service

	store  lrostore.Store
	config *Config
	logger *slog.Logger
	logs   *logthrottle.Logger
}

// Start starts the retention loop.
func (r *retainer) Start(ctx context.Context) error {
	return r.Service.Start(ctx, r.retentionLoop)
}

// retentionLoop deletes done operations older than Config.Retention.
func (r *retainer) retentionLoop(ctx context.Context) {
	interval := min(r.config.Retention/10, time.Hour)
	every(ctx, 0, func() time.Duration {
		n, err := r.store.OperationDeleteDoneBefore(ctx, &lrostore.OperationDeleteDoneBeforeParams{
			Before: time.Now().Add(-r.config.Retention), Max: retentionBatch,
		})
		switch {
		case err != nil:
			if ctx.Err() == nil {
				warnStore(ctx, r.logs, "delete expired operations", err)
			}
		case n > 0:
			r.logger.InfoContext(ctx, "deleted expired operations", slog.Int("count", n))
			if n == retentionBatch {
				return 0 // more to do
			}
		}
		return interval
	})
}
