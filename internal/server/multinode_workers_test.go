package server_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lropb"
)

// TestWorkersAcrossNodes: a remote worker connected to node B of two lro
// serve processes on one PostgreSQL database gets the operations started
// on node A as they start (its waiting claim woken by the store's event:
// claims have no poll interval to fall back on), and its finish on B ends
// a wait on A.
func TestWorkersAcrossNodes(t *testing.T) {
	t.Parallel()
	skipShort(t)
	dsn := pgtest.Schema(t)
	lroBinary(t)
	ctx := testContext(t)
	kinds := filepath.Join(t.TempDir(), "kinds.yaml")
	require.NoError(t, os.WriteFile(kinds, []byte("kinds:\n  - name: remote.job\n"), 0o600))
	nodes := startNodesWith(t, dsn, []string{"--kinds", kinds}, "A", "B")
	a, b := nodes[0], nodes[1]
	starter, worker := lropb.NewLroClient(a.conn), lropb.NewWorkersClient(b.conn)

	// The median is the latency; each is bound too, with room for a
	// loaded machine, and far under the claims' wait.
	const n = 5
	const medianLatency, maxLatency = 100 * time.Millisecond, 5 * time.Second
	var latencies []time.Duration
	for i := range n {
		type claimed struct {
			resp *lropb.ClaimOperationsResponse
			err  error
			at   time.Time
		}
		got := make(chan claimed, 1)
		go func() {
			resp, err := worker.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Worker: "b-worker", Kinds: []string{"remote.job"},
				Max: 10, Wait: durationpb.New(30 * time.Second), Json: true})
			got <- claimed{resp, err, time.Now()}
		}()
		input, err := structpb.NewValue(map[string]any{"round": i})
		require.NoError(t, err)
		started := time.Now()
		op, err := starter.StartOperation(ctx, &lropb.StartOperationRequest{Kind: "remote.job",
			KindInput: &lropb.StartOperationRequest_Input{Input: input}})
		require.NoError(t, err)
		var c claimed
		select {
		case c = <-got:
		case <-time.After(maxLatency):
			t.Fatalf("round %d: the claim on B did not return within %v of the start on A", i, maxLatency)
		}
		require.NoError(t, c.err)
		require.Len(t, c.resp.GetOperations(), 1)
		claimedOp := c.resp.GetOperations()[0]
		require.Equal(t, op.GetName(), claimedOp.GetName())
		require.EqualValues(t, i, claimedOp.GetInput().GetStructValue().GetFields()["round"].GetNumberValue())
		latencies = append(latencies, max(c.at.Sub(started), 0))

		// The worker finishes on B; a wait on A ends.
		result, err := structpb.NewValue(map[string]any{"by": "b-worker"})
		require.NoError(t, err)
		fin, err := worker.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{{
			Name: claimedOp.GetName(), LeaseToken: claimedOp.GetLeaseToken(), Result: &lropb.OperationResult_Response{Response: result}}}})
		require.NoError(t, err)
		require.EqualValues(t, code.Code_OK, fin.GetResults()[0].GetCode(), "%v", fin.GetResults()[0])
		done := waitOp(ctx, t, a, op.GetName())
		require.NotNil(t, done.GetResponse(), "%v", done.GetError())
	}
	t.Logf("from a start on node A to the return of a waiting claim on node B: %s", durations(latencies))
	require.LessOrEqual(t, slices.Sorted(slices.Values(latencies))[n/2], medianLatency, "the median claim latency")
}
