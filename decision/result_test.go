package decision_test

import (
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
)

func TestResultCacheableAndMessage(t *testing.T) {
	s := compile(t, `
routes:
  - {name: plain, match: GET /plain, scopes: [s]}
  - {name: body, match: POST /body, scopes: ["s-{payload.id}"]}
  - {name: clock, match: GET /clock, when: 'now > timestamp("2000-01-01T00:00:00Z")'}
  - {name: org, match: "GET /o/{org}", org: "{params.org}"}
`, decision.Options{})
	c := claims{"sub": "u", "oid": "o1", "scope": "s s-1"}
	body := tok("POST", "/body", c)
	body.Body = []byte(`{"id":"1"}`)
	body.Headers = map[string]string{"content-type": "application/json"}
	clock := tok("GET", "/clock", c)
	clock.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, x := range []struct {
		name      string
		req       *call
		allowed   bool
		cacheable bool
	}{
		{"plain", tok("GET", "/plain", c), true, true},
		{"body", body, true, false},
		{"clock", clock, true, false},
	} {
		res := decide(s, x.req)
		if res.Allowed != x.allowed || res.Cacheable != x.cacheable {
			t.Errorf("%s: allowed %v cacheable %v (%s)", x.name, res.Allowed, res.Cacheable, res.Reason)
		}
	}
	past := tok("GET", "/clock", c)
	past.Now = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	if res := decide(s, past); res.Reason.String() != "condition_false" {
		t.Errorf("Request.Now not used: %s", res.Reason)
	}

	// A tenant mismatch says "not found" and nothing about the other tenant.
	res := explain(s, tok("GET", "/o/o2", c))
	if res.Reason.String() != "tenant_mismatch" || res.Message() != "not found" || res.Detail != "" {
		t.Errorf("tenant mismatch: %s %q %q", res.Reason, res.Message(), res.Detail)
	}
	invalid := tok("GET", "/plain", nil)
	invalid.Token, invalid.Error = decision.TokenInvalid, "expired"
	if res := decide(s, invalid); res.Message() != "the bearer token is not valid: expired" {
		t.Errorf("invalid token message %q", res.Message())
	}
}

func TestReasons(t *testing.T) {
	for _, r := range []struct {
		name   string
		status int
	}{
		{"allowed", 200}, {"public", 200}, {"no_snapshot", 503}, {"stale_snapshot", 503}, {"bad_path", 400}, {"bad_request", 400},
		{"no_route", 403}, {"no_token", 401}, {"invalid_token", 401}, {"revoked", 401}, {"no_org", 403},
		{"tenant_mismatch", 404}, {"missing_role", 403}, {"missing_scope", 403}, {"template_unbound", 403},
		{"relation_denied", 403}, {"relation_depth", 403}, {"condition_false", 403}, {"condition_error", 403},
	} {
		reason, ok := decision.ParseReason(r.name)
		if !ok || reason.String() != r.name || reason.Status(0) != r.status || reason.Message() == "" {
			t.Errorf("%s: parsed %v %v, status %d", r.name, reason, ok, reason.Status(0))
		}
		if reason.Allowed() != (r.status == 200) {
			t.Errorf("%s: Allowed() = %v", r.name, reason.Allowed())
		}
	}
	if r, _ := decision.ParseReason("tenant_mismatch"); r.Status(403) != 403 {
		t.Error("tenant_mismatch does not take the configured 403")
	}
	if _, ok := decision.ParseReason("nope"); ok {
		t.Error("unknown reason parsed")
	}
}
