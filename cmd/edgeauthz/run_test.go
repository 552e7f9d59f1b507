package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/edgeauthz -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestRunUsage(t *testing.T) {
	if code, _, stderr := run(t); code != exitUsage || !strings.Contains(stderr, "usage: edgeauthz") {
		t.Errorf("no args: %d %q", code, stderr)
	}
	if code, _, _ := run(t, "help"); code != exitOK {
		t.Errorf("help: %d", code)
	}
	if code, _, stderr := run(t, "frobnicate"); code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown: %d %q", code, stderr)
	}
	if code, stdout, _ := run(t, "version"); code != exitOK || !strings.HasPrefix(stdout, "edgeauthz ") {
		t.Errorf("version: %d %q", code, stdout)
	}
}

func TestValidate(t *testing.T) {
	code, stdout, stderr := run(t, "validate", "testdata/policy.yaml")
	if code != exitOK || stderr != "" || !regexp.MustCompile(`^testdata/policy.yaml: ok \(\d+ routes, \d+ tuples, revision sha256:[0-9a-f]+\)\n$`).MatchString(stdout) {
		t.Errorf("ok: %d %q %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "validate", "testdata/bad_policy.yaml")
	if code != exitFail {
		t.Errorf("bad policy: exit %d", code)
	}
	want := []string{
		"testdata/bad_policy.yaml:2: ",
		"testdata/bad_policy.yaml:6: ",
		"testdata/bad_policy.yaml:7: ",
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Count(stderr, "\n") != len(want) || stdout != "" {
		t.Errorf("stdout %q stderr:\n%s", stdout, stderr)
	}
	// Several files: the good one is ok, the exit is still 1.
	code, stdout, _ = run(t, "validate", "testdata/policy.yaml", "testdata/bad_policy.yaml")
	if code != exitFail || !strings.Contains(stdout, "policy.yaml: ok") {
		t.Errorf("mixed: %d %q", code, stdout)
	}
	if code, _, stderr := run(t, "validate"); code != exitUsage || !strings.Contains(stderr, "usage") {
		t.Errorf("no file: %d", code)
	}
	if code, _, stderr := run(t, "validate", "testdata/none.yaml"); code != exitFail || !strings.Contains(stderr, "none.yaml") {
		t.Errorf("missing file: %d %q", code, stderr)
	}
}

func TestCheck(t *testing.T) {
	p := "testdata/policy.yaml"
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"allow", []string{"--policy", p, "--claims", `{"sub":"usr_1","oid":"org_1"}`, "GET", "/orgs/org_1/documents/doc123"}, exitOK},
		{"allow_flags_after", []string{"GET", "https://api.example.com:8443/book/dune/download", "--policy", p, "--claims", `{"sub":"u","scope":"book-dune"}`}, exitOK},
		{"public", []string{"--policy", p, "GET", "/healthz"}, exitOK},
		// Methods are taken as written, as the server takes them: a lower-case
		// one is refused, not upper-cased into a match.
		{"deny_lowercase_method", []string{"--policy", p, "get", "/healthz"}, exitFail},
		{"deny_mixed_case_method", []string{"--policy", p, "--claims", `{"sub":"usr_2","oid":"org_1"}`, "Delete", "/orgs/org_1/documents/doc1"}, exitFail},
		{"deny_tenant", []string{"--policy", p, "--claims", `{"sub":"usr_3","oid":"org_2","roles":["editor"]}`, "GET", "/orgs/org_1/documents/doc123"}, exitFail},
		{"deny_tenant_config_403", []string{"--config", "testdata/server.yaml", "--claims", `{"sub":"usr_3","oid":"org_2"}`, "GET", "/orgs/org_1/documents/doc123"}, exitFail},
		{"deny_scope", []string{"--policy", p, "--claims", `{"sub":"usr_2","oid":"org_1"}`, "PUT", "/orgs/org_1/documents/doc1"}, exitFail},
		{"deny_no_token", []string{"--policy", p, "GET", "/blog/admin/x"}, exitFail},
		{"deny_bad_path", []string{"--policy", p, "GET", "/blog/admin/../posts/x"}, exitFail},
		{"deny_no_route", []string{"--policy", p, "--claims", `{"sub":"u"}`, "GET", "/nowhere"}, exitFail},
		{"deny_condition", []string{"--policy", p, "--claims", `{"sub":"usr_4","scope":"read:reports"}`, "GET", "/reports/finance/q1"}, exitFail},
		{"named_route", []string{"--policy", p, "--context", "edgeauthz_route=builds", "--claims", `{"sub":"u","scope":"read:builds"}`, "GET", "/builds/1/log"}, exitOK},
		{"header_and_body", []string{"--policy", p, "--header", "X-Y=1", "--body", "{}", "--claims", `{"sub":"u","scope":"posts:create"}`, "POST", "/blog/posts"}, exitOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", code, c.code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr %q", stderr)
			}
			golden(t, "check_"+c.name, stdout)
		})
	}
}

func TestCheckUsage(t *testing.T) {
	p := "testdata/policy.yaml"
	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no args", nil, "want METHOD URL"},
		{"one arg", []string{"--policy", p, "GET"}, "want METHOD URL"},
		{"no policy", []string{"GET", "/a"}, "exactly one of --config and --policy"},
		{"both sources", []string{"--policy", p, "--config", "testdata/server.yaml", "GET", "/a"}, "exactly one of"},
		{"token and claims", []string{"--policy", p, "--token", "x", "--claims", "{}", "GET", "/a"}, "not both"},
		{"bad claims", []string{"--policy", p, "--claims", "{", "GET", "/a"}, "--claims"},
		{"bad URL", []string{"--policy", p, "GET", "example.com/a"}, "want /path or scheme://host/path"},
		{"token without config", []string{"--policy", p, "--token", "x", "GET", "/a"}, "--token needs --config"},
		{"unknown flag", []string{"--nope", "GET", "/a"}, "flag provided but not defined"},
		{"bad header", []string{"--policy", p, "--header", "novalue", "GET", "/a"}, "want K=V"},
		{"bad policy", []string{"--policy", "testdata/bad_policy.yaml", "GET", "/a"}, "bad_policy.yaml:2:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d stdout %q stderr %q, want 2 and %q", code, stdout, stderr, c.msg)
			}
		})
	}
}

// countCases counts a test file's cases, so the expected summary follows the
// file when cases are added.
func countCases(t *testing.T, file string) int {
	t.Helper()
	tf, err := config.LoadTestFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return len(tf.Cases)
}

func TestTestExample(t *testing.T) {
	file := "../../examples/policy_test.yaml"
	n := countCases(t, file)
	code, stdout, stderr := run(t, "test", file)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	want := fmt.Sprintf("%d passed, 0 failed", n)
	if code != exitOK || stderr != "" || len(lines) != 1 || lines[0] != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want the one line %q", code, stdout, stderr, want)
	}
	code, stdout, _ = run(t, "test", "-v", file)
	if code != exitOK || strings.Count(stdout, "\nok   ")+1 != n || !strings.HasSuffix(stdout, want+"\n") {
		t.Errorf("-v: %d %q", code, stdout)
	}
}

func TestTestFailing(t *testing.T) {
	file := "testdata/failing_test.yaml"
	n := countCases(t, file)
	code, stdout, _ := run(t, "test", file)
	if code != exitFail {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.HasSuffix(stdout, fmt.Sprintf("%d passed, %d failed\n", n-2, 2)) {
		t.Errorf("summary: %q", stdout)
	}
	for _, w := range []string{
		"FAIL testdata/failing_test.yaml:6: wrongly expects an allow\n     allow: want true, got false",
		"FAIL testdata/failing_test.yaml:10: wrongly expects a 403\n     status: want 403, got 401",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	golden(t, "test_failing", stdout)

	// Two files: counts add up.
	ex := "../../examples/policy_test.yaml"
	code, stdout, _ = run(t, "test", file, ex)
	if want := fmt.Sprintf("%d passed, 2 failed\n", n-2+countCases(t, ex)); code != exitFail || !strings.HasSuffix(stdout, want) {
		t.Errorf("two files: %d %q, want %q", code, stdout, want)
	}
	if code, _, _ := run(t, "test"); code != exitUsage {
		t.Errorf("no files: exit %d", code)
	}
	code, stdout, _ = run(t, "test", "testdata/none_test.yaml")
	if code != exitFail || !strings.HasSuffix(stdout, "0 passed, 1 failed\n") {
		t.Errorf("missing file: %d %q", code, stdout)
	}
}

// TestTestMethodsAsTheServer: policy tests decide methods as the server and
// check do, so a lower-case method is a 400 there too, not an upper-cased
// match.
func TestTestMethodsAsTheServer(t *testing.T) {
	dir := t.TempDir()
	policy, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "policy.yaml"), string(policy))
	writeTestFile(t, filepath.Join(dir, "methods_test.yaml"), `policy: policy.yaml
cases:
  - name: lower-case delete
    claims: {sub: usr_2, oid: org_1}
    request: {method: delete, path: /orgs/org_1/documents/doc1}
    expect: {status: 400, reason: bad_request}
  - name: mixed-case get of a public route
    request: {method: Get, path: /healthz}
    expect: {status: 400, reason: bad_request}
  - name: upper-case get of a public route
    request: {method: GET, path: /healthz}
    expect: {allow: true}
`)
	code, stdout, stderr := run(t, "test", filepath.Join(dir, "methods_test.yaml"))
	if code != exitOK || !strings.HasSuffix(stdout, "3 passed, 0 failed\n") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
