package deploy_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The shipped deploy/caddy/Caddyfile is used as it is, except for these strings, each of
// which must occur exactly once.
const (
	caddyFile         = "caddy/Caddyfile"
	caddyShippedSite  = ":8080 {\n"
	caddyShippedAuthz = "forward_auth 127.0.0.1:8181 {"
	caddyShippedApp   = "reverse_proxy 127.0.0.1:8000\n"
	caddyShippedHTTPS = "\tauto_https off\n"
)

// caddyBinary returns the caddy executable. When there is none the test is skipped, or
// fails under CI=true (`make deps` installs Debian's caddy first).
func caddyBinary(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/caddy"); err == nil && !fi.IsDir() {
		return "/usr/bin/caddy"
	}
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("caddy not found: `make deps` installs it")
	}
	t.Skip("caddy not found (apt-get install caddy, or make deps)")
	return ""
}

// renderCaddyfile points the shipped Caddyfile at test addresses: the site on
// 127.0.0.1:port, edgeauthz at authzAddr and the app at upstreamAddr.
func renderCaddyfile(t testing.TB, port, authzAddr, upstreamAddr string) []byte {
	t.Helper()
	conf := string(readFile(t, caddyFile))
	for _, r := range []struct{ old, new string }{
		// No host in the site address: a host would add a Host matcher, and requests
		// for other hosts (the host-specific route) would not reach the site.
		{caddyShippedSite, ":" + port + " {\n\tbind 127.0.0.1\n"},
		{caddyShippedAuthz, "forward_auth " + authzAddr + " {"},
		{caddyShippedApp, "reverse_proxy " + upstreamAddr + "\n"},
		// No admin endpoint: it listens on a fixed port, which parallel instances share.
		{caddyShippedHTTPS, caddyShippedHTTPS + "\tadmin off\n"},
	} {
		if n := strings.Count(conf, r.old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once (update caddy_test.go with the file)", caddyFile, r.old, n)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	return []byte(conf)
}

// caddyEnv keeps Caddy's data and autosaved config in dir, away from the system's.
func caddyEnv(dir string) []string {
	return append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}

// TestCaddyConfig: the shipped Caddyfile is formatted as `caddy fmt` writes it and, with
// its addresses pointed at test ports, passes `caddy validate`.
func TestCaddyConfig(t *testing.T) {
	bin := caddyBinary(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "fmt", caddyFile).Output()
	if err != nil {
		t.Fatalf("caddy fmt: %v", err)
	}
	if string(out) != string(readFile(t, caddyFile)) {
		t.Errorf("%s is not formatted: run caddy fmt --overwrite %s", caddyFile, caddyFile)
	}
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, renderCaddyfile(t, "8080", freeAddr(t), freeAddr(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(dir)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
}

// caddyInstance is a running Caddy started by startCaddy.
type caddyInstance struct {
	BaseURL string
	Output  *lockedBuffer
	stop    func()
}

// startCaddy runs the shipped Caddyfile on a free 127.0.0.1 port in front of edgeauthz's
// HTTP listener at authzAddr and the application at upstreamAddr.
func startCaddy(t testing.TB, authzAddr, upstreamAddr string) *caddyInstance {
	t.Helper()
	bin := caddyBinary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken in between
		c, err := tryStartCaddy(t, bin, authzAddr, upstreamAddr)
		if err == nil {
			return c
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting caddy: %v", lastErr)
	return nil
}

func tryStartCaddy(t testing.TB, bin, authzAddr, upstreamAddr string) (*caddyInstance, error) {
	dir := t.TempDir()
	listen := freeAddr(t)
	_, port, _ := net.SplitHostPort(listen)
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, renderCaddyfile(t, port, authzAddr, upstreamAddr), 0o644); err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("caddy output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("caddy exited: %s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return &caddyInstance{BaseURL: "http://" + listen, Output: out, stop: stop}, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("caddy did not listen on %s: %s", listen, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCaddyEndToEnd runs the shipped Caddyfile in front of a recording upstream, asking a
// real edgeauthz server (in-process, HTTP mode) with a real policy and real tokens.
func TestCaddyEndToEnd(t *testing.T) {
	caddyBinary(t) // skip (or fail under CI=true) before starting anything
	ez := startEdgeauthz(t, e2ePolicy)
	var appSeen recorder
	app := httptest.NewServer(stubApp(&appSeen))
	defer app.Close()
	c := startCaddy(t, ez.srv.HTTPAddr(), app.Listener.Addr().String())
	base := c.BaseURL

	editor := ez.token(t, map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []string{"editor"}}, time.Hour)
	viewer := ez.token(t, map[string]any{"sub": "usr_2", "oid": "org_1", "roles": []string{"viewer"}}, time.Hour)
	reporter := ez.token(t, map[string]any{"sub": "usr_4", "scope": "read:reports openid"}, time.Hour)
	expired := ez.token(t, map[string]any{"sub": "usr_1", "oid": "org_1", "roles": []string{"editor"},
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}, time.Hour)

	// upstream asserts that id reached the app once, with exactly the x-auth-* values in
	// want; a name not in want must be absent or empty (edgeauthz had no value), never a
	// client's.
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
			lk := strings.ReplaceAll(strings.ToLower(k), "_", "-")
			if !strings.HasPrefix(lk, "x-auth-") {
				continue
			}
			w, ok := want[http.CanonicalHeaderKey(k)]
			if strings.Contains(k, "_") || len(vs) != 1 || vs[0] != w || (!ok && w != "") {
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
	orgViewer := map[string]string{"X-Auth-Subject": "usr_2", "X-Auth-Org": "org_1", "X-Auth-Roles": "viewer", "X-Auth-Rule": "read-document"}

	t.Run("allow org route", func(t *testing.T) {
		resp, body := rawDo(t, base, "read", "GET", "/orgs/org_1/documents/doc1?v=2", "", spoofHeaders(viewer))
		if resp.StatusCode != 200 || body != "app ok" {
			t.Fatalf("got %d %q, want the app's 200", resp.StatusCode, body)
		}
		upstream(t, "read", "/orgs/org_1/documents/doc1?v=2", orgViewer)
	})

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
		upstream(t, "head", "/orgs/org_1/documents/doc1", orgViewer)
	})

	t.Run("allow write with inherited role keeps the body", func(t *testing.T) {
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
		upstream(t, "report", "/reports/q3", map[string]string{"X-Auth-Subject": "usr_4", "X-Auth-Rule": "read-report"})
	})

	t.Run("public routes through edgeauthz", func(t *testing.T) {
		// "/%68ealthz" is /healthz with a needlessly encoded letter: edgeauthz decodes
		// it as the app will, so it is the public route, and the app gets it as sent.
		for _, target := range []string{"/openapi.json", "/healthz", "/healthz?probe=1", "/%68ealthz"} {
			id := "public " + target
			resp, body := rawDo(t, base, id, "GET", target, "", spoofHeaders(""))
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: got %d %q", target, resp.StatusCode, body)
			}
			rule := "openapi"
			if target != "/openapi.json" {
				rule = "health"
			}
			upstream(t, id, target, map[string]string{"X-Auth-Rule": rule})
		}
	})

	t.Run("public route with token", func(t *testing.T) {
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
		delete(h, "X-Forwarded-Host")
		h["Host"] = "Status.Example.Test:8080"
		resp, body := rawDo(t, base, "host", "GET", "/status", "", h)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		upstream(t, "host", "/status", map[string]string{"X-Auth-Rule": "status-page"})
	})

	// Caddy replaces a client's X-Forwarded-Host (the client is not a trusted proxy).
	t.Run("forwarded host spoof", func(t *testing.T) {
		resp, body := rawDo(t, base, "fwd-host", "GET", "/status", "", spoofHeaders(""))
		denied(t, "fwd-host", resp, body, 403, "no_route", "")
	})

	// Other x-auth-* names are dropped too: Caddy deletes by prefix.
	t.Run("other x-auth headers", func(t *testing.T) {
		resp, _ := rawDo(t, base, "extra", "GET", "/orgs/org_1/documents/doc1", "",
			map[string]string{"Authorization": "Bearer " + viewer, "X-Auth-Tenant": "org_2", "x_auth_tenant": "org_2", "X-Auth_Org": "org_2"})
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
		upstream(t, "extra", "/orgs/org_1/documents/doc1", orgViewer)
	})

	t.Run("no token", func(t *testing.T) {
		resp, body := rawDo(t, base, "no-token", "GET", "/orgs/org_1/documents/doc1", "", spoofHeaders(""))
		denied(t, "no-token", resp, body, 401, "no_token", `Bearer realm="edgeauthz"`)
	})

	t.Run("expired token", func(t *testing.T) {
		resp, body := rawDo(t, base, "expired", "GET", "/orgs/org_1/documents/doc1", "", spoofHeaders(expired))
		denied(t, "expired", resp, body, 401, "invalid_token", `Bearer realm="edgeauthz", error="invalid_token"`)
	})

	t.Run("garbage token", func(t *testing.T) {
		resp, body := rawDo(t, base, "garbage", "GET", "/openapi.json", "", spoofHeaders("not.a.jwt"))
		denied(t, "garbage", resp, body, 401, "invalid_token", `Bearer realm="edgeauthz", error="invalid_token"`)
	})

	t.Run("tenant mismatch", func(t *testing.T) {
		resp, body := rawDo(t, base, "tenant", "GET", "/orgs/org_2/documents/doc1", "", spoofHeaders(viewer))
		denied(t, "tenant", resp, body, 404, "tenant_mismatch", "")
	})

	t.Run("missing role", func(t *testing.T) {
		resp, body := rawDo(t, base, "role", "PUT", "/orgs/org_1/documents/doc1", `{}`, spoofHeaders(viewer))
		denied(t, "role", resp, body, 403, "missing_role", "")
	})

	t.Run("missing scope", func(t *testing.T) {
		resp, body := rawDo(t, base, "scope", "GET", "/reports/q3", "", spoofHeaders(editor))
		denied(t, "scope", resp, body, 403, "missing_scope", `Bearer realm="edgeauthz", error="insufficient_scope"`)
		if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="read:reports"`) {
			t.Errorf("WWW-Authenticate %q does not name the missing scope", got)
		}
	})

	t.Run("no route", func(t *testing.T) {
		resp, body := rawDo(t, base, "no-route", "DELETE", "/orgs/org_1/documents/doc1", "", spoofHeaders(editor))
		denied(t, "no-route", resp, body, 403, "no_route", "")
	})

	// Non-canonical request-targets: Caddy passes the raw target to edgeauthz
	// (X-Forwarded-Uri) and to the app alike, so edgeauthz refuses what is not canonical;
	// Go's HTTP server in Caddy refuses what it cannot parse itself, with a plain 400.
	for _, tc := range []struct {
		name, target string
		json         bool // edgeauthz's JSON body (it was asked) or Caddy's own 400
	}{
		{"encoded slash dot-dot", "/orgs/org_1/documents/..%2f..", true},
		{"encoded dot-dot", "/orgs/org_1/documents/%2e%2e/%2e%2e/reports/q3", true},
		{"dot-dot", "/orgs/org_2/../org_1/documents/doc1", true},
		{"dot-dot above root", "/orgs/../../reports/q3", true},
		{"encoded slash above root", "/orgs/..%2f..%2freports/q3", true},
		{"double slash", "/orgs/org_1//documents/doc1", true},
		{"matrix parameter", "/orgs/org_1/documents/doc1;x=1", true},
		{"encoded backslash", "/orgs/org_1/documents/a%5cb", true},
		{"dot-dot to public healthz", "/orgs/org_2/documents/secret/../../../../healthz", true},
		{"encoded dot-dot to public healthz", "/orgs/org_2/documents/x/..%2f..%2f..%2f..%2fhealthz", true},
		{"bad escape", "/orgs/org_1/documents/a%zz", false},
		{"encoded NUL", "/orgs/org_1/documents/a%00b", true},
	} {
		t.Run("bad path "+tc.name, func(t *testing.T) {
			id := "bad-" + tc.name
			resp, body := rawDo(t, base, id, "GET", tc.target, "", spoofHeaders(viewer))
			t.Logf("GET %s → %d %s %q", tc.target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			if resp.StatusCode != 400 {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if tc.json {
				checkDenyBody(t, resp, body, "bad_path")
			} else if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("expected Caddy's own 400, got JSON %q", body)
			}
			if u := appSeen.get(id); len(u) != 0 {
				t.Errorf("a non-canonical path reached the app: %+v", u)
			}
		})
	}

	// The decision log has edgeauthz's reasons (Caddy passes them through as they are).
	got := map[string][]string{}
	ez.stop()
	for _, d := range ez.decisions(t) {
		k := d["method"].(string) + " " + d["path"].(string)
		got[k] = append(got[k], d["reason"].(string))
	}
	for k, reason := range map[string]string{
		"GET /orgs/org_2/documents/doc1":    "tenant_mismatch",
		"DELETE /orgs/org_1/documents/doc1": "no_route",
		"GET /status":                       "no_route",
	} {
		if !containsStr(got[k], reason) {
			t.Errorf("decision log: %s has reasons %v, want %s", k, got[k], reason)
		}
	}

	// edgeauthz is gone now: fail closed with 503, and the app is not reached.
	t.Run("edgeauthz unreachable", func(t *testing.T) {
		resp, body := rawDo(t, base, "down", "GET", "/orgs/org_1/documents/doc1", "", spoofHeaders(viewer))
		denied(t, "down", resp, body, 503, "authz_unavailable", "")
	})
}

// TestCaddyForwardAuth runs the Caddyfile against a recording edgeauthz stand-in that allows
// everything: what edgeauthz is sent, and that the app's own errors are not taken for
// edgeauthz's.
func TestCaddyForwardAuth(t *testing.T) {
	var authzSeen, appSeen recorder
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authzSeen.add(r)
		w.Header().Set("X-Auth-Subject", "usr_1")
		w.Header().Set("X-Auth-Rule", "any")
	}))
	defer authz.Close()
	app := httptest.NewServer(stubApp(&appSeen))
	c := startCaddy(t, authz.Listener.Addr().String(), app.Listener.Addr().String())

	hdr := spoofHeaders("tok")
	hdr["Cookie"] = "accessToken=c"
	hdr["X-Envoy-Auth-Partial-Body"] = "true"
	resp, body := rawDo(t, c.BaseURL, "post", "POST", "/orgs/o/documents/a%20b?q=1&r=%2F", `{"x":1}`, hdr)
	if resp.StatusCode != 200 || body != "app ok" {
		t.Fatalf("got %d %q, want the app's 200", resp.StatusCode, body)
	}
	a := authzSeen.get("post")
	if len(a) != 1 {
		t.Fatalf("edgeauthz asked %d times, want 1", len(a))
	}
	// Caddy's rewrite keeps the query on /authz; edgeauthz reads the original request from
	// X-Forwarded-Uri when the path is the bare prefix.
	if p, _, _ := strings.Cut(a[0].URI, "?"); a[0].Method != "GET" || p != "/authz" || a[0].Body != "" {
		t.Errorf("edgeauthz got %s %s with body %q, want GET /authz without a body", a[0].Method, a[0].URI, a[0].Body)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.BaseURL, "http://"))
	for k, want := range map[string]string{
		"X-Forwarded-Uri":    "/orgs/o/documents/a%20b?q=1&r=%2F", // raw, query included
		"X-Forwarded-Method": "POST",
		"X-Forwarded-Host":   "127.0.0.1:" + port, // the request's Host, not the client's header
		"Authorization":      "Bearer tok",
		"Cookie":             "accessToken=c",
	} {
		if got := a[0].Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("edgeauthz got %s %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"X-Original-Uri", "X-Original-Method", "X-Envoy-Auth-Partial-Body", "X-Auth-Subject", "X_Auth_Subject"} {
		if v, ok := a[0].Header[k]; ok {
			t.Errorf("edgeauthz got client-sent %s %q", k, v)
		}
	}
	u := appSeen.get("post")
	if len(u) != 1 || u[0].Body != `{"x":1}` || u[0].URI != "/orgs/o/documents/a%20b?q=1&r=%2F" || u[0].Method != "POST" {
		t.Fatalf("app got %+v, want the request as authorized", u)
	}
	if got := u[0].Header.Get("X-Auth-Subject"); got != "usr_1" {
		t.Errorf("app got X-Auth-Subject %q", got)
	}

	// The app's own 500 passes through; the app down is Caddy's 502, not authz_unavailable.
	if resp, _ := rawDo(t, c.BaseURL, "app-error", "GET", "/app-error", "", nil); resp.StatusCode != 500 {
		t.Errorf("app error: %d, want the app's 500", resp.StatusCode)
	}
	app.Close()
	resp, body = rawDo(t, c.BaseURL, "app-down", "GET", "/x", "", nil)
	if resp.StatusCode != 502 || strings.Contains(body, "authz_unavailable") {
		t.Errorf("app down: %d %q, want Caddy's 502", resp.StatusCode, body)
	}
}
