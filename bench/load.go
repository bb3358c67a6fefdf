package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"lro.dev/lro/lropb"
)

// The gRPC clients of the cases that load the server with many of them run
// in a process of their own (the same binary, with --load), as clients do in
// deployments: in the server's process they would share its Go scheduler,
// whose goroutines waiting for the network are looked at late while every
// P is busy (for the SQLite reads, in a process of their own, p99 went from
// 4.3 ms to 1.6 ms), and its heap, which its RSS would count.

// runLoad runs a load process of the given kind against the server at addr
// and returns its figures.
func runLoad(ctx context.Context, e *env, kind, addr string, args ...string) (figures, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"--load", kind, "--addr", addr}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("load %s: %w", kind, err)
	}
	var figs figures
	if err := json.Unmarshal(out.Bytes(), &figs); err != nil {
		return nil, fmt.Errorf("load %s: read its figures: %w", kind, err)
	}
	return figs, nil
}

// loadMain is the load process: it runs one load and prints its figures.
func loadMain(ctx context.Context, kind, addr, namesFile string, n, workers int) error {
	var figs figures
	var err error
	switch kind {
	case "start":
		figs, err = figures{}, startSingles(ctx, addr, n)
	case "get":
		figs, err = getRandom(ctx, addr, namesFile, n)
	case "work", "stamp":
		figs, err = remoteWorker(ctx, kind, addr, workers)
	default:
		err = fmt.Errorf("unknown load %q", kind)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(figs)
}

// getters is how many goroutines the Get load runs: those of one client,
// sharing its gRPC connection, as gRPC's clients are meant to be used.
// With a connection each, the server makes a system call for every frame
// it reads and writes; sharing one, gRPC batches them.
const getters = 8

// getRandom gets n operations named in namesFile, picked at random, from
// getters clients at once, and returns the latency percentiles and the rate.
func getRandom(ctx context.Context, addr, namesFile string, n int) (figures, error) {
	b, err := os.ReadFile(namesFile)
	if err != nil {
		return nil, err
	}
	names := strings.Split(string(b), "\n")
	lat := make([][]time.Duration, getters)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	began := time.Now()
	conn, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ops := longrunningpb.NewOperationsClient(conn)
	for g := range getters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			lat[g] = make([]time.Duration, 0, n/getters)
			for range n / getters {
				req := &longrunningpb.GetOperationRequest{Name: names[rng.IntN(len(names))]}
				t := time.Now()
				op, err := ops.GetOperation(ctx, req)
				if err == nil && !op.GetDone() {
					err = fmt.Errorf("%s is not done", op.GetName())
				}
				if err != nil {
					failed.Store(&err)
					return
				}
				lat[g] = append(lat[g], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if err := failed.Load(); err != nil {
		return nil, *err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return nil, errors.New("no gets")
	}
	return figures{"get_p50_ms": percentile(all, 50), "get_p99_ms": percentile(all, 99), "gets_per_s": rate(len(all), elapsed)}, nil
}

// startSingles starts n no-op operations over gRPC from 64 clients, each
// with its own connection, one start at a time each.
func startSingles(ctx context.Context, addr string, n int) error {
	clients := make([]lropb.LroClient, singleClients)
	for i := range clients {
		conn, err := dial(addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		clients[i] = lropb.NewLroClient(conn)
	}
	req := &lropb.StartOperationRequest{Kind: noopKind}
	return singles(n, func(g int) error {
		_, err := clients[g].StartOperation(ctx, req)
		return err
	})
}
