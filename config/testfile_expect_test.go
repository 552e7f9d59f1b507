package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

// TestContradictoryExpectation: a case that expects an allow with a deny
// status can never pass; it is a mistake in the test file.
func TestContradictoryExpectation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.yaml")
	body := "policy: p.yaml\ncases:\n  - name: c\n    request: {path: /x}\n    expect: {allow: true, status: 401}\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadTestFile(path)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3:") || !strings.Contains(err.Error(), "contradicts") {
		t.Fatalf("got %v", err)
	}
}
