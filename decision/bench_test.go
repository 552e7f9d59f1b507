package decision_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

func benchDecide(b *testing.B, req *call) {
	s := compile(b, hotPolicy, decision.Options{})
	if res := s.Decide(req.Request, req.Caller); !res.Allowed {
		b.Fatalf("denied: %s", res.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = s.Decide(req.Request, req.Caller)
	}
}

// BenchmarkDecide is the warm decision bench/README.md's targets name: RBAC + org + scope, principal
// prebuilt (as the token cache holds it).
func BenchmarkDecide(b *testing.B) {
	benchDecide(b, withToken("GET", "/orgs/org_1/documents/doc123", map[string]any{"sub": "usr_1", "oid": "org_1"}))
}

func BenchmarkDecideTemplateScope(b *testing.B) {
	benchDecide(b, withToken("GET", "/book/dune/download", map[string]any{"sub": "usr_1", "scope": "book-dune"}))
}

func BenchmarkDecideCondition(b *testing.B) {
	benchDecide(b, withToken("GET", "/reports/q1", map[string]any{"sub": "usr_1"}))
}

// routeTable generates n distinct routes with wildcards, spread over
// prefixes, depths and methods.
func routeTable(n int) string {
	var sb strings.Builder
	sb.WriteString("routes:\n")
	methods := []string{"GET ", "POST ", "", "DELETE "}
	for i := range n {
		fmt.Fprintf(&sb, "  - name: r%d\n    match: \"%s/svc%d/{a}/items%d/{b}/leaf\"\n    scopes: [s]\n",
			i, methods[i%len(methods)], i%37, i)
	}
	return sb.String()
}

// BenchmarkRouteMatch decides against tables of growing size; matching is a
// tree walk, so the time should stay flat.
func BenchmarkRouteMatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			s := compile(b, routeTable(n), decision.Options{})
			i := n - 1
			method := []string{"GET", "POST", "PUT", "DELETE"}[i%4]
			req := withToken(method, fmt.Sprintf("/svc%d/x/items%d/y/leaf", i%37, i), map[string]any{"sub": "u", "scope": "s"})
			if res := s.Decide(req.Request, req.Caller); !res.Allowed || res.Rule != fmt.Sprintf("r%d", i) {
				b.Fatalf("got %s %q", res.Reason, res.Rule)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = s.Decide(req.Request, req.Caller)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	p, err := config.ParsePolicy("policy.yaml", []byte(policy))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decision.Compile(p, decision.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecompile1M is a policy reload beside a million tuples that
// changes only a route: /fresh builds the relationship index again,
// /reuse takes it over from the serving snapshot (Options.Reuse), paying
// the parse and the inputs' fingerprint.
func BenchmarkRecompile1M(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("model: |\n  model\n    schema 1.1\n  type user\n  type team\n    relations\n      define member: [user, team#member]\n  type document\n    relations\n      define viewer: [user, team#member]\ntuples:\n")
	for i := 1; i <= 1_000_000; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&sb, "  - team:t%d#member@user:u%d\n", i%10000, i)
		} else {
			fmt.Fprintf(&sb, "  - document:d%d#viewer@team:t%d#member\n", i, i%10000)
		}
	}
	sb.WriteString("routes:\n  - {name: r, match: 'GET /docs/{id}', relation: {object: 'document:{params.id}', relation: viewer}}\n")
	data := []byte(sb.String())
	serving := compile(b, string(data), decision.Options{})
	next := []byte(strings.Replace(string(data), "name: r,", "name: docs,", 1))
	for _, c := range []struct {
		name  string
		reuse *decision.Snapshot
	}{{"fresh", nil}, {"reuse", serving}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := config.ParsePolicy("p.yaml", next)
				if err != nil {
					b.Fatal(err)
				}
				s, err := decision.Compile(p, decision.Options{Reuse: c.reuse})
				if err != nil || s.ReusedRelations() != (c.reuse != nil) {
					b.Fatalf("%v, reused %v", err, s.ReusedRelations())
				}
			}
		})
	}
}
