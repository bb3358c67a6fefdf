package lro_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore/lrosqlite"
)

// benchClient is a client on a SQLite file (durable commits) with a no-op
// kind "noop".
func benchClient(b *testing.B, workers int) *lro.Client {
	b.Helper()
	store, err := lrosqlite.Open(context.Background(), filepath.Join(b.TempDir(), "lro.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	c, err := lro.NewClient(store, &lro.Config{Workers: workers, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	lro.MustRegister(c, lro.Kind[*emptypb.Empty, *emptypb.Empty, *emptypb.Empty]{Name: "noop",
		Run: func(context.Context, *lro.Job[*emptypb.Empty, *emptypb.Empty]) (*emptypb.Empty, error) {
			return nil, nil
		}})
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

// startConcurrently starts b.N no-op operations from clients goroutines and
// returns their names.
func startConcurrently(b *testing.B, c *lro.Client, clients int) []string {
	names := make([]string, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				op, err := c.StartOperation(context.Background(), "noop", &emptypb.Empty{}, nil)
				if err != nil {
					b.Error(err)
					return
				}
				names[i] = op.GetName()
			}
		})
	}
	wg.Wait()
	return names
}

// BenchmarkStart measures durable starts on SQLite, from one goroutine and
// from 64 (whose starts share commits), with no workers running.
func BenchmarkStart(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(map[int]string{1: "Clients1", 64: "Clients64"}[clients], func(b *testing.B) {
			c := benchClient(b, -1)
			b.ResetTimer()
			began := time.Now()
			startConcurrently(b, c, clients)
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "ops/s")
		})
	}
}

// BenchmarkEndToEnd measures no-op operations started by 64 goroutines and
// worked to done by 100 workers on SQLite, durable commits throughout.
func BenchmarkEndToEnd(b *testing.B) {
	c := benchClient(b, 100)
	b.ResetTimer()
	began := time.Now()
	names := startConcurrently(b, c, 64)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				for {
					op, err := c.WaitOperation(context.Background(), names[i], time.Minute)
					if err != nil {
						b.Error(err)
						return
					}
					if op.GetDone() {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "ops/s")
}
