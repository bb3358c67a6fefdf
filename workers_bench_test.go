package lro_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore/lrosqlite"
)

// BenchmarkWorkerRound measures a remote worker's round on a batch of
// operations of a JSON kind: claim, finish. One b.N is one operation.
func BenchmarkWorkerRound(b *testing.B) {
	const batch = 100
	store, err := lrosqlite.Open(context.Background(), ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	c, err := lro.NewClient(store, &lro.Config{Logger: testLogger(b), Workers: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := lro.Declare(c, lro.DeclaredKind{Name: "json"}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Stop(ctx)
	in, _ := structpb.NewStruct(map[string]any{"n": 1})
	reqs := make([]lro.StartRequest, batch)
	for i := range reqs {
		reqs[i] = lro.StartRequest{Kind: "json", Request: in}
	}
	out := structpb.NewStructValue(in)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		if _, err := c.StartOperations(ctx, reqs); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		resp, err := c.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{Kinds: []string{"json"}, Max: batch, Wait: durationpb.New(0), Json: true})
		if err != nil {
			b.Fatal(err)
		}
		results := make([]*lropb.OperationResult, len(resp.GetOperations()))
		for i, op := range resp.GetOperations() {
			results[i] = &lropb.OperationResult{Name: op.GetName(), LeaseToken: op.GetLeaseToken(),
				Result: &lropb.OperationResult_Response{Response: out}}
		}
		if _, err := c.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: results}); err != nil {
			b.Fatal(err)
		}
	}
}
