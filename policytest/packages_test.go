package policytest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/policytest"
)

// The two-team mesh example: the whole set, and each package alone
// against the base, pass their tests.
func TestRunFilesMeshExample(t *testing.T) {
	files, err := filepath.Glob("../examples/mesh/*_test.yaml")
	if err != nil || len(files) != 3 {
		t.Fatalf("mesh tests: %v %v", files, err)
	}
	want := 0
	for _, f := range files {
		tf, err := config.LoadTestFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want += len(tf.Cases)
	}
	sum := policytest.RunFiles(context.Background(), files, policytest.Options{})
	if sum.Passed != want || sum.Failed != 0 {
		t.Errorf("%s; failures %v", sum.Line(), sum.Failures)
	}
}

// A package expectation that does not hold fails the case.
func TestPackageExpectation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "t.yaml")
	writeFile(t, file, "policy: "+abs(t, "../examples/mesh/policy")+`
cases:
  - name: wrong package
    claims: {sub: usr_1}
    request: {method: GET, host: api.example.com, path: /documents/doc1}
    expect: {allow: true, package: payments}
`)
	sum := policytest.RunFiles(context.Background(), []string{file}, policytest.Options{})
	if sum.Failed != 1 {
		t.Fatalf("%s", sum.Line())
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
