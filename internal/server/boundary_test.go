package server_test

// Tests of the server's connection boundary, in-process on 127.0.0.1:0:
// which connections go to gRPC and which to HTTP, what requests HTTP
// accepts, and how connections are bounded.

import (
	"cmp"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lro"
	"lro.dev/lro/lropb"
)

// newServer runs the server assembly in-process on 127.0.0.1:0 over a
// SQLite file of the test's, with the demo kind, until the test ends.
// Zero fields of config get test values.
func newServer(t *testing.T, config server.Config) *server.Server {
	t.Helper()
	config.Addr = cmp.Or(config.Addr, "127.0.0.1:0")
	config.DB = cmp.Or(config.DB, "sqlite:"+filepath.Join(t.TempDir(), "lro.db"))
	config.Client.ShutdownGrace = cmp.Or(config.Client.ShutdownGrace, 100*time.Millisecond)
	if config.Register == nil {
		config.Register = demo.Register
	}
	if config.Logger == nil {
		config.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, config)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop within 30s")
		}
	})
	return srv
}

// TestGRPCContentSubtypes: a gRPC client whose first request on a fresh
// connection says content-type application/grpc+proto (grpc-go sends it
// with CallContentSubtype or ForceCodec) reaches the gRPC server, not HTTP.
func TestGRPCContentSubtypes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1}})
	for _, c := range []struct {
		name string
		opt  grpc.CallOption
	}{
		{"plain", nil},
		{"CallContentSubtype", grpc.CallContentSubtype("proto")},
		{"ForceCodecV2", grpc.ForceCodecV2(encoding.GetCodecV2("proto"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []grpc.DialOption
			opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if c.opt != nil {
				opts = append(opts, grpc.WithDefaultCallOptions(c.opt))
			}
			// A fresh connection per case: cmux sorts a connection by its
			// first request.
			conn, err := grpc.NewClient(srv.Addr().String(), opts...)
			require.NoError(t, err)
			defer conn.Close()
			kinds, err := lropb.NewLroClient(conn).ListKinds(t.Context(), &lropb.ListKindsRequest{})
			require.NoError(t, err)
			require.NotEmpty(t, kinds.GetKinds())
			_, err = longrunningpb.NewOperationsClient(conn).ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
			require.NoError(t, err)
		})
	}
}
