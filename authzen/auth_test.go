package authzen_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/edgetest"
)

// TestBearerTokenCallers admits tokens of the configured issuer that carry
// the required scope or role, and refuses every other credential with 401.
func TestBearerTokenCallers(t *testing.T) {
	policy, err := os.ReadFile(filepath.Join("..", "examples", "authzen", "todo", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := edgetest.NewKey(t, "ES256")
	es := edgetest.Start(t, edgetest.Options{
		Policy: policy,
		Files:  map[string][]byte{"keys/jwks.json": key.JWKS},
		Key:    &key,
		Config: `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml}
decision_log: {output: "off"}
tokens:
  issuers: [{issuer: https://idp.test, audiences: [pdp], jwks_file: keys/jwks.json}]
authzen:
  enabled: true
  required_scopes: [authzen:evaluate]
  required_roles: [pep]
`,
	})
	srv, priv := es.Srv, key.PEM
	mint := func(claims map[string]any) string {
		c := map[string]any{"iss": "https://idp.test", "aud": "pdp", "sub": "todo-backend"}
		for k, v := range claims {
			c[k] = v
		}
		tok, err := identity.Mint(priv, c, time.Hour, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name, auth string
		status     int
	}{
		{"required scope", "Bearer " + mint(map[string]any{"scope": "openid authzen:evaluate"}), 200},
		{"required role", "Bearer " + mint(map[string]any{"roles": []any{"pep"}}), 200},
		{"neither scope nor role", "Bearer " + mint(map[string]any{"scope": "openid"}), 401},
		{"another audience", "Bearer " + mint(map[string]any{"aud": "other", "scope": "authzen:evaluate"}), 401},
		{"expired", "Bearer " + mint(map[string]any{"scope": "authzen:evaluate", "exp": time.Now().Add(-time.Hour).Unix()}), 401},
		{"garbage", "Bearer a.b.c", 401},
		{"no API keys are configured", "Bearer dev-key", 401},
		{"basic auth", "Basic dXNlcjpwYXNz", 401},
		{"none", "", 401},
	}
	body := evalBody(morty, "can_read_todos", "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr()+"/access/v1/evaluation", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}

// TestClosedUnlessConfigured: without authzen.enabled the endpoints do not
// exist, and enabling the API without a way in is a configuration error.
func TestClosedUnlessConfigured(t *testing.T) {
	dir := t.TempDir()
	if _, err := config.ParseServer(filepath.Join(dir, "c.yaml"), []byte("authzen: {enabled: true}\n")); err == nil || !strings.Contains(err.Error(), "admits no caller") {
		t.Errorf("enabled without callers: %v", err)
	}
	if _, err := config.ParseServer(filepath.Join(dir, "c.yaml"), []byte("authzen: {enabled: true, required_scopes: [x]}\n")); err == nil || !strings.Contains(err.Error(), "tokens.issuers") {
		t.Errorf("scopes without issuers: %v", err)
	}
	policy, _ := os.ReadFile(filepath.Join("..", "examples", "authzen", "todo", "policy.yaml"))
	// No policy block: the server is not asked to wait for a snapshot.
	srv := edgetest.Start(t, edgetest.Options{
		Dir:    dir,
		Files:  map[string][]byte{"policy.yaml": policy},
		NoWait: true,
		Config: `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
decision_log: {output: "off"}
`,
	}).Srv
	resp, err := http.Post("http://"+srv.HTTPAddr()+"/access/v1/evaluation", "application/json", strings.NewReader(evalBody(morty, "can_read_todos", "")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}

// TestOneAuthorizationHeader: several Authorization headers, or several
// credentials joined in one, are refused whatever their order, so no reader
// of the request can pick a different one than the API did.
func TestOneAuthorizationHeader(t *testing.T) {
	ex := serveExample(t, "todo")
	body := evalBody(morty, "can_read_todos", "")
	cases := []struct {
		name   string
		values []string
		status int
	}{
		{"the key alone", []string{"Bearer " + ex.key}, 200},
		{"key first, another bearer second", []string{"Bearer " + ex.key, "Bearer x"}, 401},
		{"another bearer first, key second", []string{"Bearer x", "Bearer " + ex.key}, 401},
		{"the key twice", []string{"Bearer " + ex.key, "Bearer " + ex.key}, 401},
		{"comma-joined", []string{"Bearer " + ex.key + ", Bearer x"}, 401},
		{"empty first", []string{"", "Bearer " + ex.key}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, ex.base+"/access/v1/evaluation", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for _, v := range c.values {
				req.Header.Add("Authorization", v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, c.status, b)
			}
			if c.status == 401 && len(c.values) > 1 && c.values[0] != "" && !strings.Contains(string(b), "invalid_token") {
				t.Errorf("body %s does not say invalid_token", b)
			}
		})
	}
}

// TestBearerCallerIssuer: a subject is unique only within its issuer, so
// a trust rule naming a bearer caller trusts that subject of that issuer
// alone: another issuer's token with the same subject (and the required
// scope) cannot vouch for a subject's roles. The decision log names the
// caller as the rule does.
func TestBearerCallerIssuer(t *testing.T) {
	dir := t.TempDir()
	priv := map[string][]byte{}
	files := map[string][]byte{}
	for _, name := range []string{"corp", "partner"} {
		k := edgetest.NewKey(t, "ES256")
		priv[name], files[name+"/jwks.json"] = k.PEM, k.JWKS
	}
	logPath := filepath.Join(dir, "decisions.log")
	es := edgetest.Start(t, edgetest.Options{
		Dir:    dir,
		Policy: []byte(trustPolicy),
		Files:  files,
		Config: `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml}
decision_log: {output: ` + logPath + `, sample_allows: 1}
tokens:
  issuers:
    - {issuer: https://corp.test, audiences: [pdp], jwks_file: corp/jwks.json}
    - {issuer: https://partner.test, audiences: [pdp], jwks_file: partner/jwks.json}
authzen:
  enabled: true
  required_scopes: [authzen:evaluate]
  trust_subject_properties:
    - {resource_types: [todo], callers: ["https://corp.test sub:pep"]}
`,
	})
	srv, stop := es.Srv, es.Stop
	mint := func(issuer string) string {
		claims := map[string]any{"iss": "https://" + issuer + ".test", "aud": "pdp", "sub": "pep", "scope": "authzen:evaluate"}
		tok, err := identity.Mint(priv[issuer], claims, time.Hour, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	body := `{"subject":{"type":"user","id":"mallory","properties":{"roles":["admin"]}},"action":{"name":"delete"},"resource":{"type":"todo","id":"t1"}}`
	for _, c := range []struct {
		issuer string
		want   string
	}{
		{"corp", `{"decision":true}`},
		{"partner", `{"decision":false}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr()+"/access/v1/evaluation", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+mint(c.issuer))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != c.want {
			t.Errorf("token of %s: %d %s, want %s", c.issuer, resp.StatusCode, b, c.want)
		}
	}
	stop()
	logged, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, caller := range []string{`"caller":"https://corp.test sub:pep"`, `"caller":"https://partner.test sub:pep"`} {
		if !strings.Contains(string(logged), caller) {
			t.Errorf("decision log does not hold %s:\n%s", caller, logged)
		}
	}
}
