package extauthz_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordedInputsNeverHoldTheToken runs a server whose token header is
// configured in upper case and whose policy reads every header, records
// inputs, and sends the token through both doors (the gRPC map in the case
// Envoy uses and in others, the HTTP door as a client writes it); the
// decision log must not hold the token or any other credential anywhere.
func TestRecordedInputsNeverHoldTheToken(t *testing.T) {
	const policy = `
roles:
  viewer: {}
routes:
  - name: level
    match: GET /l
    roles: [viewer]
    when: 'request.headers["x-level"] == "high"'
`
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: []byte(policy), tokens: "  header: X-Token\n",
		extra: "decision_log: {output: decisions.jsonl, sample_allows: 1, record_inputs: true}\n"})
	tok := mint(t, a, map[string]any{"sub": "usr_v", "oid": "org_1", "roles": []string{"viewer"}})
	const other = "c2VjcmV0LWNyZWRlbnRpYWw"
	for _, c := range []struct {
		name    string
		headers map[string]string
		allow   bool
	}{
		{"token header as Envoy sends it", map[string]string{"x-token": tok, "x-level": "high"}, true},
		{"token header in another case", map[string]string{"X-Token": tok, "x-level": "high"}, false},
		{"credentials in other cases", map[string]string{"x-token": tok, "x-level": "high",
			"Authorization": "Bearer " + other, "Proxy-Authorization": "Basic " + other, "Cookie": "s=" + other}, true},
	} {
		if ok := h.check(req{path: "/l", headers: c.headers}).GetOkResponse() != nil; ok != c.allow {
			t.Fatalf("gRPC %s: allowed %v, want %v", c.name, ok, c.allow)
		}
	}
	for _, name := range []string{"X-Token", "x-token"} {
		hr, err := http.NewRequest("GET", h.base+"/authz/l", nil)
		if err != nil {
			t.Fatal(err)
		}
		hr.Header[name] = []string{tok}
		hr.Header.Set("X-Level", "high")
		hr.Header.Set("Proxy-Authorization", "Basic "+other)
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("HTTP with %s: status %d, want 200", name, res.StatusCode)
		}
	}
	h.stop() // flushes the log
	b, err := os.ReadFile(filepath.Join(h.dir, "decisions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"input":`); n != 5 {
		t.Fatalf("%d lines with inputs, want 5:\n%s", n, b)
	}
	for _, secret := range []string{tok, strings.Split(tok, ".")[2], other} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("the decision log holds a credential:\n%s", b)
		}
	}
	if !strings.Contains(string(b), `"withheld":["x-token"]`) {
		t.Errorf("no line names x-token as withheld:\n%s", b)
	}
}
