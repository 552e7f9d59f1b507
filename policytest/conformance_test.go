package policytest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeauthz/edgeauthz/policytest"
)

// TestOpenFGAConformance runs OpenFGA's consolidated check matrix, converted
// to policy test files, which sits beside the repository in CI.
func TestOpenFGAConformance(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "conformance", "openfga", "*.test.yaml"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("../shared/conformance/openfga is missing; CI must run the conformance matrix")
		}
		t.Skip("no ../shared/conformance/openfga beside the repository")
	}
	sum := policytest.RunFiles(context.Background(), files, policytest.Options{})
	for _, f := range sum.Failures {
		t.Errorf("%s:%d: %s: %v", f.File, f.Line, f.Name, f.Err)
	}
	if sum.Passed == 0 {
		t.Fatal("no case ran")
	}
	t.Log(sum.Line())
}

func TestBundledExample(t *testing.T) {
	sum := policytest.RunFiles(context.Background(), []string{"../examples/policy_test.yaml"}, policytest.Options{})
	for _, f := range sum.Failures {
		t.Errorf("%s:%d: %s: %v", f.File, f.Line, f.Name, f.Err)
	}
	if sum.Passed < 30 {
		t.Fatalf("only %d cases passed", sum.Passed)
	}
}

// TestRelationshipExamples runs the relationship examples: conditions
// (temporal access, an IP allow-list, entitlements with quotas) and a
// modular model.
func TestRelationshipExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "examples", "relationships", "*_test.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "examples", "relationships", "*", "*_test.yaml"))
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	sum := policytest.RunFiles(context.Background(), files, policytest.Options{})
	for _, f := range sum.Failures {
		t.Errorf("%s:%d: %s: %v", f.File, f.Line, f.Name, f.Err)
	}
	if sum.Passed < 30 {
		t.Fatalf("only %d cases passed", sum.Passed)
	}
}
