package server_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGetShowsLeaseAfterKill: after kill -9, the operation the dead server
// ran still shows running until its lease expires; lro get says when that
// is, so that an operator can tell the dead worker from a live one.
func TestGetShowsLeaseAfterKill(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "lro.db")
	first := startServer(t, "first", db, "--lease-ttl", "30s")
	name := startSleeps(ctx, t, first.dial(), 1, 50*time.Second)[0] // under a minute: the input takes seconds
	leaseRE := regexp.MustCompile(`(?m)^lease:    expires in (\S+) \(\S+\) unless its worker renews it$`)
	r := runCLI(ctx, t, first.addr, "get", name)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "state:    running\n")
	require.Regexp(t, leaseRE, r.stdout)
	first.kill()

	second := startServer(t, "second", db, "--lease-ttl", "30s")
	r = runCLI(ctx, t, second.addr, "get", name)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "state:    running\n", "the dead server's lease holds")
	m := leaseRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "no lease line in\n%s", r.stdout)
	left, err := time.ParseDuration(m[1])
	require.NoError(t, err)
	require.LessOrEqual(t, left, 30*time.Second)

	r = runCLI(ctx, t, second.addr, "get", name, "-o", "json")
	require.Equal(t, 0, r.code)
	require.False(t, strings.Contains(r.stdout, "lease"), "JSON is the Operation alone")
}
