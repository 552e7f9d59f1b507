package extauthz_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/replay"
)

const replayPolicy = `
roles:
  admin: {}
  viewer: {}
routes:
  - name: tenant-reports
    match: GET /tenants/{t}/reports
    scopes: ["reports:{headers.x-tenant}"]
  - name: by-context
    match: GET /ctx
    scopes: ["zone:{context.zone}"]
  - name: admin
    match: GET /admin
    roles: [admin]
  - name: open
    match: GET /open
    public: true
`

// TestReplayOfGRPCDecisions records a decision log through the gRPC door
// (headers a rule reads, context extensions, cache hits, tokens refused)
// and replays it: against the same policy every recorded line decides as
// logged; against a candidate that changes one route, exactly that route's
// answers differ.
func TestReplayOfGRPCDecisions(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: []byte(replayPolicy),
		extra: "decision_log: {output: decisions.jsonl, sample_allows: 1, record_inputs: true}\n"})
	viewer := mint(t, a, map[string]any{"sub": "usr_v", "oid": "org_1", "roles": []string{"viewer"}, "scope": "reports:t1 zone:eu"})
	adminTok := mint(t, a, map[string]any{"sub": "usr_a", "oid": "org_1", "roles": []string{"admin"}})
	withTenant := func(tok, tenant string) map[string]string {
		m := bearer(tok)
		m["x-tenant"] = tenant
		return m
	}
	reqs := []struct {
		r     req
		allow bool
	}{
		{req{path: "/tenants/t1/reports", headers: withTenant(viewer, "t1")}, true},
		{req{path: "/tenants/t2/reports", headers: withTenant(viewer, "t2")}, false},
		{req{path: "/ctx", headers: bearer(viewer), context: map[string]string{"zone": "eu"}}, true},
		{req{path: "/ctx", headers: bearer(viewer), context: map[string]string{"zone": "us"}}, false},
		{req{path: "/admin", headers: bearer(adminTok)}, true},
		{req{path: "/admin", headers: bearer(viewer)}, false},
		{req{path: "/admin", headers: bearer("not-a-token")}, false},
		{req{path: "/open"}, true},
	}
	const rounds = 3 // misses, then decision-cache hits
	for i := 0; i < rounds; i++ {
		for _, c := range reqs {
			if ok := h.check(c.r).GetOkResponse() != nil; ok != c.allow {
				t.Fatalf("%s: allowed %v, want %v", c.r.path, ok, c.allow)
			}
		}
	}
	h.stop() // flushes the log
	logPath := filepath.Join(h.dir, "decisions.jsonl")

	replayWith := func(policy string) *replay.Report {
		t.Helper()
		pol, err := config.ParsePolicy("candidate.yaml", []byte(policy))
		if err != nil {
			t.Fatal(err)
		}
		snap, err := decision.Compile(pol, decision.Options{Revision: "candidate"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rep, err := replay.Replay(f, snap, replay.Options{Examples: replay.DefaultExamples})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	total := rounds * len(reqs)
	same := replayWith(replayPolicy)
	if same.Lines != total || same.Replayed != total || same.Unchanged != total {
		t.Fatalf("against the recorded policy: %+v", same)
	}

	// The candidate asks by-context for zone:eu whatever the zone; nothing
	// else changes.
	cand := strings.Replace(replayPolicy, `["zone:{context.zone}"]`, `["zone:eu"]`, 1)
	if cand == replayPolicy {
		t.Fatal("the candidate is the policy")
	}
	rep := replayWith(cand)
	want := []replay.Difference{
		{Route: "by-context", From: replay.Answer{Decision: "deny", Reason: "missing_scope", Status: 403},
			To: replay.Answer{Decision: "allow", Reason: "allowed", Status: 200}, Count: rounds},
	}
	if !reflect.DeepEqual(rep.Differences, want) {
		t.Errorf("differences:\n got %+v\nwant %+v", rep.Differences, want)
	}
	if rep.NewlyDenied != 0 || rep.NewlyAllowed != rounds || rep.Unchanged != total-rounds || len(rep.NotReplayable) != 0 {
		t.Errorf("report %+v", rep)
	}
}
