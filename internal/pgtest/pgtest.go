// Package pgtest starts throwaway PostgreSQL clusters for tests.
//
// Each Start gets its own cluster (its own data directory, port and socket
// directory), so tests can run in parallel and may stop or restart their
// server. initdb runs once per test binary; later clusters copy its output,
// which keeps a start well under a second.
//
// When PostgreSQL is not installed or cannot start, the test is skipped, unless
// the environment has CI=true, where it fails: CI must not silently lose the
// database tests. Install the server with scripts/install-deps.sh (make deps).
//
// The functions are safe for concurrent use by parallel tests.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one running throwaway cluster. Stop and Restart are for tests of
// store outages; the cluster is stopped and removed by t.Cleanup regardless.
type Server struct {
	// DSN connects as the superuser "postgres" to database "postgres" over
	// TCP on 127.0.0.1 (trust authentication).
	DSN string

	bin  string // directory holding pg_ctl
	dir  string // temp root: data/, socket, log
	port int

	mu      sync.Mutex
	running bool
}

// Start starts a cluster and returns its DSN. It skips the test (fails it when
// CI=true) when PostgreSQL is unavailable.
func Start(t testing.TB) (dsn string) {
	t.Helper()
	return New(t).DSN
}

// New starts a cluster and returns its handle, for tests that stop or restart
// the server.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := start(t)
	if err != nil {
		unavailable(t, err)
	}
	return s
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: PostgreSQL unavailable (CI=true, not skipping): %v", err)
	}
	t.Skipf("pgtest: PostgreSQL unavailable: %v (run scripts/install-deps.sh)", err)
}

// Stop stops the server at once (pg_ctl stop -m immediate), as a crash would.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	s.running = false
	return s.pgctl("stop", "-D", s.data(), "-m", "immediate", "-w")
}

// Restart starts the server again on the same port and data directory,
// stopping it first when it runs.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		if err := s.pgctl("stop", "-D", s.data(), "-m", "immediate", "-w"); err != nil {
			return err
		}
		s.running = false
	}
	if err := s.startLocked(); err != nil {
		return err
	}
	s.running = true
	return nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) startLocked() error {
	opts := strings.Join([]string{
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "fsync=off", // safe: an immediate stop is not an OS crash; no synchronous_commit=off, which would lose commits on Stop
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
	}, " ")
	return s.pgctl("start", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "30", "-o", opts)
}

func (s *Server) pgctl(args ...string) error {
	return run(filepath.Join(s.bin, "pg_ctl"), args...)
}

func start(t testing.TB) (*Server, error) {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	tmpl, err := template(bin)
	if err != nil {
		return nil, err
	}
	reapOnce.Do(func() { reap(bin) })
	dir, err := os.MkdirTemp(tempRoot(), "pgtest-")
	if err != nil {
		return nil, err
	}
	// Who owns the cluster, for reap in a later run if this process is killed
	// (go test's -timeout) before its cleanup runs.
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("pgtest: stop: %v", err)
		}
		os.RemoveAll(dir)
	})
	if err := chownPostgres(dir); err != nil {
		return nil, err
	}
	// cp -a keeps the owner (postgres) and the 0700 mode initdb set.
	if err := run("cp", "-a", tmpl, s.data()); err != nil {
		return nil, fmt.Errorf("copy template cluster: %w", err)
	}
	// A free port can be taken between our probe and the server's bind: retry.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		s.mu.Lock()
		err = s.startLocked()
		if err == nil {
			s.running = true
		}
		s.mu.Unlock()
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return nil, fmt.Errorf("%w\n%s", err, tail(log, 2000))
		}
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	return s, nil
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// template returns an initdb'd data directory that clusters copy. It is kept
// in the temp directory under a name per PostgreSQL version and reused by
// later test runs; concurrent test binaries build it in a private directory
// and rename it into place, so a half-written template is never used.
func template(bin string) (string, error) {
	templateOnce.Do(func() {
		final := filepath.Join(tempRoot(), fmt.Sprintf("edgeauthz-pgtest-template-%d-%d", version(filepath.Join(bin, "initdb")), os.Geteuid()))
		if _, err := os.Stat(filepath.Join(final, "data", "PG_VERSION")); err == nil {
			templateDir = filepath.Join(final, "data")
			return
		}
		tmp, err := os.MkdirTemp(tempRoot(), "edgeauthz-pgtest-init-")
		if err != nil {
			templateErr = err
			return
		}
		defer os.RemoveAll(tmp) // a no-op once renamed
		if err := chownPostgres(tmp); err != nil {
			templateErr = err
			return
		}
		if err := run(filepath.Join(bin, "initdb"), "-D", filepath.Join(tmp, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1"); err != nil {
			templateErr = fmt.Errorf("initdb: %w", err)
			return
		}
		if err := os.Rename(tmp, final); err != nil {
			// Another test binary won the race; use its template.
			if _, statErr := os.Stat(filepath.Join(final, "data", "PG_VERSION")); statErr != nil {
				templateErr = fmt.Errorf("install template cluster: %w", err)
				return
			}
		}
		templateDir = filepath.Join(final, "data")
	})
	return templateDir, templateErr
}

var reapOnce sync.Once

// reap stops and removes the clusters of test processes that died without
// cleaning up.
func reap(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(tempRoot(), "pgtest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			run(filepath.Join(bin, "pg_ctl"), "stop", "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w")
		}
		os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// tempRoot is where clusters live: $PGTEST_TMPDIR, else /dev/shm when it is
// a writable tmpfs (clusters start several times faster in memory), else the
// temp directory.
func tempRoot() string {
	if d := os.Getenv("PGTEST_TMPDIR"); d != "" {
		return d
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && fi.Mode().Perm()&0o002 != 0 {
		return "/dev/shm"
	}
	return os.TempDir()
}

// findBin returns the newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl.
func findBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			matches = []string{p}
		}
	}
	if len(matches) == 0 {
		return "", errors.New("initdb not found under /usr/lib/postgresql/*/bin or in PATH")
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	bin := filepath.Dir(matches[0])
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		return "", fmt.Errorf("pg_ctl next to %s: %w", matches[0], err)
	}
	return bin, nil
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// run runs a PostgreSQL tool, as the postgres user when we are root (the
// server refuses to run as root).
func run(name string, args ...string) error {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, tail(out, 2000))
	}
	return nil
}

func chownPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// WaitReady is a helper for tests that restart a server: it returns once f
// succeeds or after timeout, with f's last error.
func WaitReady(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shared is the cluster Database hands out databases on.
var shared struct {
	mu      sync.Mutex
	enabled bool // Main runs
	srv     *Server
	err     error
	n       int
}

// Main runs the tests of a package that uses Database and stops the shared
// cluster afterwards. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.enabled = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if s := shared.srv; s != nil {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop shared cluster: %v\n", err)
		}
		os.RemoveAll(s.dir)
	}
	return code
}

// sharedTB adapts the shared cluster's start, which outlives any one test.
type sharedTB struct {
	testing.TB
	cleanups []func()
}

func (s *sharedTB) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// Database returns the DSN of a new, empty database on a cluster shared by
// the test binary (started on first use, stopped by Main); the database is
// dropped when the test ends. It is much cheaper than Start for tests that do
// not stop or restart the server.
func Database(t testing.TB) (dsn string) {
	t.Helper()
	shared.mu.Lock()
	if !shared.enabled {
		shared.mu.Unlock()
		t.Fatal("pgtest.Database needs TestMain to call pgtest.Main (it stops the shared cluster)")
	}
	if shared.srv == nil && shared.err == nil {
		stb := &sharedTB{TB: t}
		shared.srv, shared.err = start(stb)
		if shared.err != nil {
			for _, f := range stb.cleanups {
				f()
			}
		}
	}
	srv, err := shared.srv, shared.err
	shared.n++
	name := fmt.Sprintf("test_%d", shared.n)
	shared.mu.Unlock()
	if err != nil {
		unavailable(t, err)
	}
	if err := psql(srv, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := psql(srv, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return strings.Replace(srv.DSN, "/postgres?", "/"+name+"?", 1)
}

// psql runs one statement on the cluster's postgres database.
func psql(s *Server, stmt string) error {
	return run(filepath.Join(s.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", s.dir, "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", "postgres", "-c", stmt)
}
