package decision_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
)

// policy is the policy most decision tables run against.
const policy = `
roles:
  viewer:  {permissions: [read:documents]}
  editor:  {inherits: [viewer], permissions: [write:documents]}
  admin:   {inherits: [editor], permissions: [delete:documents, manage:users]}
  developer: {permissions: [read:builds]}
  auditor: {}
groups:
  Engineering: [developer]
  Leads: [admin]
members:
  org_1: {usr_1: [admin], usr_2: [viewer]}
  org_2: {usr_3: [editor]}
attributes:
  usr_1: {department: finance, level: 3}
  usr_4: {department: finance, level: 1}
revoked:
  subjects: [usr_666]
  token_ids: [leaked-1]
routes:
  - name: read-document
    match: GET /orgs/{org}/documents/{id}
    org: "{params.org}"
    roles: [viewer]
    scopes: [admin, read:documents]
  - name: delete-document
    match: DELETE /orgs/{org}/documents/{id}
    org: "{params.org}"
    roles: [admin]
  - name: write-document
    match: PUT /orgs/{org}/documents/{id}
    org: "{params.org}"
    scopes: [write:documents]
  - name: org-by-header
    match: GET /tenant/info
    org: "{headers.x-org}"
  - name: manage
    match: /orgs/{org}/users/
    org: "{params.org}"
    all_scopes: [manage:users, read:documents]
  - name: all-true
    match: GET /all/true
    scopes: [a, b]
    all_scopes: true
  - name: book
    match: GET /book/{slug}/download
    scopes: [admin, "book-{params.slug}"]
  - name: by-query
    match: GET /q
    scopes: ["proj-{query.p}"]
  - name: by-header
    match: GET /h
    scopes: ["proj-{headers.X-Proj}"]
  - name: by-context
    match: GET /c
    scopes: ["proj-{context.proj}"]
  - name: by-payload
    match: POST /p
    scopes: ["proj-{payload.project.id}"]
  - name: by-claims
    match: GET /cl
    scopes: ["proj-{claims.ext.proj}"]
  - name: report
    match: GET /reports/{q}
    when: 'user.department == "finance" && user.level >= 3'
  - name: cond-error
    match: GET /cerr
    when: 'request.headers["x-missing"] == "1"'
  - name: cond-params
    match: GET /cp/{id}
    when: 'params.id == "ok" && principal.sub == "usr_1" && "viewer" in principal.roles'
  - name: ordered
    match: GET /ordered/{org}
    org: "{params.org}"
    roles: [auditor]
    scopes: [nope]
    when: 'false'
  - name: role-then-scope
    match: GET /rs
    roles: [auditor]
    scopes: [nope]
  - name: scope-then-template
    match: GET /st
    scopes: [nope]
    all_scopes: ["x-{query.absent}"]
  - name: scope-then-when
    match: GET /sw
    scopes: [nope]
    when: 'false'
  - name: builds
    match: /builds/{id...}
    scopes: [read:builds]
  - name: health
    match: /healthz
    public: true
`

type claims = map[string]any

type decideCase struct {
	name   string
	req    *call
	reason string
	status int
	rule   string // checked when set
}

func (c decideCase) run(t *testing.T, s *decision.Snapshot) {
	t.Helper()
	res := decide(s, c.req)
	if res.Reason.String() != c.reason || res.Status != c.status {
		t.Errorf("%s %s: got %s %d (requirement %q, detail %q), want %s %d",
			c.req.Method, c.req.Target, res.Reason, res.Status, res.Requirement, res.Detail, c.reason, c.status)
	}
	if res.Allowed != (c.reason == "allowed" || c.reason == "public") {
		t.Errorf("Allowed = %v for reason %s", res.Allowed, res.Reason)
	}
	if c.rule != "" && res.Rule != c.rule {
		t.Errorf("rule = %q, want %q", res.Rule, c.rule)
	}
	// Explain decides the same way.
	ex := explain(s, c.req)
	if ex.Reason != res.Reason || ex.Status != res.Status || ex.Allowed != res.Allowed {
		t.Errorf("Explain = %s %d, Decide = %s %d", ex.Reason, ex.Status, res.Reason, res.Status)
	}
	if len(ex.Trace) == 0 {
		t.Errorf("Explain left no trace")
	}
}

func runTable(t *testing.T, s *decision.Snapshot, cases []decideCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, s) })
	}
}

func req(method, target string) *call {
	return &call{Request: &decision.Request{Method: method, Target: target}}
}

func tok(method, target string, c claims) *call { return withToken(method, target, c) }

func TestDecideBadPath(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	admin := claims{"sub": "usr_1", "oid": "org_1"}
	var cases []decideCase
	for _, target := range []string{
		"/orgs/org_1/documents/../documents/doc1",
		"/orgs/org_1/documents/%2e%2e/x",
		"/orgs/org_1/documents/%2E%2E/x",
		"/orgs//org_1/documents/doc1",
		"//evil.com/orgs/org_1/documents/doc1",
		"/orgs/org_1/documents%2fdoc1",
		"/orgs/org_1/documents%5cdoc1",
		"/orgs/org_1\\documents/doc1",
		"/orgs/org_1/documents/doc1%zz",
		"/orgs/org_1/documents/doc1%00",
		"/orgs/org_1/documents/doc\x01",
		"/orgs/org_1/documents/doc1#frag",
		"/orgs/org_1/documents/..;x/doc1",
		"/orgs/org_1/documents/doc1;jsessionid=1",
		"/healthz/.",
		"http://evil.com/healthz",
		"",
	} {
		cases = append(cases, decideCase{name: target, req: tok("GET", target, admin), reason: "bad_path", status: 400})
	}
	// bad_path comes before everything, even for a public route and no token.
	cases = append(cases, decideCase{name: "public without token", req: req("GET", "/./healthz"), reason: "bad_path", status: 400})
	runTable(t, s, cases)
}

func TestDecideTokens(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	invalid := req("GET", "/orgs/org_1/documents/doc1")
	invalid.Token, invalid.Error = decision.TokenInvalid, "signature"
	invalidPublic := req("GET", "/healthz")
	invalidPublic.Token = decision.TokenInvalid
	noPrincipal := req("GET", "/orgs/org_1/documents/doc1")
	noPrincipal.Token = decision.TokenValid
	runTable(t, s, []decideCase{
		{"no route", tok("GET", "/nowhere", claims{"sub": "usr_1"}), "no_route", 403, ""},
		{"no route beats no token", req("GET", "/nowhere"), "no_route", 403, ""},
		{"method not routed", tok("POST", "/orgs/org_1/documents/doc1", claims{"sub": "usr_1", "oid": "org_1"}), "no_route", 403, ""},
		{"no token", req("GET", "/orgs/org_1/documents/doc1"), "no_token", 401, "read-document"},
		{"invalid token", invalid, "invalid_token", 401, "read-document"},
		{"valid without principal", noPrincipal, "invalid_token", 401, ""},
		{"revoked subject", tok("GET", "/orgs/org_1/documents/doc1", claims{"sub": "usr_666", "oid": "org_1", "roles": []any{"admin"}}), "revoked", 401, ""},
		{"revoked jti", tok("GET", "/orgs/org_1/documents/doc1", claims{"sub": "usr_1", "oid": "org_1", "jti": "leaked-1"}), "revoked", 401, ""},
		{"other jti", tok("GET", "/orgs/org_1/documents/doc1", claims{"sub": "usr_1", "oid": "org_1", "jti": "fine"}), "allowed", 200, ""},
		{"public without token", req("GET", "/healthz"), "public", 200, "health"},
		{"public with token", tok("GET", "/healthz", claims{"sub": "usr_1"}), "public", 200, "health"},
		{"public with invalid token", invalidPublic, "invalid_token", 401, "health"},
		{"public with revoked subject", tok("GET", "/healthz", claims{"sub": "usr_666"}), "revoked", 401, ""},
	})
}

func TestDecideTenants(t *testing.T) {
	for _, status := range []int{0, 404, 403} {
		want := 404
		if status == 403 {
			want = 403
		}
		s := compile(t, policy, decision.Options{TenantMismatchStatus: status})
		withHeader := tok("GET", "/tenant/info", claims{"sub": "x", "oid": "org_1"})
		withHeader.Headers = map[string]string{"x-org": "org_1"}
		otherHeader := tok("GET", "/tenant/info", claims{"sub": "x", "oid": "org_1"})
		otherHeader.Headers = map[string]string{"x-org": "org_2"}
		runTable(t, s, []decideCase{
			{"same org", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "usr_1", "oid": "org_1"}), "allowed", 200, ""},
			{"other org", tok("GET", "/orgs/org_2/documents/d", claims{"sub": "usr_1", "oid": "org_1"}), "tenant_mismatch", want, ""},
			{"other org, admin role", tok("GET", "/orgs/org_2/documents/d", claims{"sub": "x", "oid": "org_1", "roles": []any{"admin"}}), "tenant_mismatch", want, ""},
			{"no org claim", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "usr_1", "roles": []any{"admin"}}), "no_org", 403, ""},
			{"org is case-sensitive", tok("GET", "/orgs/ORG_1/documents/d", claims{"sub": "usr_1", "oid": "org_1"}), "tenant_mismatch", want, ""},
			{"members apply only in their org", tok("DELETE", "/orgs/org_2/documents/d", claims{"sub": "usr_1", "oid": "org_2"}), "missing_role", 403, ""},
			{"member in own org", tok("DELETE", "/orgs/org_1/documents/d", claims{"sub": "usr_1", "oid": "org_1"}), "allowed", 200, ""},
			{"org from header", withHeader, "allowed", 200, ""},
			{"org from other header", otherHeader, "tenant_mismatch", want, ""},
			{"org header absent", tok("GET", "/tenant/info", claims{"sub": "x", "oid": "org_1"}), "template_unbound", 403, ""},
		})
	}
}

func TestDecideRolesAndScopes(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	runTable(t, s, []decideCase{
		{"no role", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "scope": "read:documents"}), "missing_role", 403, ""},
		{"inherited role", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "roles": []any{"editor"}}), "allowed", 200, ""},
		{"role through group", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "groups": []any{"Leads"}}), "allowed", 200, ""},
		{"unknown group", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "groups": []any{"Nobody"}}), "missing_role", 403, ""},
		{"member role", tok("GET", "/orgs/org_1/documents/d", claims{"sub": "usr_2", "oid": "org_1"}), "allowed", 200, ""},
		{"role without the scope", tok("PUT", "/orgs/org_1/documents/d", claims{"sub": "usr_2", "oid": "org_1"}), "missing_scope", 403, ""},
		{"scope from role inheritance", tok("PUT", "/orgs/org_1/documents/d", claims{"sub": "usr_1", "oid": "org_1"}), "allowed", 200, ""},
		{"scope claim string", tok("PUT", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "scope": "a write:documents b"}), "allowed", 200, ""},
		{"scope claim array", tok("PUT", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "scope": []any{"write:documents"}}), "allowed", 200, ""},
		{"permissions claim", tok("PUT", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "permissions": []any{"write:documents"}}), "allowed", 200, ""},
		{"scope prefix is not the scope", tok("PUT", "/orgs/org_1/documents/d", claims{"sub": "x", "oid": "org_1", "scope": "write:documents:x write"}), "missing_scope", 403, ""},
		{"any of scopes (second)", tok("GET", "/book/dune/download", claims{"sub": "x", "scope": "book-dune"}), "allowed", 200, ""},
		{"any of scopes (first)", tok("GET", "/book/dune/download", claims{"sub": "x", "scope": "admin"}), "allowed", 200, ""},
		{"template for another value", tok("GET", "/book/dune/download", claims{"sub": "x", "scope": "book-emma"}), "missing_scope", 403, ""},
		{"all_scopes list: one missing", tok("GET", "/orgs/org_1/users/list", claims{"sub": "x", "oid": "org_1", "scope": "manage:users"}), "missing_scope", 403, ""},
		{"all_scopes list: both", tok("GET", "/orgs/org_1/users/list", claims{"sub": "x", "oid": "org_1", "scope": "manage:users read:documents"}), "allowed", 200, ""},
		{"all_scopes list: from role", tok("GET", "/orgs/org_1/users/", claims{"sub": "usr_1", "oid": "org_1"}), "allowed", 200, ""},
		{"all_scopes true: one", tok("GET", "/all/true", claims{"sub": "x", "scope": "a"}), "missing_scope", 403, ""},
		{"all_scopes true: both", tok("GET", "/all/true", claims{"sub": "x", "scope": "b a"}), "allowed", 200, ""},
	})
}

func TestDecideMissingScopes(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	res := decide(s, tok("GET", "/book/dune/download", claims{"sub": "x"}))
	if want := []string{"admin", "book-dune"}; !slices.Equal(res.MissingScopes, want) {
		t.Errorf("MissingScopes = %q, want %q", res.MissingScopes, want)
	}
}

func TestDecideTemplates(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	c := claims{"sub": "x", "scope": "proj-7", "ext": map[string]any{"proj": "7"}}
	withHeaders := func(r *call, h map[string]string) *call { r.Headers = h; return r }
	withBody := func(r *call, body string, h map[string]string) *call {
		if h == nil {
			h = map[string]string{"content-type": "application/json"}
		} else if _, ok := h["content-type"]; !ok {
			h["content-type"] = "application/json"
		}
		r.Body, r.Headers = []byte(body), h
		return r
	}
	withContext := func(r *call, ctx map[string]string) *call { r.Context = ctx; return r }
	runTable(t, s, []decideCase{
		{"query bound", tok("GET", "/q?p=7", c), "allowed", 200, ""},
		{"query other value", tok("GET", "/q?p=8", c), "missing_scope", 403, ""},
		{"query absent", tok("GET", "/q", c), "template_unbound", 403, ""},
		{"query empty", tok("GET", "/q?p=", c), "template_unbound", 403, ""},
		{"query duplicated", tok("GET", "/q?p=7&p=7", c), "template_unbound", 403, ""},
		{"query encoded", tok("GET", "/q?p=%37", c), "allowed", 200, ""},
		{"header bound", withHeaders(tok("GET", "/h", c), map[string]string{"x-proj": "7"}), "allowed", 200, ""},
		{"header absent", tok("GET", "/h", c), "template_unbound", 403, ""},
		{"header other", withHeaders(tok("GET", "/h", c), map[string]string{"x-proj": "8"}), "missing_scope", 403, ""},
		{"context bound", withContext(tok("GET", "/c", c), map[string]string{"proj": "7"}), "allowed", 200, ""},
		{"context absent", tok("GET", "/c", c), "template_unbound", 403, ""},
		{"payload bound", withBody(tok("POST", "/p", c), `{"project":{"id":"7"}}`, nil), "allowed", 200, ""},
		{"payload number", withBody(tok("POST", "/p", c), `{"project":{"id":7}}`, nil), "allowed", 200, ""},
		{"payload absent", tok("POST", "/p", c), "template_unbound", 403, ""},
		{"payload not JSON", withBody(tok("POST", "/p", c), `{"project":`, nil), "template_unbound", 403, ""},
		{"payload key missing", withBody(tok("POST", "/p", c), `{"project":{}}`, nil), "template_unbound", 403, ""},
		{"payload object value", withBody(tok("POST", "/p", c), `{"project":{"id":{"x":1}}}`, nil), "template_unbound", 403, ""},
		{"payload partial", withBody(tok("POST", "/p", c), `{"project":{"id":"7"}}`, map[string]string{"x-envoy-auth-partial-body": "true"}), "template_unbound", 403, ""},
		{"payload partial TRUE", withBody(tok("POST", "/p", c), `{"project":{"id":"7"}}`, map[string]string{"x-envoy-auth-partial-body": "TRUE"}), "template_unbound", 403, ""},
		{"claims bound", tok("GET", "/cl", c), "allowed", 200, ""},
		{"claims absent", tok("GET", "/cl", claims{"sub": "x", "scope": "proj-7"}), "template_unbound", 403, ""},
		{"params bound", tok("GET", "/book/a%20b/download", claims{"sub": "x", "scope": []any{"book-a b"}}), "allowed", 200, ""},
	})
}

func TestDecideConditions(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	runTable(t, s, []decideCase{
		{"true", tok("GET", "/reports/q1", claims{"sub": "usr_1"}), "allowed", 200, ""},
		{"false", tok("GET", "/reports/q1", claims{"sub": "usr_4"}), "condition_false", 403, ""},
		{"no attributes", tok("GET", "/reports/q1", claims{"sub": "usr_9"}), "condition_error", 403, ""},
		{"missing header key", tok("GET", "/cerr", claims{"sub": "usr_1"}), "condition_error", 403, ""},
		{"params and roles", tok("GET", "/cp/ok", claims{"sub": "usr_1", "oid": "org_1"}), "allowed", 200, ""},
		{"params other", tok("GET", "/cp/no", claims{"sub": "usr_1", "oid": "org_1"}), "condition_false", 403, ""},
		{"roles outside member org", tok("GET", "/cp/ok", claims{"sub": "usr_1", "oid": "org_2"}), "condition_false", 403, ""},
	})
	hdr := tok("GET", "/cerr", claims{"sub": "usr_1"})
	hdr.Headers = map[string]string{"x-missing": "1"}
	runTable(t, s, []decideCase{{"header present", hdr, "allowed", 200, ""}})
}

// TestDecideOrder: when several requirements fail, the first in the documented order (README: Decisions on the wire)
// order is the reason.
func TestDecideOrder(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	runTable(t, s, []decideCase{
		{"no token before org", req("GET", "/ordered/org_1"), "no_token", 401, ""},
		{"no org before role", tok("GET", "/ordered/org_1", claims{"sub": "x"}), "no_org", 403, ""},
		{"tenant before role", tok("GET", "/ordered/org_2", claims{"sub": "x", "oid": "org_1"}), "tenant_mismatch", 404, ""},
		{"role before scope", tok("GET", "/ordered/org_1", claims{"sub": "x", "oid": "org_1"}), "missing_role", 403, ""},
		{"role before scope (2)", tok("GET", "/rs", claims{"sub": "x"}), "missing_role", 403, ""},
		{"scope before condition", tok("GET", "/ordered/org_1", claims{"sub": "x", "oid": "org_1", "roles": []any{"auditor"}}), "missing_scope", 403, ""},
		{"condition last", tok("GET", "/ordered/org_1", claims{"sub": "x", "oid": "org_1", "roles": []any{"auditor"}, "scope": "nope"}), "condition_false", 403, ""},
		{"scope before template", tok("GET", "/st", claims{"sub": "x"}), "missing_scope", 403, ""},
		{"template after scope", tok("GET", "/st", claims{"sub": "x", "scope": "nope"}), "template_unbound", 403, ""},
		{"scope before when", tok("GET", "/sw", claims{"sub": "x"}), "missing_scope", 403, ""},
		{"when after scope", tok("GET", "/sw", claims{"sub": "x", "scope": "nope"}), "condition_false", 403, ""},
	})
}

func TestResultRoles(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	for _, c := range []struct {
		name string
		c    claims
		want []string
	}{
		{"member closure", claims{"sub": "usr_1", "oid": "org_1"}, []string{"admin", "editor", "viewer"}},
		{"member of another org", claims{"sub": "usr_1", "oid": "org_2"}, []string{}},
		{"group and token role", claims{"sub": "x", "groups": []any{"Engineering"}, "roles": []any{"viewer", "undeclared"}},
			[]string{"developer", "viewer", "undeclared"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := decide(s, tok("GET", "/healthz", c.c))
			got := res.Roles()
			if !slices.Equal(got, c.want) {
				t.Errorf("Roles() = %q, want %q", got, c.want)
			}
		})
	}
	if r := decide(s, req("GET", "/healthz")); r.Roles() != nil {
		t.Errorf("Roles() without principal = %q", r.Roles())
	}
}

const routesPolicy = `
routes:
  - {name: host,        match: "API.example.com/items/{id}"}
  - {name: any-host,    match: "/items/{id}"}
  - {name: get-item,    match: "GET /items/special"}
  - {name: files,       match: "/files/{path...}"}
  - {name: files-exact, match: "/files/readme"}
  - {name: tree,        match: "/tree/"}
  - {name: tree-leaf,   match: "/tree/a/b"}
  - {name: root-only,   match: "/{$}"}
  - {name: dir-only,    match: "/dir/{$}"}
  - {name: post,        match: "POST /items/{id}/edit"}
  - {name: enc,         match: "/enc/{seg}"}
`

func TestDecideRouteMatching(t *testing.T) {
	// Routes without requirements still need a token (they are not public),
	// so every request carries one; Rule tells which route matched.
	src := strings.ReplaceAll(routesPolicy, "}\n", ", scopes: [s]}\n")
	s := compile(t, src, decision.Options{})
	c := claims{"sub": "x", "scope": "s"}
	host := func(r *call, h string) *call { r.Host = h; return r }
	runTable(t, s, []decideCase{
		{"host exact", host(tok("GET", "/items/1", c), "api.example.com"), "allowed", 200, "host"},
		{"host case-insensitive", host(tok("GET", "/items/1", c), "API.Example.COM"), "allowed", 200, "host"},
		{"host port ignored", host(tok("GET", "/items/1", c), "api.example.com:8443"), "allowed", 200, "host"},
		{"other host", host(tok("GET", "/items/1", c), "other.example.com"), "allowed", 200, "any-host"},
		{"no host", tok("GET", "/items/1", c), "allowed", 200, "any-host"},
		{"method literal beats wildcard", tok("GET", "/items/special", c), "allowed", 200, "get-item"},
		{"HEAD matches GET", tok("HEAD", "/items/special", c), "allowed", 200, "get-item"},
		{"POST falls to method-less", tok("POST", "/items/special", c), "allowed", 200, "any-host"},
		{"method mismatch", tok("GET", "/items/1/edit", c), "no_route", 403, ""},
		{"method match", tok("POST", "/items/1/edit", c), "allowed", 200, "post"},
		{"rest wildcard", tok("GET", "/files/a/b/c", c), "allowed", 200, "files"},
		{"rest wildcard empty", tok("GET", "/files/", c), "allowed", 200, "files"},
		{"literal beats rest", tok("GET", "/files/readme", c), "allowed", 200, "files-exact"},
		{"subtree", tok("GET", "/tree/x/y", c), "allowed", 200, "tree"},
		{"subtree root", tok("GET", "/tree/", c), "allowed", 200, "tree"},
		{"subtree more specific", tok("GET", "/tree/a/b", c), "allowed", 200, "tree-leaf"},
		{"subtree without slash", tok("GET", "/tree", c), "no_route", 403, ""},
		{"{$} root", tok("GET", "/", c), "allowed", 200, "root-only"},
		{"{$} not below", tok("GET", "/zzz", c), "no_route", 403, ""},
		{"dir {$}", tok("GET", "/dir/", c), "allowed", 200, "dir-only"},
		{"dir {$} not below", tok("GET", "/dir/x", c), "no_route", 403, ""},
		{"encoded unreserved", tok("GET", "/%69tems/1", c), "allowed", 200, "any-host"},
		{"one segment wildcard stops", tok("GET", "/items/1/2", c), "no_route", 403, ""},
	})
}

func TestDecideNamedRoute(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	named := func(target, name string, c claims) *call {
		r := tok("GET", target, c)
		r.Context = map[string]string{decision.RouteContextKey: name}
		return r
	}
	admin := claims{"sub": "usr_1", "oid": "org_1", "scope": "book-dune"}
	runTable(t, s, []decideCase{
		{"named route", named("/orgs/org_1/documents/d", "read-document", admin), "allowed", 200, "read-document"},
		{"named route binds params", named("/book/dune/download", "book", admin), "allowed", 200, "book"},
		{"named route params differ", named("/book/emma/download", "book", admin), "missing_scope", 403, "book"},
		{"named overrides the table", named("/orgs/org_1/documents/d", "delete-document", claims{"sub": "usr_2", "oid": "org_1"}), "no_route", 403, ""},
		{"unknown name", named("/healthz", "nope", admin), "no_route", 403, ""},
		{"path does not fit", named("/healthz", "read-document", admin), "no_route", 403, ""},
		{"public by name", named("/healthz", "health", claims{"sub": "anyone"}), "public", 200, "health"},
	})
	// A named route with the method it declares.
	del := named("/orgs/org_1/documents/d", "delete-document", claims{"sub": "usr_1", "oid": "org_1"})
	del.Method = "DELETE"
	runTable(t, s, []decideCase{{"named delete", del, "allowed", 200, "delete-document"}})
}

func TestEngine(t *testing.T) {
	e := decision.NewEngine(0)
	r := tok("GET", "/healthz", claims{"sub": "anyone"})
	if res := decide(e, r); res.Reason.String() != "no_snapshot" || res.Status != 503 || res.Allowed {
		t.Errorf("no snapshot: %s %d", res.Reason, res.Status)
	}
	if res := explain(e, r); res.Reason.String() != "no_snapshot" || res.Status != 503 {
		t.Errorf("no snapshot (Explain): %s %d", res.Reason, res.Status)
	}
	s := compile(t, policy, decision.Options{Revision: "rev-1"})
	e.Swap(s)
	if res := decide(e, r); !res.Allowed || res.Revision != "rev-1" {
		t.Errorf("after swap: %s %d rev %q", res.Reason, res.Status, res.Revision)
	}
	if got, _ := e.Snapshot(); got != s {
		t.Errorf("Snapshot() is not the swapped snapshot")
	}

	// A tiny staleness, then a wait that is sure to pass it: the check is
	// "older than", so the outcome does not depend on timing once past.
	stale := decision.NewEngine(time.Nanosecond)
	stale.Swap(s)
	time.Sleep(2 * time.Millisecond)
	if res := decide(stale, r); res.Reason.String() != "stale_snapshot" || res.Status != 503 || res.Allowed {
		t.Errorf("stale: %s %d", res.Reason, res.Status)
	}
	fresh := decision.NewEngine(time.Hour)
	fresh.Swap(s)
	fresh.Confirm()
	if res := decide(fresh, r); !res.Allowed {
		t.Errorf("fresh: %s %d", res.Reason, res.Status)
	}
}

func TestRevisionDefaultsToDigest(t *testing.T) {
	s := compile(t, policy, decision.Options{})
	if !strings.HasPrefix(s.Revision(), "sha256:") {
		t.Errorf("Revision() = %q", s.Revision())
	}
	if s.RouteCount() == 0 {
		t.Error("no routes")
	}
}
