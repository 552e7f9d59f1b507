package extauthz

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
	"weak"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/cache"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// pinPolicy is a relationship policy whose route also requires a role, so
// that an allow's upstream headers name roles. rev changes with each policy
// revision.
func pinPolicy(rev int) string {
	return fmt.Sprintf(`
model: |
  model
    schema 1.1
  type user
  type team
    relations
      define member: [user]
  type document
    relations
      define viewer: [user, team#member]
roles:
  viewer: {permissions: [read:documents]}
routes:
  - name: doc
    match: GET /docs/{id}
    roles: [viewer]
    relation: {object: "document:{params.id}", relation: viewer}
  - name: rev-%d
    match: GET /revision
    public: true
`, rev)
}

// pinTuples is a store of n tuples: users in 10k teams, each team viewing
// documents, so that user uK views document dJ when J%10000 == K%10000.
func pinTuples(n int) []string {
	out := make([]string, 0, n)
	for i := range n / 2 {
		team := strconv.Itoa(i % 10000)
		out = append(out,
			"team:t"+team+"#member@user:u"+strconv.Itoa(i),
			"document:d"+strconv.Itoa(i)+"#viewer@team:t"+team+"#member")
	}
	return out
}

func heapNow() (alloc, inuse uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapInuse
}

// TestWarmPathDoesNotPinSnapshots: cached decisions are plain data. An edge
// serving from the decision cache while its 1M-tuple snapshot is replaced by
// tuple changes and policy revisions holds one snapshot's heap (within 1.3×),
// not one relationship graph per revision still in the cache; the replaced
// snapshots are collected while their decisions stay cached.
func TestWarmPathDoesNotPinSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("builds six 1M-tuple snapshots")
	}
	if raceEnabled {
		t.Skip("six 1M-tuple snapshots are too slow under -race; the non-race alloc run of make test runs it")
	}
	const nTuples = 1_000_000
	t0 := time.Now()
	clk := &clock{t: t0}
	ver, key := newTestVerifier(t, clk)
	eng := decision.NewEngine(0)
	a := NewAuthorizer(Options{
		Engine:             eng,
		Authn:              newTestAuthn(t, ver),
		DecisionCacheBytes: 64 << 20, // room for every decision below
		Metrics:            NewMetrics(prometheus.NewRegistry()),
		Now:                clk.Now,
	})
	t.Cleanup(a.Close)
	g := NewGRPC(a)
	ctx := context.Background()

	compile := func(rev int) *decision.Snapshot {
		t.Helper()
		pol, err := config.ParsePolicy("policy.yaml", []byte(pinPolicy(rev)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := decision.Compile(pol, decision.Options{Revision: fmt.Sprintf("p%d", rev), Tuples: pinTuples(nTuples)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tokens := map[string]string{}
	token := func(sub string) string {
		if tok, ok := tokens[sub]; ok {
			return tok
		}
		tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": sub,
			"roles": []string{"viewer"}}, time.Hour, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		tokens[sub] = tok
		return tok
	}
	// keys are the cache keys of every allow served, with the revision
	// that decided it.
	type served struct {
		key cache.Key
		rev string
	}
	var keys []served
	// serve asks each question three times: the decision cache stores a
	// decision from its second sight and answers the third.
	serve := func(snap *decision.Snapshot, sub, doc string) {
		t.Helper()
		tok := token(sub)
		for range 3 {
			res, err := g.Check(ctx, docCheckPath(tok, "/docs/"+doc))
			if err != nil {
				t.Fatal(err)
			}
			ok := onTheWire(t, res).GetOkResponse()
			if ok == nil {
				t.Fatalf("%s on %s denied: %v", sub, doc, res)
			}
			if roles := headerValue(ok, "x-auth-roles"); roles != "viewer" {
				t.Fatalf("x-auth-roles %q, want viewer", roles)
			}
			a.decisions.Wait()
			a.authn.Wait()
		}
		req := warmRequest(tok)
		req.Target = "/docs/" + doc
		who := a.authn.Authenticate(ctx, req.Headers)
		keys = append(keys, served{a.cacheKey(snap, req, &who.Caller, &who.TokenKey), snap.Revision()})
	}
	serveAll := func(snap *decision.Snapshot) {
		for u := range 8 {
			serve(snap, fmt.Sprintf("u%d", u), fmt.Sprintf("d%d", 10000+u))
		}
	}

	before, _ := heapNow()
	snap := compile(0)
	eng.Swap(snap)
	serveAll(snap)
	oneAlloc, oneInuse := heapNow()
	oneAlloc -= before
	oneInuse -= before
	if n, _ := snap.RelationStats(); n != nTuples {
		t.Fatalf("%d tuples, want %d", n, nTuples)
	}

	// Five policy revisions, each after four tuple changes: 20 changes and
	// 5 new 1M-tuple graphs, as the loader swaps them in.
	var gone []weak.Pointer[decision.Snapshot]
	change := 0
	for rev := 1; rev <= 5; rev++ {
		for range 4 {
			change++
			doc := fmt.Sprintf("new%d", change)
			next, err := snap.ApplyTuples([]string{"document:" + doc + "#viewer@user:u1"}, nil,
				fmt.Sprintf("p%d+%d", rev-1, change))
			if err != nil {
				t.Fatal(err)
			}
			gone = append(gone, weak.Make(snap))
			snap = next
			eng.Swap(snap)
			serve(snap, "u1", doc)
			serveAll(snap)
		}
		gone = append(gone, weak.Make(snap))
		snap = compile(rev)
		eng.Swap(snap)
		serveAll(snap)
	}
	snap = nil
	afterAlloc, afterInuse := heapNow()
	afterAlloc -= before
	afterInuse -= before

	for i, w := range gone {
		if w.Value() != nil {
			t.Errorf("replaced snapshot %d is still reachable", i)
		}
	}
	// The decisions of the replaced snapshots are still cached.
	held := map[string]bool{}
	for _, s := range keys {
		if _, ok := a.decisions.Get(s.key); ok {
			held[s.rev] = true
		}
	}
	if len(held) != len(gone)+1 {
		t.Errorf("the cache holds decisions of %d revisions, want %d", len(held), len(gone)+1)
	}
	t.Logf("one snapshot: heap alloc %.1f MiB, in use %.1f MiB; after %d changes and 5 revisions: %.1f MiB, %.1f MiB",
		mib(oneAlloc), mib(oneInuse), change, mib(afterAlloc), mib(afterInuse))
	if float64(afterAlloc) > 1.3*float64(oneAlloc) {
		t.Errorf("heap alloc %.1f MiB, more than 1.3× one snapshot's %.1f MiB", mib(afterAlloc), mib(oneAlloc))
	}
	if float64(afterInuse) > 1.3*float64(oneInuse) {
		t.Errorf("heap in use %.1f MiB, more than 1.3× one snapshot's %.1f MiB", mib(afterInuse), mib(oneInuse))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func headerValue(ok *authv3.OkHttpResponse, name string) string {
	for _, h := range ok.GetHeaders() {
		if h.GetHeader().GetKey() == name {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

// docCheckPath is a GET of path on api.test with the token.
func docCheckPath(token, path string) *authv3.CheckRequest {
	cr := docCheck(token)
	cr.Attributes.Request.Http.Path = path
	return cr
}
