package lrohttp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrohttp"
	"lro.dev/lro/lrostore/lrosqlite"
)

// A server that embeds lro keeps its own authentication: here an API key
// per tenant, which it maps to a principal with lroauth's grants. The gRPC
// interceptors and the HTTP middleware put the principal in each call's
// context, and lrogrpc.WithAuthorize has every call decided by
// lroauth.Grants before it reads or changes anything.
func Example_authentication() {
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

	// The embedder's own keys: tenant p1 may start and read its
	// operations; the auditor may read every tenant's.
	keys := map[string]*lroauth.Principal{
		"key-p1":      {Name: "tenant-p1", Grants: []lroauth.Grant{{Role: lroauth.RoleStarter, Pattern: "projects/p1"}}},
		"key-auditor": {Name: "auditor", Grants: []lroauth.Grant{{Role: lroauth.RoleReader, Pattern: "*"}}},
	}
	authn := lroauth.AuthenticatorFunc(func(ctx context.Context, c *lroauth.Credentials) (*lroauth.Principal, error) {
		if p := keys[strings.TrimPrefix(c.Authorization, "ApiKey ")]; p != nil {
			return p, nil
		}
		return nil, lroauth.Unauthenticated("UNKNOWN_API_KEY", `send "Authorization: ApiKey KEY"`)
	})
	grpcServer := grpc.NewServer(
		grpc.ChainUnaryInterceptor(lroauth.UnaryServerInterceptor(authn)),
		grpc.ChainStreamInterceptor(lroauth.StreamServerInterceptor(authn)))
	lrogrpc.Register(grpcServer, client, lrogrpc.WithAuthorize(lroauth.Grants))
	handler, err := lrohttp.NewHandler(grpcServer, &lrohttp.Config{Parents: []string{"projects/*"}})
	if err != nil {
		log.Fatal(err)
	}
	server := httptest.NewServer(lroauth.Middleware(authn, handler))
	defer server.Close()

	call := func(method, path, key, body string) {
		req, err := http.NewRequest(method, server.URL+path, strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "ApiKey "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(method, path, key, "→", resp.Status)
	}
	start := `{"kind": "example.echo", "input": "hi"}`
	call("POST", "/v1/projects/p1/operations:start", "key-p1", start)
	call("POST", "/v1/projects/p2/operations:start", "key-p1", start)
	call("POST", "/v1/projects/p1/operations:start", "key-auditor", start)
	call("GET", "/v1/projects/p2/operations", "key-auditor", "")
	call("GET", "/v1/projects/p1/operations", "", "")
	// Output:
	// POST /v1/projects/p1/operations:start key-p1 → 200 OK
	// POST /v1/projects/p2/operations:start key-p1 → 403 Forbidden
	// POST /v1/projects/p1/operations:start key-auditor → 403 Forbidden
	// GET /v1/projects/p2/operations key-auditor → 200 OK
	// GET /v1/projects/p1/operations  → 401 Unauthorized
}
