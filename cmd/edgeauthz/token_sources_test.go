package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

// TestCheckFindsTokensAsTheServerDoes: a token given as a header or cookie
// is verified and decided exactly as --token is.
func TestCheckFindsTokensAsTheServerDoes(t *testing.T) {
	dir := t.TempDir()
	if _, err := identity.WriteKeyPair(filepath.Join(dir, "keys"), "ES256"); err != nil {
		t.Fatal(err)
	}
	policy := "routes:\n  - name: me\n    match: GET /me\n"
	cfg := "policy: {source: policy.yaml}\ntokens:\n  cookie: session\n  issuers:\n    - issuer: https://issuer.test\n      jwks_file: keys/jwks.json\n"
	for name, body := range map[string]string{"policy.yaml": policy, "config.yaml": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pem, err := os.ReadFile(filepath.Join(dir, "keys", "private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.Mint(pem, map[string]any{"iss": "https://issuer.test", "sub": "ann"}, time.Hour, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, err := identity.Mint(pem, map[string]any{"iss": "https://issuer.test", "sub": "ann"}, time.Minute, "", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config.yaml")
	for _, c := range []struct {
		name     string
		args     []string
		code     int
		want     string
		tokenErr string // the "token error:" line's code; "" when none is printed
	}{
		{"flag", []string{"--token", tok}, exitOK, "ALLOW 200 allowed", ""},
		{"header", []string{"--header", "Authorization=Bearer " + tok}, exitOK, "ALLOW 200 allowed", ""},
		{"cookie", []string{"--header", "Cookie=session=" + tok}, exitOK, "ALLOW 200 allowed", ""},
		{"two authorization values", []string{"--header", "Authorization=Bearer " + tok + ", Bearer " + tok}, exitFail, "DENY 401 invalid_token", "malformed"},
		{"expired", []string{"--token", expired}, exitFail, "DENY 401 invalid_token", "expired"},
		{"tampered", []string{"--token", tok[:len(tok)-4] + "AAAA"}, exitFail, "DENY 401 invalid_token", "bad_signature"},
		{"none", nil, exitFail, "DENY 401 no_token", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"check", "--config", conf}, c.args...)
			code, out, errOut := run(t, append(args, "GET", "/me")...)
			if code != c.code || !strings.HasPrefix(out, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d %q", code, out, errOut, c.code, c.want)
			}
			if printed := strings.Contains(out, "token error:"); c.tokenErr == "" && printed ||
				c.tokenErr != "" && !strings.Contains(out, "token error: "+c.tokenErr+"\n") {
				t.Errorf("stdout %q: want token error %q", out, c.tokenErr)
			}
		})
	}
}
