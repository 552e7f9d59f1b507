package sync_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// logBuffer collects a loader's log lines, for tests that wait on them.
type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runLoader runs a loader until the test ends.
func runLoader(t *testing.T, opts policysync.LoaderOptions) *logBuffer {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	l := policysync.NewLoader(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return logs
}

// persistedEnvelope is last-good.json's outer shape, for tests that edit it.
type persistedEnvelope struct {
	MAC  string          `json:"mac"`
	Body json.RawMessage `json:"body"`
}

// An edited, truncated, unsigned or foreign persisted policy is refused with
// an error log, and the edge stays unready (no snapshot) while the store is
// down.
func TestPersistedPolicyIntegrity(t *testing.T) {
	t.Parallel()
	otherKey := []byte("another key, also 32 bytes long!")
	cases := []struct {
		name   string
		mutate func(t *testing.T, file string, env persistedEnvelope) []byte
		key    []byte
		served bool
	}{
		{"intact", func(_ *testing.T, _ string, env persistedEnvelope) []byte { return mustJSON(t, env) }, testKey, true},
		{"policy edited, still valid JSON", func(t *testing.T, _ string, env persistedEnvelope) []byte {
			var body map[string]any
			if err := json.Unmarshal(env.Body, &body); err != nil {
				t.Fatal(err)
			}
			body["policy"] = base64.StdEncoding.EncodeToString([]byte(policyA))
			env.Body = mustJSON(t, body)
			return mustJSON(t, env)
		}, testKey, false},
		{"truncated", func(t *testing.T, file string, _ persistedEnvelope) []byte {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			return data[:len(data)/2]
		}, testKey, false},
		{"unsigned (the format before signatures)", func(_ *testing.T, _ string, env persistedEnvelope) []byte { return env.Body }, testKey, false},
		{"signature removed", func(_ *testing.T, _ string, env persistedEnvelope) []byte {
			env.MAC = ""
			return mustJSON(t, env)
		}, testKey, false},
		{"saved_at moved forward", func(t *testing.T, _ string, env persistedEnvelope) []byte {
			var body map[string]any
			if err := json.Unmarshal(env.Body, &body); err != nil {
				t.Fatal(err)
			}
			body["saved_at"] = time.Now().Add(time.Hour)
			env.Body = mustJSON(t, body)
			return mustJSON(t, env)
		}, testKey, false},
		{"another edge's key", func(_ *testing.T, _ string, env persistedEnvelope) []byte { return mustJSON(t, env) }, otherKey, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "policy.yaml")
			persist := filepath.Join(dir, "persist")
			writePolicy(t, path, policyB)
			first := policysync.NewLoader(policysync.LoaderOptions{
				Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: decision.NewEngine(0),
				Compile: compile, PersistDir: persist, PersistKey: testKey,
			})
			if err := first.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(persist, "last-good.json")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var env persistedEnvelope
			if err := json.Unmarshal(data, &env); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, c.mutate(t, file, env), 0o600); err != nil {
				t.Fatal(err)
			}
			// Restart with the store gone.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			engine := decision.NewEngine(0)
			logs := runLoader(t, policysync.LoaderOptions{
				Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine,
				Compile: compile, PersistDir: persist, PersistKey: c.key, PollInterval: time.Hour,
			})
			if c.served {
				waitFor(t, func() bool { return decide(engine, "/b") == decision.ReasonPublic })
				return
			}
			waitFor(t, func() bool { return strings.Contains(logs.String(), "refusing the persisted policy") })
			if got := decide(engine, "/b"); got != decision.ReasonNoSnapshot {
				t.Fatalf("after refusing the persisted policy: %v, want no_snapshot (not ready)", got)
			}
			if !strings.Contains(logs.String(), "integrity check") {
				t.Fatalf("the log does not say why: %s", logs.String())
			}
		})
	}
}

// Without a key nothing is persisted, and the loader says so.
func TestPersistDirWithoutKeyPersistsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	persist := filepath.Join(dir, "persist")
	writePolicy(t, path, policyB)
	engine := decision.NewEngine(0)
	logs := runLoader(t, policysync.LoaderOptions{
		Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine,
		Compile: compile, PersistDir: persist, PersistKey: []byte("short"), PollInterval: time.Hour,
	})
	waitFor(t, func() bool { return decide(engine, "/b") == decision.ReasonPublic })
	if !strings.Contains(logs.String(), "policy persistence is off") {
		t.Fatalf("no error log about the missing key: %s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(persist, "last-good.json")); !os.IsNotExist(err) {
		t.Fatalf("persisted without a key: %v", err)
	}
}

func TestReadPersistKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name, content string
		ok            bool
	}{
		{"32 bytes", strings.Repeat("k", 32), true},
		{"base64 of 32 bytes with a newline", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n", true},
		{"31 bytes", strings.Repeat("k", 31), false},
		{"32 bytes counting white space", strings.Repeat("k", 28) + "\n\n\n\n", false},
		{"empty", "", false},
	}
	for _, c := range cases {
		f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		if err := os.WriteFile(f, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := policysync.ReadPersistKey(f); (err == nil) != c.ok {
			t.Errorf("%s: ReadPersistKey = %v, want ok=%v", c.name, err, c.ok)
		}
	}
	if _, err := policysync.ReadPersistKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing key file was accepted")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func slogJSON(w *logBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
