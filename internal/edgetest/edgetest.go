package edgetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/server"
)

// Key is a signing key: its private PEM, the JWKS that publishes it, and its
// key ID.
type Key struct {
	PEM  []byte
	JWKS []byte
	Kid  string
}

// NewKey generates a key for alg (for example "ES256" or "RS256").
func NewKey(t testing.TB, alg string) Key {
	t.Helper()
	pem, jwks, kid, err := identity.GenerateKey(alg)
	if err != nil {
		t.Fatalf("edgetest: generate %s key: %v", alg, err)
	}
	return Key{PEM: pem, JWKS: jwks, Kid: kid}
}

// Options says what to run. The zero value runs a server on loopback with
// no policy yet, the decision log off, and a fresh ES256 key published in
// jwks.json.
type Options struct {
	// Dir is the folder the files go to and relative paths in the
	// configuration resolve against; empty means a new t.TempDir.
	Dir string
	// Policy is written to policy.yaml when not nil.
	Policy []byte
	// Files are more files to write into Dir, by relative name.
	Files map[string][]byte
	// Config is the whole configuration. When empty, one is composed:
	// gRPC and HTTP on 127.0.0.1:0, the policy from policy.yaml polled every
	// 20ms, the decision log off unless Extra sets decision_log, then Extra.
	Config string
	// Extra is top-level YAML appended to the composed configuration.
	Extra string
	// Key is published in jwks.json and used by Mint; nil generates an ES256
	// key.
	Key *Key
	// ConfigFile runs a configuration already on disk as it is, for tests
	// of files a command wrote: Start writes nothing, so Dir, Policy, Files,
	// Config, Extra and Key must be empty, and Mint has no key.
	ConfigFile string
	// NoWait skips waiting for the first snapshot, for tests that watch the
	// server come up without a policy.
	NoWait bool
	// LogLevel is the least level of the server's log kept for Logs.
	LogLevel slog.Level
}

// Server is one running edgeauthz.
type Server struct {
	// Dir holds the configuration, the policy and the JWKS.
	Dir string
	// Srv is the server under test.
	Srv *server.Server
	// Config is the parsed configuration the server runs.
	Config *config.Server
	// Conn is a plain-text gRPC connection to the gRPC listener; nil when
	// the configuration has none (as is Client).
	Conn *grpc.ClientConn
	// Client is an ext_authz client on Conn.
	Client authv3.AuthorizationClient
	// Base is the HTTP listener's base URL (https:// when the listeners
	// take TLS).
	Base string
	// Key signed what Mint returns and is published in Dir/jwks.json.
	Key Key

	t      testing.TB
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	runErr error         // Run's result, set before done is closed
	once   sync.Once
}

// Start writes the files, runs the server and, unless o.NoWait, waits for
// its first snapshot. The server stops in t.Cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	var dir, cfgPath string
	var key *Key
	if o.ConfigFile != "" {
		if o.Dir != "" || o.Policy != nil || o.Files != nil || o.Config != "" || o.Extra != "" || o.Key != nil {
			t.Fatal("edgetest: ConfigFile runs a configuration as it is; it takes no file to write")
		}
		dir, cfgPath, key = filepath.Dir(o.ConfigFile), o.ConfigFile, &Key{}
	} else {
		dir, cfgPath, key = writeFiles(t, o)
	}
	cfg, err := config.LoadServer(cfgPath)
	if err != nil {
		t.Fatalf("edgetest: config: %v", err)
	}

	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: o.LogLevel}))
	// New's context is not Run's: a graceful stop lets in-flight Checks
	// finish, and the work they wait on (a JWKS refresh) must not be
	// cancelled with Run's context.
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("edgetest: server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	scheme := "http://"
	if cfg.Listen.TLS.Enabled() {
		scheme = "https://"
	}
	s := &Server{Dir: dir, Srv: srv, Config: cfg, Base: scheme + srv.HTTPAddr(), Key: *key,
		t: t, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		s.runErr = srv.Run(ctx)
		close(s.done)
	}()
	// The client is made after Run is started so that Stop always has a Run
	// to wait for, whatever fails from here on.
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("edgeauthz log:\n%s", logs.String())
		}
	})
	if a := srv.GRPCAddr(); a != "" {
		if s.Conn, err = grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			t.Fatal(err)
		}
		s.Client = authv3.NewAuthorizationClient(s.Conn)
	}
	if !o.NoWait {
		WaitFor(t, "the first snapshot", func() bool { snap, _ := srv.Engine().Snapshot(); return snap != nil })
	}
	return s
}

// writeFiles writes what o asks for into its folder and returns the folder,
// the configuration file and the published key.
func writeFiles(t testing.TB, o Options) (dir, cfgPath string, key *Key) {
	t.Helper()
	dir = o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	key = o.Key
	if key == nil {
		k := NewKey(t, "ES256")
		key = &k
	}
	WriteFile(t, filepath.Join(dir, "jwks.json"), key.JWKS)
	for name, data := range o.Files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		WriteFile(t, path, data)
	}
	if o.Policy != nil {
		WriteFile(t, filepath.Join(dir, "policy.yaml"), o.Policy)
	}
	yaml := o.Config
	if yaml == "" {
		yaml = "listen: {grpc: \"127.0.0.1:0\", http: \"127.0.0.1:0\"}\npolicy: {source: policy.yaml, poll_interval: 20ms}\n"
		if !strings.Contains(o.Extra, "decision_log:") {
			yaml += "decision_log: {output: \"off\"}\n"
		}
		yaml += o.Extra
	}
	cfgPath = filepath.Join(dir, "config.yaml")
	WriteFile(t, cfgPath, []byte(yaml))
	return dir, cfgPath, key
}

// Stop ends Run, waits for it and closes the gRPC connection. It is safe to
// call more than once; after it the decision log is flushed.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		select {
		case <-s.done:
			if s.runErr != nil {
				s.t.Errorf("edgeauthz Run: %v", s.runErr)
			}
		case <-time.After(30 * time.Second): // only keeps a broken build from hanging
			s.t.Errorf("edgeauthz did not stop")
		}
		if s.Conn != nil {
			_ = s.Conn.Close()
		}
	})
}

// Cancel asks Run to stop gracefully and returns at once, for tests that
// watch a stop in progress; Done tells when Run has returned.
func (s *Server) Cancel() { s.cancel() }

// Done is closed when Run has returned.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is what Run returned; it is only meaningful once Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.runErr
	default:
		return nil
	}
}

// AdminURL is the admin listener's base URL, "" when there is none.
func (s *Server) AdminURL() string {
	if a := s.Srv.AdminAddr(); a != "" {
		return "http://" + a
	}
	return ""
}

// Logs is the server's log so far, as text.
func (s *Server) Logs() string { return s.logs.String() }

// DecisionLogPath is the file the decision log goes to, "" when it is off
// or goes to a stream.
func (s *Server) DecisionLogPath() string {
	switch out := s.Config.DecisionLog.Output; out {
	case "stdout", "stderr", "off", "none", "":
		return ""
	default:
		return out
	}
}

// Decisions reads the decision log file, one map per line. Call Stop first
// to read every decision: the log is flushed when the server closes.
func (s *Server) Decisions(t testing.TB) []map[string]any {
	t.Helper()
	path := s.DecisionLogPath()
	if path == "" {
		t.Fatalf("edgetest: the decision log goes to %q, not a file", s.Config.DecisionLog.Output)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("edgetest: decision log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Mint signs claims with the published key, valid for ttl from now. It adds
// no claim: iss and aud are the caller's, as the configuration has them.
func (s *Server) Mint(t testing.TB, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	tok, err := identity.Mint(s.Key.PEM, claims, ttl, s.Key.Kid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Metric returns the value of one sample from /metrics, 0 when absent.
// name is the sample as exposed, labels included.
func (s *Server) Metric(t testing.TB, name string) float64 {
	t.Helper()
	res, err := http.Get(s.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// WriteFile replaces path atomically, as the file source asks: a poll never
// reads half a file.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls cond until it holds. The bound only keeps a broken build
// from hanging; no assertion depends on how long it takes.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer the server's goroutines may write to while
// a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*lockedBuffer)(nil)
