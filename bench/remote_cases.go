package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
)

// The remote cases: the operations are started and kept by an lro server
// (a client without workers, serving gRPC), and worked by a remote client
// (lro.NewRemoteClient) in a process of its own, over the Workers service,
// as a Go team that deploys its workers apart from its API server would.

const (
	stampKind      = "bench.stamp"
	latencySamples = 1000
	latencyWorkers = 10
)

type stamp = *wrapperspb.Int64Value

// declareNoop registers the no-op kind without a handler: remote workers
// run it.
func declareNoop(c *lro.Client) error {
	return lro.Register(c, lro.Kind[empty, empty, empty]{Name: noopKind})
}

// remoteThroughput starts e.n no-op operations in batches on a server that
// runs none of them, worked as they come by e.workers slots of a remote
// client in another process, and times them to done.
func remoteThroughput(ctx context.Context, e *env) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	key := "pg_remote_workers" + secureSuffix() + "_ops_per_s"
	raw, closeStore, err := openStore(ctx, e, "pg", "remote_workers"+secureSuffix())
	if err != nil {
		return nil, err
	}
	defer closeStore()
	store, counter := countFinishes(raw, e.n)
	client, err := newClient(ctx, e, store, -1, declareNoop)
	if err != nil {
		return nil, err
	}
	defer client.Stop(context.Background())
	addr, stop, err := serveGRPC(client)
	if err != nil {
		return nil, err
	}
	defer stop()
	worker, err := startWorker(ctx, "work", addr, "--workers", fmt.Sprint(e.workers))
	if err != nil {
		return nil, err
	}
	defer worker.stop()
	began := time.Now()
	starting := make(chan error, 1)
	go func() { starting <- startBatches(ctx, client, e.n, batchSize) }()
	elapsed, err := awaitEnd(ctx, began, starting, counter.reached, worker.failed, func() string {
		return fmt.Sprintf("%d of %d operations done", counter.done.Load(), e.n)
	})
	if err != nil {
		return nil, err
	}
	counter.stats(e, key)
	return figures{key: rate(e.n, elapsed)}, nil
}

// remoteLatency starts latencySamples operations one after the other on a
// server that runs none of them, each once the one before is done, while a
// remote client in another process waits for them; the remote handler
// measures the time from the start (the request carries it) to its call.
func remoteLatency(ctx context.Context, e *env) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	store, closeStore, err := openStore(ctx, e, "pg", "remote_latency")
	if err != nil {
		return nil, err
	}
	defer closeStore()
	client, err := newClient(ctx, e, store, -1, func(c *lro.Client) error {
		return lro.Register(c, lro.Kind[stamp, empty, empty]{Name: stampKind})
	})
	if err != nil {
		return nil, err
	}
	defer client.Stop(context.Background())
	addr, stop, err := serveGRPC(client)
	if err != nil {
		return nil, err
	}
	defer stop()
	worker, err := startWorker(ctx, "stamp", addr, "--workers", fmt.Sprint(latencyWorkers))
	if err != nil {
		return nil, err
	}
	defer worker.stop()
	for range latencySamples {
		op, err := client.StartOperation(ctx, stampKind, wrapperspb.Int64(time.Now().UnixNano()), nil)
		if err != nil {
			return nil, err
		}
		for !op.GetDone() {
			if op, err = client.WaitOperation(ctx, op.GetName(), time.Minute); err != nil {
				return nil, err
			}
		}
		if op.GetError() != nil {
			return nil, fmt.Errorf("%s failed: %v", op.GetName(), op.GetError())
		}
	}
	return worker.figures()
}

// workerProc is a remote worker process: this binary with --load.
type workerProc struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	failed chan error // receives the process's error if it ends early
	once   sync.Once
}

// startWorker runs a remote worker process against the server at addr
// and returns once it claims.
func startWorker(ctx context.Context, kind, addr string, args ...string) (*workerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"--load", kind, "--addr", addr}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &workerProc{cmd: cmd, out: bufio.NewReader(stdout), failed: make(chan error, 1)}
	line, err := w.out.ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("worker %s: not ready: %q %v", kind, line, err)
	}
	return w, nil
}

// figures stops the worker and returns the figures it prints.
func (w *workerProc) figures() (figures, error) {
	w.cmd.Process.Signal(syscall.SIGTERM)
	var figs figures
	err := json.NewDecoder(w.out).Decode(&figs)
	if werr := w.cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return figs, nil
}

func (w *workerProc) stop() {
	w.once.Do(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
			w.cmd.Wait()
		}
	})
}

// remoteWorker is the worker process of the remote cases: a remote client
// with the given worker slots, running the no-op kind (work) or the kind
// that measures its start's latency (stamp), until the process is told to
// stop. It prints "ready" once it runs, and its figures when it stops.
func remoteWorker(ctx context.Context, kind, addr string, workers int) (figures, error) {
	conn, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c, err := lro.NewRemoteClient(conn, &lro.Config{Workers: workers, TracerProvider: benchTracer})
	if err != nil {
		return nil, err
	}
	var (
		mu  sync.Mutex
		lat = make([]time.Duration, 0, latencySamples)
	)
	switch kind {
	case "work":
		err = registerNoop(c)
	case "stamp":
		err = lro.Register(c, lro.Kind[stamp, empty, empty]{Name: stampKind,
			Run: func(ctx context.Context, j *lro.Job[stamp, empty]) (empty, error) {
				d := time.Duration(time.Now().UnixNano() - j.Request.GetValue())
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				return nil, nil
			}})
	}
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	fmt.Println("ready")
	<-ctx.Done()
	if err := c.Stop(context.Background()); err != nil {
		return nil, err
	}
	if kind != "stamp" {
		return figures{}, nil
	}
	mu.Lock()
	defer mu.Unlock()
	return figures{"pg_remote_claim_latency_p50_ms": percentile(lat, 50), "pg_remote_claim_latency_p99_ms": percentile(lat, 99)}, nil
}
