package decision_test

import (
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// TestDecideZeroAlloc holds bench/README.md's zero-allocation target: a warm decision on an RBAC + org + scope
// route, with the principal already built (as the token cache does), does not
// allocate.
func TestDecideZeroAlloc(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	s := compile(t, hotPolicy, decision.Options{})
	cases := map[string]*call{
		"allow": withToken("GET", "/orgs/org_1/documents/doc123", map[string]any{"sub": "usr_1", "oid": "org_1"}),
		"allow via groups and scope claim": withToken("GET", "/orgs/org_1/documents/d?x=1",
			map[string]any{"sub": "usr_2", "oid": "org_1", "groups": []any{"Eng"}, "scope": "read:documents"}),
		"template scope": withToken("GET", "/book/dune/download", map[string]any{"sub": "usr_1", "scope": "book-dune"}),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			res := s.Decide(req.Request, req.Caller) // warm
			if !res.Allowed {
				t.Fatalf("denied: %s (%s)", res.Reason, res.Requirement)
			}
			if n := testing.AllocsPerRun(200, func() { _ = s.Decide(req.Request, req.Caller) }); n != 0 {
				t.Errorf("Decide allocates %v times per call, want 0", n)
			}
		})
	}
}
