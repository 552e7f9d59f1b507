package deploy_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/edgetest"
	"github.com/edgeauthz/edgeauthz/server"
)

// e2ePolicy is a small documents API: tenant (org) routes, a scope route without an org, a
// public route that nginx sends through edgeauthz (/openapi.json), one it does not ask about
// (/healthz) and a public route on one host only.
const e2ePolicy = `
roles:
  viewer: {permissions: [read:documents]}
  editor: {inherits: [viewer], permissions: [write:documents]}
routes:
  - name: health
    match: /healthz
    public: true
  - name: openapi
    match: GET /openapi.json
    public: true
  - name: read-document
    match: GET /orgs/{org}/documents/{id}
    org: "{params.org}"
    scopes: [read:documents]
  - name: write-document
    match: PUT /orgs/{org}/documents/{id}
    org: "{params.org}"
    roles: [editor]
  - name: read-report
    match: GET /reports/{id}
    scopes: [read:reports]
  - name: status-page
    match: GET status.example.test/status
    public: true
`

// e2eConfig is the configuration file (README: Configuration) with paths relative to the file, as an operator writes it.
// decision_log.output is absolute (DECISION_LOG is replaced): ParseServer resolves the policy
// source and jwks_file against the file's folder, but not the decision log path.
const e2eConfig = `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy:
  source: policy.yaml
  poll_interval: 1s
tokens:
  issuers:
    - issuer: https://auth.example.test
      audiences: [documents-api]
      jwks_file: keys/jwks.json
decision_log: {output: "DECISION_LOG", sample_allows: 1.0}
`

const e2eIssuer = "https://auth.example.test"

// e2eServer is a real edgeauthz running in-process on 127.0.0.1:0, a thin view of the
// shared edgetest harness.
type e2eServer struct {
	es  *edgetest.Server
	srv *server.Server
	dir string
}

// startEdgeauthz writes a key pair, the policy and the configuration to a temporary folder,
// loads the configuration with the real loader and runs the server until stop (or cleanup).
func startEdgeauthz(t *testing.T, policy string) *e2eServer {
	t.Helper()
	dir := t.TempDir()
	key := edgetest.NewKey(t, "ES256")
	es := edgetest.Start(t, edgetest.Options{
		Dir:      dir,
		Policy:   []byte(policy),
		Files:    map[string][]byte{"keys/jwks.json": key.JWKS},
		Config:   strings.Replace(e2eConfig, "DECISION_LOG", filepath.Join(dir, "decisions.log"), 1),
		Key:      &key,
		LogLevel: slog.LevelDebug,
	})
	// Ready once the policy snapshot and the issuer's keys are loaded.
	edgetest.WaitFor(t, "edgeauthz to be ready", func() bool {
		resp, err := http.Get(es.Base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &e2eServer{es: es, srv: es.Srv, dir: dir}
}

// stop ends the server and flushes its decision log; safe to call twice.
func (e *e2eServer) stop() { e.es.Stop() }

// token mints a token from the configured issuer for the configured audience.
func (e *e2eServer) token(t *testing.T, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	c := map[string]any{"iss": e2eIssuer, "aud": "documents-api"}
	for k, v := range claims {
		c[k] = v
	}
	// No kid, as the original key pair's tokens carry none: the JWKS's only key verifies it.
	tok, err := identity.Mint(e.es.Key.PEM, c, ttl, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// decisions reads the decision log; the server must be stopped (it flushes on close).
func (e *e2eServer) decisions(t *testing.T) []map[string]any {
	t.Helper()
	return e.es.Decisions(t)
}

// rawDo sends method target (a raw request-target, not re-encoded) to base, tagged with id,
// never following redirects.
func rawDo(t *testing.T, base, id, method, target, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	req, err := http.NewRequest(method, base+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target
	req.Header.Set("X-Test-Case", id)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header[k] = []string{v} // as written, not canonicalized
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// spoofHeaders are what a client sends to pass as someone else or change what is checked.
func spoofHeaders(token string) map[string]string {
	h := map[string]string{
		"X-Auth-Subject":     "attacker",
		"x-auth-org":         "org_1",
		"X-Auth-Roles":       "admin",
		"X-Auth-Rule":        "health",
		"X_Auth_Subject":     "attacker-underscore",
		"X-Original-URI":     "/openapi.json",
		"X-Original-Method":  "GET",
		"X-Forwarded-Uri":    "/openapi.json",
		"X-Forwarded-Method": "GET",
		"X-Forwarded-Host":   "status.example.test",
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return h
}

// TestNginxEndToEnd runs the shipped nginx.conf in front of a recording upstream, asking a
// real edgeauthz server (in-process, HTTP mode) with a real policy and real tokens.
func TestNginxEndToEnd(t *testing.T) {
	nginxBinary(t) // skip (or fail under CI=true) before starting anything
	ez := startEdgeauthz(t, e2ePolicy)
	var appSeen recorder
	app := httptest.NewServer(stubApp(&appSeen))
	defer app.Close()
	n := startNginxInstance(t, ez.srv.HTTPAddr(), app.Listener.Addr().String())
	base := n.BaseURL

	editor := ez.token(t, map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []string{"editor"}}, time.Hour)
	viewer := ez.token(t, map[string]any{"sub": "usr_2", "oid": "org_1", "roles": []string{"viewer"}}, time.Hour)
	reporter := ez.token(t, map[string]any{"sub": "usr_4", "scope": "read:reports openid"}, time.Hour)
	expired := ez.token(t, map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []string{"editor"},
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}, time.Hour)

	// upstream asserts that id reached the app once, with exactly the x-auth-* headers in
	// want (absent keys: the header must not be there at all).
	upstream := func(t *testing.T, id, wantURI string, want map[string]string) {
		t.Helper()
		u := appSeen.get(id)
		if len(u) != 1 {
			t.Fatalf("app reached %d times, want 1", len(u))
		}
		if wantURI != "" && u[0].URI != wantURI {
			t.Errorf("app got %s, want %s", u[0].URI, wantURI)
		}
		for k, vs := range u[0].Header {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x_auth") {
				t.Errorf("app got client-sent %s %q", k, vs)
			}
			if !strings.HasPrefix(lk, "x-auth-") {
				continue
			}
			if w, ok := want[http.CanonicalHeaderKey(k)]; !ok || len(vs) != 1 || vs[0] != w {
				t.Errorf("app got %s %q, want %q (set: %v)", k, vs, w, ok)
			}
		}
		for k, w := range want {
			if got := u[0].Header.Values(k); len(got) != 1 || got[0] != w {
				t.Errorf("app got %s %q, want %q", k, got, w)
			}
		}
	}
	denied := func(t *testing.T, id string, resp *http.Response, body string, status int, reason, wwwAuth string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Errorf("status %d, want %d (body %q)", resp.StatusCode, status, body)
		}
		checkDenyBody(t, resp, body, reason)
		got := resp.Header.Values("WWW-Authenticate")
		switch {
		case wwwAuth == "" && len(got) != 0:
			t.Errorf("WWW-Authenticate %q, want none", got)
		case wwwAuth != "" && (len(got) != 1 || !strings.HasPrefix(got[0], wwwAuth)):
			t.Errorf("WWW-Authenticate %q, want one starting %q", got, wwwAuth)
		}
		if u := appSeen.get(id); len(u) != 0 {
			t.Errorf("a denied request reached the app: %+v", u)
		}
	}

	t.Run("allow org route", func(t *testing.T) {
		resp, body := rawDo(t, base, "read", "GET", "/orgs/org_1/documents/doc1?v=2", "", spoofHeaders(viewer))
		if resp.StatusCode != 200 || body != "app ok" {
			t.Fatalf("got %d %q, want the app's 200", resp.StatusCode, body)
		}
		upstream(t, "read", "/orgs/org_1/documents/doc1?v=2", map[string]string{
			"X-Auth-Subject": "usr_2", "X-Auth-Org": "org_1", "X-Auth-Roles": "viewer", "X-Auth-Rule": "read-document",
		})
	})

	// Without client x-auth-* headers edgeauthz may answer from its decision cache: the
	// second answer must carry the same identity.
	t.Run("allow from the decision cache", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			id := fmt.Sprintf("cached-%d", i)
			resp, body := rawDo(t, base, id, "GET", "/orgs/org_1/documents/doc2", "", map[string]string{"Authorization": "Bearer " + editor})
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
			upstream(t, id, "/orgs/org_1/documents/doc2", map[string]string{
				"X-Auth-Subject": "usr_1", "X-Auth-Org": "org_1", "X-Auth-Roles": "editor,viewer", "X-Auth-Rule": "read-document",
			})
		}
	})

	t.Run("HEAD is matched by GET rules", func(t *testing.T) {
		resp, _ := rawDo(t, base, "head", "HEAD", "/orgs/org_1/documents/doc1", "", spoofHeaders(viewer))
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
		upstream(t, "head", "/orgs/org_1/documents/doc1", map[string]string{
			"X-Auth-Subject": "usr_2", "X-Auth-Org": "org_1", "X-Auth-Roles": "viewer", "X-Auth-Rule": "read-document",
		})
	})

	t.Run("allow write with inherited role", func(t *testing.T) {
		resp, body := rawDo(t, base, "write", "PUT", "/orgs/org_1/documents/doc1", `{"title":"x"}`, spoofHeaders(editor))
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		upstream(t, "write", "/orgs/org_1/documents/doc1", map[string]string{
			"X-Auth-Subject": "usr_1", "X-Auth-Org": "org_1", "X-Auth-Roles": "editor,viewer", "X-Auth-Rule": "write-document",
		})
		if u := appSeen.get("write"); len(u) == 1 && u[0].Body != `{"title":"x"}` {
			t.Errorf("app got body %q", u[0].Body)
		}
	})

	t.Run("allow scope route without org", func(t *testing.T) {
		resp, body := rawDo(t, base, "report", "GET", "/reports/q3", "", spoofHeaders(reporter))
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		// No org and no roles: the client's X-Auth-Org/X-Auth-Roles must not stand in.
		upstream(t, "report", "/reports/q3", map[string]string{"X-Auth-Subject": "usr_4", "X-Auth-Rule": "read-report"})
	})

	t.Run("public route through edgeauthz without token", func(t *testing.T) {
		resp, body := rawDo(t, base, "openapi", "GET", "/openapi.json", "", spoofHeaders(""))
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		upstream(t, "openapi", "/openapi.json", map[string]string{"X-Auth-Rule": "openapi"})
	})

	t.Run("public route through edgeauthz with token", func(t *testing.T) {
		resp, body := rawDo(t, base, "openapi-tok", "GET", "/openapi.json", "", spoofHeaders(viewer))
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		upstream(t, "openapi-tok", "/openapi.json", map[string]string{
			"X-Auth-Subject": "usr_2", "X-Auth-Org": "org_1", "X-Auth-Roles": "viewer", "X-Auth-Rule": "openapi",
		})
	})

	t.Run("host route", func(t *testing.T) {
		h := spoofHeaders("")
		h["Host"] = "Status.Example.Test:8080"
		resp, body := rawDo(t, base, "host", "GET", "/status", "", h)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		upstream(t, "host", "/status", map[string]string{"X-Auth-Rule": "status-page"})
	})

	// edgeauthz's HTTP mode takes X-Forwarded-Host over Host: nginx.conf must clear it.
	t.Run("forwarded host spoof", func(t *testing.T) {
		resp, body := rawDo(t, base, "fwd-host", "GET", "/status", "", spoofHeaders(""))
		// No rule matches GET /status on nginx's own host: no_route, before any token check.
		denied(t, "fwd-host", resp, body, 403, "forbidden", "")
	})

	t.Run("public healthz skips edgeauthz", func(t *testing.T) {
		resp, body := rawDo(t, base, "healthz", "GET", "/healthz", "", spoofHeaders(""))
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		upstream(t, "healthz", "/healthz", map[string]string{})
	})

	// nginx picks `location = /healthz` on its normalized $uri but proxies the raw target:
	// anything but the canonical /healthz must not reach the app there unchecked.
	t.Run("healthz location is not a bypass", func(t *testing.T) {
		resp, _ := rawDo(t, base, "healthz-query", "GET", "/healthz?probe=1", "", nil)
		if resp.StatusCode != 200 || len(appSeen.get("healthz-query")) != 1 {
			t.Errorf("GET /healthz?probe=1: %d, want 200 from the app", resp.StatusCode)
		}
		for i, target := range []string{
			"/orgs/org_2/documents/x/..%2f..%2f..%2f..%2fhealthz",
			"/orgs/org_2/documents/secret/../../../../healthz",
			"/orgs/org_2/documents/x//../healthz",
			"/%68ealthz",
			"/healthz/.",
		} {
			id := fmt.Sprintf("healthz-bypass-%d", i)
			resp, body := rawDo(t, base, id, "GET", target, "", spoofHeaders(""))
			if u := appSeen.get(id); len(u) != 0 {
				t.Errorf("GET %s: the app got %s without a check (nginx %d)", target, u[0].URI, resp.StatusCode)
			}
			if resp.StatusCode != 400 {
				t.Errorf("GET %s: %d, want 400", target, resp.StatusCode)
			}
			checkDenyBody(t, resp, body, "bad_path")
		}
	})

	// nginx cannot drop headers by prefix: only the four x-auth-* names nginx.conf sets are
	// replaced. Any other x-auth-* header a client sends reaches the app (deploy/README.md).
	t.Run("other x-auth headers", func(t *testing.T) {
		resp, _ := rawDo(t, base, "extra", "GET", "/orgs/org_1/documents/doc1", "",
			map[string]string{"Authorization": "Bearer " + viewer, "X-Auth-Tenant": "org_2"})
		u := appSeen.get("extra")
		if resp.StatusCode != 200 || len(u) != 1 {
			t.Fatalf("got %d, app reached %d times", resp.StatusCode, len(u))
		}
		t.Logf("client-sent X-Auth-Tenant at the app: %q (not one of the four names nginx.conf sets)", u[0].Header.Values("X-Auth-Tenant"))
	})

	t.Run("no token", func(t *testing.T) {
		resp, body := rawDo(t, base, "no-token", "GET", "/orgs/org_1/documents/doc1", "", spoofHeaders(""))
		denied(t, "no-token", resp, body, 401, "unauthenticated", `Bearer realm="edgeauthz"`)
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="edgeauthz"` {
			t.Errorf("WWW-Authenticate %q, want exactly Bearer realm=\"edgeauthz\"", got)
		}
	})

	t.Run("expired token", func(t *testing.T) {
		resp, body := rawDo(t, base, "expired", "GET", "/orgs/org_1/documents/doc1", "", spoofHeaders(expired))
		denied(t, "expired", resp, body, 401, "unauthenticated", `Bearer realm="edgeauthz", error="invalid_token"`)
	})

	t.Run("garbage token", func(t *testing.T) {
		resp, body := rawDo(t, base, "garbage", "GET", "/openapi.json", "", spoofHeaders("not.a.jwt"))
		// A token that is sent must be valid, also on a public route.
		denied(t, "garbage", resp, body, 401, "unauthenticated", `Bearer realm="edgeauthz", error="invalid_token"`)
	})

	t.Run("tenant mismatch", func(t *testing.T) {
		resp, body := rawDo(t, base, "tenant", "GET", "/orgs/org_2/documents/doc1", "", spoofHeaders(viewer))
		denied(t, "tenant", resp, body, 404, "tenant_mismatch", "")
	})

	t.Run("missing role", func(t *testing.T) {
		resp, body := rawDo(t, base, "role", "PUT", "/orgs/org_1/documents/doc1", `{}`, spoofHeaders(viewer))
		denied(t, "role", resp, body, 403, "forbidden", "")
	})

	t.Run("missing scope", func(t *testing.T) {
		resp, body := rawDo(t, base, "scope", "GET", "/reports/q3", "", spoofHeaders(editor))
		denied(t, "scope", resp, body, 403, "forbidden", `Bearer realm="edgeauthz", error="insufficient_scope"`)
		if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="read:reports"`) {
			t.Errorf("WWW-Authenticate %q does not name the missing scope", got)
		}
	})

	t.Run("no route", func(t *testing.T) {
		resp, body := rawDo(t, base, "no-route", "DELETE", "/orgs/org_1/documents/doc1", "", spoofHeaders(editor))
		denied(t, "no-route", resp, body, 403, "forbidden", "")
	})

	// Non-canonical paths: what nginx does itself, and what edgeauthz does with what nginx
	// lets through (the raw $request_uri, so edgeauthz sees what the client sent).
	for _, tc := range []struct {
		name, target string
		status       int
		json         bool // the configuration's JSON body (edgeauthz was asked) or nginx's own page
	}{
		{"encoded slash dot-dot", "/orgs/org_1/documents/..%2f..", 400, true},
		{"encoded dot-dot", "/orgs/org_1/documents/%2e%2e/%2e%2e/reports/q3", 400, true},
		{"dot-dot", "/orgs/org_2/../org_1/documents/doc1", 400, true},
		{"dot-dot above root", "/orgs/../../reports/q3", 400, false},
		{"encoded slash above root", "/orgs/..%2f..%2freports/q3", 400, false},
		{"double slash", "/orgs/org_1//documents/doc1", 400, true},
		{"matrix parameter", "/orgs/org_1/documents/doc1;x=1", 400, true},
		{"encoded backslash", "/orgs/org_1/documents/a%5cb", 400, true},
		{"bad escape", "/orgs/org_1/documents/a%zz", 400, false},
		{"encoded NUL", "/orgs/org_1/documents/a%00b", 400, false},
	} {
		t.Run("bad path "+tc.name, func(t *testing.T) {
			id := "bad-" + tc.name
			resp, body := rawDo(t, base, id, "GET", tc.target, "", spoofHeaders(viewer))
			t.Logf("GET %s → %d %s %q", tc.target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.json {
				checkDenyBody(t, resp, body, "bad_path")
			} else if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("expected nginx's own error page, got JSON %q", body)
			}
			if u := appSeen.get(id); len(u) != 0 {
				t.Errorf("a non-canonical path reached the app: %+v", u)
			}
		})
	}

	// Everything stops; then the decision log says what edgeauthz decided, with the exact
	// reasons nginx's 401/403 bodies do not carry.
	n.stop()
	ez.stop()
	want := map[string]string{ // "METHOD path" → reason
		"GET /orgs/org_1/documents/doc1":    "no_token", // also expired (invalid_token), see below
		"GET /orgs/org_2/documents/doc1":    "tenant_mismatch",
		"PUT /orgs/org_1/documents/doc1":    "missing_role",
		"GET /reports/q3":                   "missing_scope",
		"DELETE /orgs/org_1/documents/doc1": "no_route",
		"GET /orgs/org_1/documents/..%2f..": "bad_path",
		"GET /status":                       "no_route",
	}
	got := map[string][]string{}
	cachedHits := 0
	for _, d := range ez.decisions(t) {
		k := d["method"].(string) + " " + d["path"].(string)
		got[k] = append(got[k], d["reason"].(string))
		if k == "GET /orgs/org_1/documents/doc2" && d["cached"] == true {
			cachedHits++
		}
	}
	if cachedHits == 0 {
		t.Errorf("decision log: the repeated request was never answered from the decision cache")
	}
	for k, reason := range want {
		if !containsStr(got[k], reason) {
			t.Errorf("decision log: %s has reasons %v, want %s", k, got[k], reason)
		}
	}
	if !containsStr(got["GET /orgs/org_1/documents/doc1"], "invalid_token") {
		t.Errorf("decision log: no invalid_token for the expired token: %v", got)
	}
	for k, rs := range got {
		if k == "GET /healthz" {
			t.Errorf("decision log: edgeauthz was asked about %s (%v)", k, rs)
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
