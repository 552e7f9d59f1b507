package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/internal/pgtest"
)

// The publish flow of a two-team mesh against a real PostgreSQL: each
// package on its own, conflicts refused at publish time naming both sides,
// writers scoped to their package.
func TestPublishPackages(t *testing.T) {
	dsn := pgtest.Start(t)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mesh := "../../examples/mesh/policy/"
	archive := file("archive.yaml", `package: archive
owns: {hosts: [api.example.com], paths: [/documents/archive]}
routes:
  - name: archive-read
    match: GET api.example.com/documents/archive/{id}
    roles: [viewer]
`)
	noEditor := file("base-no-editor.yaml", strings.Replace(mustRead(t, mesh+"base.yaml"), "  editor:   {inherits: [viewer], permissions: [write]}\n", "", 1))
	badPayments := file("payments-bad.yaml", strings.Replace(mustRead(t, mesh+"payments.yaml"), "roles: [payer]", "roles: [payr]", 1))

	steps := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"a package before any base", []string{"publish", "--store", dsn, "--package", "payments", mesh + "payments.yaml"}, exitFail, "publish the base first"},
		{"the base", []string{"publish", "--store", dsn, mesh + "base.yaml"}, exitOK, "as revision 1"},
		{"payments", []string{"publish", "--store", dsn, "--package", "payments", mesh + "payments.yaml"}, exitOK, "as package payments revision 2"},
		{"documents", []string{"publish", "--store", dsn, "--package", "documents", mesh + "documents.yaml"}, exitOK, "as package documents revision 3"},
		{"a file of another package", []string{"publish", "--store", dsn, "--package", "payments", mesh + "documents.yaml"}, exitFail, `the file is package "documents", not "payments"`},
		{"a package that claims documents' space", []string{"publish", "--store", dsn, "--package", "archive", archive}, exitFail, `package "documents"`},
		{"a package that does not compile with the base", []string{"publish", "--store", dsn, "--package", "payments", badPayments}, exitFail, `unknown role "payr"`},
		{"a base that breaks documents", []string{"publish", "--store", dsn, noEditor}, exitFail, `unknown role "editor"`},
		{"add a payments writer", []string{"writers", "add", "--store", dsn, "--name", "payments-ci", "--scopes", "payments", "--out", filepath.Join(dir, "payments.token")}, exitOK, "added writer payments-ci"},
		{"the payments writer publishes payments", []string{"publish", "--store", dsn, "--package", "payments", "--credential", filepath.Join(dir, "payments.token"), mesh + "payments.yaml"}, exitOK, "as package payments revision 4"},
		{"the payments writer may not publish documents", []string{"publish", "--store", dsn, "--package", "documents", "--credential", filepath.Join(dir, "payments.token"), mesh + "documents.yaml"}, exitFail, "writer payments-ci may not publish package documents"},
		{"nor the base", []string{"publish", "--store", dsn, "--credential", filepath.Join(dir, "payments.token"), mesh + "base.yaml"}, exitFail, "may not publish the base"},
		{"remove the writer", []string{"writers", "remove", "--store", dsn, "--name", "payments-ci"}, exitOK, "removed"},
		{"its token is dead", []string{"publish", "--store", dsn, "--package", "payments", "--credential", filepath.Join(dir, "payments.token"), mesh + "payments.yaml"}, exitFail, "unknown credential"},
	}
	for _, s := range steps {
		code, out, errOut := run(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.out) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want %d and %q", s.name, code, out, errOut, s.code, s.out)
		}
		if s.name == "a package that claims documents' space" && !strings.Contains(errOut, `package "archive"`) {
			t.Fatalf("the refusal names one side only: %s", errOut)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A policy directory becomes one signed set bundle, which validate and
// check read like a policy file.
func TestBundlePolicyDirectory(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := run(t, "keygen", "--out", filepath.Join(dir, "keys")); code != exitOK {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "public")
	code, stdout, stderr := run(t, "bundle", "--key", filepath.Join(dir, "keys", "private.pem"), "--out", out, "../../examples/mesh/policy")
	if code != exitOK || !strings.Contains(stdout, "policy.json") {
		t.Fatalf("bundle: %d %s %s", code, stdout, stderr)
	}
	set := filepath.Join(out, "policy.json")
	code, stdout, stderr = run(t, "validate", "--signing-key", filepath.Join(dir, "keys", "jwks.json"), set)
	if code != exitOK || !strings.Contains(stdout, "packages documents, payments") {
		t.Fatalf("validate: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "check", "--policy", set, "--claims", `{"sub":"u","roles":["payer"]}`, "POST", "https://pay.example.com/charges")
	if code != exitOK {
		t.Fatalf("check: %d %s %s", code, stdout, stderr)
	}
	if err := os.WriteFile(set, []byte(strings.Replace(mustRead(t, set), "payer", "payr", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "validate", "--signing-key", filepath.Join(dir, "keys", "jwks.json"), set); code != exitFail || !strings.Contains(stderr, "signature") {
		t.Fatalf("an edited set bundle: %d %s", code, stderr)
	}
}
