package lroauth_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"lro.dev/lro/lroauth"
)

// ops answers GetOperation with what the caller's principal may do: a
// stand-in for lro's services.
type ops struct {
	longrunningpb.UnimplementedOperationsServer
}

func (ops) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	p := lroauth.FromContext(ctx)
	return &longrunningpb.Operation{Name: req.GetName(), Done: p.Can(lroauth.RoleReader, "projects/p1")}, nil
}

// An embedder mounts the interceptors with its own authentication: here an
// API key scheme, "ApiKey KEY", looked up in its own table.
func Example_embedderAuthenticator() {
	keys := map[string]*lroauth.Principal{
		"k-123": {Name: "billing-service", Grants: []lroauth.Grant{{Role: lroauth.RoleReader, Pattern: "projects/*"}}},
	}
	auth := lroauth.AuthenticatorFunc(func(ctx context.Context, c *lroauth.Credentials) (*lroauth.Principal, error) {
		key, ok := strings.CutPrefix(c.Authorization, "ApiKey ")
		if !ok {
			return nil, lroauth.Unauthenticated("CREDENTIALS_MISSING", `send "ApiKey KEY"`)
		}
		p := keys[key]
		if p == nil {
			return nil, lroauth.Unauthenticated("UNKNOWN_API_KEY", "the API key is not known")
		}
		return p, nil
	})

	server := grpc.NewServer(
		grpc.UnaryInterceptor(lroauth.UnaryServerInterceptor(auth)),
		grpc.StreamInterceptor(lroauth.StreamServerInterceptor(auth)),
	)
	longrunningpb.RegisterOperationsServer(server, ops{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go server.Serve(lis)
	defer server.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := longrunningpb.NewOperationsClient(conn)
	req := &longrunningpb.GetOperationRequest{Name: "projects/p1/operations/x"}

	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey k-123")
	op, err := client.GetOperation(ctx, req)
	fmt.Println(op.GetDone(), err)

	ctx = metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey nope")
	_, err = client.GetOperation(ctx, req)
	fmt.Println(status.Code(err), status.Convert(err).Message())
	// Output:
	// true <nil>
	// Unauthenticated unauthenticated: the API key is not known
}
