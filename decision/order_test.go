package decision_test

import (
	"slices"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// orderPolicy has one route with every kind of requirement, so that one
// request can fail each check in turn.
const orderPolicy = `
model: |
  model
    schema 1.1
  type user
  type document
    relations
      define viewer: [user]
tuples:
  - document:d1#viewer@user:usr_1
roles:
  viewer: {}
revoked:
  subjects: [usr_666]
routes:
  - name: everything
    match: GET /orgs/{org}/docs/{id}
    org: "{params.org}"
    roles: [viewer]
    scopes: [read, admin]
    all_scopes: [read, write]
    relation: {object: "document:{params.id}", relation: viewer}
    when: '"x-ok" in request.headers'
`

// TestCheckOrder pins the order of the checks: a request that fails all of
// them is denied by the first, and each fix reveals the next, in the order
// of the README's reasons table. The trace of the allowed request lists the
// steps in the same order.
func TestCheckOrder(t *testing.T) {
	s := compile(t, orderPolicy, decision.Options{})
	r := &decision.Request{Method: "GET", Target: "/orgs/o1/docs/../d1", Headers: map[string]string{"x-http-method-override": "DELETE"}}
	var c decision.Caller
	as := func(claims map[string]any) { c = decision.Authenticated(principal(claims)) }
	for _, step := range []struct {
		fix    func()
		reason decision.Reason
	}{
		{func() {}, decision.ReasonBadPath},
		{func() { r.Target = "/elsewhere" }, decision.ReasonBadRequest},
		{func() { delete(r.Headers, "x-http-method-override") }, decision.ReasonNoRoute},
		{func() { r.Target = "/orgs/o1/docs/d2" }, decision.ReasonNoToken},
		{func() { c = decision.Caller{Token: decision.TokenInvalid, Error: "expired", ErrorCode: "expired"} }, decision.ReasonInvalidToken},
		{func() { as(map[string]any{"sub": "usr_666"}) }, decision.ReasonRevoked},
		{func() { as(map[string]any{"sub": "usr_1"}) }, decision.ReasonNoOrg},
		{func() { as(map[string]any{"sub": "usr_1", "oid": "o2"}) }, decision.ReasonTenantMismatch},
		{func() { as(map[string]any{"sub": "usr_1", "oid": "o1"}) }, decision.ReasonMissingRole},
		{func() { as(map[string]any{"sub": "usr_1", "oid": "o1", "roles": []any{"viewer"}}) }, decision.ReasonMissingScope},
		{func() { as(map[string]any{"sub": "usr_1", "oid": "o1", "roles": []any{"viewer"}, "scope": "read"}) }, decision.ReasonMissingScope},
		{func() {
			as(map[string]any{"sub": "usr_1", "oid": "o1", "roles": []any{"viewer"}, "scope": "read write"})
		}, decision.ReasonRelationDenied},
		{func() { r.Target = "/orgs/o1/docs/d1" }, decision.ReasonConditionFalse},
		{func() { r.Headers["x-ok"] = "yes" }, decision.ReasonAllowed},
	} {
		step.fix()
		res := s.Decide(r, c)
		if res.Reason != step.reason {
			t.Fatalf("%s %s: %s (%s), want %s", r.Method, r.Target, res.Reason, res.Requirement, step.reason)
		}
		if ex := s.Explain(r, c); ex.Reason != res.Reason || ex.Requirement != res.Requirement || ex.Detail != res.Detail {
			t.Fatalf("Explain %s %q %q, Decide %s %q %q", ex.Reason, ex.Requirement, ex.Detail, res.Reason, res.Requirement, res.Detail)
		}
	}
	var steps []string
	for _, st := range s.Explain(r, c).Trace {
		if !st.OK {
			t.Errorf("step %s failed: %s", st.Check, st.Detail)
		}
		steps = append(steps, st.Check)
	}
	if want := []string{"route", "token", "org", "roles", "scopes", "scopes", "relation", "when"}; !slices.Equal(steps, want) {
		t.Errorf("trace steps %q, want %q", steps, want)
	}
}
