package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lropb"
)

// BenchmarkGRPCGetOperation measures GetOperation over gRPC on loopback
// against the full server (cmux, gRPC and HTTP on one port), with
// RunParallel's client goroutines sharing one connection.
func BenchmarkGRPCGetOperation(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.New(ctx, server.Config{
		Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(b.TempDir(), "lro.db"),
		Client: lro.Config{Logger: discardLogger()}, Register: demo.Register, Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() { cancel(); <-served }()

	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	input, _ := structpb.NewValue(map[string]any{"duration": "0s"})
	op, err := lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{
		Kind: demo.KindSleep, KindInput: &lropb.StartOperationRequest_Input{Input: input}})
	if err != nil {
		b.Fatal(err)
	}
	ops := longrunningpb.NewOperationsClient(conn)
	req := &longrunningpb.GetOperationRequest{Name: op.GetName()}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ops.GetOperation(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
