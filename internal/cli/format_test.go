package cli

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"lro.dev/lro/lrogrpc"
)

// lro get shows, of an operation that waits to run again, the attempts
// made, the last attempt's failure and the deadline, from GetOperation's
// headers; a done operation shows none of them.
func TestGetShowsRetriesAndDeadline(t *testing.T) {
	last, err := proto.Marshal(&spb.Status{Code: int32(codes.Unavailable), Message: "the disk is busy"})
	require.NoError(t, err)
	deadline := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	live := liveStateOf(metadata.Pairs(lrogrpc.StateHeader, "pending", lrogrpc.AttemptHeader, "2",
		lrogrpc.LastErrorHeader, string(last), lrogrpc.DeadlineHeader, deadline.Format(time.RFC3339Nano)))
	var b strings.Builder
	require.NoError(t, writeOperationState(&b, &longrunningpb.Operation{Name: "operations/x"}, live, time.Now()))
	require.Contains(t, b.String(), "state:    pending\n")
	require.Contains(t, b.String(), "attempts: 2\n")
	require.Contains(t, b.String(), "last try: failed with UNAVAILABLE: the disk is busy; the operation runs again\n")
	require.Contains(t, b.String(), "deadline: 2026-12-04T13:00:00Z\n")

	b.Reset()
	require.NoError(t, writeOperationState(&b, &longrunningpb.Operation{Name: "operations/x", Done: true}, live, time.Now()))
	require.NotContains(t, b.String(), "last try")
	require.NotContains(t, b.String(), "attempts")
}

// The runs line tells a wait under a second, as a retry's first often is,
// in milliseconds, rather than as due.
func TestRunsText(t *testing.T) {
	now := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	require.Equal(t, "in 1m30s (2026-12-04T13:01:30Z)", runsText(now.Add(90*time.Second+200*time.Millisecond), now))
	require.Equal(t, "in 430ms (2026-12-04T13:00:00Z)", runsText(now.Add(430*time.Millisecond), now))
	require.Equal(t, "now: due since 2026-12-04T12:59:59Z, at the next claim", runsText(now.Add(-time.Second), now))
}
