package decision_test

import (
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// TestConditionClaimsCaseDuplicates: in the `claims` a condition sees, a key
// that another key of the same map equals under case folding is absent, at
// every level (nested maps, maps in arrays), as in templates; the upstream's
// case-insensitive decoder may read the other copy. Keys that collide with
// nothing stay.
func TestConditionClaimsCaseDuplicates(t *testing.T) {
	s := compile(t, `
routes:
  - name: flat
    match: GET /flat
    when: 'claims.dept == "fin"'
  - name: has
    match: GET /has
    when: '!has(claims.dept)'
  - name: nested
    match: GET /nested
    when: 'claims.org.dept == "fin"'
  - name: array
    match: GET /array
    when: 'claims.grants[0].dept == "fin"'
  - name: kind
    match: GET /kind
    when: 'claims.kind == "a"'
  - name: sibling
    match: GET /sibling
    when: 'claims.team == "t" && claims.org.team == "t"'
`, decision.Options{})
	cases := []struct {
		name   string
		path   string
		claims map[string]any
		allow  bool
	}{
		{"flat unique", "/flat", map[string]any{"sub": "u", "dept": "fin"}, true},
		{"flat upper duplicate", "/flat", map[string]any{"sub": "u", "dept": "fin", "DEPT": "x"}, false},
		{"flat mixed duplicate", "/flat", map[string]any{"sub": "u", "dept": "fin", "Dept": "fin"}, false},
		{"kind unique", "/kind", map[string]any{"sub": "u", "kind": "a"}, true},
		{"kelvin sign", "/kind", map[string]any{"sub": "u", "kind": "a", "\u212aind": "b"}, false},
		{"absent when duplicated", "/has", map[string]any{"sub": "u", "dept": "fin", "DEPT": "x"}, true},
		{"present when unique", "/has", map[string]any{"sub": "u", "dept": "fin"}, false},
		{"nested unique", "/nested", map[string]any{"sub": "u", "org": map[string]any{"dept": "fin"}}, true},
		{"nested duplicate", "/nested", map[string]any{"sub": "u", "org": map[string]any{"dept": "fin", "DEPT": "x"}}, false},
		{"outer duplicate", "/nested", map[string]any{"sub": "u", "org": map[string]any{"dept": "fin"}, "ORG": map[string]any{"dept": "x"}}, false},
		{"array unique", "/array", map[string]any{"sub": "u", "grants": []any{map[string]any{"dept": "fin"}}}, true},
		{"array duplicate", "/array", map[string]any{"sub": "u", "grants": []any{map[string]any{"dept": "fin", "dEpt": "x"}}}, false},
		{"siblings stay", "/sibling", map[string]any{"sub": "u", "team": "t", "dept": "a", "DEPT": "b",
			"org": map[string]any{"team": "t", "x": 1, "X": 2}}, true},
	}
	for _, c := range cases {
		res := decide(s, withToken("GET", c.path, c.claims))
		if res.Allowed != c.allow {
			t.Errorf("%s: allowed %v (%s %s), want %v", c.name, res.Allowed, res.Reason, res.Detail, c.allow)
		}
	}
	// The principal's own claims are left as they were.
	claims := map[string]any{"sub": "u", "dept": "fin", "DEPT": "x", "org": map[string]any{"a": 1, "A": 2}}
	decide(s, withToken("GET", "/flat", claims))
	if len(claims) != 4 || len(claims["org"].(map[string]any)) != 2 {
		t.Errorf("the token's claims were changed: %v", claims)
	}
}
