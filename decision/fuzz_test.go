package decision_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// FuzzCompileDecide decides fuzzed requests against a fixed policy. Any allow
// must have come through a canonical path, a canonical method and a matched
// route, and, unless the route is public, a valid, unrevoked token; a
// non-canonical method is refused before routing; Explain must agree.
func FuzzCompileDecide(f *testing.F) {
	s := compile(f, policy, decision.Options{})
	seeds := []struct {
		method, host, target, hk, hv, ctxRoute, claims string
		token                                          uint8
		body                                           string
	}{
		{"GET", "", "/orgs/org_1/documents/doc1", "", "", "", `{"sub":"usr_1","oid":"org_1"}`, 1, ""},
		{"GET", "api.example.com:443", "/orgs/org_2/documents/doc1?x=1", "x-org", "org_2", "", `{"sub":"usr_3","oid":"org_2","roles":["editor"]}`, 1, ""},
		{"PUT", "", "/orgs/org_1/documents/%2e%2e/x", "", "", "", `{"sub":"usr_1","oid":"org_1"}`, 1, ""},
		{"GET", "", "/healthz", "", "", "", ``, 0, ""},
		{"GET", "", "/healthz", "", "", "", ``, 2, ""},
		{"POST", "", "/p", "x-envoy-auth-partial-body", "true", "", `{"sub":"x","scope":"proj-7"}`, 1, `{"project":{"id":"7"}}`},
		{"GET", "", "/q?p=7&p=8", "", "", "", `{"sub":"x","scope":"proj-7"}`, 1, ""},
		{"GET", "", "/book/dune/download", "", "", "book", `{"sub":"x","scope":["book-dune"]}`, 1, ""},
		{"GET", "", "/reports/q1", "", "", "", `{"sub":"usr_1"}`, 1, ""},
		{"GET", "", "/cerr", "x-missing", "1", "nope", `{"sub":"usr_666"}`, 1, ""},
		{"HEAD", "", "/builds/a/b//c", "", "", "", `{"sub":"x","scope":"read:builds","jti":"leaked-1"}`, 1, ""},
		{"GET", "", "//evil/../orgs;x", "", "", "", `{}`, 1, ""},
		{"delete", "", "/orgs/org_1/documents/doc1", "", "", "", `{"sub":"usr_2","oid":"org_1"}`, 1, ""},
		{"Get", "", "/orgs/org_1/documents/x%c0%ae%c0%ae", "", "", "", `{"sub":"usr_1","oid":"org_1"}`, 1, ""},
		{"POST", "", "/p", "", "", "", `{"sub":"x","scope":"proj-9007199254740992"}`, 1, `{"project":{"id":9007199254740993}}`},
		{"POST", "", "/p", "", "", "", `{"sub":"x","scope":"proj-7"}`, 1, `{"project":{"id":"7","ID":"8"}}`},
		{"GET", "", "/q?p=7&P=8", "", "", "", `{"sub":"x","scope":"proj-7"}`, 1, ""},
	}
	for _, sd := range seeds {
		f.Add(sd.method, sd.host, sd.target, sd.hk, sd.hv, sd.ctxRoute, sd.claims, sd.token, sd.body)
	}
	f.Fuzz(func(t *testing.T, method, host, target, hk, hv, ctxRoute, claimsJSON string, token uint8, body string) {
		req := &call{Request: &decision.Request{
			Method:  method,
			Host:    host,
			Target:  target,
			Headers: map[string]string{strings.ToLower(hk): hv},
			Body:    []byte(body),
		}, Caller: decision.Caller{Token: decision.TokenState(token % 3)}}
		if ctxRoute != "" {
			req.Context = map[string]string{decision.RouteContextKey: ctxRoute}
		}
		if req.Token == decision.TokenValid {
			var claims map[string]any
			if json.Unmarshal([]byte(claimsJSON), &claims) == nil {
				req.Principal = decision.NewPrincipal(claims, config.DefaultClaimNames())
			}
		}
		res := decide(s, req)
		ex := explain(s, req)
		if res.Allowed != ex.Allowed || res.Reason != ex.Reason || res.Status != ex.Status || res.Rule != ex.Rule {
			t.Fatalf("Decide %s %d %q, Explain %s %d %q", res.Reason, res.Status, res.Rule, ex.Reason, ex.Status, ex.Rule)
		}
		if res.Allowed != res.Reason.Allowed() || (res.Allowed != (res.Status == 200)) {
			t.Fatalf("allowed %v with reason %s status %d", res.Allowed, res.Reason, res.Status)
		}
		if err := decision.CheckMethod(method); err != nil && res.Reason != decision.ReasonBadPath &&
			(res.Reason != decision.ReasonBadRequest || res.Rule != "") {
			t.Fatalf("non-canonical method %q: %s, rule %q", method, res.Reason, res.Rule)
		}
		if !res.Allowed {
			if res.Status < 400 {
				t.Fatalf("deny with status %d", res.Status)
			}
			return
		}
		if _, _, err := decision.CanonicalPath(target); err != nil {
			t.Fatalf("allowed a non-canonical target %q (%v)", target, err)
		}
		if res.Rule == "" {
			t.Fatalf("allowed without a route")
		}
		if req.Token == decision.TokenInvalid {
			t.Fatalf("allowed with an invalid token")
		}
		if res.Reason == decision.ReasonAllowed {
			if req.Token != decision.TokenValid || req.Principal == nil {
				t.Fatalf("non-public route %q allowed without a valid token", res.Rule)
			}
			if req.Principal.Subject == "usr_666" || req.Principal.TokenID == "leaked-1" {
				t.Fatalf("revoked principal allowed")
			}
		} else if res.Rule != "health" {
			t.Fatalf("public allow on route %q", res.Rule)
		}
	})
}

// FuzzTemplate compiles a fuzzed scope template on a route. A template that
// does not compile is an error with a line; one that compiles never allows
// while a variable it reads (query, headers, context, payload, claims) is
// absent, even when the caller holds the template's raw or emptied text.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"book-{params.id}", "proj-{query.p}", "{headers.X-Proj}", "{context.c}", "{payload.a.b}",
		"{claims.ext.x}", "{principal.sub}", "a-{params.id}-{query.q}", "{", "}", "{query.}", "{params.nope}",
		"x{principal.org}y", "plain", "{payload..a}", "{query.a}{query.b}", "{headers.a b}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tpl string) {
		p := &config.Policy{File: "f.yaml", Routes: []config.Route{{Name: "t", Match: "GET /t/{id}", Scopes: []string{tpl}, Line: 3}}}
		s, err := decision.Compile(p, decision.Options{})
		if err != nil {
			var es config.Errors
			if !strings.Contains(err.Error(), "f.yaml:") {
				t.Fatalf("error without file:line: %v", err)
			}
			_ = es
			return
		}
		emptied := tpl
		for {
			i := strings.IndexByte(emptied, '{')
			j := strings.IndexByte(emptied, '}')
			if i < 0 || j < i {
				break
			}
			emptied = emptied[:i] + emptied[j+1:]
		}
		pr := &decision.Principal{Subject: "u", Org: "o", Scopes: []string{tpl, emptied, "u", "o", "v", "u-v"}}
		absent := false
		for _, src := range []string{"{query.", "{headers.", "{context.", "{payload.", "{claims."} {
			absent = absent || strings.Contains(tpl, src)
		}
		for _, target := range []string{"/t/v", "/t/v?other=1", "/t/u-v?=&x"} {
			req := &call{&decision.Request{Method: "GET", Target: target,
				Headers: map[string]string{"x-other": "1"}, Context: map[string]string{"other": "1"}, Body: []byte(`{"other":1}`)},
				decision.Authenticated(pr)}
			res := decide(s, req)
			if absent && res.Allowed {
				t.Fatalf("template %q allowed %s with its variables absent", tpl, target)
			}
			if absent && res.Reason != decision.ReasonTemplateUnbound && res.Reason != decision.ReasonMissingScope {
				t.Fatalf("template %q: reason %s", tpl, res.Reason)
			}
		}
	})
}
