package server_test

// Multi-node tests: several `lro serve` processes share one PostgreSQL
// database and must act as one system: a wait or a cancellation sent to any
// node reaches the operation wherever it runs, a node that dies has its
// operations taken over by the others, and a database that restarts or goes
// away for a while is survived. They run when LRO_TEST_POSTGRES is set (see
// internal/pgtest), each on a schema, or a PostgreSQL server, of its own.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
)

// nodeShutdownGrace is the --shutdown-grace of the nodes these tests start.
const nodeShutdownGrace = time.Second

// leaseOwnerRE finds the process ID in a lease owner: the lro client's
// default ID is <host>-<pid>-<random>, and the host name may hold dashes.
var leaseOwnerRE = regexp.MustCompile(`^.*-(\d+)-[^-]+$`)

// node is one `lro serve` process on PostgreSQL.
type node struct {
	*serverProc
	pid  int
	conn *grpc.ClientConn
	ops  longrunningpb.OperationsClient
}

// runNode starts `lro serve --db dsn` with the nodes' grace, plus args,
// without waiting for it to listen.
func runNode(t *testing.T, name, dsn string, args ...string) *node {
	t.Helper()
	p := runProc(t, name, dsn, append([]string{"--shutdown-grace", nodeShutdownGrace.String()}, args...)...)
	return &node{serverProc: p, pid: p.cmd.Process.Pid}
}

// startNodes starts one node per name on dsn, all at once, and waits until
// each listens.
func startNodes(t *testing.T, dsn string, names ...string) []*node {
	t.Helper()
	return startNodesWith(t, dsn, nil, names...)
}

// startNodesWith is startNodes with args for every node (a flag given again
// in args wins).
func startNodesWith(t *testing.T, dsn string, args []string, names ...string) []*node {
	t.Helper()
	nodes := make([]*node, len(names))
	for i, name := range names {
		nodes[i] = runNode(t, name, dsn, args...)
	}
	for _, n := range nodes {
		addr, err := n.waitAddr()
		require.NoError(t, err, "%s did not start; stderr:\n%s", n.name, n.logs())
		n.addr = addr
		n.conn = n.dial()
		n.ops = longrunningpb.NewOperationsClient(n.conn)
	}
	return nodes
}

// waitLog waits until a line of the node's stderr matches re, and returns
// it; it fails the test after within, or if the node exits.
func (n *node) waitLog(re *regexp.Regexp, within time.Duration) string {
	n.t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	seen := 0
	for {
		n.mu.Lock()
		lines, changed := n.lines[seen:], n.changed
		seen = len(n.lines)
		n.mu.Unlock()
		for _, l := range lines {
			if re.MatchString(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-n.done:
			n.t.Fatalf("%s exited (%v) before logging %q", n.name, n.waitErr, re)
		case <-deadline.C:
			n.t.Fatalf("%s did not log %q within %v", n.name, re, within)
		}
	}
}

// linesFrom returns the node's stderr lines from index i on.
func (n *node) linesFrom(i int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.lines[i:])
}

func (n *node) lineCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.lines)
}

// others returns the nodes but n.
func others(nodes []*node, n *node) []*node {
	var out []*node
	for _, o := range nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// nodeOf returns the node whose process holds a lease, by the process ID in
// its owner.
func nodeOf(t *testing.T, nodes []*node, owner string) *node {
	t.Helper()
	m := leaseOwnerRE.FindStringSubmatch(owner)
	require.NotNil(t, m, "lease owner %q: want <host>-<pid>-<random>", owner)
	pid, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	for _, n := range nodes {
		if n.pid == pid {
			return n
		}
	}
	t.Fatalf("lease owner %q is none of the nodes", owner)
	return nil
}

// pgConn connects to dsn for the test's own reads; closed when the test ends.
func pgConn(ctx context.Context, t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func operationID(name string) string { return strings.TrimPrefix(name, "operations/") }

// storedOp is an operation's row, as far as these tests read it.
type storedOp struct {
	state   lrostore.State
	attempt int32
	owner   string // "" without a lease
}

// readRows reads the rows of the operations by name.
func readRows(ctx context.Context, t *testing.T, db *pgx.Conn, names []string) map[string]storedOp {
	t.Helper()
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = operationID(n)
	}
	rows, err := db.Query(ctx, `SELECT id::text, state, attempt, coalesce(lease_owner, '') FROM lro_operation WHERE id = ANY($1::uuid[])`, ids)
	require.NoError(t, err)
	out := map[string]storedOp{}
	var id string
	var r storedOp
	_, err = pgx.ForEachRow(rows, []any{&id, &r.state, &r.attempt, &r.owner}, func() error {
		out["operations/"+id] = r
		return nil
	})
	require.NoError(t, err)
	require.Len(t, out, len(names), "rows of %v", names)
	return out
}

// runner returns the node that runs the operation, read from its lease;
// it waits until the operation is claimed.
func runner(ctx context.Context, t *testing.T, db *pgx.Conn, nodes []*node, name string) *node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := readRows(ctx, t, db, []string{name})[name]
		require.False(t, r.state.Done(), "%s ended before its runner was seen", name)
		if r.state == lrostore.StateRunning {
			return nodeOf(t, nodes, r.owner)
		}
		require.True(t, time.Now().Before(deadline), "%s was not claimed within 10s", name)
		time.Sleep(5 * time.Millisecond) // no event tells the test of a claim
	}
}

func sleepResponse(t *testing.T, op *longrunningpb.Operation) *demopb.SleepResponse {
	t.Helper()
	require.True(t, op.GetDone(), "%v", op)
	require.Nil(t, op.GetError(), "%s failed", op.GetName())
	require.NotNil(t, op.GetResponse(), "%s has no response", op.GetName())
	resp := &demopb.SleepResponse{}
	require.NoError(t, op.GetResponse().UnmarshalTo(resp), op.GetName())
	return resp
}

// waitOp calls WaitOperation once, with a timeout long enough for the
// operations of these tests, and requires it to return the operation done.
func waitOp(ctx context.Context, t *testing.T, n *node, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := n.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(20 * time.Second)})
	require.NoError(t, err, "wait %s through %s", name, n.name)
	require.True(t, op.GetDone(), "wait %s through %s: not done: %v", name, n.name, op)
	return op
}

// durations summarises latencies for the log.
func durations(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.Round(100 * time.Microsecond).String()
	}
	return fmt.Sprintf("min %v, median %v, max %v (sorted: %s)", s[0].Round(100*time.Microsecond),
		s[len(s)/2].Round(100*time.Microsecond), s[len(s)-1].Round(100*time.Microsecond), strings.Join(parts, " "))
}

// skipShort skips with -short before a test makes a schema or a server
// (lroBinary would skip too, but later).
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
}

// readyz returns the status and body of GET /readyz.
func readyz(ctx context.Context, t *testing.T, addr string) (int, string) {
	t.Helper()
	return httpGet(ctx, t, addr, "", "/readyz")
}

// healthz returns the status and body of GET /healthz.
func healthz(ctx context.Context, t *testing.T, addr string) (int, string) {
	t.Helper()
	return httpGet(ctx, t, addr, "", "/healthz")
}

// httpGet sends GET http://addr+path with the Host header host ("" leaves
// the address), and returns the status and body.
func httpGet(ctx context.Context, t *testing.T, addr, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

func TestThreeNodesActAsOne(t *testing.T) {
	t.Parallel()
	skipShort(t)
	dsn := pgtest.Schema(t)
	lroBinary(t)
	ctx := testContext(t)
	db := pgConn(ctx, t, dsn)
	nodes := startNodes(t, dsn, "A", "B", "C")
	a := nodes[0]
	var all []string

	t.Run("wait across nodes", func(t *testing.T) {
		const n = 10
		// The median is the latency. Each wait is bound too, well under the
		// second of the servers' poll interval, with room for a loaded
		// machine's pause: a CI running every package's tests at once under
		// -race once paused one wait for 158 ms.
		const medianLatency, maxLatency = 100 * time.Millisecond, 500 * time.Millisecond
		var latencies []time.Duration
		ran := map[string]int{}
		for i := range n {
			name := startSleeps(ctx, t, a.conn, 1, time.Second)[0]
			all = append(all, name)
			// Any node answers at once for an operation started on another.
			for _, o := range nodes {
				_, err := o.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
				require.NoError(t, err, "get %s through %s right after its start", name, o.name)
			}
			run := runner(ctx, t, db, nodes, name)
			ran[run.name]++
			waiter := others(nodes, run)[i%2]
			op := waitOp(ctx, t, waiter, name)
			returned := time.Now()
			resp := sleepResponse(t, op)
			latency := returned.Sub(resp.GetEndTime().AsTime())
			t.Logf("%s ran on %s; the wait through %s returned %v after its end", name, run.name, waiter.name, latency.Round(100*time.Microsecond))
			latencies = append(latencies, latency)
		}
		t.Logf("cross-node wait latency, from the handler's end to the return of WaitOperation on another node, over %d operations: %s; runners %v",
			n, durations(latencies), ran)
		for i, l := range latencies {
			require.LessOrEqual(t, l, maxLatency, "wait %d of %v", i, all[i])
			require.Positive(t, l, "a wait returns after the end")
		}
		require.LessOrEqual(t, slices.Sorted(slices.Values(latencies))[n/2], medianLatency, "the median wait")
	})

	t.Run("cancel across nodes", func(t *testing.T) {
		const n = 3
		const maxLatency = time.Second
		var latencies []time.Duration
		for i := range n {
			name := startSleeps(ctx, t, nodes[i%len(nodes)].conn, 1, 30*time.Second)[0]
			all = append(all, name)
			awaitRunning(ctx, t, a.conn, []string{name}, 10*time.Second, func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == 1 })
			run := runner(ctx, t, db, nodes, name)
			rest := others(nodes, run)
			canceller, waiter := rest[i%2], rest[(i+1)%2]
			sent := time.Now()
			_, err := canceller.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
			require.NoError(t, err)
			op := waitOp(ctx, t, waiter, name)
			took := time.Since(sent)
			require.Nil(t, op.GetResponse(), name)
			require.EqualValues(t, code.Code_CANCELLED, op.GetError().GetCode(), "%s: %v", name, op.GetError())
			md := sleepMetadata(t, op)
			require.Less(t, md.GetProgressPercent(), int32(100), "%s: the handler stopped early", name)
			t.Logf("%s ran on %s, cancelled through %s, seen cancelled through %s %v after the cancel", name, run.name, canceller.name, waiter.name, took.Round(100*time.Microsecond))
			latencies = append(latencies, took)
			row := readRows(ctx, t, db, []string{name})[name]
			require.Equal(t, lrostore.StateCancelled, row.state, name)
			require.Empty(t, row.owner, "%s: the lease is gone", name)
		}
		t.Logf("cross-node cancel latency, from the CancelOperation call to the return of WaitOperation on a third node: %s", durations(latencies))
		for _, l := range latencies {
			require.LessOrEqual(t, l, maxLatency)
		}
	})

	t.Run("any node answers for any operation", func(t *testing.T) {
		require.NotEmpty(t, all)
		// Every operation is done: all nodes must give the same answer.
		for _, name := range all {
			var first *longrunningpb.Operation
			for _, n := range nodes {
				op, err := n.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
				require.NoError(t, err, "get %s through %s", name, n.name)
				require.True(t, op.GetDone(), name)
				if first == nil {
					first = op
					continue
				}
				require.True(t, proto.Equal(first, op), "%s through %s:\n%v\nthrough %s:\n%v", name, nodes[0].name, first, n.name, op)
			}
		}
		var lists [][]*longrunningpb.Operation
		for start, n := range nodes {
			var listed []*longrunningpb.Operation
			token := ""
			// Small pages, each through the next node: a page token made by
			// one node works on another.
			for page := 0; ; page++ {
				through := nodes[(start+page)%len(nodes)]
				res, err := through.ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{
					Name: "operations", PageSize: 5, PageToken: token})
				require.NoError(t, err, "list page %d through %s", page, through.name)
				listed = append(listed, res.GetOperations()...)
				token = res.GetNextPageToken()
				if token == "" {
					break
				}
			}
			var names []string
			for _, op := range listed {
				names = append(names, op.GetName())
			}
			require.ElementsMatch(t, all, names, "the operations listed through %s", n.name)
			lists = append(lists, listed)
		}
		for i := 1; i < len(lists); i++ {
			for j := range lists[0] {
				require.True(t, proto.Equal(lists[0][j], lists[i][j]), "list item %d through %s:\n%v\nthrough %s:\n%v",
					j, nodes[0].name, lists[0][j], nodes[i].name, lists[i][j])
			}
		}
	})
}

func TestKillOneOfThree(t *testing.T) {
	t.Parallel()
	skipShort(t)
	dsn := pgtest.Schema(t)
	lroBinary(t)
	ctx := testContext(t)
	db := pgConn(ctx, t, dsn)
	nodes := startNodes(t, dsn, "A", "B", "C")
	const n = 30
	const sleep = 3 * time.Second
	const rescueInterval = leaseTTL / 4 // the lro client's default

	names := make([]string, n)
	for i := range names {
		names[i] = startSleeps(ctx, t, nodes[i%len(nodes)].conn, 1, sleep)[0]
	}
	awaitRunning(ctx, t, nodes[0].conn, names, 10*time.Second, func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == 1 })
	owner := map[string]*node{}
	count := map[*node]int{}
	for name, r := range readRows(ctx, t, db, names) {
		require.Equal(t, lrostore.StateRunning, r.state, name)
		o := nodeOf(t, nodes, r.owner)
		owner[name] = o
		count[o]++
	}
	var victim *node
	for _, o := range nodes {
		if victim == nil || count[o] > count[victim] {
			victim = o
		}
	}
	require.Positive(t, count[victim])
	t.Logf("operations per node: A %d, B %d, C %d; killing %s", count[nodes[0]], count[nodes[1]], count[nodes[2]], victim.name)

	victim.kill()
	killed := time.Now()
	survivors := others(nodes, victim)
	var takeovers []time.Duration
	var last time.Time
	for i, name := range names {
		op := waitOp(ctx, t, survivors[i%2], name)
		resp := sleepResponse(t, op)
		md := sleepMetadata(t, op)
		require.NotNil(t, md, name)
		require.EqualValues(t, 100, md.GetProgressPercent(), name)
		require.GreaterOrEqual(t, resp.GetSlept().AsDuration(), sleep, name)
		require.True(t, resp.GetStartTime().AsTime().Equal(md.GetStartTime().AsTime()), "%s: the response and metadata are of one attempt", name)
		if end := resp.GetEndTime().AsTime(); end.After(last) {
			last = end
		}
		if owner[name] == victim {
			require.EqualValues(t, 2, md.GetAttempt(), "%s ran on the killed node %s: taken over", name, victim.name)
			started := md.GetStartTime().AsTime()
			require.True(t, started.After(killed), "%s: the second attempt started after the kill", name)
			takeovers = append(takeovers, started.Sub(killed))
		} else {
			require.EqualValues(t, 1, md.GetAttempt(), "%s ran on %s, which lives: never run twice", name, owner[name].name)
		}
	}
	total := time.Since(killed)
	t.Logf("take-over of %d operations, from the kill to the start of their second attempt: %s", len(takeovers), durations(takeovers))
	t.Logf("the last operation ended %v after the kill; all waits returned %v after it", last.Sub(killed).Round(time.Millisecond), total.Round(time.Millisecond))
	for _, d := range takeovers {
		// A lease lasts leaseTTL after the last heartbeat, before the kill;
		// a rescue looks every rescueInterval; the claim follows its event.
		require.LessOrEqual(t, d, leaseTTL+rescueInterval+time.Second)
	}
	require.LessOrEqual(t, total, leaseTTL+rescueInterval+sleep+2*time.Second)

	for name, r := range readRows(ctx, t, db, names) {
		require.Equal(t, lrostore.StateSucceeded, r.state, name)
		require.Empty(t, r.owner, name)
		want := int32(1)
		if owner[name] == victim {
			want = 2
		}
		require.Equal(t, want, r.attempt, name)
	}
	for _, s := range survivors {
		require.NotContains(t, s.logs(), "lease lost", "%s: no handler of a survivor lost its lease", s.name)
	}
}

// listeners counts the sessions whose last statement was LISTEN: one per
// node that listens for events.
func listeners(ctx context.Context, dsn string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n)
	return n, err
}

func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	skipShort(t)
	pg := pgtest.StartServer(t)
	lroBinary(t)
	ctx := testContext(t)
	dsn := pg.URL() // the server is the test's own: its public schema will do
	nodes := startNodes(t, dsn, "A", "B")
	const n = 10
	const sleep = 4 * time.Second

	names := make([]string, n)
	for i := range names {
		names[i] = startSleeps(ctx, t, nodes[i%len(nodes)].conn, 1, sleep)[0]
	}
	awaitRunning(ctx, t, nodes[0].conn, names, 10*time.Second, func(md *demopb.SleepMetadata) bool { return md.GetAttempt() == 1 })
	linesBefore := []int{nodes[0].lineCount(), nodes[1].lineCount()}

	began := time.Now()
	pg.Restart()
	restarted := time.Now()
	t.Logf("PostgreSQL restarted in %v", restarted.Sub(began).Round(time.Millisecond))

	// The nodes reconnect by themselves: each answers calls again, and
	// listens for events again.
	for _, nd := range nodes {
		deadline := time.Now().Add(5 * time.Second)
		var failed []error
		for {
			_, err := nd.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: names[0]})
			if err == nil {
				break
			}
			failed = append(failed, err)
			require.True(t, time.Now().Before(deadline), "%s does not answer 5s after the restart: %v", nd.name, err)
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s answers %v after the restart, after %d failed calls %v", nd.name, time.Since(restarted).Round(time.Millisecond), len(failed), failed)
	}
	for {
		c, err := listeners(ctx, dsn)
		require.NoError(t, err)
		if c == len(nodes) {
			break
		}
		require.Less(t, time.Since(restarted), 5*time.Second, "%d of %d nodes listen again 5s after the restart", c, len(nodes))
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("both nodes listen for events again %v after the restart", time.Since(restarted).Round(time.Millisecond))

	db := pgConn(ctx, t, dsn)
	final := map[string]*longrunningpb.Operation{}
	for i, name := range names {
		op := waitOp(ctx, t, nodes[i%2], name)
		resp := sleepResponse(t, op)
		md := sleepMetadata(t, op)
		require.NotNil(t, md, name)
		require.LessOrEqual(t, md.GetAttempt(), int32(2), name)
		require.EqualValues(t, 100, md.GetProgressPercent(), name)
		require.True(t, resp.GetEndTime().AsTime().After(resp.GetStartTime().AsTime()), name)
		require.True(t, resp.GetStartTime().AsTime().Equal(md.GetStartTime().AsTime()), "%s: the response and metadata are of one attempt", name)
		require.GreaterOrEqual(t, resp.GetSlept().AsDuration(), sleep, name)
		final[name] = op
	}
	attempts := map[int32]int{}
	for name, r := range readRows(ctx, t, db, names) {
		require.Equal(t, lrostore.StateSucceeded, r.state, name)
		require.Empty(t, r.owner, name)
		require.Equal(t, sleepMetadata(t, final[name]).GetAttempt(), r.attempt, "%s: the result is the last attempt's", name)
		attempts[r.attempt]++
	}
	t.Logf("operations by final attempt: %v", attempts)

	// The final state is stable: done once, and nothing writes it again.
	time.Sleep(time.Second)
	for i, name := range names {
		for _, nd := range []*node{nodes[i%2], nodes[(i+1)%2]} {
			op, err := nd.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
			require.NoError(t, err)
			require.True(t, proto.Equal(final[name], op), "%s changed after it ended:\n%v\nnow through %s:\n%v", name, final[name], nd.name, op)
		}
	}
	for i, nd := range nodes {
		for _, l := range nd.linesFrom(linesBefore[i]) {
			require.NotContains(t, l, "lease lost before the result was written", "%s: a result was written twice", nd.name)
			require.NotContains(t, l, "panicked", nd.name)
		}
	}
}

func TestNodeWithoutDatabase(t *testing.T) {
	t.Parallel()
	skipShort(t)
	pg := pgtest.StartServer(t)
	lroBinary(t)
	ctx := testContext(t)
	nd := startNodes(t, pg.URL(), "A")[0]
	health := healthpb.NewHealthClient(nd.conn)
	storeDownRE := regexp.MustCompile(`the store does not answer`)
	storeUpRE := regexp.MustCompile(`the store answers again`)
	const within = 3 * time.Second

	// The health service's stream says each change of status.
	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	statuses := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	go func() {
		defer close(statuses)
		for {
			res, err := watch.Recv()
			if err != nil {
				return
			}
			statuses <- res.GetStatus()
		}
	}()
	awaitStatus := func(want healthpb.HealthCheckResponse_ServingStatus, since time.Time) time.Duration {
		t.Helper()
		timeout := time.After(within + time.Second)
		for {
			select {
			case s, ok := <-statuses:
				require.True(t, ok, "the health stream ended")
				if s == want {
					return time.Since(since)
				}
			case <-timeout:
				t.Fatalf("the health status is not %v %v later", want, within+time.Second)
			}
		}
	}
	awaitStatus(healthpb.HealthCheckResponse_SERVING, time.Now())
	status, body := readyz(ctx, t, nd.addr)
	require.Equal(t, http.StatusOK, status, body)

	// awaitReadyz polls /readyz until it answers want, and returns how
	// long after since that was.
	awaitReadyz := func(want int, since time.Time) (time.Duration, string) {
		t.Helper()
		for {
			status, body := readyz(ctx, t, nd.addr)
			if status == want {
				return time.Since(since), body
			}
			require.Less(t, time.Since(since), within, "/readyz still answers %d %s", status, body)
			time.Sleep(20 * time.Millisecond) // no event tells an HTTP client
		}
	}

	lines := nd.lineCount()
	stopping := time.Now()
	pg.Stop()
	t.Logf("PostgreSQL stopped in %v", time.Since(stopping).Round(time.Millisecond))

	took, body := awaitReadyz(http.StatusServiceUnavailable, stopping)
	t.Logf("/readyz answered 503 %v after PostgreSQL began to stop: %s", took.Round(time.Millisecond), strings.TrimSpace(body))
	require.Contains(t, body, `"NOT_SERVING"`)
	require.Contains(t, body, `"STORE_UNAVAILABLE"`)
	status, body = healthz(ctx, t, nd.addr)
	require.Equal(t, http.StatusOK, status, "live while the store is down: %s", body)
	took = awaitStatus(healthpb.HealthCheckResponse_NOT_SERVING, stopping)
	t.Logf("the gRPC health status turned NOT_SERVING %v after PostgreSQL began to stop", took.Round(time.Millisecond))
	require.LessOrEqual(t, took, within)
	check, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, check.GetStatus())
	nd.waitLog(storeDownRE, within)

	// Over a few seconds without the database, the node says so once, and
	// no message comes again and again: nothing spins.
	window := within + time.Second
	select {
	case <-time.After(time.Until(stopping.Add(window))):
	case <-nd.done:
		t.Fatalf("%s exited without its database: %v", nd.name, nd.waitErr)
	}
	down := nd.linesFrom(lines)
	msgRE := regexp.MustCompile(`\bmsg=("(?:[^"\\]|\\.)*"|\S+)`)
	seen := map[string]int{}
	for _, l := range down {
		m := msgRE.FindStringSubmatch(l)
		require.NotNil(t, m, "a log line without msg: %s", l)
		seen[m[1]]++
	}
	t.Logf("%d lines logged in the %v without PostgreSQL: %v", len(down), window, seen)
	n := 0
	for _, l := range down {
		if storeDownRE.MatchString(l) {
			n++
		}
	}
	require.Equal(t, 1, n, "the store not answering is logged once")
	for msg, c := range seen {
		require.Equal(t, 1, c, "logged %d times in %v: %s", c, window, msg)
	}
	require.LessOrEqual(t, len(down), 8, "a few lines, not a stream:\n%s", strings.Join(down, "\n"))

	// Clients are told that the store is unavailable, and nothing of where
	// it is or who connects to it: that is for the log.
	requireStoreUnavailable(ctx, t, pg, nd)

	pg.Start()
	started := time.Now()
	took, body = awaitReadyz(http.StatusOK, started)
	t.Logf("/readyz answered 200 %v after PostgreSQL started again", took.Round(time.Millisecond))
	require.JSONEq(t, `{"status":"SERVING"}`, body)
	took = awaitStatus(healthpb.HealthCheckResponse_SERVING, started)
	t.Logf("the gRPC health status turned SERVING %v after PostgreSQL started again", took.Round(time.Millisecond))
	require.LessOrEqual(t, took, within)
	nd.waitLog(storeUpRE, time.Second)

	// It serves calls again: an operation starts, runs and ends.
	name := startSleeps(ctx, t, nd.conn, 1, time.Second)[0]
	op := waitOp(ctx, t, nd, name)
	resp := sleepResponse(t, op)
	t.Logf("an operation of %v, started once the node was healthy again, succeeded %v after PostgreSQL started",
		resp.GetSlept().AsDuration().Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
}

// TestOutageWhileResultsAreWritten: the database goes away just as the
// handlers return, and comes back soon, well within the leases. The results
// are kept (written once it answers), so no operation runs a second time.
func TestOutageWhileResultsAreWritten(t *testing.T) {
	t.Parallel()
	skipShort(t)
	pg := pgtest.StartServer(t)
	lroBinary(t)
	ctx := testContext(t)
	dsn := pg.URL()
	// The leases outlast the outage by far. With the tests' 2s leases,
	// renewed every 667ms, a lease can run out within 1.3s of the database
	// going away; stopping and starting it took 1.1s on a busy machine, and
	// the other node then rightly took an operation over.
	nodes := startNodesWith(t, dsn, []string{"--lease-ttl", "8s"}, "A", "B")
	const n = 10
	names := make([]string, n)
	for i := range names {
		names[i] = startSleeps(ctx, t, nodes[i%len(nodes)].conn, 1, 3*time.Second)[0]
	}
	// The last start may come several hundred milliseconds after the
	// first on a loaded machine: the first operation must still be running
	// when the last has reached the mark, 600 ms before its end.
	awaitRunning(ctx, t, nodes[0].conn, names, 10*time.Second, func(md *demopb.SleepMetadata) bool {
		return md.GetProgressPercent() >= 80
	})
	pg.Stop()
	time.Sleep(700 * time.Millisecond) // the outage: the handlers return meanwhile
	pg.Start()
	for i, name := range names {
		op := waitOp(ctx, t, nodes[i%2], name)
		sleepResponse(t, op)
		require.Equal(t, int32(1), sleepMetadata(t, op).GetAttempt(), "%s ran again: its result was lost", name)
	}
}

// requireStoreUnavailable checks, while the node's database is down, that
// every call over gRPC and HTTP, and /healthz, says UNAVAILABLE (503) with
// reason STORE_UNAVAILABLE, and that no answer names the database's host,
// port, user or driver.
func requireStoreUnavailable(ctx context.Context, t *testing.T, pg *pgtest.Server, nd *node) {
	t.Helper()
	secrets := []string{"127.0.0.1", strconv.Itoa(pg.Port()), "user=", "database=", "dial", "SQLSTATE", "connect"}
	requireClean := func(what, text string) {
		t.Helper()
		for _, s := range secrets {
			require.NotContains(t, text, s, "%s tells a client about the store: %s", what, text)
		}
	}
	name := "operations/" + uuid.NewString()
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"GetOperation": func() error {
			_, err := nd.ops.GetOperation(callCtx, &longrunningpb.GetOperationRequest{Name: name})
			return err
		},
		"ListOperations": func() error {
			_, err := nd.ops.ListOperations(callCtx, &longrunningpb.ListOperationsRequest{Name: "operations"})
			return err
		},
		"CancelOperation": func() error {
			_, err := nd.ops.CancelOperation(callCtx, &longrunningpb.CancelOperationRequest{Name: name})
			return err
		},
		"DeleteOperation": func() error {
			_, err := nd.ops.DeleteOperation(callCtx, &longrunningpb.DeleteOperationRequest{Name: name})
			return err
		},
		"WaitOperation": func() error {
			_, err := nd.ops.WaitOperation(callCtx, &longrunningpb.WaitOperationRequest{Name: name})
			return err
		},
		"StartOperation": func() error {
			_, err := lropb.NewLroClient(nd.conn).StartOperation(callCtx, &lropb.StartOperationRequest{Kind: "demo.sleep"})
			return err
		},
	}
	for method, call := range calls {
		err := call()
		st := status.Convert(err)
		require.Equal(t, codes.Unavailable, st.Code(), "%s: %v", method, err)
		require.Contains(t, st.Message(), "the store is unavailable", method)
		var reason string
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		require.Equal(t, "STORE_UNAVAILABLE", reason, method)
		requireClean(method, fmt.Sprint(st.Proto()))
	}
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/" + name, ""},
		{http.MethodGet, "/v1/operations", ""},
		{http.MethodPost, "/v1/operations:start", `{"kind": "demo.sleep"}`},
		{http.MethodPost, "/v1/" + name + ":cancel", ""},
		{http.MethodGet, "/readyz", ""},
	} {
		r, err := http.NewRequestWithContext(callCtx, req.method, "http://"+nd.addr+req.path, strings.NewReader(req.body))
		require.NoError(t, err)
		r.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "%s %s: %s", req.method, req.path, body)
		require.Contains(t, string(body), "the store is unavailable", "%s %s", req.method, req.path)
		requireClean(req.method+" "+req.path, string(body))
	}
}
