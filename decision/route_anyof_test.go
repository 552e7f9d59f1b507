package decision_test

import (
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

const anyOfRoutes = `
roles:
  editor: {}
  owner: {}
  evil_genius: {}
routes:
  - name: edit-doc
    match: PUT /docs/{id}
    any_of:
      - roles: [evil_genius]
      - roles: [editor]
        when: claims.owns == params.id
      - scopes: ["docs:{params.id}:write"]
`

// TestRouteAnyOf: a route's alternatives, any one of which suffices
// ("evil_genius, or editor and owner").
func TestRouteAnyOf(t *testing.T) {
	s := compile(t, anyOfRoutes, decision.Options{})
	cases := []struct {
		name   string
		claims map[string]any
		allow  bool
		reason decision.Reason
	}{
		{"the first alternative", map[string]any{"sub": "u", "roles": []any{"evil_genius"}}, true, decision.ReasonAllowed},
		{"the second: editor and owner", map[string]any{"sub": "u", "roles": []any{"editor"}, "owns": "d1"}, true, decision.ReasonAllowed},
		{"editor but not owner", map[string]any{"sub": "u", "roles": []any{"editor"}, "owns": "d2"}, false, decision.ReasonMissingScope},
		{"the third: a templated scope", map[string]any{"sub": "u", "scope": "docs:d1:write"}, true, decision.ReasonAllowed},
		{"none", map[string]any{"sub": "u"}, false, decision.ReasonMissingScope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := explain(s, withToken("PUT", "/docs/d1", c.claims))
			if res.Allowed != c.allow || res.Reason != c.reason {
				t.Errorf("allowed=%v reason=%s (%s), want %v %s; trace %+v", res.Allowed, res.Reason, res.Requirement, c.allow, c.reason, res.Trace)
			}
			if plain := decide(s, withToken("PUT", "/docs/d1", c.claims)); plain.Allowed != res.Allowed || plain.Reason != res.Reason {
				t.Errorf("Decide and Explain disagree")
			}
		})
	}
	req := withToken("PUT", "/docs/d1", map[string]any{"sub": "u", "roles": []any{"evil_genius"}})
	_ = decide(s, req)
	if testing.CoverMode() == "" {
		if n := testing.AllocsPerRun(100, func() { _ = decide(s, req) }); n != 0 {
			t.Errorf("an any_of route allocates %v times", n)
		}
	}
}

func TestRouteAnyOfErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"beside requirements", "roles: {a: {}}\nroutes:\n  - name: r\n    match: GET /x\n    roles: [a]\n    any_of: [{roles: [a]}]\n", "policy.yaml:6: route \"r\": any_of stands alone"},
		{"empty alternative", "roles: {a: {}}\nroutes:\n  - name: r\n    match: GET /x\n    any_of:\n      - {roles: [a]}\n      - {}\n", "policy.yaml:7: route \"r\" any_of[1] requires nothing"},
		{"unknown role in an alternative", "roles: {a: {}}\nroutes:\n  - name: r\n    match: GET /x\n    any_of:\n      - roles: [b]\n", "policy.yaml:6: route \"r\" any_of[0]: unknown role \"b\""},
		{"bad condition", "routes:\n  - name: r\n    match: GET /x\n    any_of:\n      - when: 'nope('\n", "policy.yaml:5: route \"r\" any_of[0]: when:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := compileErr(c.src); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
