package lropgx_test

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore/lropgx"
)

// databaseURL names the application's database, such as
// postgres://user@host:5432/db. TestMain sets it to a schema of its own in
// the tests' database.
var databaseURL string

// An application that has a pgxpool.Pool of its own, configured as it
// likes, gives it to lro: New creates or migrates lro's tables in the
// pool's schema, and the pool still serves the application's own queries.
// Several processes on one database act as one: any of them answers for any
// operation.
func ExampleNew() {
	ctx := context.Background()
	config, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		log.Fatal(err)
	}
	config.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // after the store's Close: the pool is the application's

	store, err := lropgx.New(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client, err := lro.NewClient(store, &lro.Config{})
	if err != nil {
		log.Fatal(err)
	}
	lro.MustRegister(client, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: "example.echo",
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			return job.Request, nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	op, err := client.StartOperation(ctx, "example.echo", wrapperspb.String("hello"), nil)
	if err != nil {
		log.Fatal(err)
	}
	op, err = client.WaitOperation(ctx, op.GetName(), 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	resp := &wrapperspb.StringValue{}
	if err := op.GetResponse().UnmarshalTo(resp); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", op.GetDone(), "response:", resp.GetValue())

	// The same pool, for the application's own queries.
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM lro_operation`).Scan(&stored); err != nil {
		log.Fatal(err)
	}
	fmt.Println("operations stored:", stored)
	// Output:
	// done: true response: hello
	// operations stored: 1
}

// TestMain gives ExampleNew a schema of its own in the database of
// LRO_TEST_POSTGRES, dropped after the tests. A Go example cannot skip
// itself, so without that database (or when it cannot be reached) TestMain
// adds ExampleNew to -test.skip, and the example is skipped as the other
// PostgreSQL tests are (pgtest.URL); with LRO_TEST_POSTGRES_REQUIRED=1 the
// package fails instead.
func TestMain(m *testing.M) {
	flag.Parse()
	dsn := os.Getenv(pgtest.EnvURL)
	required := os.Getenv(pgtest.EnvRequired) == "1"
	var drop func()
	var err error
	if dsn == "" {
		err = fmt.Errorf("%s is unset: %s", pgtest.EnvURL, pgtest.SkipMessage)
	} else {
		databaseURL, drop, err = exampleSchema(dsn)
	}
	if err != nil {
		if required {
			fmt.Fprintf(os.Stderr, "%s=1, but ExampleNew has no database: %v\n", pgtest.EnvRequired, err)
			os.Exit(1)
		}
		skip := "^ExampleNew$"
		if cur := flag.Lookup("test.skip").Value.String(); cur != "" {
			skip = cur + "|" + skip
		}
		if err := flag.Set("test.skip", skip); err != nil {
			panic(err)
		}
		if testing.Verbose() {
			fmt.Printf("--- SKIP: ExampleNew: %v\n", err)
		}
	}
	code := m.Run()
	if drop != nil {
		drop()
	}
	os.Exit(code)
}

// exampleSchema creates a schema with a random name in dsn's database and
// returns a DSN for it and a function that drops it.
func exampleSchema(dsn string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("%s: database unreachable: %w", pgtest.EnvURL, err)
	}
	defer conn.Close(ctx)
	schema := pgtest.Name("lro_example_")
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("%s: %w", pgtest.EnvURL, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			_, err = conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			conn.Close(ctx)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "drop schema %s: %v\n", schema, err)
		}
	}
	out, err := pgtest.WithSearchPath(dsn, schema)
	if err != nil {
		drop()
		return "", nil, err
	}
	return out, drop, nil
}
