package main

import (
	"strings"
	"testing"
)

// TestValidateRefusesDroppedContent: validate refuses, at its file and line,
// content the decoder would otherwise drop without a word.
func TestValidateRefusesDroppedContent(t *testing.T) {
	const route = "routes:\n  - name: health\n    match: GET /healthz\n    public: true\n"
	for _, c := range []struct {
		name, policy, want string
	}{
		{"a second document", route + "---\nroutes: []\n", "policy.yaml:5: a second YAML document starts here"},
		{"a null route", route + "  - null\n", "policy.yaml:5: routes: an empty (null) list item"},
		{"an empty route item", route + "  -\n", "policy.yaml:5: routes: an empty (null) list item"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "policy.yaml", c.policy)
			code, stdout, stderr := run(t, "validate", path)
			if code != exitFail || !strings.Contains(stderr, c.want) {
				t.Errorf("validate: %d %q %q, want a failure with %q", code, stdout, stderr, c.want)
			}
		})
	}
}
