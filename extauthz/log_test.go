package extauthz_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecisionLogBoundsFields: every field a caller controls (the path, the
// method, the token's subject and org) is cut to decision_log.max_field_bytes
// at a UTF-8 boundary and named in "truncated"; the line stays valid JSON and
// its size no longer follows the request's.
func TestDecisionLogBoundsFields(t *testing.T) {
	const max = 64
	a, _, _ := testKeys(t)
	logPath := filepath.Join(t.TempDir(), "decisions.jsonl")
	h := start(t, harnessOptions{policy: testPolicy(t),
		extra: fmt.Sprintf("decision_log: {output: %q, sample_allows: 1.0, max_field_bytes: %d}\n", logPath, max)})

	longPath := "/orgs/org_1/documents/" + strings.Repeat("é", 400_000) // 800 KB, two bytes a rune
	longSub := "usr_" + strings.Repeat("日", 1_000)                      // three bytes a rune
	longOrg := strings.Repeat("o", 1_000)
	cases := []struct {
		r    req
		want map[string]string // field → the value it was cut from
	}{
		{req{path: longPath, headers: bearer(mint(t, a, validClaims()))}, map[string]string{"path": longPath}},
		{req{method: strings.Repeat("M", 3_000), path: docPath}, map[string]string{"method": strings.Repeat("M", 3_000)}},
		{req{path: docPath, headers: bearer(mint(t, a, with(validClaims(), "sub", longSub, "oid", longOrg)))},
			map[string]string{"sub": longSub, "org": longOrg}},
		{req{path: docPath, headers: bearer(mint(t, a, validClaims()))}, nil},
	}
	for _, c := range cases {
		h.check(c.r)
	}
	h.stop() // flushes the log

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d lines for %d requests", len(lines), len(cases))
	}
	for i, line := range lines {
		// Nine bounded fields, each escaped at most six-fold, and the rest.
		if len(line) > 9*6*max+512 {
			t.Errorf("line %d is %d bytes", i, len(line))
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		var truncated []string
		if tr, ok := e["truncated"].([]any); ok {
			for _, f := range tr {
				truncated = append(truncated, f.(string))
			}
		} else if e["truncated"] != nil {
			t.Errorf("line %d: truncated is %v", i, e["truncated"])
		}
		var want []string
		for f, full := range cases[i].want {
			want = append(want, f)
			got, _ := e[f].(string)
			if len(got) > max || len(got) < max-utf8.UTFMax || !utf8.ValidString(got) || !strings.HasPrefix(full, got) {
				t.Errorf("line %d: %s is %q (%d bytes); want a prefix of at most %d bytes on a rune boundary", i, f, got, len(got), max)
			}
		}
		slices.Sort(want)
		slices.Sort(truncated)
		if !slices.Equal(truncated, want) {
			t.Errorf("line %d: truncated %v, want %v\n%s", i, truncated, want, line)
		}
	}
}
