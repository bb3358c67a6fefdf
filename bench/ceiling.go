package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro/lrogrpc"
)

// The reads' Gets are system calls and wake-ups of three processes as much
// as they are lro's work, and what those cost differs from one machine to
// the next far more than lro's part does. grpcOnlyGets measures, in the same
// run, what gRPC alone gives on the machine: a server that answers
// GetOperation from memory, with no store, loaded by the same load process
// as the reads. The reads' Gets are shown as a share of it.

// memoryOperations answers GetOperation with a done operation of the shape
// of the reads' succeeded ones (metadata and a response), named as asked.
type memoryOperations struct {
	longrunningpb.UnimplementedOperationsServer
	metadata, response *anypb.Any
}

func (m *memoryOperations) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	return &longrunningpb.Operation{Name: req.GetName(), Metadata: m.metadata, Done: true,
		Result: &longrunningpb.Operation_Response{Response: m.response}}, nil
}

// grpcOnlyGets runs the reads' Get load against a memoryOperations server.
func grpcOnlyGets(ctx context.Context, e *env) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	metadata, err := anypb.New(wrapperspb.Int64(123456))
	if err != nil {
		return nil, err
	}
	response, err := anypb.New(wrapperspb.String("item 123456 processed"))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(lrogrpc.ServerOptions()...) // as lro's server
	longrunningpb.RegisterOperationsServer(srv, &memoryOperations{metadata: metadata, response: response})
	go srv.Serve(lis)
	defer srv.Stop()

	names := make([]string, 100_000)
	for i := range names {
		names[i] = "operations/" + uuid.Must(uuid.NewV7()).String()
	}
	namesFile := filepath.Join(e.dir, "grpc_only.names")
	if err := os.WriteFile(namesFile, []byte(strings.Join(names, "\n")), 0o644); err != nil {
		return nil, err
	}
	gets, err := getLoad(ctx, e, lis.Addr().String(), namesFile)
	if err != nil {
		return nil, err
	}
	out := figures{}
	for k, v := range gets {
		out["grpc_only_"+k] = v
	}
	return out, nil
}

// getLoad runs the Get load process against addr, on the names in
// namesFile.
func getLoad(ctx context.Context, e *env, addr, namesFile string) (figures, error) {
	return runLoad(ctx, e, "get", addr, "--names", namesFile, "--n", fmt.Sprint(pick(e.quick, 40_000, 200_000)))
}
