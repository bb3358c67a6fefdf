package server_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
)

// promptExit bounds how long a server that releases at once may take to
// exit: far less than any grace these tests give.
const promptExit = 5 * time.Second

var shuttingDownRE = regexp.MustCompile(`msg="(lro shutting down)"`)

func TestShutdownGraceZeroReleasesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")

	first := startServer(t, "first", db, "--shutdown-grace", "0")
	names := startRunning(ctx, t, first)
	took, err := first.terminate(promptExit)
	require.NoError(t, err, "exit status after SIGTERM; stderr:\n%s", first.logs())
	t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
	requireReleasedAndRunAgain(ctx, t, first, db, names)
}

func TestSecondSignalReleasesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")

	first := startServer(t, "first", db, "--shutdown-grace", "10m")
	names := startRunning(ctx, t, first)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	first.awaitLog(ctx, shuttingDownRE)
	// The first signal leaves the handlers their grace: they still run.
	select {
	case <-first.done:
		t.Fatalf("the server exited at the first signal; stderr:\n%s", first.logs())
	default:
	}
	took, err := first.terminate(promptExit)
	require.NoError(t, err, "exit status after a second SIGTERM; stderr:\n%s", first.logs())
	t.Logf("exited %v after the second SIGTERM", took.Round(time.Millisecond))
	requireReleasedAndRunAgain(ctx, t, first, db, names)
}

// startRunning starts two long demo.sleep operations on p and waits until
// they run.
func startRunning(ctx context.Context, t *testing.T, p *serverProc) []string {
	t.Helper()
	conn := p.dial()
	names := startSleeps(ctx, t, conn, 2, 50*time.Second)
	awaitRunning(ctx, t, conn, names, 10*time.Second, func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == 1 })
	conn.Close()
	return names
}

// requireReleasedAndRunAgain checks that the stopped server p released the
// operations, and that a new server on its file, started right away, runs
// them at once with their attempt not counted.
func requireReleasedAndRunAgain(ctx context.Context, t *testing.T, p *serverProc, db string, names []string) {
	t.Helper()
	released := 0
	for _, m := range releasedRE.FindAllStringSubmatch(p.logs(), -1) {
		c, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		released += c
	}
	require.Equal(t, len(names), released, "operations released, as logged")

	restarted := time.Now()
	second := startServer(t, "second", db)
	conn := second.dial()
	// awaitRunning fails the test unless they run within the lease TTL, the
	// least time before a rescue.
	awaitRunning(ctx, t, conn, names, leaseTTL, func(md *demopb.SleepMetadata) bool {
		return md.GetStartTime().AsTime().After(restarted)
	})
	ops := longrunningpb.NewOperationsClient(conn)
	for _, name := range names {
		op, err := ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err)
		require.EqualValues(t, 1, sleepMetadata(t, op).GetAttempt(), "%s: a release does not count an attempt", name)
	}
	second.kill()
	for name, op := range readStore(ctx, t, db, names) {
		require.Equal(t, lrostore.StateRunning, op.State, name)
		require.EqualValues(t, 1, op.Attempt, name)
	}
}

// awaitLog waits until p logs a line that re matches.
func (p *serverProc) awaitLog(ctx context.Context, re *regexp.Regexp) {
	p.t.Helper()
	for {
		p.mu.Lock()
		changed := p.changed
		p.mu.Unlock()
		if _, ok := p.find(re); ok {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			if _, ok := p.find(re); ok {
				return
			}
			p.t.Fatalf("%s exited before logging %s; stderr:\n%s", p.name, re, p.logs())
		case <-ctx.Done():
			p.t.Fatalf("%s did not log %s: %v", p.name, re, ctx.Err())
		}
	}
}
