package lrohttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrohttp"
	"lro.dev/lro/lrostore/lrosqlite"
)

// A Go server mounts the HTTP/JSON mapping of the services beside its own
// HTTP routes: the handler hands each call to the gRPC server in-process,
// so the gRPC server need not listen. Here a GET of an operation goes
// through it.
func ExampleNewHandler() {
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
		Name: "example.echo",
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return job.Request, nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	grpcServer := grpc.NewServer()
	lrogrpc.Register(grpcServer, client)
	handler, err := lrohttp.NewHandler(grpcServer, &lrohttp.Config{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", handler) // the server's own routes go beside it
	server := httptest.NewServer(mux)
	defer server.Close()

	op, err := client.StartOperation(ctx, "example.echo", wrapperspb.String("hello"), nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.WaitOperation(ctx, op.GetName(), 10*time.Second); err != nil {
		log.Fatal(err)
	}

	resp, err := http.Get(server.URL + "/v1/" + op.GetName())
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Done     bool `json:"done"`
		Response struct {
			Type  string `json:"@type"`
			Value string `json:"value"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	fmt.Println("done:", got.Done)
	fmt.Println("response:", got.Response.Type, got.Response.Value)
	// Output:
	// 200 OK application/json
	// done: true
	// response: type.googleapis.com/google.protobuf.StringValue hello
}
