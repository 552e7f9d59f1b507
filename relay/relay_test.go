package relay_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/relay"
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

const badPolicy = "routes:\n  - name: doc\n    match: GET /docs/{id}\n    scopes: [\"{params.nope}\"]\n"

func compile(b policysync.Bundle) (*decision.Snapshot, error) {
	p, err := config.ParsePolicy(b.Name, b.Policy)
	if err != nil {
		return nil, err
	}
	return decision.Compile(p, decision.Options{Revision: b.Revision, Tuples: b.Tuples})
}

func check(name string, doc []byte) (*decision.Snapshot, error) {
	return compile(policysync.Bundle{Name: name, Policy: doc})
}

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

// pollOnly hides the store's notifications: the relay must poll, as it does
// on a store without LISTEN/NOTIFY.
type pollOnly struct{ *policysync.PostgresSource }

func (pollOnly) Notify() <-chan struct{} { return nil }

type runningRelay struct {
	relay *relay.Relay
	addr  string
	stop  func()
}

func startRelay(t testing.TB, dsn, addr string, opts relay.Options, polling bool) *runningRelay {
	t.Helper()
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{ReconnectBase: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = src
	if polling {
		opts.Store = pollOnly{src}
	}
	opts.Check = check
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Hour
	}
	r := relay.New(opts)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	for range 50 { // the port of a relay just stopped may linger briefly
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gs := grpc.NewServer()
	r.Register(ctx, gs)
	done := make(chan struct{}, 2)
	go func() { _ = r.Run(ctx); done <- struct{}{} }()
	go func() { _ = gs.Serve(lis); done <- struct{}{} }()
	rr := &runningRelay{relay: r, addr: lis.Addr().String()}
	stopped := false
	rr.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		gs.Stop()
		<-done
		<-done
		_ = src.Close()
	}
	t.Cleanup(rr.stop)
	return rr
}

type edge struct {
	src    *policysync.XDSSource
	engine *decision.Engine
	loader *policysync.Loader
}

func startEdge(t testing.TB, node string, addrs []string, edgeCheck func(policysync.Bundle) error) *edge {
	t.Helper()
	return startEdgeWith(t, "xds://"+strings.Join(addrs, ","), policysync.XDSOptions{NodeID: node, Check: edgeCheck})
}

// startEdgeWith starts an edge on source with opts, short reconnect delays
// and a compiling Check unless opts set them.
func startEdgeWith(t testing.TB, source string, opts policysync.XDSOptions) *edge {
	t.Helper()
	if opts.Check == nil {
		opts.Check = func(b policysync.Bundle) error { _, err := compile(b); return err }
	}
	if opts.ReconnectBase == 0 {
		opts.ReconnectBase, opts.ReconnectMax = 10*time.Millisecond, 100*time.Millisecond
	}
	src, err := policysync.NewXDSSource(source, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{src: src, engine: decision.NewEngine(0)}
	e.loader = policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: e.engine, Compile: compile, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.loader.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = src.Close() })
	return e
}

func asUser(e *decision.Engine, sub, path string) decision.Reason {
	return e.Decide(&decision.Request{Method: "GET", Target: path},
		decision.Authenticated(&decision.Principal{Subject: sub})).Reason
}

// waitFor polls cond; the deadline only stops a hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 30*time.Second, what, cond)
}

func waitWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// storeTuples is the store's tuple set, sorted.
func storeTuples(t testing.TB, dsn string) []string {
	t.Helper()
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b, err := src.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(slices.Values(b.Tuples))
}

// edgeTuples is the tuple set the edge's source holds, sorted, with the
// changelog position.
func edgeTuples(e *edge) ([]string, int64) {
	b, err := e.src.Fetch(context.Background(), "")
	if err != nil {
		return nil, -1
	}
	return slices.Sorted(slices.Values(b.Tuples)), b.Seq
}

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestRelayPushesPolicyAndTuples(t *testing.T) {
	for _, polling := range []bool{false, true} {
		t.Run(fmt.Sprintf("polling=%v", polling), func(t *testing.T) {
			ctx := context.Background()
			dsn := pgtest.Database(t)
			pool := pgPool(t, dsn)
			if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
				t.Fatal(err)
			}
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"team:eng#member@user:ann", "document:d1#viewer@team:eng#member"}); err != nil {
				t.Fatal(err)
			}
			opts := relay.Options{}
			if polling {
				opts.PollInterval = 20 * time.Millisecond
			}
			r := startRelay(t, dsn, "", opts, polling)
			edges := []*edge{startEdge(t, "edge-a", []string{r.addr}, nil), startEdge(t, "edge-b", []string{r.addr}, nil)}
			all := func(cond func(e *edge) bool) func() bool {
				return func() bool {
					for _, e := range edges {
						if !cond(e) {
							return false
						}
					}
					return true
				}
			}
			waitFor(t, "ann allowed", all(func(e *edge) bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonAllowed }))

			if _, err := pgstore.WriteTuples(ctx, pool, []string{"team:eng#member@user:bob"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "bob allowed", all(func(e *edge) bool { return asUser(e.engine, "bob", "/docs/d1") == decision.ReasonAllowed }))
			if _, err := pgstore.DeleteTuples(ctx, pool, []string{"team:eng#member@user:ann"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "ann denied", all(func(e *edge) bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonRelationDenied }))

			// A revision that does not compile is refused by the relay and
			// never reaches an edge; tuple writes still do.
			bad, err := pgstore.Publish(ctx, pool, []byte(badPolicy))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:cid"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "cid allowed", all(func(e *edge) bool { return asUser(e.engine, "cid", "/docs/d1") == decision.ReasonAllowed }))
			waitFor(t, "the bad revision refused", func() bool { _, ok := r.relay.Refused()[bad]; return ok })

			good, err := pgstore.Publish(ctx, pool, []byte(relPolicyV2))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "new revision public", all(func(e *edge) bool { return asUser(e.engine, "zed", "/docs/d1") == decision.ReasonPublic }))

			// The fleet status shows both edges at the new revision and seq.
			want := storeTuples(t, dsn)
			waitFor(t, "fleet acks", func() bool {
				st := r.relay.Fleet().Status()
				if len(st.Edges) != 2 {
					return false
				}
				for _, e := range st.Edges {
					if e.Revision != good || e.Seq != st.Seq {
						return false
					}
				}
				return true
			})
			for _, e := range edges {
				if got, _ := edgeTuples(e); !slices.Equal(got, want) {
					t.Fatalf("edge tuples %v, store %v", got, want)
				}
			}
		})
	}
}

// TestLoadServesTheNewestThatCompiles: a relay started while the newest
// revision does not compile serves the one before it, and records the
// refusal.
func TestLoadServesTheNewestThatCompiles(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	bad, err := pgstore.Publish(ctx, pool, []byte(badPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, dsn, "", relay.Options{}, false)
	e := startEdge(t, "edge", []string{r.addr}, nil)
	waitFor(t, "ann allowed", func() bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	if _, ok := r.relay.Refused()[bad]; !ok {
		t.Fatalf("refused revisions %v, want %d among them", r.relay.Refused(), bad)
	}
}

func TestEdgeNACKsWhatItCannotCompile(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, dsn, "", relay.Options{}, false)
	// This edge refuses any revision naming the public flag (as an edge of
	// an older edgeauthz would refuse a field it does not know).
	e := startEdge(t, "picky", []string{r.addr}, func(b policysync.Bundle) error {
		if strings.Contains(string(b.Policy), "public") {
			return errors.New("public routes are not allowed here")
		}
		_, err := compile(b)
		return err
	})
	waitFor(t, "first policy", func() bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonRelationDenied })
	rev, err := pgstore.Publish(ctx, pool, []byte(relPolicyV2))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "NACK recorded", func() bool {
		st := r.relay.Fleet().Status()
		return len(st.Edges) == 1 && st.Edges[0].NACKedRev == rev && strings.Contains(st.Edges[0].LastNACK, "public routes are not allowed")
	})
	if got := asUser(e.engine, "ann", "/docs/d1"); got != decision.ReasonRelationDenied {
		t.Fatalf("after a NACK the edge serves %v, want its last good policy", got)
	}
	if st := r.relay.Fleet().Status(); st.Edges[0].Node != "picky" || st.Edges[0].Revision == rev {
		t.Fatalf("fleet status %+v", st.Edges[0])
	}
}

// TestRelayFoldRestartAndFailover writes and deletes tuples through deltas
// and folds, restarts the relay (edges resume), and fails over to a second
// relay; every edge's tuple set ends equal to the store's.
func TestRelayFoldRestartAndFailover(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	opts := relay.Options{Chunks: 8, FoldAfter: 5}
	r1 := startRelay(t, dsn, "", opts, false)
	r2 := startRelay(t, dsn, "", opts, false)
	edges := []*edge{
		startEdge(t, "e1", []string{r1.addr}, nil),
		startEdge(t, "e2", []string{r1.addr, r2.addr}, nil),
		startEdge(t, "e3", []string{r2.addr, r1.addr}, nil),
	}
	converged := func() bool {
		want := storeTuples(t, dsn)
		for _, e := range edges {
			if got, _ := edgeTuples(e); !slices.Equal(got, want) {
				return false
			}
		}
		return true
	}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := pgstore.WriteTuples(ctx, pool, []string{fmt.Sprintf("document:d%d#viewer@user:u%d", i%7, i)}); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				if _, err := pgstore.DeleteTuples(ctx, pool, []string{fmt.Sprintf("document:d%d#viewer@user:u%d", (i-3)%7, i-3)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	write(0, 30)
	waitFor(t, "converged after writes and folds", converged)

	// A relay restart on the same address: e1 resumes from what it holds.
	addr := r1.addr
	r1.stop()
	write(30, 40)
	r1 = startRelay(t, dsn, addr, opts, false)
	write(40, 50)
	waitFor(t, "converged after a relay restart", converged)

	// r2 goes away: e2 and e3 fail over to r1.
	r2.stop()
	write(50, 60)
	waitFor(t, "converged after a failover", converged)
	waitFor(t, "three edges on r1", func() bool { return len(r1.relay.Fleet().Status().Edges) == 3 })
}

// TestRetentionPrunesAndEdgesRebootstrap prunes the changelog behind the
// relay; an edge that was away past the fold rebootstraps from the base,
// a reader behind the checkpoint is told to reload, and a relay started
// after the prune loads in full.
func TestRetentionPrunesAndEdgesRebootstrap(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	opts := relay.Options{Chunks: 4, FoldAfter: 3, DB: pool, Retention: time.Nanosecond, PruneEvery: time.Nanosecond}
	r1 := startRelay(t, dsn, "", opts, false)
	e1 := startEdge(t, "steady", []string{r1.addr}, nil)
	for i := range 10 {
		if _, err := pgstore.WriteTuples(ctx, pool, []string{fmt.Sprintf("document:d%d#viewer@user:u%d", i, i)}); err != nil {
			t.Fatal(err)
		}
	}
	converged := func(edges ...*edge) func() bool {
		return func() bool {
			want := storeTuples(t, dsn)
			for _, e := range edges {
				if got, _ := edgeTuples(e); !slices.Equal(got, want) {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "steady edge converged", converged(e1))
	// One more write makes the relay prune everything it has read.
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:x#viewer@user:last"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "changelog pruned", func() bool {
		through, err := pgstore.PrunedThrough(ctx, pool)
		return err == nil && through >= 10
	})
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Changes(ctx, 1); !errors.Is(err, policysync.ErrChangelogPruned) {
		t.Fatalf("Changes behind the checkpoint: %v, want ErrChangelogPruned", err)
	}
	// A new relay and a new edge start from the base.
	r2 := startRelay(t, dsn, "", opts, false)
	e2 := startEdge(t, "late", []string{r2.addr}, nil)
	for i := range 5 {
		if _, err := pgstore.DeleteTuples(ctx, pool, []string{fmt.Sprintf("document:d%d#viewer@user:u%d", i, i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all converged after the prune", converged(e1, e2))
}

// TestDatabaseRestart: edges keep serving while PostgreSQL restarts, and the
// relay picks up the writes after it.
func TestDatabaseRestart(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.New(t)
	pool := pgPool(t, srv.DSN)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, srv.DSN, "", relay.Options{PollInterval: 50 * time.Millisecond}, false)
	e := startEdge(t, "e", []string{r.addr}, nil)
	waitFor(t, "ann allowed", func() bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := asUser(e.engine, "ann", "/docs/d1"); got != decision.ReasonAllowed {
		t.Fatalf("during the restart: %v", got)
	}
	waitFor(t, "write after the restart", func() bool {
		_, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:bob"})
		return err == nil
	})
	waitFor(t, "bob allowed", func() bool { return asUser(e.engine, "bob", "/docs/d1") == decision.ReasonAllowed })
	waitFor(t, "converged", func() bool {
		got, _ := edgeTuples(e)
		return slices.Equal(got, storeTuples(t, srv.DSN))
	})
}

// TestRandomizedConvergence interleaves random writes and deletes with relay
// kills and restarts (while edges are being pushed to, and while late edges
// bootstrap in chunks); at the end every edge's tuple set equals the
// store's.
func TestRandomizedConvergence(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	// Tiny chunks: the base is split again and again as it grows, and
	// every fold replaces chunks under edges that are bootstrapping.
	opts := relay.Options{Chunks: 2, MaxChunkBytes: 256, FoldAfter: 7}
	relays := []*runningRelay{startRelay(t, dsn, "", opts, false), startRelay(t, dsn, "", opts, false)}
	addrs := []string{relays[0].addr, relays[1].addr}
	var edges []*edge
	addEdge := func(i int) {
		order := []string{addrs[i%2], addrs[(i+1)%2]}
		edges = append(edges, startEdgeWith(t, "xds://"+strings.Join(order, ","),
			policysync.XDSOptions{NodeID: fmt.Sprintf("e%d", i), ChunksInFlight: 1 + i%3}))
	}
	for i := range 6 {
		addEdge(i)
	}
	down := map[int]int{} // relay -> ops until it restarts
	for op := range 300 {
		if op%100 == 50 { // a late edge bootstraps while writes go on
			addEdge(len(edges))
		}
		tuple := fmt.Sprintf("document:d%d#viewer@user:u%d", rnd.IntN(6), rnd.IntN(8))
		var err error
		if rnd.IntN(3) == 0 {
			_, err = pgstore.DeleteTuples(ctx, pool, []string{tuple})
		} else {
			_, err = pgstore.WriteTuples(ctx, pool, []string{tuple})
		}
		if err != nil {
			t.Fatal(err)
		}
		for k, n := range down {
			if n--; n > 0 {
				down[k] = n
				continue
			}
			delete(down, k)
			relays[k] = startRelay(t, dsn, addrs[k], opts, false)
		}
		// Kill one relay now and then, never both.
		if len(down) == 0 && rnd.IntN(25) == 0 {
			k := rnd.IntN(2)
			relays[k].stop()
			down[k] = 1 + rnd.IntN(20)
			t.Logf("op %d: relay %d killed for %d ops", op, k, down[k])
		}
	}
	for k := range down {
		relays[k] = startRelay(t, dsn, addrs[k], opts, false)
	}
	want := storeTuples(t, dsn)
	waitFor(t, "every edge converged", func() bool {
		for _, e := range edges {
			if got, _ := edgeTuples(e); !slices.Equal(got, want) {
				return false
			}
		}
		return true
	})
}
