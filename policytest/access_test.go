package policytest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/policytest"
)

// TestAuthZENCases runs the shipped AuthZEN examples' test files, and
// checks that a wrong expectation fails.
func TestAuthZENCases(t *testing.T) {
	files := []string{"../examples/authzen/todo/policy_test.yaml", "../examples/authzen/gateway/policy_test.yaml"}
	sum := policytest.RunFiles(context.Background(), files, policytest.Options{})
	if sum.Failed != 0 || sum.Passed < 10 {
		t.Fatalf("%s: %+v", sum.Line(), sum.Failures)
	}
	dir := t.TempDir()
	policy, err := os.ReadFile("../examples/authzen/todo/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o644)
	wrong := `policy: policy.yaml
cases:
  - name: wrong
    authzen: {subject: "user:CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs", action: can_create_todo, resource: "todo:1"}
    expect: {allow: true}
`
	_ = os.WriteFile(filepath.Join(dir, "wrong_test.yaml"), []byte(wrong), 0o644)
	sum = policytest.RunFiles(context.Background(), []string{filepath.Join(dir, "wrong_test.yaml")}, policytest.Options{})
	if sum.Failed != 1 || !strings.Contains(sum.Failures[0].Err.Error(), "allow") {
		t.Errorf("a wrong expectation passed: %+v", sum)
	}
	bad := "policy: policy.yaml\ncases:\n  - name: bad\n    authzen: {subject: nocolon, action: a, resource: \"t:1\"}\n    expect: {allow: true}\n"
	_ = os.WriteFile(filepath.Join(dir, "bad_test.yaml"), []byte(bad), 0o644)
	sum = policytest.RunFiles(context.Background(), []string{filepath.Join(dir, "bad_test.yaml")}, policytest.Options{})
	if sum.Failed == 0 || !strings.Contains(sum.Failures[0].Err.Error(), "TYPE:ID") {
		t.Errorf("a malformed authzen case loaded: %+v", sum)
	}
}
