package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lro.dev/lro/internal/pgtest"
)

// inTempDir runs the test in a directory of its own, so that a store
// opened by mistake on a relative path lands there.
func inTempDir(t *testing.T) string {
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// serveNow runs lro serve with args on a context that is already
// cancelled: a server that starts stops at once.
func serveNow(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	all := append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)
	code := Main(ctx, all, &stdout, &stderr)
	return result{args: all, code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestEmptyDB(t *testing.T) {
	dir := inTempDir(t)
	t.Setenv(dbEnv, "sqlite:unused.db")
	for _, r := range []result{runCLI(t, nil, "migrate", "--db", ""), serveNow(t, "--db=")} {
		wantCode(t, r, 2)
		if !strings.HasPrefix(r.stderr, "lro: empty --db: want sqlite:PATH or postgres://…") {
			t.Errorf("lro %s: stderr %q", strings.Join(r.args, " "), r.stderr)
		}
	}
	// Set but empty, as a deployment's unset variable gives it.
	t.Setenv(dbEnv, "")
	for _, r := range []result{runCLI(t, nil, "migrate"), serveNow(t)} {
		wantCode(t, r, 2)
		if !strings.HasPrefix(r.stderr, "lro: $LRO_DB is set but empty") {
			t.Errorf("lro %s: stderr %q", strings.Join(r.args, " "), r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created: %v", entries)
	}
}

func TestMigrate(t *testing.T) {
	dir := inTempDir(t)
	abs := filepath.Join(dir, "abs", "z.db")
	if err := os.Mkdir(filepath.Dir(abs), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ db, file string }{
		{"sqlite:a.db", "a.db"},
		{"sqlite://b.db", "b.db"},
		{"sqlite:///c.db", "c.db"},
		{"sqlite:" + abs, abs},
		{"sqlite:///" + abs, abs},
	} {
		os.Remove(tt.file)
		r := runCLI(t, nil, "migrate", "--db", tt.db)
		wantCode(t, r, 0)
		if r.stdout != "created the schema at version 6\n" || r.stderr != "" {
			t.Errorf("migrate --db %s: stdout %q, stderr %q", tt.db, r.stdout, r.stderr)
		}
		if _, err := os.Stat(tt.file); err != nil {
			t.Errorf("migrate --db %s: %v", tt.db, err)
		}
		r = runCLI(t, nil, "migrate", "--db", tt.db)
		wantCode(t, r, 0)
		if r.stdout != "the schema is up to date, at version 6\n" || r.stderr != "" {
			t.Errorf("migrate --db %s again: stdout %q, stderr %q", tt.db, r.stdout, r.stderr)
		}
	}
}

func TestMigratePostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	r := runCLI(t, nil, "migrate", "--db", dsn)
	wantCode(t, r, 0)
	if r.stdout != "created the schema at version 7\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "migrate", "--db", dsn)
	wantCode(t, r, 0)
	if r.stdout != "the schema is up to date, at version 7\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestStoreErrors(t *testing.T) {
	dir := inTempDir(t)
	missing := filepath.Join(dir, "missing", "lro.db")
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"migrate", "--db", "sqlite:" + missing}, 1,
			"lro: lrosqlite: cannot create the database " + missing + ": the directory " + filepath.Dir(missing) + " does not exist\n"},
		{[]string{"migrate", "--db", "sqlite://"}, 1, `lro: db "sqlite://": no path; want sqlite:PATH`},
		{[]string{"migrate", "--db", "mysql://u:secret@h/db"}, 1, `lro: db "mysql://u:xxxxx@h/db": unknown store`},
		{[]string{"migrate", "--db", "postgres://u:secret@127.0.0.1:1/db?connect_timeout=5"}, 1, "lro: lropgx: "},
		{[]string{"serve", "--db", "sqlite:lro.db", "--heartbeat-interval", "20s"}, 2,
			"lro: invalid --heartbeat-interval 20s: must be at most half of --lease-ttl 30s\n"},
		{[]string{"serve", "--db", "sqlite:lro.db", "--lease-ttl", "1s", "--heartbeat-interval", "600ms"}, 2,
			"lro: invalid --heartbeat-interval 600ms: must be at most half of --lease-ttl 1s\n"},
		{[]string{"serve", "--db", "sqlite:lro.db", "--lease-ttl", "10ms"}, 2,
			"lro: invalid --lease-ttl 10ms: must be at least 100ms\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var r result
			if tt.args[0] == "serve" {
				r = serveNow(t, tt.args[1:]...)
			} else {
				r = runCLI(t, nil, tt.args...)
			}
			wantCode(t, r, tt.code)
			if !strings.HasPrefix(r.stderr, tt.wantErr) || strings.Contains(r.stderr, "secret") {
				t.Errorf("stderr %q, want it to start with %q (and no password)", r.stderr, tt.wantErr)
			}
		})
	}
}
