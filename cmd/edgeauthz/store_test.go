package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/internal/pgtest"
)

// TestPublishAndTuples drives publish and tuples against a real PostgreSQL.
func TestPublishAndTuples(t *testing.T) {
	dsn := pgtest.Start(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("routes:\n  - name: r\n    match: GET /{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	policy, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	badTuples := filepath.Join(t.TempDir(), "bad-tuples.yaml")
	if !strings.Contains(string(policy), "\ntuples:\n") {
		t.Fatal("examples/policy.yaml has no tuples: list to add to")
	}
	withBad := strings.Replace(string(policy), "\ntuples:\n", "\ntuples:\n  - document:a!b#viewer@user:ann\n", 1)
	if err := os.WriteFile(badTuples, []byte(withBad), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"tuples before any policy", []string{"tuples", "write", "--store", dsn, "document:d#viewer@user:a"}, exitFail, "no policy is published"},
		{"publish", []string{"publish", "--store", dsn, "../../examples/policy.yaml"}, exitOK, "as revision 1"},
		{"publish refuses an invalid policy", []string{"publish", "--store", dsn, bad}, exitFail, "not published"},
		{"write", []string{"tuples", "write", "--store", dsn, "document:d9#viewer@user:ann", "team:eng#member@user:bob"}, exitOK, "wrote 2 of 2"},
		{"write again changes nothing", []string{"tuples", "write", "--store", dsn, "document:d9#viewer@user:ann"}, exitOK, "wrote 0 of 1"},
		{"a tuple the model cannot hold", []string{"tuples", "write", "--store", dsn, "invoice:i1#viewer@user:ann"}, exitFail, "does not fit the model"},
		{"a malformed tuple", []string{"tuples", "write", "--store", dsn, "nonsense"}, exitFail, "nonsense"},
		// One tuple syntax with the edges: what they would skip is refused here.
		{"an id past the engine's limit", []string{"tuples", "write", "--store", dsn, "document:" + strings.Repeat("a", 300) + "#viewer@user:ann"}, exitFail, "malformed object"},
		{"an id with a character the engine refuses", []string{"tuples", "write", "--store", dsn, "document:a!b#viewer@user:ann"}, exitFail, "malformed object"},
		{"publish refuses a malformed tuple in the policy", []string{"publish", "--store", dsn, badTuples}, exitFail, "not published"},
		{"delete", []string{"tuples", "delete", "--store", dsn, "document:d9#viewer@user:ann"}, exitOK, "deleted 1 of 1"},
		{"usage", []string{"tuples", "frob", "--store", dsn, "x"}, exitUsage, "usage"},
	}
	for _, s := range steps {
		code, out, errOut := run(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.out) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want %d and %q", s.name, code, out, errOut, s.code, s.out)
		}
	}
}

// TestPublishModularAndConditionalTuples publishes a modular model (its
// modules go inline) and writes conditional tuples.
func TestPublishModularAndConditionalTuples(t *testing.T) {
	dsn := pgtest.Start(t)
	steps := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"publish a modular policy", []string{"publish", "--store", dsn, "../../examples/relationships/modular/policy.yaml"}, exitOK, "as revision 1"},
		{"a conditional tuple", []string{"tuples", "write", "--store", dsn, `space:wiki#reader@user:* with published {"publish_at": "2027-01-01T00:00:00Z"}`}, exitOK, "wrote 1 of 1"},
		{"the same tuple with another context replaces it", []string{"tuples", "write", "--store", dsn, `space:wiki#reader@user:* with published {"publish_at": "2028-01-01T00:00:00Z"}`}, exitOK, "wrote 1 of 1"},
		{"an unknown condition", []string{"tuples", "write", "--store", dsn, `space:wiki#reader@user:* with nope`}, exitFail, `no condition "nope"`},
		{"a context key that is no parameter", []string{"tuples", "write", "--store", dsn, `space:wiki#reader@user:* with published {"when": 1}`}, exitFail, "not a parameter"},
		{"a wildcard without its condition", []string{"tuples", "write", "--store", dsn, `space:wiki#reader@user:*`}, exitFail, "needs a condition"},
		{"delete by key", []string{"tuples", "delete", "--store", dsn, `space:wiki#reader@user:*`}, exitOK, "deleted 1 of 1"},
	}
	for _, s := range steps {
		code, out, errOut := run(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.out) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want %d and %q", s.name, code, out, errOut, s.code, s.out)
		}
	}
}
