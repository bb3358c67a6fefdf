package lro_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore/lrosqlite"
)

// A kind whose handler reports its progress as the operation's metadata
// and stops when the operation is cancelled. Clients see the progress in
// GetOperation; a cancelled operation ends with CANCELLED.
func ExampleKind() {
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

	stopped := make(chan error, 1) // why the handler stopped, for the example to print
	lro.MustRegister(client, lro.Kind[*wrapperspb.Int32Value, *wrapperspb.Int32Value, *wrapperspb.StringValue]{
		Name: "example.count",
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.Int32Value, *wrapperspb.Int32Value]) (*wrapperspb.StringValue, error) {
			steps := job.Request.GetValue()
			for i := int32(0); i < steps; i++ {
				// Progress, as a percentage: visible to GetOperation.
				if err := job.SetMetadata(wrapperspb.Int32(100 * i / steps)); err != nil {
					return nil, err // such as lro.ErrLeaseLost: the operation runs again elsewhere
				}
				if i == steps/2 {
					// Halfway, this step waits on something slow.
					<-ctx.Done()
				}
				if ctx.Err() != nil {
					// Cancelled, lease lost, or shutting down: stop, and
					// return why.
					stopped <- context.Cause(ctx)
					return nil, context.Cause(ctx)
				}
			}
			return wrapperspb.String("counted"), nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	op, err := client.StartOperation(ctx, "example.count", wrapperspb.Int32(4), nil)
	if err != nil {
		log.Fatal(err)
	}

	// Metadata reaches the store shortly after SetMetadata: follow the
	// operation until it shows the handler halfway.
	progress := &wrapperspb.Int32Value{}
	for progress.GetValue() < 50 {
		time.Sleep(5 * time.Millisecond)
		op, err = client.GetOperation(ctx, op.GetName())
		if err != nil {
			log.Fatal(err)
		}
		if op.GetMetadata() != nil {
			if err := op.GetMetadata().UnmarshalTo(progress); err != nil {
				log.Fatal(err)
			}
		}
	}
	fmt.Println("progress:", progress.GetValue(), "done:", op.GetDone())

	if _, err := client.CancelOperation(ctx, op.GetName()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("handler stopped:", errors.Is(<-stopped, lro.ErrCancelRequested))

	op, err = client.WaitOperation(ctx, op.GetName(), 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", op.GetDone(), "error:", codes.Code(op.GetError().GetCode()))
	// Output:
	// progress: 50 done: false
	// handler stopped: true
	// done: true error: Canceled
}
