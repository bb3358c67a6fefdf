package lrosqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
)

// BenchmarkOperationGet reads random operations among 100,000 (a database
// larger than SQLite's page cache) from RunParallel's goroutines, as
// GetOperation does (Brief) and in full.
func BenchmarkOperationGet(b *testing.B) {
	// A context that can be cancelled, as a gRPC call's is.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := lrosqlite.Open(ctx, filepath.Join(b.TempDir(), "lro.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n, batch = 100_000, 1_000
	ids := make([]string, 0, n)
	for len(ids) < n {
		params := &lrostore.OperationInsertManyParams{Now: time.Now()}
		for range batch {
			id := uuid.Must(uuid.NewV7()).String()
			ids = append(ids, id)
			params.Operations = append(params.Operations, &lrostore.OperationInsertParams{
				ID: id, Kind: "k", Input: make([]byte, 200), Metadata: make([]byte, 100), MetadataType: "type/m",
				RequestHash: make([]byte, 32), MaxAttempts: 3,
			})
		}
		if _, err := s.OperationInsertMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	for _, brief := range []bool{true, false} {
		b.Run(fmt.Sprintf("brief=%v", brief), func(b *testing.B) {
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := ids[next.Add(7919)%n] // a stride that visits every ID
					if _, err := s.OperationGet(ctx, &lrostore.OperationGetParams{ID: id, Brief: brief}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
