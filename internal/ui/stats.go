package ui

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc/codes"

	"lro.dev/lro"
)

// stateCounts are an operation count in each state.
type stateCounts struct {
	Pending   int64 `json:"pending"`
	Running   int64 `json:"running"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Cancelled int64 `json:"cancelled"`
}

func (c *stateCounts) add(byState map[string]int64) {
	c.Pending += byState["pending"]
	c.Running += byState["running"]
	c.Succeeded += byState["succeeded"]
	c.Failed += byState["failed"]
	c.Cancelled += byState["cancelled"]
}

type kindCounts struct {
	Kind string `json:"kind"`
	stateCounts
}

// counts answers GET /ui/api/counts: the operations of each kind in each
// state, and their totals. The counts cover every parent: they need the
// reader role on every parent.
func (h *Handler) counts(w http.ResponseWriter, r *http.Request) {
	if err := h.readAll(r.Context()); err != nil {
		writeError(w, h.config.Logger, err)
		return
	}
	counts, err := h.config.Client.CountOperations(r.Context())
	if err != nil {
		writeError(w, h.config.Logger, err)
		return
	}
	out := struct {
		Kinds []kindCounts `json:"kinds"`
		Total stateCounts  `json:"total"`
	}{Kinds: []kindCounts{}}
	for kind, byState := range counts {
		k := kindCounts{Kind: kind}
		k.add(byState)
		out.Total.add(byState)
		out.Kinds = append(out.Kinds, k)
	}
	slices.SortFunc(out.Kinds, func(a, b kindCounts) int { return cmp.Compare(a.Kind, b.Kind) })
	writeJSON(w, h.config.Logger, out)
}

// The kind page's window: an hour by default, in 60 buckets.
const (
	kindWindowDefault = time.Hour
	kindWindowMax     = 24 * time.Hour
	kindBuckets       = 60
)

type summaryJSON struct {
	Name            string     `json:"name"`
	State           string     `json:"state"`
	Deadline        *time.Time `json:"deadline,omitempty"`
	LeaseExpireTime *time.Time `json:"leaseExpireTime,omitempty"`
	LeaseOwner      string     `json:"leaseOwner,omitempty"`
	Attempt         int        `json:"attempt"`
}

type bucketJSON struct {
	Start               time.Time `json:"start"`
	Succeeded           int64     `json:"succeeded"`
	Failed              int64     `json:"failed"`
	Cancelled           int64     `json:"cancelled"`
	Claims              int64     `json:"claims"`
	QueueWaitAvgSeconds float64   `json:"queueWaitAvgSeconds"`
	QueueWaitMaxSeconds float64   `json:"queueWaitMaxSeconds"`
}

// kind answers GET /ui/api/kind?name=KIND&window=1h: the kind's counts,
// its throughput and queue wait by bucket over the window, and its
// operations past their deadline or whose lease is about to expire. Like
// counts, it covers every parent.
func (h *Handler) kind(w http.ResponseWriter, r *http.Request) {
	if err := h.readAll(r.Context()); err != nil {
		writeError(w, h.config.Logger, err)
		return
	}
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		writeError(w, h.config.Logger, &lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT", Message: "name, the kind, is required (?name=…)"})
		return
	}
	window := kindWindowDefault
	if s := q.Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute || d > kindWindowMax {
			writeError(w, h.config.Logger, &lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_WINDOW",
				Message: "window must be a duration from 1m to 24h, such as 1h or 3600s"})
			return
		}
		window = d
	}
	// Whole seconds, rounded up: at most kindBuckets buckets.
	bucket := window / kindBuckets
	if r := bucket % time.Second; r != 0 {
		bucket += time.Second - r
	}
	stats, err := h.config.Client.KindStats(r.Context(), name, window, bucket)
	if err != nil {
		writeError(w, h.config.Logger, err)
		return
	}
	out := struct {
		Kind          string        `json:"kind"`
		Registered    bool          `json:"registered"`
		Counts        stateCounts   `json:"counts"`
		WindowStart   time.Time     `json:"windowStart"`
		WindowEnd     time.Time     `json:"windowEnd"`
		BucketSeconds float64       `json:"bucketSeconds"`
		Buckets       []bucketJSON  `json:"buckets"`
		PastDeadline  []summaryJSON `json:"pastDeadline"`
		LeaseExpiring []summaryJSON `json:"leaseExpiring"`
	}{Kind: name, WindowStart: stats.Since.UTC(), WindowEnd: stats.Until.UTC(), BucketSeconds: stats.Bucket.Seconds(),
		Buckets: make([]bucketJSON, len(stats.Buckets)), PastDeadline: summariesJSON(stats.PastDeadline),
		LeaseExpiring: summariesJSON(stats.LeaseExpiring)}
	out.Counts.add(stats.Counts)
	for _, k := range h.config.Client.Kinds() {
		if k.Name == name {
			out.Registered = true
		}
	}
	for i, b := range stats.Buckets {
		bj := bucketJSON{Start: b.Start.UTC(), Succeeded: b.Succeeded, Failed: b.Failed, Cancelled: b.Cancelled,
			Claims: b.Claims, QueueWaitMaxSeconds: b.QueueWaitMax.Seconds()}
		if b.Claims > 0 {
			bj.QueueWaitAvgSeconds = b.QueueWaitSum.Seconds() / float64(b.Claims)
		}
		out.Buckets[i] = bj
	}
	writeJSON(w, h.config.Logger, out)
}

func summariesJSON(ops []*lro.OperationSummary) []summaryJSON {
	out := make([]summaryJSON, len(ops))
	for i, op := range ops {
		out[i] = summaryJSON{Name: op.Name, State: op.State, Deadline: timePtr(op.Deadline),
			LeaseExpireTime: timePtr(op.LeaseExpireTime), LeaseOwner: op.LeaseOwner, Attempt: op.Attempt}
	}
	return out
}
