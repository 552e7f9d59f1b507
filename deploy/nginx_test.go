package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// The shipped deploy/nginx/nginx.conf is used as it is, except for these strings, each of
// which must occur exactly once so that a change to the file cannot silently escape the tests.
const (
	nginxConfFile     = "nginx/nginx.conf"
	nginxShippedAuthz = "server 127.0.0.1:8181;" // upstream edgeauthz
	nginxShippedApp   = "server 127.0.0.1:8000;" // upstream app
	nginxShippedLsn   = "listen 8080;"
	nginxShippedHTTP  = "http {\n"
)

// nginxBinary returns the nginx executable. When there is none the test is skipped, or
// fails under CI=true (`make test` installs Debian's nginx-light first).
func nginxBinary(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && !fi.IsDir() {
		return "/usr/sbin/nginx"
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx not found: `make deps` installs nginx-light")
	}
	t.Skip("nginx not found (apt-get install nginx-light, or make deps)")
	return ""
}

// renderNginxConf rewrites the shipped configuration for a test run: listen on listenAddr,
// ask edgeauthz at authzAddr, proxy to upstreamAddr (all host:port), and keep nginx's
// temporary files under prefix.
func renderNginxConf(t testing.TB, prefix, listenAddr, authzAddr, upstreamAddr string) []byte {
	t.Helper()
	conf := string(readFile(t, nginxConfFile))
	for _, r := range []struct{ old, new string }{
		{nginxShippedAuthz, "server " + authzAddr + ";"},
		{nginxShippedApp, "server " + upstreamAddr + ";"},
		{nginxShippedLsn, "listen " + listenAddr + ";"},
		{nginxShippedHTTP, "http {\n    client_body_temp_path " + filepath.Join(prefix, "client_body") +
			";\n    proxy_temp_path " + filepath.Join(prefix, "proxy") + ";\n"},
	} {
		if n := strings.Count(conf, r.old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once (update nginx_test.go with the file)", nginxConfFile, r.old, n)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	return []byte(conf)
}

// nginxPrefix makes a directory for one nginx: its config, pid and temporary files. It is
// world-traversable because nginx's workers drop root to "nobody".
func nginxPrefix(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// nginxArgs are the flags that run nginx from prefix with the config there.
func nginxArgs(prefix string, extra ...string) []string {
	return append([]string{
		"-p", prefix + "/",
		"-c", filepath.Join(prefix, "nginx.conf"),
		"-e", "stderr",
		"-g", "daemon off; pid " + filepath.Join(prefix, "nginx.pid") + ";",
	}, extra...)
}

// lockedBuffer collects a process's output safely while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// nginxInstance is a running nginx started by startNginx.
type nginxInstance struct {
	BaseURL string
	Output  *lockedBuffer // stdout (access log) and stderr (error log)
	stop    func()
}

// startNginx runs the shipped nginx.conf in the foreground on a free 127.0.0.1 port, in
// front of edgeauthz's HTTP listener at authzAddr and the application at upstreamAddr
// (both host:port). It returns nginx's base URL ("http://127.0.0.1:PORT") and a func that
// stops it; the test's cleanup stops it too, and stopping twice is harmless.
//
// End-to-end tests through a real edgeauthz server call this with the server's HTTP address.
func startNginx(t testing.TB, authzAddr, upstreamAddr string) (baseURL string, stop func()) {
	t.Helper()
	n := startNginxInstance(t, authzAddr, upstreamAddr)
	return n.BaseURL, n.stop
}

func startNginxInstance(t testing.TB, authzAddr, upstreamAddr string) *nginxInstance {
	t.Helper()
	bin := nginxBinary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken in between
		n, err := tryStartNginx(t, bin, authzAddr, upstreamAddr)
		if err == nil {
			return n
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	t.Fatalf("starting nginx: %v", lastErr)
	return nil
}

func tryStartNginx(t testing.TB, bin, authzAddr, upstreamAddr string) (*nginxInstance, error) {
	prefix := nginxPrefix(t)
	listen := freeAddr(t)
	conf := renderNginxConf(t, prefix, listen, authzAddr, upstreamAddr)
	if err := os.WriteFile(filepath.Join(prefix, "nginx.conf"), conf, 0o644); err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, nginxArgs(prefix)...)
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: if the master must be killed, its workers go with it.
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
			cmd.Process.Signal(syscall.SIGTERM) // fast shutdown
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
			t.Logf("nginx output:\n%s", out.String())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("nginx exited: %s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return &nginxInstance{BaseURL: "http://" + listen, Output: out, stop: stop}, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("nginx did not listen on %s: %s", listen, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNginxConfig: the shipped file, with its addresses pointed at test ports, passes nginx -t.
func TestNginxConfig(t *testing.T) {
	bin := nginxBinary(t)
	prefix := nginxPrefix(t)
	conf := renderNginxConf(t, prefix, freeAddr(t), freeAddr(t), freeAddr(t))
	if err := os.WriteFile(filepath.Join(prefix, "nginx.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, nginxArgs(prefix, "-t")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// seen is what a stub server received.
type seen struct {
	Method, URI string
	Header      http.Header
	Body        string
}

// recorder keeps the requests a stub server received, by the client's X-Test-Case.
type recorder struct {
	mu   sync.Mutex
	reqs map[string][]seen
}

func (r *recorder) add(req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reqs == nil {
		r.reqs = map[string][]seen{}
	}
	id := req.Header.Get("X-Test-Case")
	r.reqs[id] = append(r.reqs[id], seen{req.Method, req.RequestURI, req.Header.Clone(), string(body)})
}

func (r *recorder) get(id string) []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[id]
}

// stubAuthz answers like edgeauthz's HTTP mode, deciding on the path of X-Original-URI.
func stubAuthz(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Path != "/authz" {
			http.Error(w, "wrong authz path "+r.URL.Path, http.StatusTeapot)
			return
		}
		uri := r.Header.Get("X-Original-URI")
		p, _, _ := strings.Cut(uri, "?")
		deny := func(status int, reason, wwwAuth string) {
			if wwwAuth != "" {
				w.Header().Set("WWW-Authenticate", wwwAuth)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"stub","message":"stub","reason":%q}`, reason)
		}
		switch {
		case strings.HasPrefix(p, "/allowed-no-org"):
			w.Header().Set("X-Auth-Subject", "usr_2")
			w.Header().Set("X-Auth-Rule", "no-org")
		case strings.HasPrefix(p, "/allowed"), p == "/app-error":
			w.Header().Set("X-Auth-Subject", "usr_1")
			w.Header().Set("X-Auth-Org", "org_1")
			w.Header().Set("X-Auth-Roles", "viewer,editor")
			w.Header().Set("X-Auth-Rule", "read-document")
		case p == "/unauthenticated":
			deny(401, "no_token", `Bearer realm="edgeauthz"`)
		case p == "/forbidden":
			deny(403, "missing_scope", `Bearer error="insufficient_scope", scope="read:documents"`)
		case p == "/other-tenant":
			deny(404, "tenant_mismatch", "")
		case p == "/not-canonical":
			deny(400, "bad_path", "")
		case p == "/no-snapshot":
			deny(503, "no_snapshot", "")
		case p == "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			deny(403, "no_route", "")
		}
	})
}

// stubApp is the upstream application.
func stubApp(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Path == "/app-error" {
			http.Error(w, "app failed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "app ok")
	})
}

// TestNginxAuthRequest runs requests through the shipped nginx.conf against a stub edgeauthz:
// what reaches edgeauthz and the app, and what the client gets for each kind of answer.
func TestNginxAuthRequest(t *testing.T) {
	var authzSeen, appSeen recorder
	authz := httptest.NewServer(stubAuthz(&authzSeen))
	defer authz.Close()
	app := httptest.NewServer(stubApp(&appSeen))
	defer app.Close()
	n := startNginxInstance(t, authz.Listener.Addr().String(), app.Listener.Addr().String())

	// A client that sends raw request-targets and never follows redirects.
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	do := func(t *testing.T, id, method, target string, body string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, n.BaseURL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = target // sent as is, not re-encoded
		req.Header.Set("X-Test-Case", id)
		for k, v := range hdr {
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
	// spoof is what a client sends to try to pass as someone else or to change what is checked.
	spoof := map[string]string{
		"X-Auth-Subject":     "attacker",
		"x-auth-org":         "org_evil",
		"X-Auth-Roles":       "admin",
		"X-Auth-Rule":        "health",
		"X_Auth_Subject":     "attacker-underscore",
		"X-Original-URI":     "/healthz",
		"X-Original-Method":  "GET",
		"X-Forwarded-Uri":    "/healthz",
		"X-Forwarded-Method": "GET",
		"X-Forwarded-Host":   "public.example.com",
		"Authorization":      "Bearer tok",
		"Cookie":             "accessToken=c",
	}

	t.Run("allow", func(t *testing.T) {
		resp, body := do(t, "allow", "POST", "/allowed/a%20b?q=1&r=%2F", `{"x":1}`, spoof)
		if resp.StatusCode != 200 || body != "app ok" {
			t.Fatalf("got %d %q, want 200 from the app", resp.StatusCode, body)
		}
		a := authzSeen.get("allow")
		if len(a) != 1 {
			t.Fatalf("edgeauthz asked %d times, want 1", len(a))
		}
		ah := a[0].Header
		for k, want := range map[string]string{
			"X-Original-Uri":    "/allowed/a%20b?q=1&r=%2F", // raw, query included
			"X-Original-Method": "POST",
			"Authorization":     "Bearer tok",
			"Cookie":            "accessToken=c",
		} {
			if got := ah.Get(k); got != want {
				t.Errorf("edgeauthz got %s %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Host", "X_Auth_Subject"} {
			if v, ok := ah[k]; ok {
				t.Errorf("edgeauthz got client-sent %s %q", k, v)
			}
		}
		if a[0].Method != "GET" || a[0].Body != "" || a[0].URI != "/authz" {
			t.Errorf("edgeauthz got %s %s with body %q, want GET /authz without a body", a[0].Method, a[0].URI, a[0].Body)
		}
		u := appSeen.get("allow")
		if len(u) != 1 {
			t.Fatalf("app reached %d times, want 1", len(u))
		}
		if u[0].URI != "/allowed/a%20b?q=1&r=%2F" || u[0].Body != `{"x":1}` || u[0].Method != "POST" {
			t.Errorf("app got %s %s %q, want the request as authorized", u[0].Method, u[0].URI, u[0].Body)
		}
		for k, want := range map[string]string{
			"X-Auth-Subject": "usr_1", "X-Auth-Org": "org_1", "X-Auth-Roles": "viewer,editor", "X-Auth-Rule": "read-document",
		} {
			if got := u[0].Header.Values(k); len(got) != 1 || got[0] != want {
				t.Errorf("app got %s %q, want only edgeauthz's %q", k, got, want)
			}
		}
		if _, ok := u[0].Header[http.CanonicalHeaderKey("X_Auth_Subject")]; ok {
			t.Errorf("app got the underscore spoof header")
		}
	})

	t.Run("allow without org", func(t *testing.T) {
		resp, _ := do(t, "noorg", "GET", "/allowed-no-org", "", spoof)
		u := appSeen.get("noorg")
		if resp.StatusCode != 200 || len(u) != 1 {
			t.Fatalf("got %d, app reached %d times", resp.StatusCode, len(u))
		}
		if v, ok := u[0].Header["X-Auth-Org"]; ok {
			t.Errorf("app got client-sent X-Auth-Org %q while edgeauthz sent none", v)
		}
		if v, ok := u[0].Header["X-Auth-Roles"]; ok {
			t.Errorf("app got client-sent X-Auth-Roles %q while edgeauthz sent none", v)
		}
		if got := u[0].Header.Get("X-Auth-Subject"); got != "usr_2" {
			t.Errorf("app got X-Auth-Subject %q", got)
		}
	})

	t.Run("public healthz", func(t *testing.T) {
		resp, _ := do(t, "healthz", "GET", "/healthz", "", spoof)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
		if a := authzSeen.get("healthz"); len(a) != 0 {
			t.Errorf("edgeauthz asked for /healthz")
		}
		u := appSeen.get("healthz")
		if len(u) != 1 {
			t.Fatalf("app reached %d times", len(u))
		}
		for k := range u[0].Header {
			if strings.HasPrefix(strings.ToLower(k), "x-auth") || strings.HasPrefix(strings.ToLower(k), "x_auth") {
				t.Errorf("app got client-sent %s on the public route", k)
			}
		}
	})

	t.Run("app errors pass through", func(t *testing.T) {
		resp, body := do(t, "apperr", "GET", "/app-error", "", nil)
		if resp.StatusCode != 500 || !strings.Contains(body, "app failed") {
			t.Errorf("got %d %q, want the app's own 500", resp.StatusCode, body)
		}
	})

	t.Run("internal location", func(t *testing.T) {
		resp, _ := do(t, "internal", "GET", "/_edgeauthz", "", nil)
		if resp.StatusCode != 404 {
			t.Errorf("GET /_edgeauthz: %d, want 404", resp.StatusCode)
		}
		if a := authzSeen.get("internal"); len(a) != 0 {
			t.Errorf("a client reached the auth location directly")
		}
	})

	for _, tc := range []struct {
		id, target string
		status     int
		reason     string
		wwwAuth    string
	}{
		{"401", "/unauthenticated", 401, "unauthenticated", `Bearer realm="edgeauthz"`},
		{"403", "/forbidden", 403, "forbidden", `Bearer error="insufficient_scope", scope="read:documents"`},
		{"403-no-challenge", "/nothing-here", 403, "forbidden", ""},
		{"404", "/other-tenant", 404, "tenant_mismatch", ""},
		{"400", "/not-canonical", 400, "bad_path", ""},
		{"503", "/no-snapshot", 503, "no_snapshot", ""},
		{"302", "/redirect", 503, "authz_unavailable", ""},
	} {
		t.Run("deny "+tc.id, func(t *testing.T) {
			resp, body := do(t, "deny"+tc.id, "GET", tc.target, "", spoof)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			checkDenyBody(t, resp, body, tc.reason)
			if got := resp.Header.Values("WWW-Authenticate"); tc.wwwAuth == "" && len(got) != 0 ||
				tc.wwwAuth != "" && (len(got) != 1 || got[0] != tc.wwwAuth) {
				t.Errorf("WWW-Authenticate %q, want %q once", got, tc.wwwAuth)
			}
			if u := appSeen.get("deny" + tc.id); len(u) != 0 {
				t.Errorf("a denied request reached the app")
			}
		})
	}

	t.Run("access log", func(t *testing.T) {
		n.stop()
		found := false
		for _, line := range strings.Split(n.Output.String(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if strings.HasPrefix(fmt.Sprint(e["uri"]), "/allowed/a%20b") {
				found = e["rule"] == "read-document" && e["subject"] == "usr_1" && e["authz_status"] == "200"
			}
		}
		if !found {
			t.Errorf("no access log line with the rule and subject for the allowed request:\n%s", n.Output.String())
		}
	})
}

// TestNginxAuthzDown: edgeauthz unreachable is a 503, never an allow.
func TestNginxAuthzDown(t *testing.T) {
	var appSeen recorder
	app := httptest.NewServer(stubApp(&appSeen))
	defer app.Close()
	baseURL, stop := startNginx(t, freeAddr(t), app.Listener.Addr().String())
	defer stop()
	req, _ := http.NewRequest("GET", baseURL+"/allowed", nil)
	req.Header.Set("X-Test-Case", "down")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	checkDenyBody(t, resp, string(body), "authz_unavailable")
	if len(appSeen.get("down")) != 0 {
		t.Errorf("the app was reached while edgeauthz was down")
	}
}

// checkDenyBody: a JSON {"error","message","reason"} body with the given reason.
func checkDenyBody(t *testing.T, resp *http.Response, body, reason string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var b struct{ Error, Message, Reason *string }
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("body %q: %v", body, err)
	}
	if b.Error == nil || b.Message == nil || b.Reason == nil || *b.Reason != reason {
		t.Errorf("body %q, want error, message and reason %q", body, reason)
	}
}
