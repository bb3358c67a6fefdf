// Package pgtest gives tests a PostgreSQL database: the one whose URL is in
// the environment variable LRO_TEST_POSTGRES, with a fresh schema for each
// test, so that tests run in parallel without seeing each other's tables.
//
//	LRO_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test ./...
//
// Without LRO_TEST_POSTGRES, the tests that need PostgreSQL skip. When the
// database cannot be reached they skip too, with the error, unless
// LRO_TEST_POSTGRES_REQUIRED=1 (as in CI): then they fail, as they do when
// the variable is required but unset.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment variables.
const (
	EnvURL      = "LRO_TEST_POSTGRES"
	EnvRequired = "LRO_TEST_POSTGRES_REQUIRED"
)

// SkipMessage is why tests skip without EnvURL.
const SkipMessage = "set " + EnvURL + "=postgres://user@host:5432/db to run the PostgreSQL tests"

var (
	reachOnce sync.Once
	reachErr  error
)

// URL returns the database URL, after checking once per process that the
// database answers. It skips the test (or fails it, when EnvRequired is 1)
// without one.
func URL(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvURL)
	required := os.Getenv(EnvRequired) == "1"
	if dsn == "" {
		if required {
			t.Fatalf("%s=1 but %s is unset: %s", EnvRequired, EnvURL, SkipMessage)
		}
		t.Skip(SkipMessage)
	}
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		reachErr = err
	})
	if reachErr != nil {
		if required {
			t.Fatalf("%s: database unreachable: %v", EnvURL, reachErr)
		}
		t.Skipf("%s: database unreachable, skipping: %v", EnvURL, reachErr)
	}
	return dsn
}

// Schema creates a schema named lro_test_<random> for the test, dropped with
// everything in it when the test ends, and returns a DSN for it: URL's, with
// search_path set to the schema through the options parameter (-c
// search_path=...), so that every connection made from it, pooled or not,
// creates and finds its tables there. A key=value URL's own options are
// replaced.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := URL(t)
	schema := "lro_test_" + randomHex(6)
	exec(t, dsn, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { exec(t, dsn, `DROP SCHEMA `+schema+` CASCADE`) })
	out, err := WithSearchPath(dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WithSearchPath returns dsn with search_path set to schema.
func WithSearchPath(dsn, schema string) (string, error) {
	option := "-c search_path=" + schema
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: %s: %w", EnvURL, err)
		}
		q := u.Query()
		q.Set("options", strings.TrimSpace(q.Get("options")+" "+option))
		// Encode writes spaces as "+", which pgconn reads literally.
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String(), nil
	}
	return dsn + " options='" + option + "'", nil
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Name returns a random identifier that starts with prefix, for a
// notification channel or a schema of the test's own.
func Name(prefix string) string { return prefix + randomHex(6) }
