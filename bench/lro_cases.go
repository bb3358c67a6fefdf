package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
	"lro.dev/lro/lrostore/lrosqlite"
)

var allCases = []benchCase{
	{"pg_end_to_end", "lro on PostgreSQL: batch starts, worked as they come",
		func(ctx context.Context, e *env) (figures, error) { return lroThroughput(ctx, e, "pg", batchStarts) }},
	{"river_end_to_end", "River: InsertMany batches, worked as they come",
		func(ctx context.Context, e *env) (figures, error) { return riverThroughput(ctx, e, batchStarts) }},
	{"pg_single_starts_64", "lro on PostgreSQL: single starts from 64 gRPC clients",
		func(ctx context.Context, e *env) (figures, error) { return lroThroughput(ctx, e, "pg", singleStarts64) }},
	{"pg_single_starts_64_library", "lro on PostgreSQL: single starts from 64 goroutines, in process (the library)",
		func(ctx context.Context, e *env) (figures, error) {
			return lroThroughput(ctx, e, "pg", singleStarts64Library)
		}},
	{"river_single_inserts_64", "River: single Inserts from 64 goroutines",
		func(ctx context.Context, e *env) (figures, error) { return riverThroughput(ctx, e, singleStarts64) }},
	{"river_single_inserts_64_pool16", "River: single Inserts from 64 goroutines, a pool of 16 connections",
		func(ctx context.Context, e *env) (figures, error) {
			e.riverConns = 16
			return riverThroughput(ctx, e, singleStarts64)
		}},
	{"pg_started_first", "lro on PostgreSQL: all started first, then worked by 2,000 workers",
		func(ctx context.Context, e *env) (figures, error) { return lroThroughput(ctx, e, "pg", startedFirst) }},
	{"river_bench_setup", "River's own bench set-up: all inserted first, then worked by 2,000 workers",
		func(ctx context.Context, e *env) (figures, error) { return riverThroughput(ctx, e, startedFirst) }},
	{"pg_remote_workers", "lro on PostgreSQL: batch starts, worked as they come by remote workers in another process, over gRPC",
		func(ctx context.Context, e *env) (figures, error) { return remoteThroughput(ctx, e) }},
	{"pg_single_starts_64_secure", "lro on PostgreSQL: single starts from 64 gRPC clients, over TLS with a bearer token",
		func(ctx context.Context, e *env) (figures, error) {
			if err := secure(e.dir); err != nil {
				return nil, err
			}
			return lroThroughput(ctx, e, "pg", singleStarts64)
		}},
	{"pg_remote_workers_secure", "lro on PostgreSQL: remote workers, over TLS with a bearer token",
		func(ctx context.Context, e *env) (figures, error) {
			if err := secure(e.dir); err != nil {
				return nil, err
			}
			return remoteThroughput(ctx, e)
		}},
	{"pg_end_to_end_observed", "lro on PostgreSQL: batch starts, worked as they come, with metrics and every span traced",
		func(ctx context.Context, e *env) (figures, error) {
			observe()
			return lroThroughput(ctx, e, "pg", batchStarts)
		}},
	{"pg_single_starts_64_observed", "lro on PostgreSQL: single starts from 64 gRPC clients, with metrics and every span traced",
		func(ctx context.Context, e *env) (figures, error) {
			observe()
			return lroThroughput(ctx, e, "pg", singleStarts64)
		}},
	{"pg_remote_latency", "lro on PostgreSQL: from a start to a waiting remote worker, one node",
		func(ctx context.Context, e *env) (figures, error) { return remoteLatency(ctx, e) }},
	{"sqlite_end_to_end", "lro on SQLite: batch starts, worked as they come",
		func(ctx context.Context, e *env) (figures, error) {
			return lroThroughput(ctx, e, "sqlite", batchStarts)
		}},
	{"sqlite_single_starts_64", "lro on SQLite: single starts from 64 gRPC clients",
		func(ctx context.Context, e *env) (figures, error) {
			return lroThroughput(ctx, e, "sqlite", singleStarts64)
		}},
	{"wait_pg", "lro on PostgreSQL: wait latency, one node and two",
		func(ctx context.Context, e *env) (figures, error) { return waitLatency(ctx, e, "pg") }},
	{"wait_sqlite", "lro on SQLite: wait latency",
		func(ctx context.Context, e *env) (figures, error) { return waitLatency(ctx, e, "sqlite") }},
	{"grpc_only_gets", "gRPC alone: GetOperation answered from memory, the reads' load, no store",
		func(ctx context.Context, e *env) (figures, error) { return grpcOnlyGets(ctx, e) }},
	{"reads_pg", "lro on PostgreSQL: reads among many stored operations",
		func(ctx context.Context, e *env) (figures, error) { return reads(ctx, e, "pg") }},
	{"reads_sqlite", "lro on SQLite: reads among many stored operations",
		func(ctx context.Context, e *env) (figures, error) { return reads(ctx, e, "sqlite") }},
}

// How a throughput case starts its operations.
type startMode int

const (
	// batchStarts: 1,000 per call while the workers run.
	batchStarts startMode = iota
	// singleStarts64: one per call from 64 concurrent clients while the
	// workers run (lro: each client its own gRPC connection).
	singleStarts64
	// startedFirst: all started first, 5,000 per call, then worked by 2,000
	// workers; only the working is timed.
	startedFirst
	// singleStarts64Library: one per call from 64 goroutines calling the
	// lro.Client in the server's process, as River's 64 goroutines call
	// River's: the same store work as singleStarts64 without gRPC.
	singleStarts64Library
)

const (
	batchSize       = 1000
	firstBatchSize  = 5000
	firstWorkers    = 2000
	singleClients   = 64
	caseTimeout     = 10 * time.Minute
	noopKind        = "bench.noop"
	gateKind        = "bench.gate"
	readKind        = "bench.read"
	grpcMaxMsgBytes = 16 << 20
)

type empty = *emptypb.Empty

// openStore opens a fresh store of the backend for a case.
func openStore(ctx context.Context, e *env, backend, name string) (lrostore.Store, func(), error) {
	switch backend {
	case "sqlite":
		path := filepath.Join(e.dir, name+".db")
		for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
			os.Remove(path + suffix)
		}
		s, err := lrosqlite.Open(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	case "pg":
		dsn, drop, err := freshSchema(ctx, e.pg, lroSchema(name), nil)
		if err != nil {
			return nil, nil, err
		}
		s, err := lropgx.Open(ctx, dsn)
		if err != nil {
			drop()
			return nil, nil, err
		}
		return s, func() { s.Close(); drop() }, nil
	}
	return nil, nil, fmt.Errorf("unknown backend %q", backend)
}

// lroSchema is the PostgreSQL schema of an lro case's store.
func lroSchema(name string) string { return "lro_bench_" + name }

// openNode opens another store on the same database as a case's first
// (PostgreSQL only): a second node.
func openNode(ctx context.Context, e *env, name string) (lrostore.Store, error) {
	dsn, err := schemaDSN(e.pg, lroSchema(name), nil)
	if err != nil {
		return nil, err
	}
	return lropgx.Open(ctx, dsn)
}

// finishCounter counts the operations the store records as finished, and
// closes reached when target of them are: the moment their results are
// durable, which is what a throughput case times.
// It also counts the store's calls and rows by method, for --stats.
type finishCounter struct {
	lrostore.Store
	target  int64
	done    atomic.Int64
	reached chan struct{}

	claims, claimed, finishes, finished, inserts, inserted atomic.Int64
}

func (s *finishCounter) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	ops, err := s.Store.OperationClaim(ctx, p)
	s.claims.Add(1)
	s.claimed.Add(int64(len(ops)))
	return ops, err
}

func (s *finishCounter) OperationInsertMany(ctx context.Context, p *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	s.inserts.Add(1)
	s.inserted.Add(int64(len(p.Operations)))
	return s.Store.OperationInsertMany(ctx, p)
}

// stats prints the calls and rows per call of each counted method.
func (s *finishCounter) stats(e *env, name string) {
	if !e.stats {
		return
	}
	per := func(rows, calls int64) float64 { return float64(rows) / float64(max(calls, 1)) }
	fmt.Fprintf(os.Stderr, "%s: inserts %d (%.1f rows each), claims %d (%.1f), finishes %d (%.1f)\n", name,
		s.inserts.Load(), per(s.inserted.Load(), s.inserts.Load()), s.claims.Load(), per(s.claimed.Load(), s.claims.Load()),
		s.finishes.Load(), per(s.finished.Load(), s.finishes.Load()))
}

func (s *finishCounter) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	res, err := s.Store.OperationFinishMany(ctx, p)
	s.finishes.Add(1)
	s.finished.Add(int64(len(p.Finishes)))
	n := int64(0)
	for _, r := range res {
		if r.Finished {
			n++
		}
	}
	if n > 0 {
		if total := s.done.Add(n); total >= s.target && total-n < s.target {
			close(s.reached)
		}
	}
	return res, err
}

// notifyingCounter keeps the store's Notifier visible through the counter.
type notifyingCounter struct {
	*finishCounter
	notifier lrostore.Notifier
}

func (s notifyingCounter) Listen(ctx context.Context, fn func(*lrostore.Event)) error {
	return s.notifier.Listen(ctx, fn)
}

func countFinishes(s lrostore.Store, target int) (lrostore.Store, *finishCounter) {
	c := &finishCounter{Store: s, target: int64(target), reached: make(chan struct{})}
	if n, ok := s.(lrostore.Notifier); ok {
		return notifyingCounter{c, n}, c
	}
	return c, c
}

func newClient(ctx context.Context, e *env, store lrostore.Store, workers int, register func(*lro.Client) error) (*lro.Client, error) {
	config := &lro.Config{Workers: workers, Logger: e.logger, TracerProvider: benchTracer}
	if os.Getenv(metricsEnv) != "" {
		config.Metrics = prometheus.NewRegistry() // measured, as lro serve does, but never scraped
	}
	c, err := lro.NewClient(store, config)
	if err != nil {
		return nil, err
	}
	if register != nil {
		if err := register(c); err != nil {
			return nil, err
		}
	}
	return c, c.Start(ctx)
}

func registerNoop(c *lro.Client) error {
	return lro.Register(c, lro.Kind[empty, empty, empty]{Name: noopKind,
		Run: func(ctx context.Context, j *lro.Job[empty, empty]) (empty, error) { return nil, nil }})
}

// serveGRPC serves the Operations and Lro services of client on a loopback
// port.
func serveGRPC(client *lro.Client) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	options := lrogrpc.ServerOptions()
	var register []lrogrpc.Option
	if security != nil {
		options = append(options, security.options...)
		register = append(register, security.authorize)
	}
	// With metrics or tracing on, the server measures and traces its calls
	// as lro serve does.
	var reg prometheus.Registerer
	if os.Getenv(metricsEnv) != "" {
		reg = prometheus.NewRegistry()
	}
	var tp trace.TracerProvider
	if os.Getenv(tracingEnv) == "1" {
		tp = benchTracer
	}
	options = append(options, server.InstrumentGRPC(reg, tp)...)
	srv := grpc.NewServer(options...)
	lrogrpc.Register(srv, client, register...)
	go srv.Serve(lis)
	return lis.Addr().String(), srv.Stop, nil
}

func dial(addr string) (*grpc.ClientConn, error) {
	opts, err := clientSecurity()
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return grpc.NewClient(addr, append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcMaxMsgBytes)))...)
}

// lroThroughput starts e.n no-op operations and times them to done.
func lroThroughput(ctx context.Context, e *env, backend string, mode startMode) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	name := map[startMode]string{batchStarts: "end_to_end", singleStarts64: "single_starts_64", startedFirst: "started_first",
		singleStarts64Library: "single_starts_64_library"}[mode] + secureSuffix() + observedSuffix()
	key := backend + "_" + name + "_ops_per_s"
	raw, closeStore, err := openStore(ctx, e, backend, name)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	store, counter := countFinishes(raw, e.n)
	workers := e.workers
	if mode == startedFirst {
		workers = firstWorkers
		loader, err := newClient(ctx, e, store, -1, registerNoop)
		if err != nil {
			return nil, err
		}
		if err := startBatches(ctx, loader, e.n, firstBatchSize); err != nil {
			return nil, err
		}
		loader.Stop(ctx)
	}
	began, allocs := time.Now(), readHeapAllocs()
	client, err := newClient(ctx, e, store, workers, registerNoop)
	if err != nil {
		return nil, err
	}
	defer client.Stop(context.Background())
	starting := make(chan error, 1)
	switch mode {
	case batchStarts:
		go func() { starting <- startBatches(ctx, client, e.n, batchSize) }()
	case singleStarts64:
		addr, stop, err := serveGRPC(client)
		if err != nil {
			return nil, err
		}
		defer stop()
		began = time.Now()
		go func() {
			_, err := runLoad(ctx, e, "start", addr, "--n", fmt.Sprint(e.n))
			starting <- err
		}()
	case singleStarts64Library:
		go func() { starting <- startSinglesLibrary(ctx, client, e.n) }()
	case startedFirst:
		starting <- nil
	}
	elapsed, err := awaitEnd(ctx, began, starting, counter.reached, nil, func() string {
		return fmt.Sprintf("%d of %d operations done", counter.done.Load(), e.n)
	})
	if err != nil {
		return nil, err
	}
	counter.stats(e, key)
	return addAllocsPerOp(figures{key: rate(e.n, elapsed)}, e, allocs, e.n), nil
}

// awaitEnd waits for the starts to end (starting) and for the last
// operation to be done (reached), in either order, and returns the time
// from began to the latter. An error from starting or failed, or the end of
// ctx, ends the wait; progress tells how far the case got.
func awaitEnd(ctx context.Context, began time.Time, starting <-chan error, reached <-chan struct{}, failed <-chan error, progress func() string) (time.Duration, error) {
	var elapsed time.Duration
	for elapsed == 0 || starting != nil {
		select {
		case <-reached:
			elapsed = time.Since(began)
			reached = nil
		case err := <-starting:
			if err != nil {
				return 0, err
			}
			starting = nil
		case err := <-failed:
			return 0, err
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %w", progress(), ctx.Err())
		}
	}
	return elapsed, nil
}

// startBatches starts n no-op operations, size per StartOperations call.
func startBatches(ctx context.Context, c *lro.Client, n, size int) error {
	reqs := make([]lro.StartRequest, size)
	for i := range reqs {
		reqs[i] = lro.StartRequest{Kind: noopKind}
	}
	for left := n; left > 0; left -= size {
		if _, err := c.StartOperations(ctx, reqs[:min(size, left)]); err != nil {
			return err
		}
	}
	return nil
}

// startSinglesLibrary starts n no-op operations from 64 goroutines, one
// start at a time each, through c's StartOperation.
func startSinglesLibrary(ctx context.Context, c *lro.Client, n int) error {
	req := &emptypb.Empty{}
	return singles(n, func(int) error {
		_, err := c.StartOperation(ctx, noopKind, req, nil)
		return err
	})
}

// singles makes n calls of call from singleClients goroutines, one call at
// a time each; g is the goroutine's number. It returns the first error,
// after which that goroutine stops.
func singles(n int, call func(g int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, singleClients)
	for g := range singleClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := call(g); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// gate is a handler that announces itself and returns when released,
// noting the moment it returns.
type gate struct {
	started chan *gateRun
}

type gateRun struct {
	release  chan struct{}
	returned time.Time
}

func (g *gate) register(c *lro.Client) error {
	return lro.Register(c, lro.Kind[empty, empty, empty]{Name: gateKind,
		Run: func(ctx context.Context, j *lro.Job[empty, empty]) (empty, error) {
			r := &gateRun{release: make(chan struct{})}
			g.started <- r
			select {
			case <-r.release:
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
			r.returned = time.Now()
			return nil, nil
		}})
}

// waitLatency measures the time from a handler's return to the return of a
// WaitOperation call that was waiting for it, over gRPC with Google's
// generated client: on the node that ran the handler and, on PostgreSQL,
// on a second node (its own pool and listener) that learns of the end from
// the database's notification.
func waitLatency(ctx context.Context, e *env, backend string) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	store, closeStore, err := openStore(ctx, e, backend, "wait")
	if err != nil {
		return nil, err
	}
	defer closeStore()
	g := &gate{started: make(chan *gateRun, 1)}
	nodeA, addrA, stopA, err := startNode(ctx, e, store, 10, g.register)
	if err != nil {
		return nil, err
	}
	defer stopA()
	samples := pick(e.quick, 200, 1000)
	out := figures{}
	prefix := map[string]string{"pg": "wait_", "sqlite": "wait_sqlite_"}[backend]
	lat, err := measureWaits(ctx, nodeA, g, addrA, samples)
	if err != nil {
		return nil, err
	}
	out[prefix+"p50_ms"], out[prefix+"p99_ms"] = percentile(lat, 50), percentile(lat, 99)
	if backend != "pg" {
		return out, nil
	}
	storeB, err := openNode(ctx, e, "wait")
	if err != nil {
		return nil, err
	}
	defer storeB.Close()
	_, addrB, stopB, err := startNode(ctx, e, storeB, -1, g.register)
	if err != nil {
		return nil, err
	}
	defer stopB()
	if lat, err = measureWaits(ctx, nodeA, g, addrB, samples); err != nil {
		return nil, err
	}
	out["wait_cross_node_p50_ms"], out["wait_cross_node_p99_ms"] = percentile(lat, 50), percentile(lat, 99)
	return out, nil
}

// startNode starts a client over store and serves it over gRPC; stop stops
// both.
func startNode(ctx context.Context, e *env, store lrostore.Store, workers int, register func(*lro.Client) error) (c *lro.Client, addr string, stop func(), err error) {
	c, err = newClient(ctx, e, store, workers, register)
	if err != nil {
		return nil, "", nil, err
	}
	addr, stopServing, err := serveGRPC(c)
	if err != nil {
		c.Stop(context.Background())
		return nil, "", nil, err
	}
	return c, addr, func() { stopServing(); c.Stop(context.Background()) }, nil
}

// waitArrival is how long the measurement lets a WaitOperation call reach
// the server and start waiting before it releases the handler.
const waitArrival = 5 * time.Millisecond

func measureWaits(ctx context.Context, starter *lro.Client, g *gate, waitAddr string, samples int) ([]time.Duration, error) {
	conn, err := dial(waitAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ops := longrunningpb.NewOperationsClient(conn)
	lat := make([]time.Duration, 0, samples)
	for range samples {
		op, err := starter.StartOperation(ctx, gateKind, nil, nil)
		if err != nil {
			return nil, err
		}
		var run *gateRun
		select {
		case run = <-g.started:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		type waited struct {
			op  *longrunningpb.Operation
			at  time.Time
			err error
		}
		ch := make(chan waited, 1)
		go func() {
			got, err := ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(30 * time.Second)})
			ch <- waited{got, time.Now(), err}
		}()
		time.Sleep(waitArrival)
		close(run.release)
		w := <-ch
		if w.err != nil {
			return nil, w.err
		}
		if !w.op.GetDone() {
			return nil, fmt.Errorf("%s: WaitOperation returned before the operation ended", op.GetName())
		}
		lat = append(lat, w.at.Sub(run.returned))
	}
	return lat, nil
}

// reads stores e.reads operations (a tenth failed with NOT_FOUND, the rest
// succeeded, each with metadata and a response), then measures GetOperation
// on random ones from 8 client goroutines and a walk through the pages of
// a filtered list, over gRPC with Google's generated client.
func reads(ctx context.Context, e *env, backend string) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*caseTimeout)
	defer cancel()
	raw, closeStore, err := openStore(ctx, e, backend, "reads")
	if err != nil {
		return nil, err
	}
	defer closeStore()
	store, counter := countFinishes(raw, e.reads)
	client, err := newClient(ctx, e, store, 200, func(c *lro.Client) error {
		return lro.Register(c, lro.Kind[*wrapperspb.Int64Value, *wrapperspb.Int64Value, *wrapperspb.StringValue]{Name: readKind,
			Run: func(ctx context.Context, j *lro.Job[*wrapperspb.Int64Value, *wrapperspb.Int64Value]) (*wrapperspb.StringValue, error) {
				v := j.Request.GetValue()
				if err := j.SetMetadata(wrapperspb.Int64(v)); err != nil {
					return nil, err
				}
				if v%10 == 0 {
					return nil, status.Errorf(codes.NotFound, "item %d not found", v)
				}
				return wrapperspb.String(fmt.Sprintf("item %d processed", v)), nil
			}})
	})
	if err != nil {
		return nil, err
	}
	defer client.Stop(context.Background())
	const keepNames = 100_000
	every := max(1, e.reads/keepNames)
	names := make([]string, 0, keepNames+1)
	reqs := make([]lro.StartRequest, 0, firstBatchSize)
	for i := range e.reads {
		reqs = append(reqs, lro.StartRequest{Kind: readKind, Request: wrapperspb.Int64(int64(i))})
		if len(reqs) == cap(reqs) || i == e.reads-1 {
			ops, err := client.StartOperations(ctx, reqs)
			if err != nil {
				return nil, err
			}
			for j, op := range ops {
				if (i-len(ops)+1+j)%every == 0 {
					names = append(names, op.GetName())
				}
			}
			reqs = reqs[:0]
		}
	}
	select {
	case <-counter.reached:
	case <-ctx.Done():
		return nil, fmt.Errorf("%d of %d operations done: %w", counter.done.Load(), e.reads, ctx.Err())
	}
	if err := analyze(ctx, e, backend, "reads"); err != nil {
		return nil, err
	}
	addr, stop, err := serveGRPC(client)
	if err != nil {
		return nil, err
	}
	defer stop()
	prefix := "reads_" + backend + "_"
	out := figures{prefix + "stored_operations": float64(e.reads)}

	profilePhase(e, "gets")
	namesFile := filepath.Join(e.dir, "reads_"+backend+".names")
	if err := os.WriteFile(namesFile, []byte(strings.Join(names, "\n")), 0o644); err != nil {
		return nil, err
	}
	gets, err := getLoad(ctx, e, addr, namesFile)
	if err != nil {
		return nil, err
	}
	for k, v := range gets {
		out[prefix+k] = v
	}

	profilePhase(e, "lists")
	conn, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ops := longrunningpb.NewOperationsClient(conn)
	pages := pick(e.quick, 50, 200)
	var listLat []time.Duration
	req := &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "error.code = 5", PageSize: 100}
	for range pages {
		t := time.Now()
		resp, err := ops.ListOperations(ctx, req)
		if err != nil {
			return nil, err
		}
		listLat = append(listLat, time.Since(t))
		for _, op := range resp.GetOperations() {
			if op.GetError().GetCode() != int32(codes.NotFound) {
				return nil, fmt.Errorf("the filtered list returned %s, which did not fail with NOT_FOUND", op.GetName())
			}
		}
		if len(resp.GetOperations()) != 100 && resp.GetNextPageToken() != "" {
			return nil, errors.New("a page short of its size has a next page")
		}
		if resp.GetNextPageToken() == "" {
			req.PageToken = "" // from the start again
		} else {
			req.PageToken = resp.GetNextPageToken()
		}
	}
	out[prefix+"list_p50_ms"], out[prefix+"list_p99_ms"] = percentile(listLat, 50), percentile(listLat, 99)
	return out, nil
}
