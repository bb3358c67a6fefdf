package server_test

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/lropb"
)

// TestHealthWhenTheStoreCannotBeWritten: a server whose SQLite file can be
// read but not written (here its process may write no byte more to any
// file, as on a full disk) says NOT_SERVING, in the gRPC health service and
// /readyz, and SERVING again once it can write; /healthz (live) says
// SERVING throughout.
func TestHealthWhenTheStoreCannotBeWritten(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	ctx := testContext(t)
	p := startServer(t, "server", filepath.Join(t.TempDir(), "lro.db"))
	conn := p.dial()
	health, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	next := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			resp, err := health.Recv()
			require.NoError(t, err)
			if resp.GetStatus() == want {
				return
			}
		}
	}
	next(healthpb.HealthCheckResponse_SERVING)
	start := func() error {
		input, err := structpb.NewValue(map[string]any{"duration": "0s"})
		require.NoError(t, err)
		_, err = lropb.NewLroClient(conn).StartOperation(ctx, &lropb.StartOperationRequest{Kind: "demo.sleep",
			KindInput: &lropb.StartOperationRequest_Input{Input: input}})
		return err
	}
	require.NoError(t, start())

	// RLIMIT_FSIZE of 1 byte: every write past the first byte of a file
	// fails with EFBIG, which SQLite reports as "database or disk is full".
	limit := func(fsize string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, prlimit, "--pid", strconv.Itoa(p.cmd.Process.Pid), "--fsize="+fsize).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	limit("1:") // the soft limit: the hard one stays, so that it can be raised again
	require.Error(t, start(), "a start on a full disk")
	next(healthpb.HealthCheckResponse_NOT_SERVING)
	status, _ := readyz(ctx, t, p.addr)
	require.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = healthz(ctx, t, p.addr)
	require.Equal(t, http.StatusOK, status)

	limit("unlimited:")
	next(healthpb.HealthCheckResponse_SERVING)
	status, _ = readyz(ctx, t, p.addr)
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, start())
}
