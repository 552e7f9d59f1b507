package sync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore starts a cluster with the schema, a writer pool and a source.
type pgStore struct {
	srv  *pgtest.Server
	pool *pgxpool.Pool
	src  *PostgresSource
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newPGStore gives a test its own database on the shared cluster.
func newPGStore(t testing.TB, opts PostgresOptions) *pgStore {
	t.Helper()
	return newPGStoreDSN(t, nil, pgtest.Database(t), opts)
}

// newPGServerStore gives a test its own cluster, to stop and restart.
func newPGServerStore(t testing.TB, opts PostgresOptions) *pgStore {
	t.Helper()
	srv := pgtest.New(t)
	return newPGStoreDSN(t, srv, srv.DSN, opts)
}

func newPGStoreDSN(t testing.TB, srv *pgtest.Server, dsn string, opts PostgresOptions) *pgStore {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	src, err := NewPostgresSource(dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return &pgStore{srv: srv, pool: pool, src: src}
}

func newPostgresStore(t *testing.T) storeHarness {
	dsn := pgtest.Database(t)
	s := newPGStoreDSN(t, nil, dsn, PostgresOptions{})
	// An outage of this database alone on the shared cluster: new connections
	// are refused and the existing ones terminated. (A real server stop and
	// restart is TestPostgresServerRestart.)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin := func(t *testing.T, stmts ...string) {
		t.Helper()
		conn, err := pgx.Connect(ctx10(t), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for _, stmt := range stmts {
			if _, err := conn.Exec(ctx10(t), stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	return storeHarness{
		src: s.src,
		set: func(t *testing.T, doc []byte) {
			if _, err := pgstore.Publish(context.Background(), s.pool, doc); err != nil {
				t.Fatal(err)
			}
		},
		down: func(t *testing.T) {
			admin(t, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS false",
				"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"'")
		},
		up: func(t *testing.T) {
			admin(t, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS true")
		},
	}
}

func TestPostgresSourceConformance(t *testing.T) {
	testSource(t, newPostgresStore)
}

func ctx10(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPostgresNoPolicy(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	src, err := NewPostgresSource(dsn, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Fetch(ctx10(t), ""); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("no schema: %v, want ErrNoPolicy", err)
	}
	pool, _ := pgxpool.New(context.Background(), dsn)
	defer pool.Close()
	// Concurrent first starts: every Migrate succeeds.
	var wg gosync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- pgstore.Migrate(ctx10(t), pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if _, err := src.Fetch(ctx10(t), ""); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("nothing published: %v, want ErrNoPolicy", err)
	}
	// An edge refuses a schema newer than it knows.
	if _, err := pool.Exec(ctx10(t), `INSERT INTO edgeauthz_schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	src2, err := NewPostgresSource(dsn, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	if _, err := src2.Fetch(ctx10(t), ""); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("an edge over a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// state reads the current tuples sorted.
func state(t testing.TB, s *pgStore) (tuples []string, seq int64) {
	t.Helper()
	b, err := s.src.Fetch(ctx10(t), "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(b.Tuples)
	return b.Tuples, b.Seq
}

// allChanges reads the whole changelog after since, batch by batch.
func allChanges(t testing.TB, src *PostgresSource, since int64) []TupleChange {
	t.Helper()
	var all []TupleChange
	for {
		c, err := src.Changes(ctx10(t), since)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) == 0 {
			return all
		}
		all = append(all, c...)
		since = c[len(c)-1].Seq
	}
}

// replay applies changes to a set and returns it sorted; it checks the
// seqs strictly increase.
func replay(t testing.TB, changes []TupleChange) []string {
	t.Helper()
	set := map[string]bool{}
	var last int64
	for _, c := range changes {
		if c.Seq <= last {
			t.Fatalf("changelog seq %d after %d: not strictly increasing", c.Seq, last)
		}
		last = c.Seq
		if c.Write {
			set[c.Tuple] = true
		} else {
			delete(set, c.Tuple)
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPostgresChanges(t *testing.T) {
	t.Parallel()
	s := newPGStore(t, PostgresOptions{})
	ctx := ctx10(t)
	if _, err := pgstore.Publish(ctx, s.pool, []byte("model: x\n")); err != nil {
		t.Fatal(err)
	}
	b0, err := s.src.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b0.Tuples) != 0 || b0.Seq != 0 || b0.Name != "postgres revision 1" {
		t.Fatalf("empty store: %+v", b0)
	}
	a, b, c := "document:1#viewer@user:a", "document:1#viewer@user:b", "document:1#viewer@team:x#member"
	steps := []struct {
		write   bool
		tuples  []string
		changed int
	}{
		{true, []string{a, b, a}, 2}, // duplicates in a call count once
		{true, []string{b}, 0},       // already there: no changelog row
		{false, []string{a, c}, 1},   // c is absent: no row for it
		{true, []string{c, a}, 2},
		{false, []string{"document:9#viewer@user:nobody"}, 0},
	}
	for i, st := range steps {
		f := pgstore.WriteTuples
		if !st.write {
			f = pgstore.DeleteTuples
		}
		n, err := f(ctx, s.pool, st.tuples)
		if err != nil || n != st.changed {
			t.Fatalf("step %d: changed %d, %v; want %d", i, n, err, st.changed)
		}
	}
	got := allChanges(t, s.src, 0)
	want := []TupleChange{{Write: true, Tuple: a}, {Write: true, Tuple: b}, {Write: false, Tuple: a}, {Write: true, Tuple: c}, {Write: true, Tuple: a}}
	if len(got) != len(want) {
		t.Fatalf("changelog %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Write != want[i].Write || got[i].Tuple != want[i].Tuple {
			t.Fatalf("changelog[%d] = %+v, want %+v (all: %+v)", i, got[i], want[i], got)
		}
	}
	if tail := allChanges(t, s.src, got[2].Seq); len(tail) != 2 || tail[0] != got[3] {
		t.Fatalf("Changes(since %d) = %+v", got[2].Seq, tail)
	}
	tuples, seq := state(t, s)
	if want := replay(t, got); !slices.Equal(tuples, want) || seq != got[len(got)-1].Seq {
		t.Fatalf("current tuples %v at seq %d, replay %v at %d", tuples, seq, want, got[len(got)-1].Seq)
	}

	// Fetch vs Changes: after catching up with Changes, the advanced revision
	// is current; a tuple write moves the revision, a publish too.
	rev := fmt.Sprintf("%d.%d", 1, seq)
	if _, err := s.src.Fetch(ctx, rev); !errors.Is(err, ErrNotModified) {
		t.Fatalf("Fetch(%s) = %v, want ErrNotModified", rev, err)
	}
	pgstore.WriteTuples(ctx, s.pool, []string{"document:2#viewer@user:z"})
	if bn, err := s.src.Fetch(ctx, rev); err != nil || bn.Seq != seq+1 || len(bn.Tuples) != 4 {
		t.Fatalf("after a write, Fetch(%s) = seq %d, %d tuples, %v", rev, bn.Seq, len(bn.Tuples), err)
	}
	pgstore.Publish(ctx, s.pool, []byte("model: y\n"))
	bn, err := s.src.Fetch(ctx, fmt.Sprintf("1.%d", seq+1))
	if err != nil || string(bn.Policy) != "model: y\n" || bn.Revision != fmt.Sprintf("2.%d", seq+1) {
		t.Fatalf("after publish: %+v, %v", bn, err)
	}
	if pos, ok := pgstore.ParsePosition(bn.Revision); !ok || pos.Policy != 2 || pos.Seq != seq+1 {
		t.Fatalf("pgstore.ParsePosition(%q) = %+v, %v", bn.Revision, pos, ok)
	}

	// A malformed tuple refuses the whole call.
	if _, err := pgstore.WriteTuples(ctx, s.pool, []string{"document:3#viewer@user:ok", "bad tuple"}); err == nil || !strings.Contains(err.Error(), `"bad tuple"`) {
		t.Fatalf("malformed tuple: %v", err)
	}
	if after := allChanges(t, s.src, seq+1); len(after) != 0 {
		t.Fatalf("a refused call wrote %+v", after)
	}
	if _, err := pgstore.Publish(ctx, s.pool, []byte("a\x00b")); err == nil {
		t.Fatal("Publish accepted a NUL byte")
	}
}

func TestPostgresConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := newPGStore(t, PostgresOptions{ChangesBatch: 7})
	ctx := ctx10(t)
	pgstore.Publish(ctx, s.pool, []byte("p"))

	// A reader follows the changelog while the writers run: it must never
	// miss a row (which it would if seqs were committed out of order).
	stop := make(chan struct{})
	var followed []TupleChange
	var readErr error
	var rd gosync.WaitGroup
	rd.Go(func() {
		var since int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := s.src.Changes(ctx, since)
			if err != nil {
				readErr = err
				return
			}
			if len(c) > 0 {
				followed = append(followed, c...)
				since = c[len(c)-1].Seq
			}
		}
	})

	const writers, ops = 8, 40
	var wg gosync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				batch := make([]string, 1+r.IntN(4))
				for i := range batch {
					batch[i] = fmt.Sprintf("document:%d#viewer@user:%d", r.IntN(5), r.IntN(5))
				}
				var err error
				if r.IntN(3) == 0 {
					_, err = pgstore.DeleteTuples(ctx, s.pool, batch)
				} else {
					_, err = pgstore.WriteTuples(ctx, s.pool, batch)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rd.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	var since int64
	if len(followed) > 0 {
		since = followed[len(followed)-1].Seq
	}
	followed = append(followed, allChanges(t, s.src, since)...)
	all := allChanges(t, s.src, 0)
	if len(followed) != len(all) {
		t.Fatalf("the follower saw %d changes, the changelog holds %d", len(followed), len(all))
	}
	tuples, seq := state(t, s)
	if got := replay(t, all); !slices.Equal(got, tuples) {
		t.Fatalf("changelog replay %v != current tuples %v", got, tuples)
	}
	if seq != all[len(all)-1].Seq {
		t.Fatalf("Fetch seq %d, last changelog seq %d", seq, all[len(all)-1].Seq)
	}
	t.Logf("%d changelog rows, %d current tuples", len(all), len(tuples))
}

func TestPostgresReplay10k(t *testing.T) {
	t.Parallel()
	s := newPGStore(t, PostgresOptions{ChangesBatch: 3000})
	ctx := ctx10(t)
	pgstore.Publish(ctx, s.pool, []byte("p"))
	r := rand.New(rand.NewPCG(1, 2))
	for batch := range 10 {
		tuples := make([]string, 1000)
		for i := range tuples {
			tuples[i] = fmt.Sprintf("document:%d#viewer@user:%d", batch*1000+i, r.IntN(100))
		}
		if _, err := pgstore.WriteTuples(ctx, s.pool, tuples); err != nil {
			t.Fatal(err)
		}
		if _, err := pgstore.DeleteTuples(ctx, s.pool, tuples[:100]); err != nil {
			t.Fatal(err)
		}
	}
	all := allChanges(t, s.src, 0)
	if len(all) != 11000 {
		t.Fatalf("%d changelog rows, want 11000", len(all))
	}
	tuples, _ := state(t, s)
	if got := replay(t, all); len(got) != 9000 || !slices.Equal(got, tuples) {
		t.Fatalf("replay (%d tuples) != current tuples (%d)", len(got), len(tuples))
	}
}

// waitSignal waits for a Notify signal.
func waitSignal(t *testing.T, src *PostgresSource, within time.Duration, what string) {
	t.Helper()
	select {
	case <-src.Notify():
	case <-time.After(within):
		t.Fatalf("no notification within %v %s", within, what)
	}
}

// drain empties the coalescing channel.
func drain(src *PostgresSource) {
	select {
	case <-src.Notify():
	default:
	}
}

func TestPostgresNotify(t *testing.T) {
	t.Parallel()
	s := newPGStore(t, PostgresOptions{})
	waitSignal(t, s.src, 5*time.Second, "after the listener connected")
	ctx := ctx10(t)

	start := time.Now()
	if _, err := pgstore.Publish(ctx, s.pool, []byte("p1")); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, s.src, time.Second, "after Publish")
	t.Logf("publish → notify in %v", time.Since(start))
	if b, err := s.src.Fetch(ctx, ""); err != nil || string(b.Policy) != "p1" {
		t.Fatalf("Fetch after the notification: %q, %v", b.Policy, err)
	}

	pgstore.WriteTuples(ctx, s.pool, []string{"document:1#viewer@user:a"})
	waitSignal(t, s.src, time.Second, "after WriteTuples")

	// No change, no signal: writing an existing tuple notifies nobody.
	pgstore.WriteTuples(ctx, s.pool, []string{"document:1#viewer@user:a"})
	select {
	case <-s.src.Notify():
		t.Fatal("signal for a write that changed nothing")
	case <-time.After(200 * time.Millisecond):
	}

	// Many changes while nobody reads coalesce into one pending signal.
	for i := range 20 {
		pgstore.WriteTuples(ctx, s.pool, []string{fmt.Sprintf("document:c%d#viewer@user:a", i)})
	}
	waitSignal(t, s.src, time.Second, "after a burst")
	time.Sleep(100 * time.Millisecond)
	drain(s.src)
	select {
	case <-s.src.Notify():
		t.Fatal("more than one pending signal after draining")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPostgresServerRestart(t *testing.T) {
	t.Parallel()
	s := newPGServerStore(t, PostgresOptions{ReconnectMax: 500 * time.Millisecond})
	waitSignal(t, s.src, 5*time.Second, "after the listener connected")
	if _, err := pgstore.Publish(ctx10(t), s.pool, []byte("before")); err != nil {
		t.Fatal(err)
	}
	b, err := s.src.Fetch(ctx10(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.src.Fetch(ctx10(t), b.Revision); err == nil || errors.Is(err, ErrNotModified) {
		t.Fatalf("Fetch with the server stopped: %v, want a failure", err)
	}
	drain(s.src)
	if err := s.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.WaitReady(10*time.Second, func() error {
		_, err := s.src.Fetch(ctx10(t), b.Revision)
		if errors.Is(err, ErrNotModified) {
			return nil
		}
		return fmt.Errorf("Fetch after restart: %v", err)
	}); err != nil {
		t.Fatal(err)
	}
	// The listener reconnects and signals once: it may have missed changes.
	waitSignal(t, s.src, 10*time.Second, "after the database restarted")
	// And it listens again.
	ctx := ctx10(t)
	if err := pgtest.WaitReady(5*time.Second, func() error {
		_, err := pgstore.Publish(ctx, s.pool, []byte("after restart"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, s.src, time.Second, "after Publish on the restarted database")
}

func TestPostgresCloseStopsListener(t *testing.T) {
	t.Parallel()
	s := newPGStore(t, PostgresOptions{})
	waitSignal(t, s.src, 5*time.Second, "after the listener connected")
	done := make(chan struct{})
	go func() { s.src.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return")
	}
	// The server ends a backend shortly after its client hung up.
	err := pgtest.WaitReady(3*time.Second, func() error {
		var n int
		if err := s.pool.QueryRow(ctx10(t), `SELECT count(*) FROM pg_stat_activity
			WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d LISTEN connections left after Close", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// load1M fills the tuple table with n tuples by COPY.
func loadTuples1M(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	ctx := context.Background()
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"edgeauthz_tuples"}, []string{"object", "relation", "subject"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			return []any{fmt.Sprintf("document:%d", i), "viewer", fmt.Sprintf("user:%d", i%50000)}, nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM (FREEZE, ANALYZE) edgeauthz_tuples`); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkPostgresFetch1M(b *testing.B) {
	s := newPGStore(b, PostgresOptions{})
	if _, err := pgstore.Publish(context.Background(), s.pool, []byte("model: x\n")); err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	loadTuples1M(b, s.pool, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bundle, err := s.src.Fetch(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		if len(bundle.Tuples) != n {
			b.Fatalf("%d tuples, want %d", len(bundle.Tuples), n)
		}
	}
}

func TestPostgresFetchCancelledInFlight(t *testing.T) {
	t.Parallel()
	s := newPGStore(t, PostgresOptions{})
	ctx := ctx10(t)
	pgstore.Publish(ctx, s.pool, []byte("p"))
	// A writer holding an exclusive lock makes Fetch wait on the tuples.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `LOCK TABLE edgeauthz_tuples IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = s.src.Fetch(fctx, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch cancelled while blocked: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Fetch took %v to honour the cancellation", d)
	}
}
