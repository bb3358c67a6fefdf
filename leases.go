package lro

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/startstop"
	"lro.dev/lro/lrostore"
)

// How an operation's lease is kept: while its handler runs and its result
// is written, an operation is held under a lease that expires LeaseTTL
// after the last heartbeat. The lease keeper renews the leases of every job
// running on this client in one statement each HeartbeatInterval. A lease
// that the store no longer holds, or that could not be renewed before it
// ran out, cancels its handler with ErrLeaseLost: another worker may run
// the operation by then. The answer to a heartbeat also says which
// operations were asked to cancel, so a cancellation that no event carried
// reaches its handler within a heartbeat.
//
// The metadata that handlers set is written under the same leases, by the
// same service: the jobs with new metadata (the dirty set) are written
// together, in one statement, each MetadataInterval, and a write that finds
// its lease gone loses the job's lease as a heartbeat would.

// leaseKeeper renews the leases of the jobs running on this client, and
// writes the metadata that their handlers set.
type leaseKeeper struct {
	startstop.Service

	store  workStore
	config *Config
	logs   *logthrottle.Logger
	jobs   *handlerExecutor // holds the jobs whose leases are kept

	mu    sync.Mutex
	dirty map[*job]struct{} // jobs with metadata to write
}

func newLeaseKeeper(store workStore, config *Config, logs *logthrottle.Logger, jobs *handlerExecutor) *leaseKeeper {
	return &leaseKeeper{store: store, config: config, logs: logs, jobs: jobs, dirty: map[*job]struct{}{}}
}

// Start starts the heartbeats and the metadata writes.
func (k *leaseKeeper) Start(ctx context.Context) error {
	return k.Service.Start(ctx, k.heartbeatLoop, k.metadataLoop)
}

// heartbeatLoop renews all of this client's leases in one statement every
// HeartbeatInterval, retrying sooner after an error. A lease that is gone
// (or that could not be renewed before it expired) cancels its handler with
// ErrLeaseLost; a cancellation requested elsewhere cancels it with
// ErrCancelRequested.
func (k *leaseKeeper) heartbeatLoop(ctx context.Context) {
	every(ctx, k.config.HeartbeatInterval, func() time.Duration {
		if err := k.heartbeat(ctx); err != nil && ctx.Err() == nil {
			warnStore(ctx, k.logs, "heartbeat", err)
			return min(k.config.HeartbeatInterval, time.Second)
		}
		return k.config.HeartbeatInterval
	})
}

func (k *leaseKeeper) heartbeat(ctx context.Context) error {
	leases := k.jobs.heldLeases()
	if len(leases) == 0 {
		return nil
	}
	sent := time.Now()
	held, err := k.store.OperationHeartbeat(ctx, &lrostore.OperationHeartbeatParams{Leases: leases, LeaseTTL: k.config.LeaseTTL})
	if err != nil {
		// Handlers whose lease has run out stop: another worker may take over.
		for _, j := range k.jobs.expiredJobs(time.Now()) {
			j.loseLease()
		}
		return err
	}
	cancelRequested := make(map[string]bool, len(held))
	for _, h := range held {
		cancelRequested[h.ID] = h.CancelRequested
	}
	lost, cancelled := k.jobs.renewed(leases, cancelRequested, sent)
	for _, j := range lost {
		j.loseLease()
	}
	for _, j := range cancelled {
		j.cancel(ErrCancelRequested)
	}
	return nil
}

// markDirty records that j has metadata to write.
func (k *leaseKeeper) markDirty(j *job) {
	k.mu.Lock()
	k.dirty[j] = struct{}{}
	k.mu.Unlock()
}

// metadataLoop writes the metadata that handlers set, for all operations in
// one statement, every MetadataInterval.
func (k *leaseKeeper) metadataLoop(ctx context.Context) {
	every(ctx, k.config.MetadataInterval, func() time.Duration {
		if err := k.flushMetadata(ctx); err != nil && ctx.Err() == nil {
			warnStore(ctx, k.logs, "write metadata", err)
		}
		return k.config.MetadataInterval
	})
}

func (k *leaseKeeper) flushMetadata(ctx context.Context) error {
	k.mu.Lock()
	if len(k.dirty) == 0 {
		k.mu.Unlock()
		return nil
	}
	dirty := k.dirty
	k.dirty = map[*job]struct{}{}
	k.mu.Unlock()
	jobs := make([]*job, 0, len(dirty))
	updates := make([]*lrostore.OperationSetMetadataParams, 0, len(dirty))
	for j := range dirty {
		if j.ended.Load() {
			continue
		}
		j.mu.Lock()
		if j.metaDirty && !j.finishing && !j.lost {
			j.metaDirty = false
			jobs = append(jobs, j)
			updates = append(updates, &lrostore.OperationSetMetadataParams{Lease: j.lease, Metadata: j.meta, MetadataType: j.metaType,
				MetadataJSON: j.e.metadataJSON(j)})
		}
		j.mu.Unlock()
	}
	if len(updates) == 0 {
		return nil
	}
	written, err := k.store.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{Updates: updates})
	if lrostore.IsPermanent(err) {
		written, err = k.setMetadataEach(ctx, jobs, updates)
	}
	if err != nil {
		// Write them with the next flush.
		k.mu.Lock()
		for _, j := range jobs {
			j.mu.Lock()
			j.metaDirty = true
			j.mu.Unlock()
			k.dirty[j] = struct{}{}
		}
		k.mu.Unlock()
		return err
	}
	for i, ok := range written {
		if !ok {
			jobs[i].loseLease()
		}
	}
	return nil
}

// setMetadataEach writes metadata updates one by one, after the store
// refused them together for good. An update refused alone for good is
// dropped (reported as written, so that its job goes on), and logged.
func (k *leaseKeeper) setMetadataEach(ctx context.Context, jobs []*job, updates []*lrostore.OperationSetMetadataParams) ([]bool, error) {
	written := make([]bool, len(updates))
	for i, u := range updates {
		ok, err := k.store.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{
			Updates: []*lrostore.OperationSetMetadataParams{u}})
		switch {
		case err == nil:
			written[i] = ok[0]
		case lrostore.IsPermanent(err):
			written[i] = true
			jobs[i].logThrottled(slog.LevelError, "metadata not stored", "the store refused the metadata; it is dropped", slog.Any("error", err))
		default:
			return nil, err
		}
	}
	return written, nil
}
