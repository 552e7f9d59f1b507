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

// withToken returns a request carrying a valid token with the given claims.
func withToken(method, target string, claims map[string]any) *decision.Request {
	return &decision.Request{Method: method, Target: target, Token: decision.TokenValid, Principal: principal(claims)}
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
