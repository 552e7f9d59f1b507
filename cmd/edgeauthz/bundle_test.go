package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/edgeauthz/edgeauthz/internal/edgetest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

const (
	bundlePolicyV1 = "routes:\n  - name: hello\n    match: GET /hello\n    public: true\n"
	bundlePolicyV2 = bundlePolicyV1 + "  - name: v2\n    match: GET /v2\n    public: true\n"
)

// TestBundleSignAndValidate: bundle writes the policy and a detached JWS that
// validate --signing-key (the edge's own verification) accepts, for each key
// type keygen makes; a one-byte change, a signature by another key and a
// missing signature are refused.
func TestBundleSignAndValidate(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			keys, other := filepath.Join(dir, "keys"), filepath.Join(dir, "other")
			for _, k := range []string{keys, other} {
				if code, _, stderr := run(t, "keygen", "--out", k, "--alg", alg); code != exitOK {
					t.Fatalf("keygen: %s", stderr)
				}
			}
			policy := writeFile(t, dir, "src/policy.yaml", bundlePolicyV1)
			out := filepath.Join(dir, "public")
			code, stdout, stderr := run(t, "bundle", "--key", filepath.Join(keys, "private.pem"), "--out", out, policy)
			if code != exitOK || !strings.Contains(stdout, "wrote "+filepath.Join(out, "policy.yaml")) {
				t.Fatalf("bundle: %d %q %q", code, stdout, stderr)
			}
			served := filepath.Join(out, "policy.yaml")
			if got, _ := os.ReadFile(served); string(got) != bundlePolicyV1 {
				t.Errorf("bundle content %q, want the policy file's bytes", got)
			}
			sig, err := os.ReadFile(served + ".sig")
			if err != nil || !regexp.MustCompile(`^[\w-]+\.\.[\w-]+\n$`).Match(sig) {
				t.Fatalf("signature %q (%v): want a compact JWS with a detached payload", sig, err)
			}

			jwks := filepath.Join(keys, "jwks.json")
			if code, stdout, stderr := run(t, "validate", "--signing-key", jwks, served); code != exitOK || !strings.Contains(stdout, "signature ok") {
				t.Errorf("validate --signing-key: %d %q %q", code, stdout, stderr)
			}
			if code, _, stderr := run(t, "validate", "--signing-key", filepath.Join(other, "jwks.json"), served); code != exitFail || !strings.Contains(stderr, "bundle signature") {
				t.Errorf("validate with another key: %d %q", code, stderr)
			}

			tampered := filepath.Join(dir, "tampered", "policy.yaml")
			writeFile(t, dir, "tampered/policy.yaml", strings.Replace(bundlePolicyV1, "hello", "hellp", 1))
			if err := os.WriteFile(tampered+".sig", sig, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, stderr := run(t, "validate", "--signing-key", jwks, tampered); code != exitFail || !strings.Contains(stderr, "bundle signature") {
				t.Errorf("validate of a one-byte change: %d %q", code, stderr)
			}
			unsigned := writeFile(t, dir, "unsigned/policy.yaml", bundlePolicyV1)
			if code, _, stderr := run(t, "validate", "--signing-key", jwks, unsigned); code != exitFail || !strings.Contains(stderr, "bundle signature") {
				t.Errorf("validate without a signature: %d %q", code, stderr)
			}
		})
	}
}

func TestBundleRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := run(t, "keygen", "--out", filepath.Join(dir, "keys"), "--alg", "ES256"); code != exitOK {
		t.Fatal(stderr)
	}
	key := filepath.Join(dir, "keys", "private.pem")
	bad := writeFile(t, dir, "bad.yaml", "routes:\n  - name: x\n    match: GET /x\n    roles: [nobody]\n")
	out := filepath.Join(dir, "public")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"invalid policy", []string{"--key", key, "--out", out, bad}, exitFail, "bad.yaml:"},
		{"public key instead of private", []string{"--key", filepath.Join(dir, "keys", "jwks.json"), "--out", out, bad}, exitUsage, "edgeauthz bundle:"},
		{"no key", []string{"--out", out, bad}, exitUsage, "usage:"},
		{"two policies", []string{"--key", key, "--out", out, bad, bad}, exitUsage, "usage:"},
		{"name is a path", []string{"--key", key, "--out", out, "--name", "../x.yaml", writeFile(t, dir, "ok.yaml", bundlePolicyV1)}, exitFail, "plain file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"bundle"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
			if _, err := os.Stat(filepath.Join(out, "bad.yaml")); err == nil {
				t.Errorf("an invalid policy was written to the bundle folder")
			}
		})
	}
}

// TestBundleServedToEdge serves what bundle wrote from a static file server
// (with nginx-style ETags from size and modification time) to a running edge
// that requires the signature: the edge loads it, keeps it across an
// unchanged re-bundle (304), refuses a one-byte change while serving the last
// good policy, and takes the next properly signed bundle.
func TestBundleServedToEdge(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := run(t, "keygen", "--out", filepath.Join(dir, "keys"), "--alg", "ES256"); code != exitOK {
		t.Fatal(stderr)
	}
	key := filepath.Join(dir, "keys", "private.pem")
	out := filepath.Join(dir, "public")
	policy := writeFile(t, dir, "src/policy.yaml", bundlePolicyV1)
	bundleCmd := func(t *testing.T) string {
		t.Helper()
		code, stdout, stderr := run(t, "bundle", "--key", key, "--out", out, policy)
		if code != exitOK {
			t.Fatalf("bundle: %s", stderr)
		}
		return stdout
	}
	bundleCmd(t)

	var notModified atomic.Int64
	files := http.Dir(out)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := files.Open(r.URL.Path)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()))
		if r.Header.Get("If-None-Match") == w.Header().Get("ETag") && strings.HasSuffix(r.URL.Path, ".yaml") {
			notModified.Add(1)
		}
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	}))
	defer store.Close()

	cfgPath := writeFile(t, dir, "edge/config.yaml", fmt.Sprintf(`
listen: {grpc: "", http: "127.0.0.1:0"}
policy:
  source: %s/policy.yaml
  poll_interval: 100ms
  signing_key: ../keys/jwks.json
decision_log: {output: "off"}
`, store.URL))
	// Not waiting for a snapshot: the test watches the edge take the bundle.
	es := edgetest.Start(t, edgetest.Options{ConfigFile: cfgPath, NoWait: true})
	defer es.Stop() // before the store closes
	edge := es.Base

	// waitFor polls until cond holds; the edge polls the store every 100 ms.
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	status := func(path string) int {
		resp, err := http.Get(edge + path)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	fetchErrors := func() int {
		resp, err := http.Get(edge + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^edgeauthz_sync_errors_total\{stage="fetch"\} (\d+)$`).FindSubmatch(b)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}

	waitFor(t, "the signed bundle is loaded", func() bool { return status("/readyz") == 200 })
	if got := status("/authz/hello"); got != 200 {
		t.Fatalf("GET /hello: %d, want 200 (public in the bundle)", got)
	}
	if got := status("/authz/v2"); got != 403 {
		t.Fatalf("GET /v2: %d, want 403 before v2 is published", got)
	}

	// Bundling unchanged content keeps the file, so its ETag, so the edge's 304.
	if stdout := bundleCmd(t); !strings.Contains(stdout, "unchanged") || !strings.Contains(stdout, "kept") {
		t.Errorf("re-bundling unchanged content: %q", stdout)
	}
	before := notModified.Load()
	waitFor(t, "a 304 for the unchanged bundle", func() bool { return notModified.Load() > before })

	// One byte changed on the server, signature left as it was: refused.
	served := filepath.Join(out, "policy.yaml")
	good, err := os.ReadFile(served)
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte(strings.Replace(string(good), "GET /hello", "GET /hellp", 1))
	if err := os.WriteFile(served, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	errs := fetchErrors()
	src, err := policysync.NewHTTPSource(store.URL+"/policy.yaml", policysync.HTTPOptions{Keys: mustKeys(t, filepath.Join(dir, "keys", "jwks.json"))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Fetch(context.Background(), ""); !errors.Is(err, policysync.ErrSignature) {
		t.Errorf("fetching the changed bundle: %v, want ErrSignature", err)
	}
	waitFor(t, "the edge refuses the changed bundle", func() bool { return fetchErrors() > errs })
	if got := status("/authz/hello"); got != 200 {
		t.Errorf("after the refused bundle: GET /hello %d, want 200 (the last good policy keeps serving)", got)
	}
	if got := status("/authz/hellp"); got != 403 {
		t.Errorf("after the refused bundle: GET /hellp %d, want 403 (the change must not apply)", got)
	}

	// A real change, bundled and signed: taken.
	writeFile(t, dir, "src/policy.yaml", bundlePolicyV2)
	if stdout := bundleCmd(t); !strings.Contains(stdout, "wrote") || !strings.Contains(stdout, "signed") {
		t.Errorf("bundling a change: %q", stdout)
	}
	waitFor(t, "the edge takes the new signed bundle", func() bool { return status("/authz/v2") == 200 })
	if got := status("/authz/hello"); got != 200 {
		t.Errorf("GET /hello after v2: %d", got)
	}
}

func mustKeys(t *testing.T, path string) jwk.Set {
	t.Helper()
	k, err := policysync.ReadVerificationKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeFile writes data to dir/name (creating folders) and returns its path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
