package lro_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrostore/lrosqlite"
)

// An API server embeds lro: it registers a kind with a typed handler, mounts
// the Operations service on its gRPC server, and starts operations from its
// own RPCs.
func Example() {
	ctx := context.Background()
	store, err := lrosqlite.Open(ctx, ":memory:") // a file path in production
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client, err := lro.NewClient(store, &lro.Config{})
	if err != nil {
		log.Fatal(err)
	}

	// The request, metadata and response of a kind are proto messages;
	// here, well-known wrappers.
	lro.MustRegister(client, lro.Kind[*wrapperspb.StringValue, *wrapperspb.Int32Value, *wrapperspb.StringValue]{
		Name: "example.shout",
		Validate: func(req *wrapperspb.StringValue) error {
			if req.GetValue() == "" {
				return errors.New("value is required")
			}
			return nil
		},
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *wrapperspb.Int32Value]) (*wrapperspb.StringValue, error) {
			job.SetMetadata(wrapperspb.Int32(50)) // progress, visible to GetOperation
			select {
			case <-ctx.Done(): // cancelled, lease lost, or shutting down
				return nil, context.Cause(ctx)
			case <-time.After(10 * time.Millisecond):
			}
			return wrapperspb.String(strings.ToUpper(job.Request.GetValue()) + "!"), nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	// Mount google.longrunning.Operations (and lro.v1.Lro) beside the
	// server's own services, then serve as usual.
	server := grpc.NewServer(lrogrpc.ServerOptions()...) // optional: lro serve's options
	lrogrpc.Register(server, client)

	// In one of the server's RPCs: start the operation and return it at once.
	op, err := client.StartOperation(ctx, "example.shout", wrapperspb.String("hello"),
		&lro.StartOptions{Parent: "projects/p/locations/l"})
	if err != nil {
		log.Fatal(err) // an *lro.Error: return it as is, it carries its gRPC status
	}
	fmt.Println(strings.HasPrefix(op.GetName(), "projects/p/locations/l/operations/"), op.GetDone())

	_, err = client.StartOperation(ctx, "example.shout", wrapperspb.String(""), nil)
	fmt.Println(err)

	// Clients follow it with GetOperation or WaitOperation.
	done, err := client.WaitOperation(ctx, op.GetName(), 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	resp := &wrapperspb.StringValue{}
	if err := done.GetResponse().UnmarshalTo(resp); err != nil {
		log.Fatal(err)
	}
	fmt.Println(done.GetDone(), resp.GetValue())
	// Output:
	// true false
	// invalid input for kind "example.shout": value is required
	// true HELLO!
}
