package extauthz

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// candidateEngine serves testdata/policy.yaml under another revision, as a
// candidate that agrees on everything.
func candidateEngine(t testing.TB) (*decision.Engine, *decision.Snapshot) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := config.ParsePolicy("policy.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := decision.Compile(pol, decision.Options{Revision: "candidate"})
	if err != nil {
		t.Fatal(err)
	}
	eng := decision.NewEngine(0)
	eng.Swap(snap)
	return eng, snap
}

// TestShadowOfferDoesNotAllocate holds the cached path at zero allocations
// with a shadow at 100%: the request is queued by value. The worker is
// stopped first, so that its own decisions are not counted.
func TestShadowOfferDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are measured in full runs")
	}
	if raceEnabled {
		// The race detector drops the caches' sync.Pool items at random
		// (see TestWarmPathAllocations); make test runs this without it.
		t.Skip("allocation counts are measured without -race")
	}
	t0 := time.Now()
	clk := &clock{t: t0}
	a, key := newTestAuthorizer(t, clk, 1<<20)
	eng, _ := candidateEngine(t)
	sh := NewShadow(ShadowOptions{Engine: eng, Sample: 1, Queue: 4096})
	sh.Close()
	a.shadow = sh
	tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1",
		"oid": "org_1", "roles": []string{"editor"}}, time.Hour, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := warmRequest(tok)
	for range 3 {
		_ = a.check(ctx, req)
		a.decisions.Wait()
		a.authn.Wait()
	}
	if n := testing.AllocsPerRun(200, func() { _ = a.check(ctx, req) }); n != 0 {
		t.Errorf("a cache hit with a shadow allocates %v times, want 0", n)
	}
	if got := len(sh.jobs); got != 3+201 {
		t.Errorf("%d decisions queued, want %d", got, 3+201)
	}
}

// TestShadowQueueFullDrops: a full queue drops the comparison and counts
// it; the answer is given all the same.
func TestShadowQueueFullDrops(t *testing.T) {
	t0 := time.Now()
	clk := &clock{t: t0}
	a, _ := newTestAuthorizer(t, clk, 0)
	eng, _ := candidateEngine(t)
	sh := NewShadow(ShadowOptions{Engine: eng, Sample: 1, Queue: 2})
	sh.Close() // nothing drains the queue
	a.shadow = sh
	for range 5 {
		o := a.check(context.Background(), &decision.Request{Method: "GET", Host: "api.test", Target: "/healthz"})
		if !o.res.Allowed {
			t.Fatalf("denied: %v", o.res.Reason)
		}
	}
	if s := sh.Summary(); s.Dropped != 3 || s.Agreed+s.Disagreed != 0 {
		t.Errorf("summary %+v, want 3 dropped", s)
	}
}

// TestShadowSampling: at sample 0.5 about half the decisions are queued;
// the bound is wide (a failure means sampling is broken, not unlucky:
// the chance of leaving it is below 1e-12).
func TestShadowSampling(t *testing.T) {
	eng, _ := candidateEngine(t)
	sh := NewShadow(ShadowOptions{Engine: eng, Sample: 0.5, Queue: 4000})
	sh.Close()
	req := &decision.Request{Method: "GET", Host: "api.test", Target: "/healthz"}
	for range 4000 {
		sh.offer(&outcome{req: req, res: decision.Result{Allowed: true, Reason: decision.ReasonPublic}})
	}
	if n := len(sh.jobs); n < 1600 || n > 2400 {
		t.Errorf("%d of 4000 queued at sample 0.5", n)
	}
}

// BenchmarkCheckShadow is BenchmarkCheck (token cached, decision cache hit)
// without a shadow; with a shadow at 100% sampling, queued and decided by
// the worker (which competes for the same cores); queued to a goroutine that
// only drains the queue (the shadow's cost on the response path alone); and
// with the candidate decided inline after each Check (what a synchronous
// shadow would add to every answer).
func BenchmarkCheckShadow(b *testing.B) {
	for _, mode := range []string{"none", "queued-100pct", "queued-100pct-drained", "inline-100pct"} {
		b.Run(mode, func(b *testing.B) {
			clk := &clock{t: time.Now()}
			a, key := newTestAuthorizer(b, clk, 1<<20)
			eng, cand := candidateEngine(b)
			switch mode {
			case "queued-100pct":
				sh := NewShadow(ShadowOptions{Engine: eng, Sample: 1})
				b.Cleanup(sh.Close)
				a.shadow = sh
			case "queued-100pct-drained":
				sh := NewShadow(ShadowOptions{Engine: eng, Sample: 1})
				sh.Close()
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						select {
						case <-sh.jobs:
						case <-stop:
							return
						}
					}
				}()
				b.Cleanup(func() { close(stop); <-done })
				a.shadow = sh
			}
			tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1",
				"oid": "org_1", "roles": []string{"editor"}}, time.Hour, "", clk.Now())
			if err != nil {
				b.Fatal(err)
			}
			g := NewGRPC(a)
			cr := docCheck(tok)
			ctx := context.Background()
			for range 3 {
				_, _ = g.Check(ctx, cr)
				a.decisions.Wait()
				a.authn.Wait()
			}
			req := new(decision.Request)
			requestFromCheck(cr, req)
			_ = a.check(ctx, req)
			caller := a.authn.Authenticate(ctx, req.Headers).Caller // for the inline decision
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				_, _ = g.Check(ctx, cr)
				if mode == "inline-100pct" {
					_ = cand.Decide(req, caller)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if a.shadow != nil {
				s := a.shadow.Summary()
				b.ReportMetric(float64(s.Dropped)/float64(b.N), "dropped/op")
			}
		})
	}
}
