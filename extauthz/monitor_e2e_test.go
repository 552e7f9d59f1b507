package extauthz_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const monitorPolicy = `
roles:
  admin: {}
routes:
  - name: new-rule
    match: GET /reports/{id}
    roles: [admin]
    monitor: true
  - name: enforced
    match: GET /admin
    roles: [admin]
`

// TestMonitorMode: a route in monitor mode allows what its rules deny, as
// an allow (upstream headers set), and every such decision is logged with
// the reason it would have been denied with, cache hits included, and
// counted; identity is still enforced, and other routes are not affected.
func TestMonitorMode(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: []byte(monitorPolicy), extra: "decision_log: {output: decisions.jsonl}\n"})
	user := mint(t, a, map[string]any{"sub": "usr_7", "oid": "org_1"})
	admin := mint(t, a, map[string]any{"sub": "usr_8", "oid": "org_1", "roles": []string{"admin"}})

	// Three times: a miss, a miss that is stored, a hit.
	for i := 0; i < 3; i++ {
		res := h.check(req{path: "/reports/r1", headers: bearer(user)})
		ok := res.GetOkResponse()
		if ok == nil {
			t.Fatalf("request %d denied: %v", i, res)
		}
		if v, _ := header(ok.GetHeaders(), "x-auth-subject"); v != "usr_7" {
			t.Errorf("x-auth-subject = %q", v)
		}
		if v, _ := header(ok.GetHeaders(), "x-auth-rule"); v != "new-rule" {
			t.Errorf("x-auth-rule = %q", v)
		}
		if r := meta(res, "reason"); r != "monitor" {
			t.Errorf("metadata reason %q", r)
		}
	}
	if ok := h.check(req{path: "/reports/r1", headers: bearer(admin)}).GetOkResponse(); ok == nil {
		t.Fatal("admin denied on the monitored route")
	}
	// Identity is enforced.
	assertDenied401(t, h, req{path: "/reports/r1"}, "no_token")
	assertDenied401(t, h, req{path: "/reports/r1", headers: bearer("garbage")}, "invalid_token")
	// Other routes enforce.
	if d := denied(t, h.check(req{path: "/admin", headers: bearer(user)})); d.GetStatus().GetCode() != 403 {
		t.Errorf("enforced route: status %v", d.GetStatus().GetCode())
	}

	m := h.metricsText()
	for _, want := range []string{
		`edgeauthz_monitor_decisions_total{route="new-rule",would="deny"} 3`,
		`edgeauthz_monitor_decisions_total{route="new-rule",would="allow"} 1`,
		`edgeauthz_decisions_total{decision="allow",reason="monitor",token_error=""} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, `edgeauthz_monitor_decisions_total{route="enforced"`) {
		t.Error("a route not in monitor mode is counted as monitored")
	}

	// Allows are not sampled (sample_allows is 0), yet the three monitor
	// allows are logged, with the two identity denies and the enforced deny.
	path := filepath.Join(h.dir, "decisions.jsonl")
	h.waitFor("six decision-log lines", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n") >= 6
	})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	monitored, hits := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			Decision  string `json:"decision"`
			Reason    string `json:"reason"`
			Rule      string `json:"rule"`
			Required  string `json:"required"`
			Monitor   bool   `json:"monitor"`
			WouldDeny string `json:"would_deny"`
			Cached    bool   `json:"cached"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Reason == "monitor":
			monitored++
			if !e.Monitor || e.WouldDeny != "missing_role" || e.Decision != "allow" || e.Rule != "new-rule" || e.Required == "" {
				t.Errorf("monitor line %s", line)
			}
			if e.Cached {
				hits++
			}
		case e.Monitor || e.WouldDeny != "":
			t.Errorf("line %s is marked as monitored", line)
		}
	}
	if monitored != 3 || hits != 1 {
		t.Errorf("%d monitor lines (%d cache hits), want 3 (1)\n%s", monitored, hits, b)
	}
}
