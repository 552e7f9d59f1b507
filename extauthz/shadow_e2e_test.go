package extauthz_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgeauthz/edgeauthz/extauthz"
	"github.com/edgeauthz/edgeauthz/server"
)

const shadowEnforced = `
roles:
  admin: {}
  viewer: {}
routes:
  - name: read-report
    match: GET /reports/{id}
    roles: [viewer, admin]
  - name: delete-report
    match: DELETE /reports/{id}
    roles: [admin]
  - name: status
    match: GET /status
    public: true
  - name: docs
    match: GET /docs
    roles: [viewer]
`

// shadowCandidate differs on two routes: read-report drops viewer (viewers
// would be denied) and docs becomes public (anyone would be allowed).
// delete-report denies the same requests for another reason, and docs
// allows viewers as public.
const shadowCandidate = `
roles:
  admin: {}
  viewer: {}
routes:
  - name: read-report
    match: GET /reports/{id}
    roles: [admin]
  - name: delete-report
    match: DELETE /reports/{id}
    scopes: [reports:delete]
  - name: status
    match: GET /status
    public: true
  - name: docs
    match: GET /docs
    public: true
`

// TestShadowPolicy serves traffic with a shadow candidate that differs on
// two routes: exactly those disagreements are counted, logged in the
// summary and exported, while every response is the one a server without
// the shadow gives.
func TestShadowPolicy(t *testing.T) {
	a, _, _ := testKeys(t)
	cand := filepath.Join(t.TempDir(), "candidate.yaml")
	writeFile(t, cand, []byte(shadowCandidate))
	shadowed := start(t, harnessOptions{policy: []byte(shadowEnforced), extra: fmt.Sprintf(
		"admin: {listen: \"127.0.0.1:0\"}\nshadow: {source: %q, sample: 1, poll_interval: 20ms}\n", cand)})
	plain := start(t, harnessOptions{policy: []byte(shadowEnforced)})
	admin := "http://" + shadowed.srv.AdminAddr()
	shadowed.waitFor("the candidate's snapshot", func() bool { return shadowStatus(t, admin).CandidateRevision != "" })

	viewer := bearer(mint(t, a, map[string]any{"sub": "usr_v", "oid": "org_1", "roles": []string{"viewer"}}))
	adminTok := bearer(mint(t, a, map[string]any{"sub": "usr_a", "oid": "org_1", "roles": []string{"admin"}}))
	reqs := []req{
		{path: "/reports/r1", headers: viewer},                   // would_deny
		{path: "/reports/r1", headers: adminTok},                 // agree
		{method: "DELETE", path: "/reports/r1", headers: viewer}, // other reason (deny)
		{path: "/status"},                   // agree
		{path: "/docs"},                     // would_allow
		{path: "/docs", headers: viewer},    // agree
		{path: "/nowhere", headers: viewer}, // agree (no route)
	}
	const rounds = 3 // a miss, a miss that is stored, a cache hit
	for i := 0; i < rounds; i++ {
		for _, r := range reqs {
			got, want := shadowed.check(r), plain.check(r)
			if !proto.Equal(got, want) {
				t.Errorf("%s %s: the shadow changed the response:\n got %v\nwant %v", r.method, r.path, got, want)
			}
		}
	}
	total := uint64(rounds * len(reqs))
	var sum server.ShadowStatus
	shadowed.waitFor("every decision compared", func() bool {
		sum = shadowStatus(t, admin)
		return sum.Agreed+sum.OtherReason+sum.Disagreed+sum.Dropped >= total
	})
	if sum.Dropped != 0 || sum.Unavailable != 0 {
		t.Fatalf("dropped %d, unavailable %d", sum.Dropped, sum.Unavailable)
	}
	wantRoutes := []extauthz.RouteDisagreements{
		{Route: "docs", WouldAllow: rounds},
		{Route: "read-report", WouldDeny: rounds},
	}
	if !reflect.DeepEqual(sum.Routes, wantRoutes) {
		t.Errorf("routes = %+v, want %+v", sum.Routes, wantRoutes)
	}
	if sum.Disagreed != 2*rounds || sum.OtherReason != 2*rounds || sum.Agreed != total-4*rounds {
		t.Errorf("agreed %d, other reason %d, disagreed %d", sum.Agreed, sum.OtherReason, sum.Disagreed)
	}
	if len(sum.Examples) != 2*rounds {
		t.Fatalf("%d examples, want %d", len(sum.Examples), 2*rounds)
	}
	for _, e := range sum.Examples {
		switch e.Route {
		case "docs":
			if e.Direction != extauthz.WouldAllow || e.Enforced.Reason != "no_token" || e.Candidate.Reason != "public" ||
				e.Enforced.Status != 401 || e.Candidate.Decision != "allow" || e.Path != "/docs" {
				t.Errorf("docs example: %+v", e)
			}
		case "read-report":
			if e.Direction != extauthz.WouldDeny || e.Enforced.Reason != "allowed" || e.Candidate.Reason != "missing_role" ||
				e.Subject != "usr_v" || e.Candidate.Status != 403 {
				t.Errorf("read-report example: %+v", e)
			}
		default:
			t.Errorf("unexpected disagreement: %+v", e)
		}
		if e.Enforced.Revision == e.Candidate.Revision || e.Candidate.Revision != sum.CandidateRevision {
			t.Errorf("revisions: enforced %q, candidate %q (serving %q)", e.Enforced.Revision, e.Candidate.Revision, sum.CandidateRevision)
		}
	}
	m := shadowed.metricsText()
	for _, want := range []string{
		fmt.Sprintf(`edgeauthz_shadow_disagreements_total{direction="would_allow",route="docs"} %d`, rounds),
		fmt.Sprintf(`edgeauthz_shadow_disagreements_total{direction="would_deny",route="read-report"} %d`, rounds),
		fmt.Sprintf(`edgeauthz_shadow_evaluations_total{result="agree"} %d`, total-4*rounds),
		fmt.Sprintf(`edgeauthz_shadow_evaluations_total{result="other_reason"} %d`, 2*rounds),
		`edgeauthz_shadow_dropped_total 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := strings.Count(m, "edgeauthz_shadow_disagreements_total{"); n != 2 {
		t.Errorf("%d disagreement series, want 2", n)
	}
	// The shadow's loader reports under its own prefix, beside policy's.
	if !strings.Contains(m, "shadow_edgeauthz_snapshot_info{") || !strings.Contains(m, "\nedgeauthz_snapshot_info{") {
		t.Error("the two loaders' snapshot_info are not told apart")
	}

	// Promotion is an ordinary publish: once the candidate is enforced, the
	// enforced answers are the candidate's.
	writeFile(t, filepath.Join(shadowed.dir, "policy.yaml"), []byte(shadowCandidate))
	shadowed.waitFor("the candidate enforced", func() bool {
		return shadowed.check(req{path: "/docs"}).GetOkResponse() != nil
	})
}

func shadowStatus(t *testing.T, admin string) server.ShadowStatus {
	t.Helper()
	res, err := http.Get(admin + "/shadow")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /shadow: %s", res.Status)
	}
	var s server.ShadowStatus
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
