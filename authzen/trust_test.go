package authzen_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgeauthz/edgeauthz/authzen"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

const trustPolicy = `
roles:
  viewer: {}
  admin: {inherits: [viewer]}
authzen:
  subjects:
    user:
      alice: {roles: [viewer], org: acme}
  resources:
    todo:
      ids: [t1]
      actions:
        read: {roles: [viewer]}
        delete: {roles: [admin]}
        export: {scopes: [export]}
        audit: {org: org}
    report:
      ids: [r1]
      actions:
        delete: {roles: [admin]}
`

// trustHandler serves trustPolicy with the given trust rules.
func trustHandler(t *testing.T, rules config.TrustRules) http.Handler {
	t.Helper()
	p, err := config.ParsePolicy("policy.yaml", []byte(trustPolicy))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := decision.Compile(p, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := decision.NewEngine(0)
	eng.Swap(snap)
	auth, err := authzen.NewAuthenticator(authzen.AuthOptions{APIKeys: []string{"k", "k2"}})
	if err != nil {
		t.Fatal(err)
	}
	return authzen.NewHandler(authzen.Options{Engine: eng, Auth: auth, TrustSubjectProperties: rules})
}

func postTo(t *testing.T, h http.Handler, path, body string) (int, string) {
	return postWithKey(t, h, "k", path, body)
}

func postWithKey(t *testing.T, h http.Handler, key, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, string(bytes.TrimSpace(rec.Body.Bytes()))
}

// TestTrustSubjectPropertiesPerType: a caller's subject.properties vouch
// for the subject's roles, scopes and org only in the questions the trust
// rules name (resource type, subject type, caller), never by default; the
// policy's own subject data counts everywhere.
func TestTrustSubjectPropertiesPerType(t *testing.T) {
	const (
		claimsAdmin = `"properties":{"roles":["admin"],"scopes":["export"],"org":"acme"}`
		userAdmin   = `"subject":{"type":"user","id":"mallory",` + claimsAdmin + `}`
		svcAdmin    = `"subject":{"type":"service","id":"etl",` + claimsAdmin + `}`
		alice       = `"subject":{"type":"user","id":"alice"}`
	)
	ask := func(subject, action, resource string) string {
		return `{` + subject + `,"action":{"name":"` + action + `"},"resource":{"type":"` + resource + `","id":"x","properties":{"org":"acme"}}}`
	}
	perType := config.TrustRules{{ResourceTypes: []string{"todo"}, SubjectTypes: []string{"user"}}}
	everything := config.TrustRules{{ResourceTypes: []string{"*"}}}
	secondKey := config.TrustRules{{ResourceTypes: []string{"todo"}, Callers: []string{"api-key-2"}}}
	cases := []struct {
		name  string
		rules config.TrustRules
		key   string // "": k, the first key
		body  string
		want  bool
	}{
		{"untrusted by default: roles", nil, "", ask(userAdmin, "delete", "todo"), false},
		{"untrusted by default: scopes", nil, "", ask(userAdmin, "export", "todo"), false},
		{"untrusted by default: org", nil, "", ask(userAdmin, "audit", "todo"), false},
		{"the policy's own data needs no trust", nil, "", ask(alice, "read", "todo"), true},
		{"trusted resource and subject type: roles", perType, "", ask(userAdmin, "delete", "todo"), true},
		{"trusted resource and subject type: scopes", perType, "", ask(userAdmin, "export", "todo"), true},
		{"trusted resource and subject type: org", perType, "", ask(userAdmin, "audit", "todo"), true},
		{"another resource type is not trusted", perType, "", ask(userAdmin, "delete", "report"), false},
		{"another subject type is not trusted", perType, "", ask(svcAdmin, "delete", "todo"), false},
		{"trust everywhere", everything, "", ask(svcAdmin, "delete", "report"), true},
		{"the trusted caller", secondKey, "k2", ask(userAdmin, "delete", "todo"), true},
		{"another caller is not trusted", secondKey, "k", ask(userAdmin, "delete", "todo"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := trustHandler(t, c.rules)
			key := c.key
			if key == "" {
				key = "k"
			}
			status, got := postWithKey(t, h, key, authzen.PathEvaluation, c.body)
			want := `{"decision":false}`
			if c.want {
				want = `{"decision":true}`
			}
			if status != 200 || got != want {
				t.Errorf("%d %s, want %s", status, got, want)
			}
		})
	}

	// In a batch, each item is trusted by its own types, with the
	// top-level subject's properties decoded once for all items.
	h := trustHandler(t, perType)
	status, got := postTo(t, h, authzen.PathEvaluations, `{`+userAdmin+`,"action":{"name":"delete"},"evaluations":[`+
		`{"resource":{"type":"todo","id":"t1"}},{"resource":{"type":"report","id":"r1"}},`+
		`{"resource":{"type":"todo","id":"t2"},"subject":{"type":"service","id":"etl",`+claimsAdmin+`}},`+
		`{"resource":{"type":"todo","id":"t3"}}]}`)
	if want := `{"evaluations":[{"decision":true},{"decision":false},{"decision":false},{"decision":true}]}`; status != 200 || got != want {
		t.Errorf("batch: %d %s, want %s", status, got, want)
	}

	// Search finds what a trusted subject may do, and only where trusted.
	for _, c := range []struct {
		resource string
		want     string
	}{
		{"todo", `"results":[{"type":"todo","id":"t1"}]`},
		{"report", `"results":[]`},
	} {
		status, got := postTo(t, h, authzen.PathSearchResource, `{`+userAdmin+`,"action":{"name":"delete"},"resource":{"type":"`+c.resource+`"}}`)
		if status != 200 || !bytes.Contains([]byte(got), []byte(c.want)) {
			t.Errorf("search %s: %d %s, want %s", c.resource, status, got, c.want)
		}
	}
}
