package lro_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore/lrosqlite"
)

// WaitOperation returns as soon as the operation is done, woken by its
// end rather than by polling, or with the operation as it stands when the
// timeout passes first.
func ExampleClient_WaitOperation() {
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

	release := make(chan struct{}) // the work the handler waits for
	lro.MustRegister(client, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: "example.greet",
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
			return wrapperspb.String("hello, " + job.Request.GetValue()), nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	op, err := client.StartOperation(ctx, "example.greet", wrapperspb.String("world"), nil)
	if err != nil {
		log.Fatal(err)
	}

	// The work is not done yet: the wait ends with the timeout, and the
	// operation as it stands.
	op, err = client.WaitOperation(ctx, op.GetName(), 20*time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after the timeout, done:", op.GetDone())

	close(release)
	op, err = client.WaitOperation(ctx, op.GetName(), 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	resp := &wrapperspb.StringValue{}
	if err := op.GetResponse().UnmarshalTo(resp); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", op.GetDone(), "response:", resp.GetValue())
	// Output:
	// after the timeout, done: false
	// done: true response: hello, world
}
