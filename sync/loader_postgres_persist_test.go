package sync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/metrictest"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// pgLoader is a loader following a PostgreSQL store, run until stop.
type pgLoader struct {
	engine *decision.Engine
	reg    *prometheus.Registry
	logs   *logBuffer
	stop   func()
}

func startPGLoader(t *testing.T, dsn string, opts policysync.LoaderOptions) *pgLoader {
	t.Helper()
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{ReconnectBase: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &pgLoader{engine: decision.NewEngine(0), reg: prometheus.NewRegistry(), logs: &logBuffer{}}
	opts.Source, opts.Engine, opts.Compile, opts.Registerer = src, r.engine, compile, r.reg
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.PersistDir != "" && opts.PersistKey == nil {
		opts.PersistKey = testKey
	}
	opts.Logger = slogJSON(r.logs)
	l := policysync.NewLoader(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			_ = src.Close()
		}
	}
	t.Cleanup(r.stop)
	return r
}

// A restart while the store is down serves what the edge served last,
// tuple changes included: a deleted tuple stays deleted. A journal that was
// edited, cut short or lost a batch (in the middle or at the end), or
// whose head is gone, is refused with an error log naming the file and a
// persist error counted, and the edge stays unready.
func TestRestartWithStoreDownServesTheAppliedChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		compactAfter int
		// unwritable makes every journal append fail (a directory in its
		// place): the persisted policy must then be dropped, not left
		// behind what is served.
		unwritable bool
		tamper     func(t *testing.T, journal string)
		served     bool
		// refused names the file the refusal log must name.
		refused string
	}{
		{"journal cannot be written", 1_000_000, true, nil, false, ""},
		{"journal", 1_000_000, false, nil, true, ""},
		{"journal folded into the bundle after every batch", 1, false, nil, true, ""},
		{"journal edited", 1_000_000, false, func(t *testing.T, journal string) {
			data, err := os.ReadFile(journal)
			if err != nil {
				t.Fatal(err)
			}
			// Turn a change around: a deletion becomes a write, or back.
			edited := strings.Replace(string(data), `"w":false`, `"w":true`, 1)
			if edited == string(data) {
				edited = strings.Replace(string(data), `"w":true`, `"w":false`, 1)
			}
			if err := os.WriteFile(journal, []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false, "last-good.changes"},
		{"journal lost a batch", 1_000_000, false, func(t *testing.T, journal string) {
			data, err := os.ReadFile(journal)
			if err != nil {
				t.Fatal(err)
			}
			// The middle batch: dropping the last ones would be a rollback
			// to an earlier state this edge wrote, which a MAC cannot tell.
			lines := strings.SplitAfter(string(data), "\n")
			if len(lines) < 4 {
				t.Fatalf("journal has %d lines, want at least 3 batches", len(lines)-1)
			}
			if err := os.WriteFile(journal, []byte(lines[0]+strings.Join(lines[2:], "")), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false, "last-good.changes"},
		// Each journal line verifies on its own: only the head tells a
		// journal cut at a line boundary from a complete one.
		{"journal cut inside its last line", 1_000_000, false, func(t *testing.T, journal string) {
			if err := os.Truncate(journal, fileSize(t, journal)-20); err != nil {
				t.Fatal(err)
			}
		}, false, "last-good.changes"},
		{"journal lost its last batch", 1_000_000, false, func(t *testing.T, journal string) { dropLastLines(t, journal, 1) }, false, "last-good.changes"},
		{"journal lost its last two batches", 1_000_000, false, func(t *testing.T, journal string) { dropLastLines(t, journal, 2) }, false, "last-good.changes"},
		{"head removed", 1_000_000, false, func(t *testing.T, journal string) {
			if err := os.Remove(filepath.Join(filepath.Dir(journal), "last-good.head")); err != nil {
				t.Fatal(err)
			}
		}, false, "last-good.head"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := pgtest.New(t)
			pool := pgPool(t, srv.DSN)
			if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
				t.Fatal(err)
			}
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann", "document:d1#viewer@user:bob"}); err != nil {
				t.Fatal(err)
			}
			persist := filepath.Join(t.TempDir(), "persist")
			// Woken by notifications only, the edge applies each write
			// incrementally (a poll racing a write would load in full, which
			// starts the journal afresh).
			opts := policysync.LoaderOptions{PersistDir: persist, JournalCompactAfter: c.compactAfter, PollInterval: time.Hour}
			first := startPGLoader(t, srv.DSN, opts)
			waitFor(t, func() bool { return asUser(first.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
			journal := filepath.Join(persist, "last-good.changes")
			if c.unwritable {
				// Not empty, so that no later persist can remove it either.
				if err := os.MkdirAll(filepath.Join(journal, "stuck"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pgstore.DeleteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return asUser(first.engine, "ann", "/docs/d1") == decision.ReasonRelationDenied })
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:carl"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return asUser(first.engine, "carl", "/docs/d1") == decision.ReasonAllowed })
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:dave"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return asUser(first.engine, "dave", "/docs/d1") == decision.ReasonAllowed })
			// The listener's first wake-up may race a write into a full load,
			// which starts the journal afresh: write on until it holds three
			// batches.
			for i := 0; c.compactAfter > 1 && !c.unwritable && journalLines(t, journal) < 3; i++ {
				if i == 20 {
					t.Fatal("the journal does not grow")
				}
				sub := fmt.Sprintf("extra%d", i)
				if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d9#viewer@user:" + sub}); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool { return asUser(first.engine, sub, "/docs/d9") == decision.ReasonAllowed })
			}
			first.stop()
			if c.unwritable {
				if _, err := os.Stat(filepath.Join(persist, "last-good.json")); !os.IsNotExist(err) {
					t.Fatalf("the persisted bundle outlived a failed journal append: %v", err)
				}
			}
			if c.tamper != nil {
				c.tamper(t, journal)
			}

			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			again := startPGLoader(t, srv.DSN, opts)
			if c.unwritable {
				waitFor(t, func() bool { return strings.Contains(again.logs.String(), "initial policy load failed") })
				if got := asUser(again.engine, "bob", "/docs/d1"); got != decision.ReasonNoSnapshot {
					t.Fatalf("after a failed journal append: %v, want no_snapshot (nothing older than what was served)", got)
				}
				return
			}
			if !c.served {
				waitFor(t, func() bool { return strings.Contains(again.logs.String(), "refusing the persisted policy") })
				if got := asUser(again.engine, "bob", "/docs/d1"); got != decision.ReasonNoSnapshot {
					t.Fatalf("after refusing the persisted policy: %v, want no_snapshot", got)
				}
				if logs := again.logs.String(); !strings.Contains(logs, c.refused) {
					t.Errorf("the refusal does not name %s: %s", c.refused, logs)
				}
				if n := metrictest.Counter(t, again.reg, "edgeauthz_sync_errors_total", "stage", "persist"); n != 1 {
					t.Errorf("persist errors counted: %v, want 1", n)
				}
				return
			}
			waitFor(t, func() bool { return asUser(again.engine, "dave", "/docs/d1") == decision.ReasonAllowed })
			for sub, want := range map[string]decision.Reason{"ann": decision.ReasonRelationDenied, "bob": decision.ReasonAllowed, "carl": decision.ReasonAllowed} {
				if got := asUser(again.engine, sub, "/docs/d1"); got != want {
					t.Errorf("%s after a restart with the store down: %v, want %v", sub, got, want)
				}
			}
		})
	}
}

// A changelog row the edge cannot apply (inserted around edgeauthz) is
// skipped, logged with its seq and counted; tuple changes after it and new
// policy revisions (a revocation) still take effect, and a full load with
// the row in the tuples table still serves.
func TestLoaderSkipsRowsItCannotApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	edge := startPGLoader(t, dsn, policysync.LoaderOptions{})
	waitFor(t, func() bool { return asUser(edge.engine, "ann", "/docs/d1") == decision.ReasonAllowed })

	// Behind the CLI's back: a row within the store's limits that the
	// relationship engine refuses ('!' in an id).
	var seq int64
	err := pool.QueryRow(ctx, `WITH t AS (INSERT INTO edgeauthz_tuples (object, relation, subject) VALUES ('document:a!b', 'viewer', 'user:ann'))
		INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject) VALUES ('w', 'document:a!b', 'viewer', 'user:ann') RETURNING seq`).Scan(&seq)
	if err != nil {
		t.Fatal(err)
	}
	// The edge meets the row at its next poll; unless the row landed
	// between its changelog read and its policy fetch (then it loads in
	// full and skips the row there), it names the row's seq.
	waitFor(t, func() bool {
		return metrictest.Counter(t, edge.reg, "edgeauthz_sync_skipped_tuples_total") == 1
	})
	if logs := edge.logs.String(); !strings.Contains(logs, fmt.Sprintf(`"msg":"tuple change skipped: the edge cannot apply it","seq":%d`, seq)) &&
		!strings.Contains(logs, `"msg":"store tuple skipped: the edge cannot apply it"`) {
		t.Fatalf("no error log about the row of seq %d: %s", seq, logs)
	}
	// Syncing continues past it.
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:bob"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(edge.engine, "bob", "/docs/d1") == decision.ReasonAllowed })

	// A new revision revoking ann reaches the edge.
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy+"revoked:\n  subjects: [ann]\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(edge.engine, "ann", "/docs/d1") != decision.ReasonAllowed })
	if got := asUser(edge.engine, "bob", "/docs/d1"); got != decision.ReasonAllowed {
		t.Fatalf("bob after the revocation of ann: %v", got)
	}

	// A new edge loads everything in full, the bad row included: it skips
	// that row and serves the rest.
	fresh := startPGLoader(t, dsn, policysync.LoaderOptions{})
	waitFor(t, func() bool { return asUser(fresh.engine, "bob", "/docs/d1") == decision.ReasonAllowed })
	if n := metrictest.Counter(t, fresh.reg, "edgeauthz_sync_skipped_tuples_total"); n != 1 {
		t.Fatalf("a full load skipped %v tuples, want 1", n)
	}
	if !strings.Contains(fresh.logs.String(), "store tuple skipped") {
		t.Fatalf("no error log for the skipped store tuple: %s", fresh.logs.String())
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// dropLastLines removes the last n whole lines of the file at path.
func dropLastLines(t *testing.T, path string, n int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) <= n {
		t.Fatalf("%s has %d lines, want more than %d", path, len(lines), n)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-n], "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func journalLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// A restart on the persisted policy when the store's newest revision does
// not compile: the edge serves its persisted policy over the store's
// current tuples and follows the changelog from there, as an edge that ran
// all along does, instead of going stale behind the refused revision.
func TestRestartBehindARefusedRevision(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	persist := t.TempDir()
	first := startPGLoader(t, dsn, policysync.LoaderOptions{PersistDir: persist})
	waitFor(t, func() bool { return asUser(first.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	first.stop()

	// While the edge is down: a revision that does not compile, and a tuple.
	if _, err := pgstore.Publish(ctx, pool, []byte("routes:\n  - name: doc\n    match: GET /docs/{id}\n    scopes: [\"{params.nope}\"]\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:bob"}); err != nil {
		t.Fatal(err)
	}
	again := startPGLoader(t, dsn, policysync.LoaderOptions{PersistDir: persist})
	waitFor(t, func() bool { return asUser(again.engine, "bob", "/docs/d1") == decision.ReasonAllowed })
	if got := asUser(again.engine, "ann", "/docs/d1"); got != decision.ReasonAllowed {
		t.Fatalf("ann: %v", got)
	}
	// The changelog is followed from there: a delete arrives.
	if _, err := pgstore.DeleteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(again.engine, "ann", "/docs/d1") == decision.ReasonRelationDenied })
	// And the store is in contact: the snapshot is confirmed, not aging.
	_, at := again.engine.Snapshot()
	waitFor(t, func() bool { _, now := again.engine.Snapshot(); return now.After(at) })
	if !strings.Contains(again.logs.String(), "serving the persisted policy over the store's current tuples") {
		t.Errorf("no log line says what is served: %s", again.logs.String())
	}
}
