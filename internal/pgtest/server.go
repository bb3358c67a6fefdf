package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	execpkg "os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBin names the directory of the PostgreSQL programs (initdb, pg_ctl,
// postgres) that StartServer runs. Without it, StartServer looks for them
// in PATH, then in the usual places of Linux packages
// (/usr/lib/postgresql/<version>/bin, newest first; /usr/pgsql-<version>/bin;
// /usr/local/pgsql/bin).
const EnvBin = "LRO_TEST_POSTGRES_BIN"

// serverTimeout bounds how long the server may take to start or stop.
const serverTimeout = 60 * time.Second

// Server is a PostgreSQL server of a test's own, made by StartServer: a
// fresh cluster in a temporary directory, listening on 127.0.0.1 only, that
// the test may stop, start and restart, as when a database fails over. It
// is durable (fsync on): what was committed before a stop is there after a
// start. Its methods fail the test on error; call them from the test's
// goroutine.
type Server struct {
	t       testing.TB
	bin     string   // the directory of initdb, pg_ctl and postgres
	runAs   []string // the command prefix that runs a program as the postgres OS user, when the test runs as root
	dir     string   // the server's own directory: data, socket, log
	data    string
	logFile string
	port    int

	mu      sync.Mutex
	running bool
}

// StartServer creates a PostgreSQL cluster in a temporary directory, starts
// it on a free port of 127.0.0.1 and waits until it accepts connections.
// The server is stopped and its directory removed when the test ends (its
// log is printed first if the test failed).
//
// Like the tests on the shared database, it runs only when EnvURL is set
// (the server it starts is its own, so EnvURL need not answer). It skips
// when the PostgreSQL programs are not found, or when the test runs as root
// (which PostgreSQL refuses) and there is no postgres user to run them as;
// with EnvRequired=1 it fails instead.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(EnvURL) == "" {
		if os.Getenv(EnvRequired) == "1" {
			t.Fatalf("%s=1 but %s is unset: %s", EnvRequired, EnvURL, SkipMessage)
		}
		t.Skipf("%s (this test starts a PostgreSQL server of its own, and runs with the others)", SkipMessage)
	}
	bin, err := findBin()
	if err != nil {
		unavailable(t, "pgtest: %v; install PostgreSQL or set %s to the directory of initdb, pg_ctl and postgres", err, EnvBin)
	}
	s := &Server{t: t, bin: bin}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// initdb, pg_ctl and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "pgtest: the test runs as root, which PostgreSQL refuses, and there is no postgres user to run it as: %v", err)
		}
		runuser, err := execpkg.LookPath("runuser")
		if err != nil {
			unavailable(t, "pgtest: the test runs as root, which PostgreSQL refuses, and runuser is missing to run it as postgres: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		s.runAs = []string{runuser, "-u", "postgres", "--"}
	}

	// A directory of its own under the system's temporary directory rather
	// than t.TempDir(): it must be reachable by the postgres user, and the
	// socket's path short (about 100 bytes at most).
	s.dir, err = os.MkdirTemp("", "lro-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.cleanup)
	sock := filepath.Join(s.dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if uid >= 0 {
		for _, d := range []string{s.dir, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatalf("pgtest: %v", err)
			}
		}
	}
	s.data = filepath.Join(s.dir, "data")
	s.logFile = filepath.Join(s.dir, "postgres.log")
	s.port, err = freePort()
	if err != nil {
		t.Fatalf("pgtest: pick a port: %v", err)
	}
	if out, err := s.command("initdb", "-D", s.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-instructions").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// Appended settings override initdb's.
	conf := fmt.Sprintf(`
# pgtest
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = on
synchronous_commit = on
shared_buffers = 16MB
max_connections = 100
`, s.port, sock)
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("pgtest: configure: %v", err)
	}
	s.Start()
	return s
}

// URL is the URL of the server's database "postgres", as the superuser
// postgres, without a password.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the TCP port the server listens on, the same after each Start.
func (s *Server) Port() int { return s.port }

// Stop stops the server (fast: open sessions are ended, transactions in
// progress rolled back) and waits until it is gone.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Fatalf("pgtest: stop: %v\n%s", err, s.logTail())
	}
}

// Start starts the stopped server, on the same port and with the same data,
// and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.t.Fatalf("pgtest: start: the server runs already")
	}
	if out, err := s.command("pg_ctl", "start", "-D", s.data, "-l", s.logFile, "-w", "-t",
		strconv.Itoa(int(serverTimeout.Seconds())), "-s").CombinedOutput(); err != nil {
		s.t.Fatalf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, s.logTail())
	}
	s.running = true
	if err := s.waitReady(); err != nil {
		s.t.Fatalf("pgtest: %v\n%s", err, s.logTail())
	}
}

// Restart stops the server and starts it again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	out, err := s.command("pg_ctl", "stop", "-D", s.data, "-m", "fast", "-w", "-t",
		strconv.Itoa(int(serverTimeout.Seconds())), "-s").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	s.running = false
	return nil
}

// waitReady connects until a connection answers: pg_ctl -w says the server
// is ready, this checks it over TCP, the way the tests connect.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), serverTimeout)
	defer cancel()
	for {
		err := ping(ctx, s.URL())
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server does not accept connections: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

func (s *Server) cleanup() {
	if err := s.stop(); err != nil {
		s.t.Errorf("pgtest: %v", err)
	}
	if s.t.Failed() {
		if b, err := os.ReadFile(s.logFile); err == nil && len(b) > 0 {
			s.t.Logf("pgtest: the PostgreSQL server's log:\n%s", b)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.t.Errorf("pgtest: %v", err)
	}
}

// command runs one of the PostgreSQL programs, as the postgres user when the
// test runs as root, in the server's directory.
func (s *Server) command(program string, args ...string) *execpkg.Cmd {
	argv := append(append(append([]string{}, s.runAs...), filepath.Join(s.bin, program)), args...)
	cmd := execpkg.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// logTail returns the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return ""
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return "-- the PostgreSQL server's log --\n" + string(b)
}

// unavailable skips the test, or fails it when EnvRequired is 1.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(EnvRequired) == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// findBin returns the directory of initdb, pg_ctl and postgres.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBin); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("%s=%s: initdb, pg_ctl or postgres is missing there", EnvBin, dir)
		}
		return dir, nil
	}
	var candidates []string
	if p, err := execpkg.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		dirs, _ := filepath.Glob(pattern)
		// Newest first: by the version's number, not its string.
		sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		candidates = append(candidates, dirs...)
	}
	candidates = append(candidates, "/usr/local/pgsql/bin")
	for _, dir := range candidates {
		if has(dir) {
			return dir, nil
		}
	}
	return "", errors.New("the PostgreSQL programs (initdb, pg_ctl, postgres) are not found")
}

// version returns the major version in a path such as
// /usr/lib/postgresql/15/bin or /usr/pgsql-15/bin, 0 if none.
func version(dir string) float64 {
	d := filepath.Base(filepath.Dir(dir))
	d = d[strings.LastIndexAny(d, "-/")+1:]
	v, _ := strconv.ParseFloat(d, 64)
	return v
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
