package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/internal/slogtest"
	"lro.dev/lro/lropb"
)

// serveInProcess runs the server on db in this process until the test ends.
func serveInProcess(t *testing.T, db string) *server.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		Addr: "127.0.0.1:0", DB: db, Register: demo.Register, Logger: slogtest.Logger(t),
		Client: lro.Config{LeaseTTL: 2 * time.Second, ShutdownGrace: 100 * time.Millisecond},
	})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
	})
	return srv
}

func TestHandlerErrorWithNULEnds(t *testing.T) {
	// A handler's error message with a NUL byte (which PostgreSQL's text
	// cannot hold) ends the operation, and reads back exactly, over gRPC
	// and HTTP, on both stores.
	t.Parallel()
	for _, store := range []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "lro.db") }},
		{"PostgreSQL", func(t *testing.T) string { return pgtest.Schema(t) }},
	} {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			srv := serveInProcess(t, store.db(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			defer conn.Close()
			input, err := structpb.NewValue(map[string]any{"duration": "0.2s", "fail_code": 3, "fail_message": "a\u0000b"})
			require.NoError(t, err)
			op, err := lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{
				Kind: demo.KindSleep, KindInput: &lropb.StartOperationRequest_Input{Input: input}})
			require.NoError(t, err)
			ops := longrunningpb.NewOperationsClient(conn)
			for !op.GetDone() {
				op, err = ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(10 * time.Second)})
				require.NoError(t, err)
			}
			require.Equal(t, int32(codes.InvalidArgument), op.GetError().GetCode(), "%v", op.GetError())
			require.Equal(t, "a\x00b", op.GetError().GetMessage())

			status, body := httpGet(ctx, t, srv.Addr().String(), "", "/v1/"+op.GetName())
			require.Equal(t, http.StatusOK, status, "%s", body)
			var got struct {
				Done  bool `json:"done"`
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &got), "%s", body)
			require.True(t, got.Done)
			require.Equal(t, "a\x00b", got.Error.Message, "%s", body)
		})
	}
}
