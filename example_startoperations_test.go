package lro_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore/lrosqlite"
)

// StartOperations starts many operations in one transaction. With request
// IDs (AIP-155), a client that retries a call whose answer it lost gets the
// same operations back rather than new ones; a request ID reused for
// another request is refused.
func ExampleClient_StartOperations() {
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
	lro.MustRegister(client, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: "example.upper",
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return wrapperspb.String(strings.ToUpper(job.Request.GetValue())), nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	// Each start carries a request ID of the caller's, such as the ID of
	// the row it is processing.
	var reqs []lro.StartRequest
	for _, word := range []string{"alpha", "beta", "gamma"} {
		reqs = append(reqs, lro.StartRequest{
			Kind:    "example.upper",
			Request: wrapperspb.String(word),
			Options: &lro.StartOptions{RequestID: "upper-" + word},
		})
	}
	first, err := client.StartOperations(ctx, reqs)
	if err != nil {
		log.Fatal(err)
	}

	// The retry: the same operations, not three more.
	retry, err := client.StartOperations(ctx, reqs)
	if err != nil {
		log.Fatal(err)
	}
	for i := range first {
		fmt.Println(reqs[i].Options.RequestID, "same operation:", retry[i].GetName() == first[i].GetName())
	}

	// A request ID names one request: another request under it is refused.
	_, err = client.StartOperation(ctx, "example.upper", wrapperspb.String("delta"),
		&lro.StartOptions{RequestID: "upper-alpha"})
	fmt.Println("reused request ID:", errors.Is(err, lro.ErrAlreadyExists))
	// Output:
	// upper-alpha same operation: true
	// upper-beta same operation: true
	// upper-gamma same operation: true
	// reused request ID: true
}
