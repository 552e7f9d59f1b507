package sync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

const relPolicy = `
model: |
  model
    schema 1.1
  type user
  type team
    relations
      define member: [user, team#member]
  type document
    relations
      define viewer: [user, team#member]
routes:
  - name: doc
    match: GET /docs/{id}
    relation: {object: "document:{params.id}", relation: viewer}
`

// relPolicyV2 flips the route to a public one, to see a new revision land.
const relPolicyV2 = `
model: |
  model
    schema 1.1
  type user
  type document
    relations
      define viewer: [user]
routes:
  - name: doc
    match: GET /docs/{id}
    public: true
`

func pgPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func asUser(e *decision.Engine, sub, path string) decision.Reason {
	return e.Decide(&decision.Request{Method: "GET", Target: path},
		decision.Authenticated(&decision.Principal{Subject: sub})).Reason
}

type runningLoader struct {
	engine *decision.Engine
	loader *policysync.Loader
	stop   func()
}

func startLoader(t testing.TB, dsn, persist string, poll time.Duration) *runningLoader {
	t.Helper()
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{ReconnectBase: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	engine := decision.NewEngine(0)
	l := policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: engine, Compile: compile,
		PollInterval: poll, PersistDir: persist, PersistKey: testKey, CompactAfter: 2000})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	r := &runningLoader{engine: engine, loader: l, stop: func() { cancel(); <-done; _ = src.Close() }}
	t.Cleanup(r.stop)
	return r
}

func TestLoaderFollowsPostgresIncrementally(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"team:eng#member@user:ann", "document:d1#viewer@team:eng#member"}); err != nil {
		t.Fatal(err)
	}
	// A long poll interval: only NOTIFY can make changes arrive in time.
	r := startLoader(t, dsn, "", time.Hour)
	waitFor(t, func() bool { return asUser(r.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	if got := asUser(r.engine, "bob", "/docs/d1"); got != decision.ReasonRelationDenied {
		t.Fatalf("bob: %v", got)
	}

	if _, err := pgstore.WriteTuples(ctx, pool, []string{"team:eng#member@user:bob"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(r.engine, "bob", "/docs/d1") == decision.ReasonAllowed })
	snap, _ := r.engine.Snapshot()
	if n, _ := snap.RelationStats(); n != 3 {
		t.Fatalf("tuples = %d, want 3", n)
	}

	if _, err := pgstore.DeleteTuples(ctx, pool, []string{"team:eng#member@user:ann"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(r.engine, "ann", "/docs/d1") == decision.ReasonRelationDenied })

	// An invalid revision is refused; the last good one keeps serving.
	if _, err := pgstore.Publish(ctx, pool, []byte("routes:\n  - name: doc\n    match: GET /docs/{id}\n    scopes: [\"{params.nope}\"]\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := r.loader.Status(); return err != nil })
	if got := asUser(r.engine, "bob", "/docs/d1"); got != decision.ReasonAllowed {
		t.Fatalf("after an invalid revision: %v, want the last good policy", got)
	}
	// Tuple changes still arrive incrementally on the last good policy.
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:cid"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(r.engine, "cid", "/docs/d1") == decision.ReasonAllowed })
	// A valid one lands.
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicyV2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(r.engine, "zed", "/docs/d1") == decision.ReasonPublic })
}

// TestIncrementalEqualsFullReload writes and deletes 10k tuples while an edge
// follows, then compares its tuples with a fresh load of the store.
func TestIncrementalEqualsFullReload(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	r := startLoader(t, dsn, "", 50*time.Millisecond)
	waitFor(t, func() bool { s, _ := r.engine.Snapshot(); return s != nil })
	for batch := 0; batch < 20; batch++ {
		var ts []string
		for i := 0; i < 500; i++ {
			ts = append(ts, fmt.Sprintf("document:d%d#viewer@user:u%d", (batch*500+i)%3000, i%97))
		}
		if _, err := pgstore.WriteTuples(ctx, pool, ts); err != nil {
			t.Fatal(err)
		}
		if batch%3 == 0 {
			if _, err := pgstore.DeleteTuples(ctx, pool, ts[:100]); err != nil {
				t.Fatal(err)
			}
		}
	}
	var want int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM edgeauthz_tuples`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		s, _ := r.engine.Snapshot()
		n, _ := s.RelationStats()
		return n == want
	})
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b, err := src.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	full, err := compile(b)
	if err != nil {
		t.Fatal(err)
	}
	// The index was compacted along the way (CompactAfter is 2000).
	waitFor(t, func() bool { s, _ := r.engine.Snapshot(); return s.OverlaySize() < 2000 })
	inc, _ := r.engine.Snapshot()
	// Same answers for every (document, user) pair that was ever written.
	sort.Strings(b.Tuples)
	for d := 0; d < 3000; d += 7 {
		for u := 0; u < 97; u += 5 {
			path := fmt.Sprintf("/docs/d%d", d)
			who := decision.Authenticated(&decision.Principal{Subject: fmt.Sprintf("u%d", u)})
			req := func() *decision.Request {
				return &decision.Request{Method: "GET", Target: path}
			}
			if a, b := inc.Decide(req(), who).Reason, full.Decide(req(), who).Reason; a != b {
				t.Fatalf("%s %s: incremental %v, full reload %v", who.Principal.Subject, path, a, b)
			}
		}
	}
}

func TestLoaderSurvivesStoreOutages(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.New(t)
	pool := pgPool(t, srv.DSN)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	persist := filepath.Join(t.TempDir(), "persist")
	first := startLoader(t, srv.DSN, persist, 50*time.Millisecond)
	waitFor(t, func() bool { return asUser(first.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	first.stop()

	// Down at start, with a persisted policy: it serves.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	withPersisted := startLoader(t, srv.DSN, persist, 50*time.Millisecond)
	waitFor(t, func() bool { return asUser(withPersisted.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	// Down at start without one: it denies with no_snapshot.
	bare := startLoader(t, srv.DSN, "", 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if got := asUser(bare.engine, "ann", "/docs/d1"); got != decision.ReasonNoSnapshot {
		t.Fatalf("no store, nothing persisted: %v", got)
	}

	// The database comes back: both follow it, and new writes arrive.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	pool2 := pgPool(t, srv.DSN)
	if _, err := pgstore.WriteTuples(ctx, pool2, []string{"document:d1#viewer@user:bob"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*runningLoader{withPersisted, bare} {
		waitFor(t, func() bool { return asUser(r.engine, "bob", "/docs/d1") == decision.ReasonAllowed })
	}

	// Down mid-run: the last good policy keeps serving.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if got := asUser(bare.engine, "bob", "/docs/d1"); got != decision.ReasonAllowed {
		t.Fatalf("store down mid-run: %v", got)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
}
