package main

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// noopArgs are the arguments of River's no-op job.
type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(ctx context.Context, job *river.Job[noopArgs]) error { return nil }

// riverThroughput inserts e.n no-op jobs and times them to completed, as
// lroThroughput does for lro. River is configured as its own benchmark
// configures it: FetchCooldown 2ms and FetchPollInterval 20ms (its defaults
// give about a tenth of the throughput here); its completions are counted
// from its event subscription, which reports a job once its completion is
// written, as its benchmark counts them.
func riverThroughput(ctx context.Context, e *env, mode startMode) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	name := map[startMode]string{batchStarts: "end_to_end", singleStarts64: "single_inserts_64", startedFirst: "bench_setup"}[mode]
	if e.riverConns > 0 {
		name += fmt.Sprintf("_pool%d", e.riverConns)
	}
	key := "river_" + name + "_jobs_per_s"
	schema := "river_bench_" + name
	extra := url.Values{}
	if e.riverConns > 0 {
		extra.Set("pool_max_conns", fmt.Sprint(e.riverConns))
	}
	dsn, drop, err := freshSchema(ctx, e.pg, schema, extra)
	if err != nil {
		return nil, err
	}
	defer drop()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: e.logger})
	if err != nil {
		return nil, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	maxWorkers := e.workers
	if mode == startedFirst {
		maxWorkers = firstWorkers
	}
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            e.logger,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Schema:            schema,
		Workers:           workers,
	})
	if err != nil {
		return nil, err
	}
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: e.n + 1000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer unsubscribe()
	var completed atomic.Int64
	reached := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		for ev := range events {
			if ev.Kind != river.EventKindJobCompleted {
				select {
				case failed <- fmt.Errorf("river job %d: %s (state %s)", ev.Job.ID, ev.Kind, ev.Job.State):
				default:
				}
				continue
			}
			if completed.Add(1) == int64(e.n) {
				close(reached)
			}
		}
	}()

	if mode == startedFirst {
		if err := riverInsertBatches(ctx, client, e.n, firstBatchSize); err != nil {
			return nil, err
		}
	}
	began, allocs := time.Now(), readHeapAllocs()
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client.Stop(stopCtx)
	}()
	inserting := make(chan error, 1)
	switch mode {
	case batchStarts:
		go func() { inserting <- riverInsertBatches(ctx, client, e.n, batchSize) }()
	case singleStarts64:
		go func() { inserting <- riverInsertSingles(ctx, client, e.n) }()
	case startedFirst:
		inserting <- nil
	}
	elapsed, err := awaitEnd(ctx, began, inserting, reached, failed, func() string {
		return fmt.Sprintf("%d of %d jobs completed", completed.Load(), e.n)
	})
	if err != nil {
		return nil, err
	}
	return addAllocsPerOp(figures{key: rate(e.n, elapsed)}, e, allocs, e.n), nil
}

func riverInsertBatches(ctx context.Context, client *river.Client[pgx.Tx], n, size int) error {
	params := make([]river.InsertManyParams, size)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{}}
	}
	for left := n; left > 0; left -= size {
		if _, err := client.InsertMany(ctx, params[:min(size, left)]); err != nil {
			return fmt.Errorf("river InsertMany: %w", err)
		}
	}
	return nil
}

func riverInsertSingles(ctx context.Context, client *river.Client[pgx.Tx], n int) error {
	return singles(n, func(int) error {
		if _, err := client.Insert(ctx, noopArgs{}, nil); err != nil {
			return fmt.Errorf("river Insert: %w", err)
		}
		return nil
	})
}
