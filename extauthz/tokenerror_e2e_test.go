package extauthz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokenErrorCodes: a refused token's error code is a label of
// edgeauthz_decisions_total and a field of the decision-log line.
func TestTokenErrorCodes(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t), extra: "decision_log: {output: decisions.jsonl}\n"})
	now := time.Now()
	for tok, code := range map[string]string{
		mint(t, a, with(validClaims(), "iat", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-time.Hour).Unix())): "expired",
		mint(t, a, with(validClaims(), "aud", "other")):                                                         "bad_audience",
		"garbage": "malformed",
	} {
		assertDenied401(t, h, req{path: docPath, headers: bearer(tok)}, "invalid_token")
		want := `edgeauthz_decisions_total{decision="deny",reason="invalid_token",token_error="` + code + `"} 1`
		if m := h.metricsText(); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	assertDenied401(t, h, req{path: docPath}, "no_token")
	if m := h.metricsText(); !strings.Contains(m, `edgeauthz_decisions_total{decision="deny",reason="no_token",token_error=""} 1`) {
		t.Error("no_token is not counted with an empty token_error")
	}

	codes := map[string]bool{}
	h.waitFor("four decision-log lines", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.dir, "decisions.jsonl"))
		return strings.Count(string(b), "\n") >= 4
	})
	b, err := os.ReadFile(filepath.Join(h.dir, "decisions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			Reason     string `json:"reason"`
			TokenError string `json:"token_error"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if (e.Reason == "invalid_token") != (e.TokenError != "") {
			t.Errorf("line %s: token_error %q with reason %s", line, e.TokenError, e.Reason)
		}
		codes[e.TokenError] = true
	}
	for _, c := range []string{"expired", "bad_audience", "malformed"} {
		if !codes[c] {
			t.Errorf("no decision-log line with token_error %q", c)
		}
	}
}

func (h *harness) metricsText() string {
	h.t.Helper()
	res, err := http.Get(h.base + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}
