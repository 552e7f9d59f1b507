package decision_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// meshOf builds a base and n packages of routesPer routes each: package i
// owns /team<i> and its routes are GET /team<i>/r<j>/{id} for role viewer.
func meshOf(tb testing.TB, n, routesPer int) (*config.Policy, []*config.Package) {
	tb.Helper()
	base, err := config.ParsePolicy("base.yaml", []byte("roles:\n  viewer: {permissions: [read]}\n"))
	if err != nil {
		tb.Fatal(err)
	}
	pkgs := make([]*config.Package, n)
	for i := range n {
		var sb strings.Builder
		fmt.Fprintf(&sb, "package: team%d\nowns: {paths: [/team%d]}\nroutes:\n", i, i)
		for j := range routesPer {
			fmt.Fprintf(&sb, "  - name: team%d-r%d\n    match: GET /team%d/r%d/{id}\n    roles: [viewer]\n    scopes: [read]\n", i, j, i, j)
		}
		p, err := config.ParsePackage(fmt.Sprintf("team%d.yaml", i), []byte(sb.String()))
		if err != nil {
			tb.Fatal(err)
		}
		pkgs[i] = p
	}
	return base, pkgs
}

func meshRequest(n, routesPer int) *call {
	return withToken("GET", fmt.Sprintf("/team%d/r%d/x1", n-1, routesPer-1), map[string]any{"sub": "usr_1", "roles": []any{"viewer"}})
}

// BenchmarkDecidePackages decides against 1 and 50 packages of 20 routes:
// the packages compile into one route table, so the cost stays flat.
func BenchmarkDecidePackages(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("packages=%d", n), func(b *testing.B) {
			base, pkgs := meshOf(b, n, 20)
			s, err := decision.CompileSet(base, pkgs, decision.Options{})
			if err != nil {
				b.Fatal(err)
			}
			req := meshRequest(n, 20)
			if res := s.Decide(req.Request, req.Caller); !res.Allowed {
				b.Fatalf("denied: %s %s", res.Reason, res.Detail)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = s.Decide(req.Request, req.Caller)
			}
		})
	}
}

// BenchmarkCompilePackages is the compile time of the merged snapshot.
func BenchmarkCompilePackages(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("packages=%d", n), func(b *testing.B) {
			base, pkgs := meshOf(b, n, 20)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decision.CompileSet(base, pkgs, decision.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A decision in a policy of 50 packages does not allocate either.
func TestDecidePackagesZeroAlloc(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	base, pkgs := meshOf(t, 50, 20)
	s, err := decision.CompileSet(base, pkgs, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := meshRequest(50, 20)
	if res := s.Decide(req.Request, req.Caller); !res.Allowed || res.Package != "team49" {
		t.Fatalf("got %s %q", res.Reason, res.Package)
	}
	if n := testing.AllocsPerRun(200, func() { _ = s.Decide(req.Request, req.Caller) }); n != 0 {
		t.Errorf("Decide allocates %v times per call, want 0", n)
	}
}
