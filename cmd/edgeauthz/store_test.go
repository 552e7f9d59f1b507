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
