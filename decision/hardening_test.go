package decision_test

import (
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

const hardeningPolicy = `
roles:
  viewer: {permissions: [read]}
  editor: {inherits: [viewer], permissions: [write]}
groups:
  G: [editor]
routes:
  - name: admin-host
    match: admin.example.com/
    roles: [editor]
  - name: internal
    match: GET /internal/{x}
    when: 'request.host == "api.example.com"'
  - name: scoped-condition
    match: GET /cond
    when: '"read" in principal.scopes && !("delete" in principal.scopes)'
  - name: query-condition
    match: GET /q
    when: 'has(request.query.k) && request.query.k == "v"'
  - name: fallback
    match: /
    public: true
`

// TestHostAndConditionHardening covers ways a request could slip past a
// rule written for it: host spelling, role scopes in conditions, and
// ambiguous query parameters.
func TestHostAndConditionHardening(t *testing.T) {
	s := compile(t, hardeningPolicy, decision.Options{})
	req := func(method, host, target string, c map[string]any) *call {
		r := &call{Request: &decision.Request{Method: method, Host: host, Target: target}}
		if c != nil {
			r.Token, r.Principal = decision.TokenValid, principal(c)
		}
		return r
	}
	cases := []struct {
		name   string
		req    *call
		reason string
		rule   string
	}{
		{"host route", req("GET", "admin.example.com", "/x", nil), "no_token", "admin-host"},
		{"trailing dot", req("GET", "admin.example.com.", "/x", nil), "no_token", "admin-host"},
		{"trailing dot and port", req("GET", "ADMIN.example.com.:443", "/x", nil), "no_token", "admin-host"},
		{"condition sees the host lower-cased", req("GET", "API.Example.COM:8443", "/internal/a", map[string]any{"sub": "u"}), "allowed", "internal"},
		{"scopes from roles reach conditions", req("GET", "", "/cond", map[string]any{"sub": "u", "groups": []any{"G"}}), "allowed", "scoped-condition"},
		{"and so do claim scopes", req("GET", "", "/cond", map[string]any{"sub": "u", "scope": "read delete"}), "condition_false", "scoped-condition"},
		{"single query value", req("GET", "", "/q?k=v", map[string]any{"sub": "u"}), "allowed", "query-condition"},
		{"a polluted query value is absent", req("GET", "", "/q?k=v&k=w", map[string]any{"sub": "u"}), "condition_false", "query-condition"},
		{"a token without a subject", req("GET", "", "/anything", map[string]any{"oid": "o"}), "invalid_token", "fallback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := decide(s, c.req)
			if res.Reason.String() != c.reason || res.Rule != c.rule {
				t.Fatalf("got %s (rule %q, %s), want %s (rule %q)", res.Reason, res.Rule, res.Detail, c.reason, c.rule)
			}
		})
	}
}

// TestPatternsThatCouldNeverMatch: a rule that can never match would let
// requests fall through to a broader one, so it is refused.
func TestPatternsThatCouldNeverMatch(t *testing.T) {
	for _, match := range []string{"admin.example.com:8443/", "admin.example.com./", "GET /q?debug=1", "GET /x#y", "GET /x%c0%ae", "GET /a/%ED%A0%80/b"} {
		err := compileErr("routes:\n  - name: r\n    match: \"" + match + "\"\n    public: true\n")
		if err == nil || !strings.Contains(err.Error(), "policy.yaml:3:") || !strings.Contains(err.Error(), "never match") {
			t.Errorf("%q: %v", match, err)
		}
	}
}

// TestBadTupleDoesNotHideTheModel: one malformed tuple is reported alone,
// not as a missing model for every relation route.
func TestBadTupleDoesNotHideTheModel(t *testing.T) {
	err := compileErr(`
model: |
  model
    schema 1.1
  type user
  type doc
    relations
      define viewer: [user]
tuples:
  - not a tuple
routes:
  - name: r
    match: /d/{id}
    relation: {object: "doc:{params.id}", relation: viewer}
`)
	if err == nil {
		t.Fatal("a malformed tuple was accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "policy.yaml:10:") || strings.Contains(msg, "no model") || strings.Count(msg, `"not a tuple"`) != 1 {
		t.Fatalf("got %q", msg)
	}
}

// TestPayloadWithDuplicateKeysBindsNothing: {"a":"x","a":"y"} is read as "y"
// here and as "x" by some upstreams, so a payload rule must not trust it.
func TestPayloadWithDuplicateKeysBindsNothing(t *testing.T) {
	s := compile(t, `
routes:
  - name: pay
    match: POST /pay
    scopes: ["pay-{payload.account.id}"]
`, decision.Options{})
	for body, want := range map[string]string{
		`{"account": {"id": "a1"}}`:                             "allowed",
		`{"account": {"id": "a1", "id": "a1"}}`:                 "template_unbound",
		`{"account": {"id": "zz"}, "account": {"id": "a1"}}`:    "template_unbound",
		`{"list": [{"x": 1, "x": 2}], "account": {"id": "a1"}}`: "template_unbound",
	} {
		r := &call{&decision.Request{Method: "POST", Target: "/pay", Body: []byte(body),
			Headers: map[string]string{"content-type": "application/json"}},
			decision.Authenticated(principal(map[string]any{"sub": "u", "scope": "pay-a1"}))}
		if got := decide(s, r).Reason.String(); got != want {
			t.Errorf("%s: %s, want %s", body, got, want)
		}
	}
}

// TestConditionFieldsAreTypeChecked: principal and request have fixed
// fields, so a typo or a type error rejects the policy when it loads.
func TestConditionFieldsAreTypeChecked(t *testing.T) {
	for _, when := range []string{
		`principal.nosuch == 1`,
		`principal.role == "admin"`,
		`principal.roles == "x"`,
		`request.path + 1 > 0`,
		`"a" in request.headers["cookie"]`,
		`request.header["x"] == "y"`,
	} {
		err := compileErr("routes:\n  - name: r\n    match: GET /x\n    when: '" + when + "'\n")
		if err == nil || !strings.Contains(err.Error(), "policy.yaml:4:") {
			t.Errorf("%s: %v", when, err)
		}
	}
	s := compile(t, `
routes:
  - name: r
    match: GET /x
    when: '"admin" in principal.roles && request.method == "GET" && request.host.endsWith(".example.com") && principal.sub != ""'
roles:
  admin: {}
`, decision.Options{})
	r := &call{&decision.Request{Method: "GET", Host: "API.example.com", Target: "/x"},
		decision.Authenticated(principal(map[string]any{"sub": "u", "roles": []any{"admin"}}))}
	if got := decide(s, r).Reason.String(); got != "allowed" {
		t.Fatalf("got %s", got)
	}
}
