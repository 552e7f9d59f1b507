package decision_test

import (
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// monitorPolicy has a monitored route for each kind of requirement, and
// enforcing twins for comparison.
const monitorPolicy = `
roles:
  viewer: {permissions: [read:documents]}
  admin:  {inherits: [viewer]}
members:
  org_1: {usr_1: [admin]}
attributes:
  usr_1: {level: 3}
  usr_2: {level: 1}
revoked:
  subjects: [usr_666]
model: |
  model
    schema 1.1
  type user
  type doc
    relations
      define viewer: [user]
tuples:
  - doc:d1#viewer@user:usr_1
routes:
  - name: org
    match: GET /orgs/{org}/items
    org: "{params.org}"
    monitor: true
  - name: org-header
    match: GET /tenant
    org: "{headers.x-org}"
    monitor: true
  - name: roles
    match: GET /roles
    roles: [admin]
    monitor: true
  - name: scopes
    match: GET /scopes
    scopes: [read:documents]
    monitor: true
  - name: relation
    match: GET /docs/{id}
    relation: {object: "doc:{params.id}", relation: viewer}
    monitor: true
  - name: when
    match: GET /when
    when: user.level >= 3
    monitor: true
  - name: when-error
    match: GET /when-error
    when: user.missing == 1
    monitor: true
  - name: any-of
    match: GET /any
    monitor: true
    any_of:
      - roles: [admin]
      - scopes: [special]
  - name: enforced
    match: GET /enforced
    roles: [admin]
  - name: open
    match: GET /open
    public: true
`

func TestMonitorMode(t *testing.T) {
	s := compile(t, monitorPolicy, decision.Options{})
	admin := map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []any{"admin"}, "scope": "read:documents"}
	nobody := map[string]any{"sub": "usr_2", "oid": "org_2"}
	noOrg := map[string]any{"sub": "usr_2"}
	cases := []struct {
		name      string
		req       *call
		reason    decision.Reason
		would     decision.Reason // for ReasonMonitor
		monitored bool
	}{
		// Each authorization requirement a monitored route has: allowed, the deny recorded.
		{"no_org", withToken("GET", "/orgs/org_1/items", noOrg), decision.ReasonMonitor, decision.ReasonNoOrg, true},
		{"tenant_mismatch", withToken("GET", "/orgs/org_1/items", nobody), decision.ReasonMonitor, decision.ReasonTenantMismatch, true},
		{"template_unbound", withToken("GET", "/tenant", nobody), decision.ReasonMonitor, decision.ReasonTemplateUnbound, true},
		{"missing_role", withToken("GET", "/roles", nobody), decision.ReasonMonitor, decision.ReasonMissingRole, true},
		{"missing_scope", withToken("GET", "/scopes", nobody), decision.ReasonMonitor, decision.ReasonMissingScope, true},
		{"relation_denied", withToken("GET", "/docs/d2", admin), decision.ReasonMonitor, decision.ReasonRelationDenied, true},
		{"condition_false", withToken("GET", "/when", nobody), decision.ReasonMonitor, decision.ReasonConditionFalse, true},
		{"condition_error", withToken("GET", "/when-error", admin), decision.ReasonMonitor, decision.ReasonConditionError, true},
		{"any_of none holds", withToken("GET", "/any", nobody), decision.ReasonMonitor, decision.ReasonMissingScope, true},

		// Requirements that hold: a plain allow, marked as monitored.
		{"org holds", withToken("GET", "/orgs/org_1/items", admin), decision.ReasonAllowed, 0, true},
		{"relation holds", withToken("GET", "/docs/d1", admin), decision.ReasonAllowed, 0, true},
		{"any_of holds", withToken("GET", "/any", admin), decision.ReasonAllowed, 0, true},

		// Identity is enforced on monitored routes.
		{"no token", &call{Request: &decision.Request{Method: "GET", Target: "/roles"}}, decision.ReasonNoToken, 0, false},
		{"invalid token", &call{&decision.Request{Method: "GET", Target: "/roles"}, decision.Caller{Token: decision.TokenInvalid, Error: "expired"}}, decision.ReasonInvalidToken, 0, false},
		{"revoked", withToken("GET", "/roles", map[string]any{"sub": "usr_666"}), decision.ReasonRevoked, 0, false},
		{"no subject", withToken("GET", "/roles", map[string]any{"oid": "org_1"}), decision.ReasonInvalidToken, 0, false},
		// So are requests that cannot be read, and ones no route matches.
		{"bad path", withToken("GET", "/roles/../roles", admin), decision.ReasonBadPath, 0, false},
		{"no route", withToken("GET", "/nowhere", admin), decision.ReasonNoRoute, 0, false},

		// Routes without monitor are unaffected.
		{"enforced route denies", withToken("GET", "/enforced", nobody), decision.ReasonMissingRole, 0, false},
		{"enforced route allows", withToken("GET", "/enforced", admin), decision.ReasonAllowed, 0, false},
		{"public", &call{Request: &decision.Request{Method: "GET", Target: "/open"}}, decision.ReasonPublic, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "template_unbound" {
				c.req.Headers = map[string]string{}
			}
			res := explain(s, c.req)
			if res.Reason != c.reason || res.Monitored != c.monitored {
				t.Fatalf("reason %s monitored %v (requirement %q, detail %q), want %s monitored %v",
					res.Reason, res.Monitored, res.Requirement, res.Detail, c.reason, c.monitored)
			}
			if res.Allowed != c.reason.Allowed() || (res.Status == 200) != res.Allowed {
				t.Errorf("allowed %v status %d", res.Allowed, res.Status)
			}
			if c.reason != decision.ReasonMonitor {
				if res.MonitoredReason != 0 {
					t.Errorf("MonitoredReason %s on a %s", res.MonitoredReason, res.Reason)
				}
				return
			}
			if res.MonitoredReason != c.would || res.Requirement == "" {
				t.Errorf("would deny with %s (requirement %q), want %s", res.MonitoredReason, res.Requirement, c.would)
			}
			if len(res.MissingScopes) != 0 {
				t.Errorf("an allow names missing scopes %v", res.MissingScopes)
			}
			last := res.Trace[len(res.Trace)-1]
			if last.Check != "monitor" || !strings.Contains(last.Detail, c.would.String()) {
				t.Errorf("trace ends with %+v", last)
			}
		})
	}
	if got := strings.Join(s.MonitoredRoutes(), ","); got != "org,org-header,roles,scopes,relation,when,when-error,any-of" {
		t.Errorf("MonitoredRoutes = %s", got)
	}
}

func TestMonitorModeCompile(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"public", "routes:\n  - name: p\n    match: GET /p\n    public: true\n    monitor: true\n", `policy.yaml:5: route "p": a public route has no requirements to monitor`},
		{"not a boolean", "routes:\n  - name: p\n    match: GET /p\n    roles: []\n    monitor: yes please\n", "policy.yaml:5"},
		{"not in any_of", "routes:\n  - name: p\n    match: GET /p\n    any_of:\n      - monitor: true\n", "policy.yaml:5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := compileErr(c.src); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	s := compile(t, "routes:\n  - name: p\n    match: GET /p\n    public: true\n", decision.Options{})
	if s.MonitoredRoutes() != nil {
		t.Error("monitor is on by default")
	}
}

func TestMonitorReason(t *testing.T) {
	r, ok := decision.ParseReason("monitor")
	if !ok || r != decision.ReasonMonitor || !r.Allowed() || r.Status(0) != 200 || r.Monitorable() {
		t.Fatalf("monitor: %v %v allowed %v status %d", r, ok, r.Allowed(), r.Status(0))
	}
	for r := decision.Reason(0); r < decision.ReasonMonitor; r++ {
		want := r >= decision.ReasonNoOrg && !r.Allowed()
		if r.Monitorable() != want {
			t.Errorf("%s: Monitorable() = %v", r, r.Monitorable())
		}
	}
}
