package lro

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"lro.dev/lro/lrostore"
)

// job is one attempt at running an operation on this client: what the
// handler executor, the lease keeper and the handler's Job share.
type job struct {
	e      *handlerExecutor
	kind   *kind
	op     *lrostore.Operation
	name   string
	lease  lrostore.Lease
	ctx    context.Context
	cancel context.CancelCauseFunc
	span   trace.Span // the attempt's; nil while tracing is off or the attempt is not sampled

	leaseExpire time.Time   // guarded by e.mu
	toRelease   bool        // guarded by e.mu: Stop releases the lease
	slotFreed   bool        // the job's own goroutine only; see freeSlot
	ended       atomic.Bool // the job is over: its metadata is no longer written
	started     time.Time   // when the handler was called; set only with metrics

	mu        sync.Mutex
	meta      []byte
	metaType  string
	metaDirty bool
	finishing bool // the handler returned: the result carries the metadata
	lost      bool

	metaTooLarge bool // metadata over the limit was refused (and logged)
}

func (j *job) setMetadata(b []byte, typeURL string) error {
	if err := j.checkMetadata(len(b)); err != nil {
		return err
	}
	j.mu.Lock()
	switch {
	case j.lost:
		j.mu.Unlock()
		return ErrLeaseLost
	case j.finishing:
		j.mu.Unlock()
		return nil
	}
	j.meta, j.metaType, j.metaDirty = b, typeURL, true
	j.mu.Unlock()
	j.e.leases.markDirty(j)
	return nil
}

// logger returns the client's logger with the job's operation, kind and
// attempt (built when a job has something to log, not for every job).
func (j *job) logger() *slog.Logger {
	return j.e.logger.With(slog.String("operation", j.name), slog.String("kind", j.op.Kind), slog.Int("attempt", int(j.op.Attempt)))
}

// logThrottled logs a line about the job that many jobs may log at once
// (when the store fails), throttled by key: see Client.logs.
func (j *job) logThrottled(level slog.Level, key, msg string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.String("operation", j.name), slog.String("kind", j.op.Kind), slog.Int("attempt", int(j.op.Attempt))}, attrs...)
	j.e.logs.Log(context.Background(), level, key, msg, attrs...)
}

// loseLease cancels the job because its lease is gone, unless it already
// returned.
func (j *job) loseLease() {
	j.mu.Lock()
	finishing := j.finishing
	if !finishing {
		j.lost = true
	}
	j.mu.Unlock()
	if !finishing {
		j.logThrottled(slog.LevelWarn, "lease lost", "lease lost; cancelling the handler")
		j.cancel(ErrLeaseLost)
	}
}
