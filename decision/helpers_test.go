package decision_test

import (
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// compile parses and compiles a policy given as YAML, failing the test on error.
func compile(tb testing.TB, src string, opts decision.Options) *decision.Snapshot {
	tb.Helper()
	p, err := config.ParsePolicy("policy.yaml", []byte(src))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	s, err := decision.Compile(p, opts)
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return s
}

// compileErr parses and compiles a policy and returns the error.
func compileErr(src string) error {
	p, err := config.ParsePolicy("policy.yaml", []byte(src))
	if err != nil {
		return err
	}
	_, err = decision.Compile(p, decision.Options{})
	return err
}

// principal builds a principal from claims with the default claim names.
func principal(claims map[string]any) *decision.Principal {
	return decision.NewPrincipal(claims, config.DefaultClaimNames())
}

// call is a request and who sent it, as a front door hands them to Decide.
type call struct {
	*decision.Request
	decision.Caller
}

// decider is a Snapshot or an Engine.
type decider interface {
	Decide(*decision.Request, decision.Caller) decision.Result
	Explain(*decision.Request, decision.Caller) decision.Result
}

func decide(d decider, c *call) decision.Result  { return d.Decide(c.Request, c.Caller) }
func explain(d decider, c *call) decision.Result { return d.Explain(c.Request, c.Caller) }

// withToken returns a request whose caller has a valid token with the
// given claims.
func withToken(method, target string, claims map[string]any) *call {
	return &call{&decision.Request{Method: method, Target: target}, decision.Authenticated(principal(claims))}
}

// hotPolicy is the policy of the zero-allocation guard and the benchmarks.
const hotPolicy = `
roles:
  viewer: {permissions: [read:documents]}
  editor: {inherits: [viewer], permissions: [write:documents]}
  admin:  {inherits: [editor], permissions: [delete:documents]}
groups:
  Eng: [viewer]
members:
  org_1: {usr_1: [admin]}
routes:
  - name: read-document
    match: GET /orgs/{org}/documents/{id}
    org: "{params.org}"
    roles: [viewer]
    scopes: [admin, read:documents]
  - name: book
    match: GET /book/{slug}/download
    scopes: ["book-{params.slug}"]
  - name: report
    match: GET /reports/{q}
    when: 'user.department == "finance" && user.level >= 3'
attributes:
  usr_1: {department: finance, level: 3}
`
