package extauthz_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the golden CheckResponses in testdata")

func testPolicy(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden renders a CheckResponse deterministically: protojson output is
// deliberately unstable, so it is decoded and re-encoded with sorted keys,
// and headers_to_remove (built from a map) is sorted. The decision id, new
// in every answer, is checked and masked (maskDecisionID).
func golden(t testing.TB, res *authv3.CheckResponse) []byte {
	t.Helper()
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(maskDecisionID(t, res))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if ok, _ := v["okResponse"].(map[string]any); ok != nil {
		if rm, _ := ok["headersToRemove"].([]any); rm != nil {
			slices.SortFunc(rm, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
		}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestCheckGolden drives every kind of answer through a real gRPC client and
// compares each CheckResponse with its golden file, then checks the parts
// the wire contract (README: Decisions on the wire) names one by one.
func TestCheckGolden(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	editor := mint(t, a, map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []string{"editor"}})
	cases := []struct {
		name   string
		req    req
		status int // 0: allow
		reason string
		www    string // expected WWW-Authenticate, "" none
	}{
		{name: "allow_editor", reason: "allowed", req: req{path: "/orgs/org_1/documents/d1", headers: bearer(editor)}},
		{name: "allow_member_admin", reason: "allowed", req: req{path: "/orgs/org_1/documents/d1?x=1",
			headers: bearer(mint(t, a, map[string]any{"sub": "usr_admin", "oid": "org_1"}))}},
		{name: "allow_public", reason: "public", req: req{path: "/docs/d1"}},
		{name: "deny_no_token", status: 401, reason: "no_token", req: req{path: "/orgs/org_1/documents/d1"},
			www: `Bearer realm="edgeauthz"`},
		{name: "deny_invalid_token", status: 401, reason: "invalid_token", req: req{path: "/orgs/org_1/documents/d1",
			headers: bearer("not.a.token")}, www: `Bearer realm="edgeauthz", error="invalid_token"`},
		{name: "deny_revoked", status: 401, reason: "revoked", req: req{path: "/orgs/org_1/documents/d1",
			headers: bearer(mint(t, a, map[string]any{"sub": "usr_666", "oid": "org_1", "roles": []string{"admin"}}))},
			www: `Bearer realm="edgeauthz", error="invalid_token"`},
		{name: "deny_missing_scope", status: 403, reason: "missing_scope", req: req{path: "/book/dune/download",
			headers: bearer(editor)}, www: `Bearer realm="edgeauthz", error="insufficient_scope", scope="admin book-dune"`},
		{name: "deny_missing_role", status: 403, reason: "missing_role", req: req{path: "/orgs/org_1/documents/d1",
			headers: bearer(mint(t, a, map[string]any{"sub": "usr_3", "oid": "org_1", "scope": "read:documents"}))}},
		{name: "deny_no_org", status: 403, reason: "no_org", req: req{path: "/orgs/org_1/documents/d1",
			headers: bearer(mint(t, a, map[string]any{"sub": "usr_1", "roles": []string{"editor"}}))}},
		{name: "deny_tenant_mismatch", status: 404, reason: "tenant_mismatch", req: req{path: "/orgs/org_2/documents/d1",
			headers: bearer(editor)}},
		{name: "deny_bad_path", status: 400, reason: "bad_path", req: req{path: "/orgs/org_1/documents/%2e%2e/d1",
			headers: bearer(editor)}},
		{name: "deny_no_route", status: 403, reason: "no_route", req: req{path: "/nowhere", headers: bearer(editor)}},
		{name: "deny_bad_request", status: 400, reason: "bad_request", req: req{method: "delete", path: "/docs/d1",
			headers: bearer(editor)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.check(tc.req)
			compareGolden(t, tc.name, golden(t, res))
			assertAnswer(t, res, tc.status, tc.reason, tc.www)
		})
	}

	t.Run("deny_no_snapshot", func(t *testing.T) {
		empty := start(t, harnessOptions{}) // no policy file: nothing loads
		res := empty.check(req{path: "/docs/d1"})
		compareGolden(t, "deny_no_snapshot", golden(t, res))
		assertAnswer(t, res, 503, "no_snapshot", "")
	})
}

// assertAnswer checks an answer's parts: for an allow the identity headers
// and metadata, for a deny the status, JSON body, content type and challenge.
func assertAnswer(t *testing.T, res *authv3.CheckResponse, status int, reason, www string) {
	t.Helper()
	if got := meta(res, "reason"); got != reason {
		t.Errorf("metadata reason = %q, want %q", got, reason)
	}
	if status == 0 {
		ok := res.GetOkResponse()
		if ok == nil {
			t.Fatalf("denied, want an allow: %v", res)
		}
		if meta(res, "decision") != "allow" {
			t.Errorf("metadata decision = %q", meta(res, "decision"))
		}
		for _, o := range ok.GetHeaders() {
			if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("header %s: append action %v", o.GetHeader().GetKey(), o.GetAppendAction())
			}
		}
		if v, _ := header(ok.GetHeaders(), "x-auth-rule"); v == "" || v != meta(res, "rule") {
			t.Errorf("x-auth-rule = %q, metadata rule %q", v, meta(res, "rule"))
		}
		return
	}
	d := denied(t, res)
	if int(d.GetStatus().GetCode()) != status {
		t.Errorf("status = %d, want %d", d.GetStatus().GetCode(), status)
	}
	if ct, _ := header(d.GetHeaders(), "content-type"); ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	body := denyBody(t, d.GetBody())
	if body["reason"] != reason || body["error"] == "" || body["message"] == "" || len(body) != 3 {
		t.Errorf("deny body = %v", body)
	}
	got, _ := header(d.GetHeaders(), "www-authenticate")
	switch {
	case www == "" && got != "":
		t.Errorf("www-authenticate = %q, want none", got)
	case www != "" && !strings.HasPrefix(got, www):
		t.Errorf("www-authenticate = %q, want %q…", got, www)
	}
	if meta(res, "decision") != "deny" {
		t.Errorf("metadata decision = %q", meta(res, "decision"))
	}
}

// TestAllowHeadersAndMetadata checks what an allow hands the upstream.
func TestAllowHeadersAndMetadata(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	tok := mint(t, a, map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []string{"editor", "auditor"}})
	res := h.check(req{path: "/orgs/org_1/documents/d1", headers: bearer(tok)})
	ok := res.GetOkResponse()
	if ok == nil {
		t.Fatalf("denied: %v", res)
	}
	want := map[string]string{
		"x-auth-subject": "usr_1",
		"x-auth-org":     "org_1",
		"x-auth-roles":   "editor,viewer,auditor", // closure by role name, then undeclared token roles
		"x-auth-rule":    "read-document",
	}
	for k, v := range want {
		if got, _ := header(ok.GetHeaders(), k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	snap, _ := h.srv.Engine().Snapshot()
	for k, v := range map[string]string{"rule": "read-document", "reason": "allowed", "subject": "usr_1",
		"org": "org_1", "revision": snap.Revision(), "decision": "allow"} {
		if got := meta(res, k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	if len(ok.GetHeadersToRemove()) != 0 {
		t.Errorf("headers_to_remove = %v, want none (no client x-auth-* headers, strip_authorization off)", ok.GetHeadersToRemove())
	}
}

// TestCaches: a repeated token is not verified again, a repeated request is
// answered from the decision cache with the same response, and a subject
// revoked in a new snapshot is refused at once although its token and its
// decisions are cached.
func TestCaches(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	const (
		tokenHit     = `edgeauthz_cache_requests_total{cache="token",result="hit"}`
		tokenMiss    = `edgeauthz_cache_requests_total{cache="token",result="miss"}`
		decisionHit  = `edgeauthz_cache_requests_total{cache="decision",result="hit"}`
		decisionMiss = `edgeauthz_cache_requests_total{cache="decision",result="miss"}`
	)
	tok := mint(t, a, with(validClaims(), "sub", "usr_9"))
	r := req{path: docPath, headers: bearer(tok)}

	first := h.check(r)
	if first.GetOkResponse() == nil {
		t.Fatalf("denied: %v", first)
	}
	if h.metric(tokenMiss) != 1 || h.metric(tokenHit) != 0 {
		t.Fatalf("token cache after one request: %v misses, %v hits", h.metric(tokenMiss), h.metric(tokenHit))
	}
	// Another path with the same token: a token is cached from its second
	// use on (asynchronously), and from then on the token cache answers.
	h.check(req{path: "/docs/d1", headers: bearer(tok)})
	if h.metric(tokenHit) != 0 || h.metric(tokenMiss) != 2 {
		t.Errorf("token cache after a repeat: %v misses, %v hits; want 2, 0 (cached from the second use)", h.metric(tokenMiss), h.metric(tokenHit))
	}
	h.waitFor("a token cache hit", func() bool {
		h.check(req{path: "/docs/d1", headers: bearer(tok)})
		return h.metric(tokenHit) > 0
	})
	// The decision cache stores asynchronously (ristretto): repeat until a
	// hit, and every answer meanwhile must be the same.
	hitsBefore := h.metric(decisionHit)
	// Answers differ only in their decision ids.
	masked := maskDecisionID(t, first)
	ids := map[string]bool{decisionID(t, first): true}
	h.waitFor("a decision cache hit", func() bool {
		res := h.check(r)
		if id := decisionID(t, res); ids[id] {
			t.Fatalf("decision id %s given twice", id)
		} else {
			ids[id] = true
		}
		if !proto.Equal(maskDecisionID(t, res), masked) {
			t.Fatalf("a repeat answered differently:\n%v\nfirst:\n%v", res, first)
		}
		return h.metric(decisionHit) > hitsBefore
	})
	if h.metric(decisionMiss) == 0 {
		t.Error("no decision cache miss was counted")
	}

	// Revoke usr_9 in a new snapshot: the very next request is refused.
	snap, _ := h.srv.Engine().Snapshot()
	old := snap.Revision()
	revoked := strings.Replace(string(testPolicy(t)), "subjects: [usr_666]", "subjects: [usr_666, usr_9]", 1)
	writeFile(t, filepath.Join(h.dir, "policy.yaml"), []byte(revoked))
	h.srv.Reload()
	h.waitFor("the new snapshot", func() bool { s, _ := h.srv.Engine().Snapshot(); return s.Revision() != old })
	for range 3 {
		res := h.check(r)
		if meta(res, "reason") != "revoked" {
			t.Fatalf("after revocation: reason %q, want revoked", meta(res, "reason"))
		}
		if d := denied(t, res); d.GetStatus().GetCode() != 401 {
			t.Fatalf("status %d, want 401", d.GetStatus().GetCode())
		}
		if meta(res, "revision") == old {
			t.Fatal("answered with the old revision")
		}
	}
}

// TestDecisionCacheKeys: the same token on the same path with another value
// in what a rule reads (a header, a context extension, the query, a header a
// condition reads) is decided anew, never answered from the cache.
func TestDecisionCacheKeys(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	tok := mint(t, a, with(validClaims(), "scope", "tenant:t1"))
	with := func(extra map[string]string) map[string]string {
		m := bearer(tok)
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name    string
		allow   req
		deny    req
		denyWhy string
	}{
		{"header", req{path: "/tenants/current", headers: with(map[string]string{"x-tenant": "t1"})},
			req{path: "/tenants/current", headers: with(map[string]string{"x-tenant": "t2"})}, "missing_scope"},
		{"context", req{path: "/tenants/ctx", headers: bearer(tok), context: map[string]string{"tenant": "t1"}},
			req{path: "/tenants/ctx", headers: bearer(tok), context: map[string]string{"tenant": "t2"}}, "missing_scope"},
		{"query", req{path: "/tenants/q?t=t1", headers: bearer(tok)},
			req{path: "/tenants/q?t=t2", headers: bearer(tok)}, "missing_scope"},
		{"query parameter pollution", req{path: "/tenants/q?t=t1", headers: bearer(tok)},
			req{path: "/tenants/q?t=t1&t=t2", headers: bearer(tok)}, "template_unbound"},
		{"condition", req{path: "/tenants/when", headers: with(map[string]string{"x-level": "high"})},
			req{path: "/tenants/when", headers: with(map[string]string{"x-level": "low"})}, "condition_false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Interleaved and repeated, so that each has had the chance to be
			// cached before the other is asked.
			for range 20 {
				if res := h.check(tc.allow); res.GetOkResponse() == nil {
					t.Fatalf("allow case denied: %s", meta(res, "reason"))
				}
				if res := h.check(tc.deny); meta(res, "reason") != tc.denyWhy {
					t.Fatalf("deny case: reason %q, want %q", meta(res, "reason"), tc.denyWhy)
				}
			}
		})
	}
}

// TestMalformedCheckRequests: what Envoy would never send still gets a
// deny, not an error or a panic.
func TestMalformedCheckRequests(t *testing.T) {
	h := start(t, harnessOptions{policy: testPolicy(t)})
	http := func(hr *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
		return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: hr}}}
	}
	cases := map[string]*authv3.CheckRequest{
		"empty":            {},
		"no request":       {Attributes: &authv3.AttributeContext{}},
		"no http":          {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}},
		"empty http":       http(&authv3.AttributeContext_HttpRequest{}),
		"no path":          http(&authv3.AttributeContext_HttpRequest{Method: "GET"}),
		"relative path":    http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "docs/d1"}),
		"absolute URI":     http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "http://x/docs/d1"}),
		"authority":        http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "//evil/docs/d1"}),
		"NUL":              http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/docs/d1\x00"}),
		"fragment":         http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/docs/d1#x"}),
		"matrix":           http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/docs/..;x/d1"}),
		"huge path":        http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/orgs/org_1/documents/" + strings.Repeat("a", 64<<10)}),
		"invalid UTF-8":    http(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/docs/\xff"}),
		"lowercase method": http(&authv3.AttributeContext_HttpRequest{Method: "get", Path: "/docs/d1"}),
		"no method":        http(&authv3.AttributeContext_HttpRequest{Path: "/docs/d1"}),
		"garbage body":     http(&authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/payments", RawBody: []byte{0xff, 0, '{'}}),
	}
	for name, cr := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := h.client.Check(t.Context(), cr)
			if err != nil {
				// gRPC itself refuses invalid UTF-8 in string fields.
				if name == "invalid UTF-8" {
					return
				}
				t.Fatalf("Check: %v", err)
			}
			if res.GetOkResponse() != nil {
				t.Fatalf("allowed: %v", res)
			}
			if res.GetDeniedResponse().GetStatus().GetCode() == 0 {
				t.Fatalf("a deny without a status: %v", res)
			}
		})
	}
}

// TestDecisionLog: every deny and (at sample rate 1) every allow is a JSON
// line with the fields the README's decision-log paragraph (Operating it) lists; the query, which may carry secrets, is
// not logged; a decision cache hit says cached.
func TestDecisionLog(t *testing.T) {
	a, _, _ := testKeys(t)
	logPath := filepath.Join(t.TempDir(), "decisions.jsonl")
	h := start(t, harnessOptions{policy: testPolicy(t),
		extra: fmt.Sprintf("decision_log: {output: %q, sample_allows: 1.0}\n", logPath)})
	tok := mint(t, a, validClaims())
	allow := req{path: docPath + "?secret=s3cr3t", headers: bearer(tok)}
	h.check(allow)
	h.waitFor("a decision cache hit", func() bool {
		h.check(allow)
		return h.metric(`edgeauthz_cache_requests_total{cache="decision",result="hit"}`) > 0
	})
	h.check(req{path: "/orgs/org_2/documents/d1", headers: bearer(tok)})
	h.stop() // flushes the log

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cr3t") {
		t.Error("the query is logged")
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var allows, denies, cached int
	for _, line := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		for _, f := range []string{"time", "decision", "status", "reason", "rule", "sub", "org", "method", "path", "revision", "cached", "latency_us"} {
			if _, ok := e[f]; !ok {
				t.Errorf("line %s lacks %s", line, f)
			}
		}
		switch e["decision"] {
		case "allow":
			allows++
			if e["path"] != docPath || e["rule"] != "read-document" || e["sub"] != "usr_1" {
				t.Errorf("allow line %s", line)
			}
		case "deny":
			denies++
			if e["reason"] != "tenant_mismatch" || e["status"] != float64(404) || e["org"] != "org_1" {
				t.Errorf("deny line %s", line)
			}
		}
		if e["cached"] == true {
			cached++
		}
	}
	if allows < 2 || denies != 1 || cached == 0 || allows+denies != len(lines) {
		t.Errorf("%d lines: %d allows, %d denies, %d cached", len(lines), allows, denies, cached)
	}
}
