package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

const docsStore = "../../policytest/testdata/fga/docs.fga.yaml"

// TestTestStoreFiles: `edgeauthz test` runs OpenFGA store files as they
// are, mixed with policy test files, in one summary.
func TestTestStoreFiles(t *testing.T) {
	files, _ := filepath.Glob("../../policytest/testdata/fga/*.fga.yaml")
	if len(files) < 3 {
		t.Fatalf("store files: %v", files)
	}
	code, stdout, stderr := run(t, append([]string{"test"}, files...)...)
	if code != exitOK || stderr != "" || !strings.HasSuffix(stdout, " passed, 0 failed\n") || strings.HasPrefix(stdout, "0 passed") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "test", "../../policytest/testdata/fga/bad/failing_store.yaml")
	if code != exitFail || !strings.Contains(stdout, "FAIL ../../policytest/testdata/fga/bad/failing_store.yaml:20: right and wrong: check user:bob doc:1#viewer\n     want true, got false") || !strings.HasSuffix(stdout, "2 passed, 2 failed\n") {
		t.Errorf("failing store file: exit %d\n%s", code, stdout)
	}
	// A model file outside the store file's folder: refused unless allowed.
	code, stdout, _ = run(t, "test", "../../policytest/testdata/fga/bad/escape.fga.yaml")
	if code != exitFail || !strings.Contains(stdout, "path escapes") {
		t.Errorf("escape: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "test", "--allow-external-files", "../../policytest/testdata/fga/bad/escape.fga.yaml")
	if code != exitFail || strings.Contains(stdout, "path escapes") || !strings.Contains(stdout, "model") {
		t.Errorf("escape allowed: exit %d\n%s", code, stdout)
	}
}

func TestListObjectsCommand(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"store file", []string{"--policy", docsStore, "--type", "document", "--relation", "viewer", "--user", "user:bob"}, exitOK, "document:design\ndocument:handbook\ndocument:ui\n", ""},
		{"contextual tuple", []string{"--policy", docsStore, "--type", "document", "--relation", "editor", "--user", "user:gil", "--tuple", "group:fe#member@user:gil"}, exitOK, "document:ui\n", ""},
		// The bundled policy has a public folder: anybody views the handbook.
		{"policy file", []string{"--policy", "../../examples/policy.yaml", "--type", "document", "--relation", "viewer", "--user", "user:nobody-at-all"}, exitOK, "document:handbook\n", ""},
		{"limit", []string{"--policy", docsStore, "--type", "document", "--relation", "viewer", "--user", "user:bob", "--max", "2"}, exitFail, "", "truncated after 2 results: rebac: result limit reached\n"},
		{"unknown type", []string{"--policy", docsStore, "--type", "nope", "--relation", "viewer", "--user", "user:bob"}, exitUsage, "", "edgeauthz list-objects: rebac: invalid check: type \"nope\" is not in the model\n"},
		{"missing flags", []string{"--policy", docsStore}, exitUsage, "", "edgeauthz list-objects: want --policy FILE --type TYPE --relation REL --user USER\n"},
		{"bad context", []string{"--policy", docsStore, "--type", "document", "--relation", "viewer", "--user", "user:bob", "--context", "[1]"}, exitUsage, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"list-objects"}, c.args...)...)
			if code != c.code || (c.code != exitFail && stdout != c.stdout) || (c.stderr != "" && stderr != c.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, c.code, c.stdout, c.stderr)
			}
			if c.code == exitFail && len(strings.Split(strings.TrimSpace(stdout), "\n")) != 2 {
				t.Errorf("a limit of 2 printed %q", stdout)
			}
		})
	}
}

func TestListUsersCommand(t *testing.T) {
	code, stdout, stderr := run(t, "list-users", "--policy", docsStore, "--object", "document:design", "--relation", "viewer",
		"--filter", "user", "--filter", "group#member", "--json")
	var got struct {
		Users     []string `json:"users"`
		Truncated bool     `json:"truncated"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q, %v", code, stdout, stderr, err)
	}
	want := "group:eng#member group:fe#member user:anne user:bob user:carl"
	if strings.Join(got.Users, " ") != want || got.Truncated {
		t.Errorf("users %v (truncated %v), want %s", got.Users, got.Truncated, want)
	}
	code, stdout, _ = run(t, "list-users", "--policy", "../../policytest/testdata/fga/grants.fga.yaml", "--object", "document:intranet", "--relation", "viewer",
		"--filter", "user", "--context", `{"user_ip": "10.0.0.7"}`)
	if code != exitOK || stdout != "user:*\n" {
		t.Errorf("with context: exit %d, %q", code, stdout)
	}
	code, _, stderr = run(t, "list-users", "--policy", "../../policytest/testdata/fga/grants.fga.yaml", "--object", "document:intranet", "--relation", "viewer", "--filter", "user")
	if code != exitUsage || !strings.Contains(stderr, "user_ip") {
		t.Errorf("missing context parameter: exit %d, %q", code, stderr)
	}
	if code, _, _ := run(t, "list-users", "--policy", docsStore, "--object", "document:design", "--relation", "viewer"); code != exitUsage {
		t.Errorf("no filter: exit %d", code)
	}
}
