package lro_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore/lrosqlite"
)

// A declared kind is run by workers elsewhere, through the Workers
// service; lrogrpc and lrohttp serve these very methods to them. A worker
// claims operations (waiting for one if none is pending), renews its
// leases with progress, and finishes what it claimed, naming each
// operation with the lease token of its claim.
func ExampleClient_ClaimOperations() {
	ctx := context.Background()
	store, err := lrosqlite.Open(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client, err := lro.NewClient(store, &lro.Config{})
	if err != nil {
		log.Fatal(err)
	}
	// No types: the kind takes and returns JSON objects.
	if err := lro.Declare(client, lro.DeclaredKind{Name: "example.shout"}); err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	in, err := structpb.NewStruct(map[string]any{"text": "hello"})
	if err != nil {
		log.Fatal(err)
	}
	op, err := client.StartOperation(ctx, "example.shout", in, nil)
	if err != nil {
		log.Fatal(err)
	}

	// The worker's side.
	claimed, err := client.ClaimOperations(ctx, &lropb.ClaimOperationsRequest{
		Worker: "example-worker", Kinds: []string{"example.shout"}, Max: 10, Wait: durationpb.New(0), Json: true})
	if err != nil {
		log.Fatal(err)
	}
	var results []*lropb.OperationResult
	for _, c := range claimed.GetOperations() {
		fmt.Println("claimed", c.GetKind(), "attempt", c.GetAttempt())
		progress, _ := structpb.NewValue(map[string]any{"percent": 50})
		renewed, err := client.RenewLeases(ctx, &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
			{Name: c.GetName(), LeaseToken: c.GetLeaseToken(), MetadataValue: &lropb.LeaseRenewal_Metadata{Metadata: progress}}}})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("lease", renewed.GetLeases()[0].GetState())
		text := c.GetInput().GetStructValue().GetFields()["text"].GetStringValue()
		out, _ := structpb.NewValue(map[string]any{"text": strings.ToUpper(text)})
		results = append(results, &lropb.OperationResult{Name: c.GetName(), LeaseToken: c.GetLeaseToken(),
			Result: &lropb.OperationResult_Response{Response: out}})
	}
	finished, err := client.FinishOperations(ctx, &lropb.FinishOperationsRequest{Results: results})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("finish code", finished.GetResults()[0].GetCode())

	// The caller's side.
	done, err := client.WaitOperation(ctx, op.GetName(), 0)
	if err != nil {
		log.Fatal(err)
	}
	resp := &structpb.Struct{}
	if err := done.GetResponse().UnmarshalTo(resp); err != nil {
		log.Fatal(err)
	}
	fmt.Println("response", resp.GetFields()["text"].GetStringValue())
	// Output:
	// claimed example.shout attempt 1
	// lease HELD
	// finish code 0
	// response HELLO
}
