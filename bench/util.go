package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// checkPostgres fails early, with the URL, when the database does not
// answer.
func checkPostgres(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w (set --pg or LRO_BENCH_POSTGRES)", dsn, err)
	}
	return conn.Close(ctx)
}

// freshSchema drops and creates a schema for a case, and returns dsn with
// its search_path set to it, and a function that drops it.
func freshSchema(ctx context.Context, dsn, schema string, extra url.Values) (string, func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE; CREATE SCHEMA "+ident); err != nil {
		return "", nil, err
	}
	out, err := schemaDSN(dsn, schema, extra)
	if err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE")
			conn.Close(ctx)
		}
	}
	return out, drop, nil
}

// schemaDSN returns dsn with its search_path set to schema, and the extra
// parameters.
func schemaDSN(dsn, schema string, extra url.Values) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	for k, v := range extra {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// analyze vacuums a case's table and brings the planner's statistics up to
// date, as autovacuum does within a minute of a bulk load, and runs a
// checkpoint: the reads are measured in that steady state, not while
// autovacuum's pass over the freshly loaded table, or the checkpointer
// writing it out, competes with them.
func analyze(ctx context.Context, e *env, backend, name string) error {
	if backend != "pg" {
		return nil
	}
	dsn, err := schemaDSN(e.pg, lroSchema(name), nil)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err = conn.Exec(ctx, "VACUUM ANALYZE lro_operation"); err != nil {
		return err
	}
	// The load's dirty pages are written now rather than by the
	// checkpointer during the measurement. A role that may not is warned.
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		e.logger.Warn("CHECKPOINT before the reads", "error", err)
	}
	return nil
}

// startProfile starts a CPU profile of the case when --cpuprofile is set.
func startProfile(o *options) (func(), error) {
	return startProfileNamed(o, o.child)
}

// profilePhase ends the case's CPU profile so far and starts another, named
// CASE_PHASE, for a phase of the case: the measurement after a long
// loading, say.
func profilePhase(e *env, phase string) {
	if e.cpuProfile == "" {
		return
	}
	pprof.StopCPUProfile()
	if _, err := startProfileNamed(e.options, e.child+"_"+phase); err != nil {
		e.logger.Warn("profile", "error", err)
	}
}

func startProfileNamed(o *options, name string) (func(), error) {
	if o.cpuProfile == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(o.cpuProfile, name+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of durations, in
// milliseconds, by the nearest-rank method.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	rank = min(max(rank, 0), len(s)-1)
	return float64(s[rank]) / float64(time.Millisecond)
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// heapAllocs is what the process's heap has allocated so far, in bytes
// and objects (runtime/metrics).
type heapAllocs struct{ bytes, objects uint64 }

func readHeapAllocs() heapAllocs {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return heapAllocs{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

// addAllocsPerOp adds to f what the case's process allocated on the heap
// since from, per operation of n: CASE_alloc_bytes_per_op and
// CASE_allocs_per_op. Unlike a time, it does not move with a shared
// machine's load, so that a change's cost in allocations shows exactly,
// where its cost in throughput is lost in the noise.
func addAllocsPerOp(f figures, e *env, from heapAllocs, n int) figures {
	to := readHeapAllocs()
	f[e.child+"_alloc_bytes_per_op"] = float64(to.bytes-from.bytes) / float64(n)
	f[e.child+"_allocs_per_op"] = float64(to.objects-from.objects) / float64(n)
	return f
}
