package lro_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

// GetOperationInfo shows each attempt of an operation that failed once and
// then succeeded, as the claims and finishes recorded them.
func TestRetryShowsInOperationInfoAttempts(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "flaky", Run: p.blocking, Retry: fastRetry, MaxAttempts: 5})
		})
		ctx := context.Background()
		op, err := c.StartOperation(ctx, "flaky", wrapperspb.String(""), nil)
		require.NoError(t, err)

		r := p.next(t)
		_, info, err := c.GetOperationInfo(ctx, op.GetName())
		require.NoError(t, err)
		require.Len(t, info.Attempts, 1)
		first := info.Attempts[0]
		require.Equal(t, 1, first.Number)
		require.Empty(t, first.Outcome, "the attempt runs")
		require.True(t, first.EndTime.IsZero())
		require.NotEmpty(t, first.Worker)
		require.Equal(t, info.LeaseOwner, first.Worker)
		require.False(t, first.StartTime.Before(first.DueTime))
		require.Equal(t, "flaky", info.Kind)
		require.Equal(t, 5, info.MaxAttempts)
		require.False(t, info.CreateTime.IsZero())
		r.release <- result{err: status.Error(codes.Unavailable, "down")}

		r = p.next(t)
		r.release <- result{resp: wrapperspb.String("up")}
		wait(t, c, op)

		_, info, err = c.GetOperationInfo(ctx, op.GetName())
		require.NoError(t, err)
		require.Equal(t, "succeeded", info.State)
		require.False(t, info.EndTime.IsZero())
		require.Empty(t, info.LeaseOwner)
		require.Len(t, info.Attempts, 2)
		first, second := info.Attempts[0], info.Attempts[1]
		require.Equal(t, "retry", first.Outcome)
		require.NotNil(t, first.Error)
		require.Equal(t, codes.Unavailable, first.Error.Code())
		require.Equal(t, "down", first.Error.Message())
		require.False(t, first.EndTime.Before(first.StartTime))
		require.Equal(t, 2, second.Number)
		require.Equal(t, "succeeded", second.Outcome)
		require.Nil(t, second.Error)
		// The delay counts from the worker's clock when the attempt failed,
		// which is after the claim; the end time is the store's, when the
		// retry reached it, which under load may be a while later.
		require.GreaterOrEqual(t, second.DueTime.Sub(first.StartTime), 49*time.Millisecond,
			"the second was due after the retry's delay (50ms, the times to the millisecond)")
		require.False(t, second.StartTime.Before(second.DueTime))
	})
}

// CountOperations and KindStats see the operations a client ran.
func TestCountOperationsAndKindStats(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		p := newProbe()
		c := newClient(t, store, nil, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "flaky", Run: p.blocking, Retry: fastRetry, MaxAttempts: 5})
		})
		ctx := context.Background()
		op, err := c.StartOperation(ctx, "flaky", wrapperspb.String(""), nil)
		require.NoError(t, err)
		p.next(t).release <- result{err: status.Error(codes.Unavailable, "down")}
		p.next(t).release <- result{resp: wrapperspb.String("up")}
		wait(t, c, op)

		counts, err := c.CountOperations(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]map[string]int64{"flaky": {"succeeded": 1}}, counts)

		stats, err := c.KindStats(ctx, "flaky", time.Hour, time.Minute)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"succeeded": 1}, stats.Counts)
		require.Len(t, stats.Buckets, 60)
		require.Equal(t, time.Hour, stats.Until.Sub(stats.Since))
		var succeeded, claims int64
		for _, b := range stats.Buckets {
			succeeded += b.Succeeded
			claims += b.Claims
		}
		require.Equal(t, int64(1), succeeded)
		require.Equal(t, int64(2), claims)
		require.Empty(t, stats.PastDeadline)
		require.Empty(t, stats.LeaseExpiring)

		_, err = c.KindStats(ctx, "flaky", 2*24*time.Hour, time.Minute)
		require.ErrorIs(t, err, lro.ErrInvalidArgument, "2880 buckets")
		_, err = c.KindStats(ctx, "", time.Hour, time.Minute)
		require.ErrorIs(t, err, lro.ErrInvalidArgument)
	})
}

// KindStats lists as expiring the leases with less than a third of the
// kind's TTL left, not those that their workers renew, and as past their
// deadline the operations whose deadline has passed, not those due to
// pass within the current bucket.
func TestKindStatsHighlights(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		c := newClient(t, store, &lro.Config{RescueInterval: time.Hour}, func(c *lro.Client) {
			require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "remote.k", LeaseTTL: 30 * time.Second}))
			require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "remote.t"}))
			lro.RescuePassedSignal(c).Init()
		})
		// The rescue loop's first pass, at start, would end the operation
		// past its deadline below before it is seen; the next is in an hour.
		lro.RescuePassedSignal(c).Wait(t)
		ctx := context.Background()
		start := func(kind string) *longrunningpb.Operation {
			op, err := c.StartOperation(ctx, kind, nil, nil)
			require.NoError(t, err)
			return op
		}
		claim := func(owner string, ttl time.Duration) {
			ops, err := store.OperationClaim(ctx, &lrostore.OperationClaimParams{Owner: owner, Kinds: []string{"remote.k"}, Max: 1, LeaseTTL: ttl})
			require.NoError(t, err)
			require.Len(t, ops, 1)
		}
		start("remote.k")
		claim("healthy", 25*time.Second) // two thirds and more left: renewed in time
		late := start("remote.k")
		claim("late", 5*time.Second) // under a third left: a renewal missed
		stats, err := c.KindStats(ctx, "remote.k", time.Hour, time.Minute)
		require.NoError(t, err)
		require.Len(t, stats.LeaseExpiring, 1)
		require.Equal(t, late.GetName(), stats.LeaseExpiring[0].Name)
		require.Equal(t, "late", stats.LeaseExpiring[0].LeaseOwner)

		// Written by the store alone, so that no alarm of this client's
		// ends the one past its deadline before it is seen.
		now := time.Now()
		var names []string
		for _, deadline := range []time.Duration{-time.Second, 30 * time.Second, time.Hour} {
			id := uuid.Must(uuid.NewV7()).String()
			names = append(names, "operations/"+id)
			_, err := store.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
				{ID: id, Kind: "remote.t", Input: []byte{}, MaxAttempts: 1, Deadline: now.Add(deadline)}}})
			require.NoError(t, err)
		}
		stats, err = c.KindStats(ctx, "remote.t", time.Hour, time.Minute)
		require.NoError(t, err)
		require.Len(t, stats.PastDeadline, 1, "not the one due in 30 s, in the current bucket or the next")
		require.Equal(t, names[0], stats.PastDeadline[0].Name)
	})
}
