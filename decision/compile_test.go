package decision_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// TestCompileErrors: every meaning error names the line it is on.
func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		line int
		msg  []string // substrings of the error at line
	}{
		{"role cycle", `
roles:
  a: {inherits: [b]}
  b: {inherits: [a]}
routes:
  - {name: r, match: /r, roles: [a]}
`, 4, []string{"role cycle: a → b → a"}},
		{"self cycle", `
roles:
  a: {inherits: [a]}
routes:
  - {name: r, match: /r}
`, 3, []string{"role cycle"}},
		{"unknown inherited role", `
roles:
  a: {}
  b: {inherits: [ghost]}
routes:
  - {name: r, match: /r}
`, 4, []string{`role "b" inherits unknown role "ghost"`}},
		{"unknown group target", `
roles:
  a: {}
groups:
  G: [a, ghost]
routes:
  - {name: r, match: /r}
`, 5, []string{`group "G" maps to unknown role "ghost"`}},
		{"unknown member role", `
roles:
  a: {}
members:
  org_1:
    usr_1: [ghost]
routes:
  - {name: r, match: /r}
`, 6, []string{`member "usr_1" of org "org_1" maps to unknown role "ghost"`}},
		{"unknown route role", `
roles:
  a: {}
routes:
  - name: r
    match: /r
    roles: [a, ghost]
`, 7, []string{`route "r"`, `unknown role "ghost"`}},
		{"param not in pattern", `
routes:
  - name: r
    match: /r/{id}
    scopes: ["x-{params.other}"]
`, 5, []string{`route "r"`, "has no {other}"}},
		{"org param not in pattern", `
routes:
  - name: r
    match: /r/{id}
    org: "{params.org}"
`, 5, []string{"org", "has no {org}"}},
		{"bad template source", `
routes:
  - name: r
    match: /r
    scopes: ["x-{body.id}"]
`, 5, []string{"{body.id} is not {source.name}"}},
		{"unclosed template", `
routes:
  - name: r
    match: /r
    scopes: ["x-{query.id"]
`, 5, []string{"unclosed {"}},
		{"unmatched close", `
routes:
  - name: r
    match: /r
    all_scopes: ["x-}"]
`, 5, []string{"unmatched }"}},
		{"empty payload path", `
routes:
  - name: r
    match: /r
    scopes: ["x-{payload.a..b}"]
`, 5, []string{"empty name"}},
		{"conflicting patterns", `
routes:
  - name: first
    match: GET /a/{x}
  - name: second
    match: /a/b
`, 6, []string{`route "second"`, "conflicts", `route "first" (line 3)`}},
		{"duplicate pattern", `
routes:
  - name: first
    match: /a
  - name: second
    match: /a
`, 6, []string{`route "second"`, `route "first"`}},
		{"duplicate names", `
routes:
  - name: r
    match: /a
  - name: r
    match: /b
`, 5, []string{`route "r": name already used at line 3`}},
		{"missing name", `
routes:
  - match: /a
`, 3, []string{"route 1: name is required"}},
		{"missing match", `
routes:
  - name: r
`, 3, []string{`route "r": match is required`}},
		{"bad pattern", `
routes:
  - name: r
    match: "GET /a/{x"
`, 4, []string{`route "r": match`}},
		{"CEL syntax", `
routes:
  - name: r
    match: /r
    when: 'user.x ==='
`, 5, []string{`route "r": when:`, "Syntax error"}},
		{"CEL type", `
routes:
  - name: r
    match: /r
    when: 'user.x + 1'
`, 5, []string{"not bool"}},
		{"CEL int result", `
routes:
  - name: r
    match: /r
    when: '1 + 1'
`, 5, []string{"int, not bool"}},
		{"CEL unknown variable", `
routes:
  - name: r
    match: /r
    when: 'nobody.x == 1'
`, 5, []string{"undeclared reference"}},
		{"public with requirements", `
routes:
  - name: r
    match: /r
    public: true
    scopes: [a]
`, 5, []string{"a public route has no other requirements"}},
		{"all_scopes true without scopes", `
routes:
  - name: r
    match: /r
    all_scopes: true
`, 5, []string{"all_scopes: true needs scopes"}},
		{"empty scope", `
routes:
  - name: r
    match: /r
    scopes: [""]
`, 5, []string{"empty scope"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := compileErr(c.src)
			if err == nil {
				t.Fatal("compiled")
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error does not wrap config.ErrInvalid: %v", err)
			}
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, not config.Errors: %v", err, err)
			}
			for _, e := range es {
				if e.Line != c.line || e.File != "policy.yaml" {
					continue
				}
				ok := true
				for _, m := range c.msg {
					ok = ok && strings.Contains(e.Msg, m)
				}
				if ok {
					return
				}
			}
			t.Errorf("no error at line %d containing %q; got:\n%v", c.line, c.msg, err)
		})
	}
}

// TestCompileReportsAllErrors: one compile names every problem, in line order.
func TestCompileReportsAllErrors(t *testing.T) {
	err := compileErr(`
roles:
  a: {inherits: [ghost]}
groups:
  G: [nope]
routes:
  - name: r1
    match: /r/{id}
    scopes: ["{params.x}"]
  - name: r2
    match: /s
    when: '1'
  - name: r2
    match: /t
`)
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v", err)
	}
	var lines []int
	for _, e := range es {
		lines = append(lines, e.Line)
	}
	want := []int{3, 5, 9, 12, 13}
	if len(lines) != len(want) {
		t.Fatalf("lines %v, want %v:\n%v", lines, want, err)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("lines %v, want %v:\n%v", lines, want, err)
		}
	}
}

// TestCompileRoleCycleOnce: a cycle is reported once, with its whole chain.
func TestCompileRoleCycleOnce(t *testing.T) {
	err := compileErr(`
roles:
  a: {inherits: [b]}
  b: {inherits: [c]}
  c: {inherits: [a]}
routes:
  - {name: r, match: /r}
`)
	var es config.Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("want one error, got %v", err)
	}
	if !strings.Contains(es[0].Msg, "a → b → c → a") || es[0].Line != 5 {
		t.Errorf("got %v", es[0])
	}
}

// A policy with no routes is valid (a model-and-tuples-only policy, say) and
// denies every request.
func TestNoRoutesDeniesEverything(t *testing.T) {
	p, err := config.ParsePolicy("p.yaml", []byte("roles:\n  a: {}\nroutes: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decision.Compile(p, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := decide(s, &call{Request: &decision.Request{Method: "GET", Target: "/"}})
	if res.Allowed || res.Reason != decision.ReasonNoRoute {
		t.Fatalf("got %v", res.Reason)
	}
}
