package sync_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/metrictest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// testKey authenticates persisted policies in tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// testSettle is the policy file settle time in tests: files written by a
// test are complete at once.
const testSettle = 10 * time.Millisecond

const policyA = `
routes:
  - name: a
    match: GET /a
    public: true
`

const policyB = `
routes:
  - name: b
    match: GET /b
    public: true
`

func compile(b policysync.Bundle) (*decision.Snapshot, error) {
	p, err := config.ParsePolicy(b.Name, b.Policy)
	if err != nil {
		return nil, err
	}
	return decision.Compile(p, decision.Options{Revision: b.Revision, Tuples: b.Tuples})
}

func decide(e *decision.Engine, path string) decision.Reason {
	return e.Decide(&decision.Request{Method: "GET", Target: path}, decision.Caller{}).Reason
}

func writePolicy(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoaderKeepsLastGoodAndPersists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	persist := filepath.Join(dir, "persist")
	writePolicy(t, path, policyA)
	reg := prometheus.NewRegistry()
	engine := decision.NewEngine(0)
	l := policysync.NewLoader(policysync.LoaderOptions{
		Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine, Compile: compile,
		PersistDir: persist, PersistKey: testKey, Registerer: reg,
	})
	ctx := context.Background()
	if got := decide(engine, "/a"); got != decision.ReasonNoSnapshot {
		t.Fatalf("before the first load: %v, want no_snapshot", got)
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := decide(engine, "/a"); got != decision.ReasonPublic {
		t.Fatalf("after load: %v", got)
	}

	// A bad edit is refused and counted; A keeps serving.
	writePolicy(t, path, "routes:\n  - name: x\n    match: GET /{\n")
	if err := l.Sync(ctx); err == nil {
		t.Fatal("a bad policy was accepted")
	}
	if got := decide(engine, "/a"); got != decision.ReasonPublic {
		t.Fatalf("after a bad edit: %v, want the last good policy", got)
	}
	if n := metrictest.Counter(t, reg, "edgeauthz_sync_errors_total"); n != 1 {
		t.Fatalf("sync errors = %v, want 1", n)
	}

	// A good edit swaps.
	writePolicy(t, path, policyB)
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if decide(engine, "/a") != decision.ReasonNoRoute || decide(engine, "/b") != decision.ReasonPublic {
		t.Fatal("policy B is not serving")
	}

	// A restart with the store gone serves the persisted policy B.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	engine2 := decision.NewEngine(0)
	l2 := policysync.NewLoader(policysync.LoaderOptions{
		Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine2, Compile: compile,
		PersistDir: persist, PersistKey: testKey, PollInterval: time.Hour,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = l2.Run(runCtx) }()
	waitFor(t, func() bool { return decide(engine2, "/b") == decision.ReasonPublic })
	cancel()
	<-done

	// An edge configured for another store (or signing key) does not serve it.
	engine3 := decision.NewEngine(0)
	l3 := policysync.NewLoader(policysync.LoaderOptions{
		Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine3, Compile: compile,
		PersistDir: persist, PersistKey: testKey, Origin: "https://elsewhere/policy.yaml",
	})
	_ = l3.Sync(ctx)
	runCtx3, cancel3 := context.WithCancel(ctx)
	done3 := make(chan struct{})
	go func() { defer close(done3); _ = l3.Run(runCtx3) }()
	time.Sleep(50 * time.Millisecond)
	cancel3()
	<-done3
	if got := decide(engine3, "/b"); got != decision.ReasonNoSnapshot {
		t.Fatalf("a persisted policy of another origin served: %v", got)
	}
}

func TestLoaderWithoutPersistedPolicyDeniesUntilStoreAnswers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	engine := decision.NewEngine(0)
	l := policysync.NewLoader(policysync.LoaderOptions{
		Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine, Compile: compile,
		PersistDir: filepath.Join(dir, "persist"), PersistKey: testKey, PollInterval: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(30 * time.Millisecond)
	if got := decide(engine, "/a"); got != decision.ReasonNoSnapshot {
		t.Fatalf("with no store and nothing persisted: %v, want no_snapshot", got)
	}
	writePolicy(t, path, policyA)
	waitFor(t, func() bool { return decide(engine, "/a") == decision.ReasonPublic })
}

func TestEngineMaxStaleness(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	writePolicy(t, path, policyA)
	engine := decision.NewEngine(50 * time.Millisecond)
	l := policysync.NewLoader(policysync.LoaderOptions{Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine, Compile: compile})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := decide(engine, "/a"); got != decision.ReasonPublic {
		t.Fatalf("fresh: %v", got)
	}
	// The store goes away; past max_staleness the engine refuses to serve.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_ = l.Sync(context.Background())
	waitFor(t, func() bool { return decide(engine, "/a") == decision.ReasonStaleSnapshot })
	if res := engine.Decide(&decision.Request{Method: "GET", Target: "/a"}, decision.Caller{}); res.Status != 503 {
		t.Fatalf("stale status %d, want 503", res.Status)
	}
	// Reaching the store again (unchanged content) confirms the snapshot.
	writePolicy(t, path, policyA)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := decide(engine, "/a"); got != decision.ReasonPublic {
		t.Fatalf("after the store answers again: %v", got)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
