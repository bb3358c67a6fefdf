package storekit

import (
	"time"

	"lro.dev/lro/lrostore"
)

// KindStatsBuckets returns the empty buckets of p's window, in order.
func KindStatsBuckets(p *lrostore.KindStatsParams) []lrostore.KindStatsBucket {
	buckets := make([]lrostore.KindStatsBucket, p.NumBuckets())
	for i := range buckets {
		buckets[i].Start = p.Since.Add(time.Duration(i) * p.Bucket).UTC()
	}
	return buckets
}

// ScanKindStateCounts scans rows of a kind, a state and a count until the
// last.
func ScanKindStateCounts(rows Rows, interpret func(error) error) (map[string]map[lrostore.State]int64, error) {
	counts := map[string]map[lrostore.State]int64{}
	for rows.Next() {
		var (
			kind  string
			state lrostore.State
			n     int64
		)
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, interpret(err)
		}
		if counts[kind] == nil {
			counts[kind] = map[lrostore.State]int64{}
		}
		counts[kind][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, interpret(err)
	}
	return counts, nil
}

// ScanStateCounts scans rows of a state and a count into counts.
func ScanStateCounts(rows Rows, counts map[lrostore.State]int64) error {
	for rows.Next() {
		var (
			state lrostore.State
			n     int64
		)
		if err := rows.Scan(&state, &n); err != nil {
			return err
		}
		counts[state] = n
	}
	return rows.Err()
}

// ScanEnds scans rows of a bucket's index, a done state and a count into
// buckets.
func ScanEnds(rows Rows, buckets []lrostore.KindStatsBucket) error {
	for rows.Next() {
		var (
			i     int64
			state lrostore.State
			n     int64
		)
		if err := rows.Scan(&i, &state, &n); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(buckets)) {
			continue
		}
		switch state {
		case lrostore.StateSucceeded:
			buckets[i].Succeeded += n
		case lrostore.StateFailed:
			buckets[i].Failed += n
		case lrostore.StateCancelled:
			buckets[i].Cancelled += n
		}
	}
	return rows.Err()
}

// ScanClaims scans rows of a bucket's index, a count of claims, and the
// sum and the largest of their waits in milliseconds into buckets.
func ScanClaims(rows Rows, buckets []lrostore.KindStatsBucket) error {
	for rows.Next() {
		var i, n, sum, largest int64
		if err := rows.Scan(&i, &n, &sum, &largest); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(buckets)) {
			continue
		}
		b := &buckets[i]
		b.Claims += n
		b.QueueWaitSum += time.Duration(sum) * time.Millisecond
		b.QueueWaitMax = max(b.QueueWaitMax, time.Duration(largest)*time.Millisecond)
	}
	return rows.Err()
}
