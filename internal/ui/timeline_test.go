package ui

import (
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"lro.dev/lro"
)

// TestTimeline tells a delayed operation's life, lost once and retried
// once before it failed, event by event.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	info := &lro.OperationInfo{
		Kind: "thumbnail", State: "failed", CreateTime: t0, EndTime: at(9000),
		Attempts: []lro.AttemptInfo{
			{Number: 1, Worker: "node-a", DueTime: at(2000), StartTime: at(2250), EndTime: at(5000), Outcome: "lost"},
			{Number: 2, Worker: "node-b", DueTime: at(5000), StartTime: at(5000), EndTime: at(5400), Outcome: "retry",
				Error: grpcstatus.New(codes.Unavailable, "the bucket is away")},
			{Number: 3, Worker: "node-b", DueTime: at(6400), StartTime: at(6500), EndTime: at(9000), Outcome: "failed",
				Error: grpcstatus.New(codes.InvalidArgument, "not an image")},
		},
	}
	op := &longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: &status.Status{Code: 3, Message: "not an image"}}}
	var got []string
	for _, e := range timeline(info, op) {
		got = append(got, e.Time.Sub(t0).String()+" "+e.Event+": "+e.Text)
	}
	require.Equal(t, []string{
		"0s created: started, kind thumbnail",
		"2s due: due to run (attempt 1)",
		"2.25s claimed: attempt 1 claimed by node-a, after 250ms in the queue",
		"5s ended: attempt 1 lost its worker (lease expired) after 2.8s",
		"5s claimed: attempt 2 claimed by node-b, after 0s in the queue",
		"5.4s ended: attempt 2 failed, to run again after 400ms: UNAVAILABLE the bucket is away",
		"6.4s due: due to run (attempt 3)",
		"6.5s claimed: attempt 3 claimed by node-b, after 100ms in the queue",
		"9s ended: attempt 3 failed after 2.5s: INVALID_ARGUMENT not an image",
		"9s done: done: failed, INVALID_ARGUMENT not an image",
	}, got)

	// Waiting for the next attempt, its backoff not over.
	info = &lro.OperationInfo{Kind: "k", State: "pending", CreateTime: t0, NotBefore: at(3000),
		Attempts: []lro.AttemptInfo{{Number: 1, Worker: "w", DueTime: t0, StartTime: t0, EndTime: at(1000), Outcome: "retry"}}}
	events := timeline(info, &longrunningpb.Operation{})
	last := events[len(events)-1]
	require.Equal(t, "retry_wait", last.Event)
	require.Equal(t, at(1000), last.Time)
	require.Equal(t, "waits to run again until 2026-12-04T10:00:03Z", last.Text)

	// A delayed start not yet due.
	info = &lro.OperationInfo{Kind: "k", State: "pending", CreateTime: t0, NotBefore: at(60000)}
	events = timeline(info, &longrunningpb.Operation{})
	require.Len(t, events, 2)
	require.Equal(t, "waits for its delayed start until 2026-12-04T10:01:00Z", events[1].Text)
}
