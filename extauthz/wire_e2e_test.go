package extauthz_test

import (
	"cmp"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// assertNoSpoofing checks that every client header with the identity prefix
// is either removed or overwritten by the allow.
func assertNoSpoofing(t *testing.T, res *authv3.CheckResponse, client map[string]string) {
	t.Helper()
	ok := res.GetOkResponse()
	if ok == nil {
		t.Fatalf("denied, want an allow: %v", res)
	}
	for k := range client {
		k = strings.ToLower(k)
		if !strings.HasPrefix(k, "x-auth-") {
			continue
		}
		_, set := header(ok.GetHeaders(), k)
		removed := slices.Contains(ok.GetHeadersToRemove(), k)
		if set == removed {
			t.Errorf("client header %s: set by the response %v, removed %v; want exactly one", k, set, removed)
		}
	}
	for _, r := range ok.GetHeadersToRemove() {
		if _, set := header(ok.GetHeaders(), r); set {
			t.Errorf("%s is both set and removed", r)
		}
	}
}

func TestSpoofedIdentityHeaders(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	tok := mint(t, a, validClaims())
	noOrg := mint(t, a, with(validClaims(), "oid", nil, "roles", nil))
	spoof := map[string]string{"x-auth-subject": "usr_admin", "x-auth-org": "org_2", "x-auth-roles": "admin",
		"x-auth-rule": "x", "x-auth-anything": "1", "x-auth-": "2", "x-authority": "not ours"}
	withSpoof := func(base map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range spoof {
			m[k] = v
		}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	// Warm the decision cache with clean requests first: a cached allow must
	// not be handed to a request that carries spoofed headers.
	for _, r := range []req{{path: docPath, headers: bearer(tok)}, {path: "/docs/d1"}, {path: "/docs/d1", headers: bearer(noOrg)}} {
		h.check(r)
		h.check(r)
	}
	cases := map[string]req{
		"full principal":          {path: docPath, headers: withSpoof(bearer(tok))},
		"public route, no token":  {path: "/docs/d1", headers: withSpoof(nil)},
		"public route, no org":    {path: "/docs/d1", headers: withSpoof(bearer(noOrg))},
		"public route with query": {path: "/docs/d1?a=b", headers: withSpoof(nil)},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			res := h.check(r)
			assertNoSpoofing(t, res, r.headers)
			ok := res.GetOkResponse()
			if v, set := header(ok.GetHeaders(), "x-auth-subject"); set && v == "usr_admin" {
				t.Error("the spoofed subject came through")
			}
			if slices.Contains(ok.GetHeadersToRemove(), "x-authority") {
				t.Error("x-authority does not have the prefix and must stay")
			}
		})
	}
	t.Run("raw header map", func(t *testing.T) {
		// Envoy with encode_raw_headers sends header_map; names keep their case.
		cr := req{path: "/docs/d1"}.checkRequest()
		http := cr.GetAttributes().GetRequest().GetHttp()
		http.Headers = nil
		http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":path", Value: "/docs/d1"}, {Key: "X-Auth-Subject", Value: "usr_admin"},
			{Key: "X-AUTH-Org", RawValue: []byte("org_2")},
		}}
		res, err := h.client.Check(t.Context(), cr)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSpoofing(t, res, map[string]string{"x-auth-subject": "", "x-auth-org": ""})
	})
}

func TestStripAuthorization(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t), extra: "headers: {strip_authorization: true}\n"})
	tok := mint(t, a, validClaims())
	for range 2 { // a miss, then a decision cache hit
		res := h.check(req{path: docPath, headers: bearer(tok)})
		if ok := res.GetOkResponse(); ok == nil || !slices.Contains(ok.GetHeadersToRemove(), "authorization") {
			t.Fatalf("authorization is not removed: %v", res)
		}
	}
}

// TestStripCustomTokenHeader: with the token in a configured header, that
// header is the one removed.
func TestStripCustomTokenHeader(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t), tokens: "  header: x-token\n", extra: "headers: {strip_authorization: true}\n"})
	tok := mint(t, a, validClaims())
	res := h.check(req{path: docPath, headers: map[string]string{"x-token": tok}})
	ok := res.GetOkResponse()
	if ok == nil || !slices.Contains(ok.GetHeadersToRemove(), "x-token") || slices.Contains(ok.GetHeadersToRemove(), "authorization") {
		t.Fatalf("want x-token removed: %v", res)
	}
}

// TestRouteFromContext: Envoy names the route in context_extensions.
func TestRouteFromContext(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	user := bearer(mint(t, a, validClaims()))
	admin := bearer(mint(t, a, with(validClaims(), "sub", "usr_admin", "roles", nil)))
	ctx := func(name string) map[string]string { return map[string]string{"edgeauthz_route": name} }
	cases := []struct {
		name   string
		r      req
		rule   string
		reason string
	}{
		{"path picks the public route", req{path: "/docs/d1", headers: user}, "docs-read", "public"},
		{"context picks the admin route", req{path: "/docs/d1", headers: user, context: ctx("docs-admin")}, "docs-admin", "missing_role"},
		{"admin on the named route", req{path: "/docs/d1", headers: admin, context: ctx("docs-admin")}, "docs-admin", "allowed"},
		{"no token on the named route", req{path: "/docs/d1", context: ctx("docs-admin")}, "docs-admin", "no_token"},
		{"named route must match the path", req{path: "/docs/d1", headers: admin, context: ctx("read-document")}, "", "no_route"},
		{"unknown route", req{path: "/docs/d1", headers: admin, context: ctx("nope")}, "", "no_route"},
		{"other context keys are ignored", req{path: "/docs/d1", headers: user, context: map[string]string{"x": "y"}}, "docs-read", "public"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // miss, then a possible cache hit: same answer
				res := h.check(tc.r)
				if meta(res, "rule") != tc.rule || meta(res, "reason") != tc.reason {
					t.Fatalf("rule %q reason %q, want %q %q", meta(res, "rule"), meta(res, "reason"), tc.rule, tc.reason)
				}
			}
		})
	}
}

// TestPayloadRules: the body reaches {payload.x} templates, as raw_body
// (Envoy's pack_as_bytes) or body, and is never answered from the cache.
func TestPayloadRules(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	typed := func(ct string) map[string]string {
		h := bearer(mint(t, a, with(validClaims(), "scope", "pay:acc_1")))
		if ct != "" {
			h["content-type"] = ct
		}
		return h
	}
	hdr := typed("application/json")
	partial := typed("application/json")
	partial["x-envoy-auth-partial-body"] = "true"
	const smuggled = `{"account":{"id":"acc_1"},"x":"&account[id]=acc_2&y="}`
	cases := []struct {
		name   string
		r      req
		reason string
	}{
		{"raw_body", req{method: "POST", path: "/payments", headers: hdr, rawBody: []byte(`{"account":{"id":"acc_1"}}`)}, "allowed"},
		{"body", req{method: "POST", path: "/payments", headers: hdr, body: `{"account":{"id":"acc_1"}}`}, "allowed"},
		{"other account", req{method: "POST", path: "/payments", headers: hdr, rawBody: []byte(`{"account":{"id":"acc_2"}}`)}, "missing_scope"},
		{"raw_body wins over body", req{method: "POST", path: "/payments", headers: hdr,
			rawBody: []byte(`{"account":{"id":"acc_2"}}`), body: `{"account":{"id":"acc_1"}}`}, "missing_scope"},
		{"no body", req{method: "POST", path: "/payments", headers: hdr}, "template_unbound"},
		{"not JSON", req{method: "POST", path: "/payments", headers: hdr, body: `account=acc_1`}, "template_unbound"},
		{"not a scalar", req{method: "POST", path: "/payments", headers: hdr, body: `{"account":{"id":["acc_1"]}}`}, "template_unbound"},
		{"partial body", req{method: "POST", path: "/payments", headers: partial, body: `{"account":{"id":"acc_1"}}`}, "template_unbound"},
		// Bound only when the Content-Type says JSON: the upstream reads
		// the bytes by their declared type.
		{"json with charset", req{method: "POST", path: "/payments", headers: typed("Application/JSON; charset=utf-8"), body: smuggled}, "allowed"},
		{"+json", req{method: "POST", path: "/payments", headers: typed("application/vnd.pay+json"), body: smuggled}, "allowed"},
		{"form", req{method: "POST", path: "/payments", headers: typed("application/x-www-form-urlencoded"), body: smuggled}, "template_unbound"},
		{"no content-type", req{method: "POST", path: "/payments", headers: typed(""), body: smuggled}, "template_unbound"},
		{"two content-types", req{method: "POST", path: "/payments", headers: typed("application/json,application/x-www-form-urlencoded"), body: smuggled}, "template_unbound"},
	}
	// Twice through: a body-dependent decision must not come from the cache.
	for range 2 {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := h.check(tc.r)
				if got := meta(res, "reason"); got != tc.reason {
					t.Fatalf("reason %q, want %q", got, tc.reason)
				}
				if tc.reason != "allowed" && denied(t, res).GetStatus().GetCode() != 403 {
					t.Errorf("status %d, want 403", denied(t, res).GetStatus().GetCode())
				}
			})
		}
	}
}

// httpStyle builds an HTTP-mode request the way one proxy sends it.
type httpStyle func(base, method, path, token string) *http.Request

var httpStyles = map[string]httpStyle{
	"envoy http_service": func(base, method, path, token string) *http.Request {
		r, _ := http.NewRequest(method, base+"/authz"+path, nil)
		return withToken(r, token)
	},
	"nginx auth_request": func(base, method, path, token string) *http.Request {
		r, _ := http.NewRequest("GET", base+"/authz", nil)
		r.Header.Set("X-Original-URI", path)
		r.Header.Set("X-Original-Method", method)
		return withToken(r, token)
	},
	"traefik forwardauth": func(base, method, path, token string) *http.Request {
		r, _ := http.NewRequest("GET", base+"/authz", nil)
		r.Header.Set("X-Forwarded-Uri", path)
		r.Header.Set("X-Forwarded-Method", method)
		r.Header.Set("X-Forwarded-Host", "api.test")
		r.Header.Set("X-Forwarded-Proto", "https")
		return withToken(r, token)
	},
}

func withToken(r *http.Request, token string) *http.Request {
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// TestHTTPMode: the HTTP endpoint answers as the gRPC one, for each proxy.
func TestHTTPMode(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	editor := mint(t, a, validClaims())
	cases := []struct {
		name, method, path, token string
		status                    int
		reason, www               string
	}{
		{"allow", "GET", docPath, editor, 200, "allowed", ""},
		{"allow with query", "GET", docPath + "?q=1", editor, 200, "allowed", ""},
		{"public", "GET", "/docs/d1", "", 200, "public", ""},
		{"no token", "GET", docPath, "", 401, "no_token", `Bearer realm="edgeauthz"`},
		{"bad token", "GET", docPath, "garbage", 401, "invalid_token", `Bearer realm="edgeauthz", error="invalid_token"`},
		{"wrong method", "DELETE", docPath, editor, 403, "no_route", ""},
		{"tenant mismatch", "GET", "/orgs/org_2/documents/d1", editor, 404, "tenant_mismatch", ""},
		{"missing scope", "GET", "/book/dune/download", editor, 403, "missing_scope",
			`Bearer realm="edgeauthz", error="insufficient_scope", scope="admin book-dune"`},
		{"bad path", "GET", "/orgs/org_1/documents/..%2fd1", editor, 400, "bad_path", ""},
		{"dot segments", "GET", "/orgs/org_1/x/../documents/d1", editor, 400, "bad_path", ""},
		{"escaped overlong dots", "GET", "/orgs/org_1/documents/x%c0%ae%c0%ae", editor, 400, "bad_path", ""},
		{"escaped surrogate", "GET", "/orgs/org_1/documents/%ED%A0%80", editor, 400, "bad_path", ""},
		{"escaped UTF-8", "GET", "/orgs/org_1/documents/caf%C3%A9", editor, 200, "allowed", ""},
		{"lower-case method", "get", docPath, editor, 400, "bad_request", ""},
	}
	for _, tc := range cases {
		// The gRPC answer is the reference.
		grpcRes := h.check(req{method: tc.method, path: tc.path, headers: bearerIf(tc.token)})
		if meta(grpcRes, "reason") != tc.reason {
			t.Fatalf("%s: gRPC reason %q, want %q", tc.name, meta(grpcRes, "reason"), tc.reason)
		}
		for style, build := range httpStyles {
			t.Run(tc.name+"/"+style, func(t *testing.T) {
				res, err := http.DefaultClient.Do(build(h.base, tc.method, tc.path, tc.token))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
				}
				if tc.status == 200 {
					if len(body) != 0 {
						t.Errorf("allow body %q", body)
					}
					if got := res.Header.Get("X-Auth-Rule"); got != meta(grpcRes, "rule") {
						t.Errorf("X-Auth-Rule %q, want %q", got, meta(grpcRes, "rule"))
					}
					ok := grpcRes.GetOkResponse()
					for _, name := range []string{"x-auth-subject", "x-auth-org", "x-auth-roles"} {
						want, _ := header(ok.GetHeaders(), name)
						if got := res.Header.Get(name); got != want {
							t.Errorf("%s %q, want %q as over gRPC", name, got, want)
						}
					}
					return
				}
				if ct := res.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("content-type %q", ct)
				}
				if b := denyBody(t, string(body)); b["reason"] != tc.reason {
					t.Errorf("body %s, want reason %s", body, tc.reason)
				}
				if string(body) != denied(t, grpcRes).GetBody() {
					t.Errorf("body %s differs from gRPC's %s", body, denied(t, grpcRes).GetBody())
				}
				www := res.Header.Get("WWW-Authenticate")
				if (tc.www == "") != (www == "") || !strings.HasPrefix(www, tc.www) {
					t.Errorf("WWW-Authenticate %q, want %q…", www, tc.www)
				}
			})
		}
	}

	t.Run("spoofed headers are blanked", func(t *testing.T) {
		r, _ := http.NewRequest("GET", h.base+"/authz/docs/d1", nil)
		r.Header.Set("X-Auth-Subject", "usr_admin")
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if vs, ok := res.Header["X-Auth-Subject"]; !ok || len(vs) != 1 || vs[0] != "" {
			t.Errorf("X-Auth-Subject = %q, want present and blank", vs)
		}
	})

	t.Run("body over http_service", func(t *testing.T) {
		tok := mint(t, a, with(validClaims(), "scope", "pay:acc_1"))
		const smuggled = `{"account":{"id":"acc_1"},"x":"&account[id]=acc_2&y="}`
		for _, c := range []struct {
			body string
			ct   []string
			want int
		}{
			{`{"account":{"id":"acc_1"}}`, []string{"application/json"}, 200},
			{`{"account":{"id":"acc_2"}}`, []string{"application/json"}, 403},
			{``, []string{"application/json"}, 403},
			{smuggled, []string{"application/problem+json; charset=utf-8"}, 200},
			{smuggled, []string{"application/x-www-form-urlencoded"}, 403},
			{smuggled, nil, 403},
			{smuggled, []string{"application/json", "application/x-www-form-urlencoded"}, 403},
		} {
			r, _ := http.NewRequest("POST", h.base+"/authz/payments", strings.NewReader(c.body))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header["Content-Type"] = c.ct
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Errorf("body %q, Content-Type %q: status %d, want %d", c.body, c.ct, res.StatusCode, c.want)
			}
		}
	})

	t.Run("two authorization headers", func(t *testing.T) {
		r, _ := http.NewRequest("GET", h.base+"/authz"+docPath, nil)
		r.Header.Add("Authorization", "Bearer "+editor)
		r.Header.Add("Authorization", "Bearer "+editor)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("status %d, want 401", res.StatusCode)
		}
	})
}

func bearerIf(tok string) map[string]string {
	if tok == "" {
		return nil
	}
	return bearer(tok)
}

// TestHTTPEndpoints: health, readiness before and after the first snapshot,
// and metrics.
func TestHTTPEndpoints(t *testing.T) {
	h := start(t, harnessOptions{}) // no policy yet
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(h.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d before the first snapshot, want 200 (alive)", code)
	}
	if code, body := get("/readyz"); code != 503 {
		t.Errorf("/readyz %d %q before the first snapshot, want 503", code, body)
	}
	if code, _ := get("/authz/docs/d1"); code != 503 {
		t.Errorf("/authz %d before the first snapshot, want 503", code)
	}

	writeFile(t, h.dir+"/policy.yaml", testPolicy(t))
	h.srv.Reload()
	h.waitFor("the first snapshot", func() bool { s, _ := h.srv.Engine().Snapshot(); return s != nil })
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %q after the first snapshot, want 200", code, body)
	}
	if code, _ := get("/authz/docs/d1"); code != 200 {
		t.Errorf("/authz %d, want 200", code)
	}
	code, metrics := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{
		`edgeauthz_decisions_total{decision="allow",reason="public",token_error=""} 1`,
		`edgeauthz_decisions_total{decision="deny",reason="no_snapshot",token_error=""} 1`,
		"edgeauthz_decision_duration_seconds_bucket",
		"edgeauthz_snapshot_swaps_total 1",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("/nope %d, want 404", code)
	}
}

// TestHTTPModeOriginalRequestConflicts: Traefik's ForwardAuth passes every
// client header on, so a client can add nginx's X-Original-* next to
// Traefik's X-Forwarded-* (and Envoy's http_service passes them on unless
// told not to). Two descriptions of the original request that disagree are
// ambiguous and denied 400; they must never pick the client's.
func TestHTTPModeOriginalRequestConflicts(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	user := mint(t, a, validClaims())
	traefik := func(method, uri string) *http.Request {
		r, _ := http.NewRequest("GET", h.base+"/authz", nil)
		r.Header.Set("X-Forwarded-Method", method)
		r.Header.Set("X-Forwarded-Uri", uri)
		r.Header.Set("X-Forwarded-Host", "api.test")
		return withToken(r, user)
	}
	nginx := func(header http.Header) *http.Request {
		r, _ := http.NewRequest("GET", h.base+"/authz", nil)
		for k, vs := range header {
			r.Header[k] = vs // as sent: repeated or empty
		}
		return withToken(r, user)
	}
	cases := []struct {
		name   string
		r      *http.Request
		status int
		reason string // of a 400; "" means bad_path
	}{
		{"traefik alone", traefik("DELETE", "/docs/d1"), 403, ""},
		{"traefik at /authz/", func() *http.Request {
			r := traefik("DELETE", "/docs/d1")
			r.URL.Path = "/authz/"
			return r
		}(), 403, ""},
		{"traefik allows", traefik("GET", "/docs/d1"), 200, ""},
		{"client adds X-Original-URI", func() *http.Request {
			r := traefik("DELETE", "/orgs/org_2/documents/d1")
			r.Header.Set("X-Original-URI", "/docs/d1")
			r.Header.Set("X-Original-Method", "GET")
			return r
		}(), 400, ""},
		{"client adds X-Original-Method", func() *http.Request {
			r := traefik("DELETE", "/docs/d1")
			r.Header.Set("X-Original-URI", "/docs/d1")
			r.Header.Set("X-Original-Method", "GET")
			return r
		}(), 400, ""},
		{"agreeing headers", func() *http.Request {
			r := traefik("DELETE", "/docs/d1")
			r.Header.Set("X-Original-URI", "/docs/d1")
			r.Header.Set("X-Original-Method", "DELETE")
			return r
		}(), 403, ""},
		{"envoy path with a client X-Original-URI", func() *http.Request {
			r, _ := http.NewRequest("DELETE", h.base+"/authz/docs/d1", nil)
			r.Header.Set("X-Original-URI", "/healthz")
			return withToken(r, user)
		}(), 400, ""},
		{"envoy path with a client X-Forwarded-Uri", func() *http.Request {
			r, _ := http.NewRequest("DELETE", h.base+"/authz/docs/d1", nil)
			r.Header.Set("X-Forwarded-Uri", "/healthz")
			return withToken(r, user)
		}(), 400, ""},
	}
	cases = append(cases, []struct {
		name   string
		r      *http.Request
		status int
		reason string
	}{
		// Which of two values the proxy meant cannot be told; joined,
		// they would be decided as one path.
		{"X-Original-URI twice", nginx(http.Header{"X-Original-Uri": {"/docs/d1", "/orgs/org_2/documents/d1"}, "X-Original-Method": {"GET"}}), 400, ""},
		{"X-Forwarded-Uri twice", nginx(http.Header{"X-Forwarded-Uri": {"/docs/d1", "/docs/d1"}, "X-Forwarded-Method": {"GET"}}), 400, ""},
		{"X-Original-Method twice", nginx(http.Header{"X-Original-Uri": {"/docs/d1"}, "X-Original-Method": {"GET", "DELETE"}}), 400, ""},
		{"X-Forwarded-Host twice", nginx(http.Header{"X-Forwarded-Uri": {"/docs/d1"}, "X-Forwarded-Method": {"GET"}, "X-Forwarded-Host": {"a.test", "b.test"}}), 400, ""},
		{"X-Original-URI empty", nginx(http.Header{"X-Original-Uri": {""}, "X-Original-Method": {"GET"}}), 400, ""},
		// A method with no URI would describe "/".
		{"method without URI", nginx(http.Header{"X-Original-Method": {"GET"}}), 400, "bad_request"},
		{"forwarded method without URI", nginx(http.Header{"X-Forwarded-Method": {"GET"}}), 400, "bad_request"},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.DefaultClient.Do(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
			}
			if tc.status == 400 {
				want := cmp.Or(tc.reason, "bad_path")
				if b := denyBody(t, string(body)); b["reason"] != want {
					t.Errorf("body %s, want reason %s", body, want)
				}
			}
		})
	}
}
