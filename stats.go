package lro

import (
	"context"
	"errors"
	"time"

	"lro.dev/lro/lrostore"
)

// CountOperations counts the operations of each kind in each state: kind,
// then state name ("pending", "running", "succeeded", "failed",
// "cancelled"), then count; a kind or a state with none is absent. The
// store groups the whole table to answer: it is for dashboards, which ask
// now and then, not for metrics (see Config.Metrics for those).
func (c *Client) CountOperations(ctx context.Context) (map[string]map[string]int64, error) {
	if c.remote != nil {
		return nil, remoteUnimplemented("CountOperations", "the API does not count operations")
	}
	counts, err := c.store.OperationCountByState(ctx)
	if err != nil {
		return nil, c.storeError("count operations", err)
	}
	out := make(map[string]map[string]int64, len(counts))
	for kind, byState := range counts {
		out[kind] = byStateName(byState)
	}
	return out, nil
}

// byStateName is counts by state keyed by the states' names.
func byStateName(counts map[lrostore.State]int64) map[string]int64 {
	out := make(map[string]int64, len(counts))
	for state, n := range counts {
		out[state.String()] = n
	}
	return out
}

// KindStats are the statistics of one kind over a window of time, for
// dashboards.
type KindStats struct {
	Kind string
	// Since and Until bound the window: Until is the end of the bucket
	// that holds the time of the call, and Since the window's length
	// (rounded up to whole buckets) before it.
	Since, Until time.Time
	// Bucket is the length of each bucket.
	Bucket time.Duration
	// Counts are the kind's operations in each state now, of all time, by
	// state name; a state with none is absent.
	Counts map[string]int64
	// Buckets are the window's buckets in order, empty ones included.
	Buckets []KindStatsBucket
	// PastDeadline are operations not done whose deadline has passed, the
	// earliest first (at most 100): the next expiry ends them.
	PastDeadline []*OperationSummary
	// LeaseExpiring are running operations with less than a third of
	// their kind's lease TTL left, the soonest first (at most 100). A
	// worker that lives renews its leases every third of the TTL (by
	// default): such a lease missed a renewal. One already expired is a
	// worker lost, whose operation the next rescue takes back.
	LeaseExpiring []*OperationSummary
}

// KindStatsBucket is one bucket of KindStats.
type KindStatsBucket struct {
	// Start is when the bucket starts; it lasts KindStats.Bucket.
	Start time.Time
	// Succeeded, Failed and Cancelled count the operations that ended in
	// the bucket.
	Succeeded, Failed, Cancelled int64
	// Claims counts the attempts that workers started in the bucket, and
	// QueueWaitSum and QueueWaitMax are the sum and the longest of the
	// times these operations waited, due, for a worker.
	Claims                     int64
	QueueWaitSum, QueueWaitMax time.Duration
}

// OperationSummary is what KindStats shows of an operation.
type OperationSummary struct {
	Name  string
	State string // "pending", "running", ...
	// Deadline is when the operation ends with DEADLINE_EXCEEDED; zero
	// when none.
	Deadline time.Time
	// LeaseExpireTime and LeaseOwner are the lease of a running operation
	// (LeaseOwner only in KindStats.LeaseExpiring).
	LeaseExpireTime time.Time
	LeaseOwner      string
	// Attempt is how many attempts have started.
	Attempt int
}

// kindStatsLimit is the most operations of each list of KindStats.
const kindStatsLimit = 100

// KindStats returns the statistics of a kind over the window that ends
// with the bucket that holds the time of the call, in buckets of bucket.
// The window may hold at most 1440 buckets; a kind, a window or a bucket
// out of bounds is INVALID_ARGUMENT. The store aggregates them, reading
// the attempt records of operations not done or done in the window.
func (c *Client) KindStats(ctx context.Context, kind string, window, bucket time.Duration) (*KindStats, error) {
	if c.remote != nil {
		return nil, remoteUnimplemented("KindStats", "the API does not give statistics")
	}
	switch {
	case kind == "":
		return nil, invalidArgument("kind", "INVALID_KIND", "kind is required")
	case bucket <= 0:
		return nil, invalidArgument("bucket", "INVALID_BUCKET", "the bucket must be positive")
	case window <= 0:
		return nil, invalidArgument("window", "INVALID_WINDOW", "the window must be positive")
	}
	buckets := int64((window + bucket - 1) / bucket)
	if buckets > lrostore.MaxKindStatsBuckets {
		return nil, invalidArgument("window", "INVALID_WINDOW", "the window holds more than %d buckets", lrostore.MaxKindStatsBuckets)
	}
	now := time.Now().UTC()
	until := now.Truncate(bucket).Add(bucket)
	since := until.Add(-time.Duration(buckets) * bucket)
	// A healthy lease has at least two thirds of its TTL left; the kind's
	// TTL where this client knows the kind, else the client's.
	expiring := c.config.LeaseTTL / 3
	if k := c.kinds.get(kind); k != nil && k.leaseTTL > 0 {
		expiring = k.leaseTTL / 3
	}
	// The store selects by Until, the end of the current bucket, in order:
	// those that now selects come first, and are kept.
	stats, err := c.store.KindStats(ctx, &lrostore.KindStatsParams{Kind: kind, Since: since, Until: until, Bucket: bucket,
		LeaseExpiringWithin: expiring, Limit: kindStatsLimit})
	if errors.Is(err, lrostore.ErrInvalidArgument) {
		return nil, invalidArgument("window", "INVALID_WINDOW", "the window or bucket is out of bounds")
	}
	if err != nil {
		return nil, c.storeError("kind statistics", err)
	}
	out := &KindStats{Kind: kind, Since: since, Until: until, Bucket: bucket, Counts: byStateName(stats.Counts),
		Buckets:      make([]KindStatsBucket, len(stats.Buckets)),
		PastDeadline: summaries(stats.PastDeadline, func(op *lrostore.Operation) bool { return op.Deadline.Before(now) }),
		LeaseExpiring: summaries(stats.LeaseExpiring, func(op *lrostore.Operation) bool {
			return op.LeaseExpireTime.Before(now.Add(expiring))
		})}
	for i, b := range stats.Buckets {
		out.Buckets[i] = KindStatsBucket{Start: b.Start, Succeeded: b.Succeeded, Failed: b.Failed, Cancelled: b.Cancelled,
			Claims: b.Claims, QueueWaitSum: b.QueueWaitSum, QueueWaitMax: b.QueueWaitMax}
	}
	return out, nil
}

// summaries are the OperationSummary of the operations, read briefly,
// that keep selects.
func summaries(ops []*lrostore.Operation, keep func(*lrostore.Operation) bool) []*OperationSummary {
	out := make([]*OperationSummary, 0, len(ops))
	for _, op := range ops {
		if !keep(op) {
			continue
		}
		out = append(out, &OperationSummary{Name: OperationName(op.Parent, op.ID), State: op.State.String(), Deadline: op.Deadline,
			LeaseExpireTime: op.LeaseExpireTime, LeaseOwner: op.LeaseOwner, Attempt: int(op.Attempt)})
	}
	return out
}
