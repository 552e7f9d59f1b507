package decision_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// bindingPolicy has one route per template source that the binding tests
// probe: payload (a scope, an org and a relation), query, claims and a
// method-specific route beside a method-less one.
const bindingPolicy = `
roles:
  viewer: {}
  admin: {}
model: |
  model
    schema 1.1
  type user
  type account
    relations
      define owner: [user]
tuples:
  - account:9007199254740992#owner@user:mallory
  - account:9007199254740993#owner@user:alice
routes:
  - name: transfer
    match: POST /transfers
    relation: {object: "account:{payload.from}", relation: owner}
  - name: pay
    match: POST /pay
    scopes: ["acct-{payload.from}"]
  - name: nested
    match: POST /nested
    scopes: ["acct-{payload.a.b.from}"]
  - name: org-body
    match: POST /orgs
    org: "{payload.org}"
  - name: org-query
    match: GET /orgs
    org: "{query.org}"
  - name: query-scope
    match: GET /q
    scopes: ["acct-{query.from}"]
  - name: query-condition
    match: GET /qc
    when: 'has(request.query.org) && request.query.org == "org_2"'
  - name: claim-scope
    match: GET /claims
    scopes: ["acct-{claims.acct}"]
  - name: claim-org
    match: GET /claim-org/{org}
    org: "{params.org}"
  - name: delete-doc
    match: DELETE /docs/{id}
    roles: [admin]
  - name: doc
    match: /docs/{id}
    roles: [viewer]
`

func bindReq(method, target, body string, c map[string]any) *call {
	r := &decision.Request{Method: method, Target: target, Body: []byte(body),
		Headers: map[string]string{"content-type": "application/json"}}
	return &call{r, decision.Authenticated(principal(c))}
}

// jsonInteger is the plain notation a number must have to bind.
var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// TestPayloadNumbersBindTheirLiteralText: a JSON number binds as the text
// the upstream reads, never as a float64 neighbour, and only when it is an
// integer in plain notation, whatever its size.
func TestPayloadNumbersBindTheirLiteralText(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})

	// The reported case: the caller owns the account next to the one named.
	res := decide(s, bindReq("POST", "/transfers", `{"from": 9007199254740993}`, map[string]any{"sub": "mallory"}))
	if res.Allowed || res.Reason != decision.ReasonRelationDenied {
		t.Fatalf("mallory moves money from 9007199254740993: %s", res.Reason)
	}
	if res := decide(s, bindReq("POST", "/transfers", `{"from": 9007199254740993}`, map[string]any{"sub": "alice"})); !res.Allowed {
		t.Fatalf("alice, the owner of 9007199254740993, is denied: %s", res.Reason)
	}
	for _, lit := range []string{"9007199254740992.4", "90071992547409920e-1", "9007199254740992.0", "9.007199254740992e15"} {
		res := decide(s, bindReq("POST", "/transfers", `{"from": `+lit+`}`, map[string]any{"sub": "mallory"}))
		if res.Allowed || res.Reason != decision.ReasonTemplateUnbound {
			t.Errorf("from %s: %s, want template_unbound", lit, res.Reason)
		}
	}

	// The class: each literal either binds as exactly itself, or not at all.
	for _, lit := range []string{
		"0", "-0", "1", "-1", "42", "007", "1.0", "1.5", "-1.0", "1e0", "1E2", "1e+2", "10e-1", "0.0", "-0.0",
		"9007199254740991", "9007199254740992", "9007199254740993", "-9007199254740993",
		"18014398509481985", "1800000000000000001", "1.8e18", "1800000000000000001.0",
		"9223372036854775807", "9223372036854775808", "18446744073709551617",
		"123456789012345678901234567890", "1e400", "-1e400", "4.9e-324", "1.00000000000000000001",
		"100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	} {
		body := `{"from": ` + lit + `}`
		valid := json.Valid([]byte(body))
		bindable := valid && jsonInteger.MatchString(lit) && lit != "-0"
		f, _ := strconv.ParseFloat(lit, 64)
		neighbours := []string{"acct-" + strconv.FormatFloat(f, 'f', -1, 64), "acct-" + strconv.FormatFloat(f, 'g', -1, 64)}
		for _, held := range append(neighbours, "acct-"+lit) {
			res := decide(s, bindReq("POST", "/pay", body, map[string]any{"sub": "u", "scope": held}))
			want := bindable && held == "acct-"+lit
			if res.Allowed != want {
				t.Errorf("body %s, caller holds %q: allowed %v (%s), want %v", body, held, res.Allowed, res.Reason, want)
			}
			if !bindable && res.Reason != decision.ReasonTemplateUnbound {
				t.Errorf("body %s: %s, want template_unbound", body, res.Reason)
			}
		}
	}

	// Other kinds bind as they did (strings, booleans) or not at all.
	for body, held := range map[string]string{
		`{"from": "9007199254740993"}`: "acct-9007199254740993",
		`{"from": "1.5"}`:              "acct-1.5",
		`{"from": true}`:               "acct-true",
		`{"from": false}`:              "acct-false",
	} {
		if res := decide(s, bindReq("POST", "/pay", body, map[string]any{"sub": "u", "scope": held})); !res.Allowed {
			t.Errorf("%s with %q: %s", body, held, res.Reason)
		}
	}
	for _, body := range []string{`{"from": null}`, `{"from": {}}`, `{"from": []}`, `{"from": [1]}`, `{"from": ""}`,
		`{"from": 1} {"from": 2}`, `{"from": 1}]`, `{"from": 01}`, `{"from": +1}`, `{"from": 0x10}`, `{"from": NaN}`} {
		if res := decide(s, bindReq("POST", "/pay", body, map[string]any{"sub": "u", "scope": "acct-1"})); res.Reason != decision.ReasonTemplateUnbound {
			t.Errorf("%s: %s, want template_unbound", body, res.Reason)
		}
	}
}

// TestPayloadKeysThatDifferOnlyInCase: a case-insensitive reader takes
// {"org":"org_2","ORG":"org_1"} for org_1, so no such body binds, whatever
// the spelling, escape, Unicode fold or depth of the pair.
func TestPayloadKeysThatDifferOnlyInCase(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})
	caller := map[string]any{"sub": "u", "oid": "org_2"}
	for _, body := range []string{
		`{"org":"org_2","ORG":"org_1"}`,
		`{"ORG":"org_1","org":"org_2"}`,
		`{"org":"org_2","Org":"org_1"}`,
		`{"org":"org_2","oRg":"org_1"}`,
		`{"org":"org_2","\u004fRG":"org_1"}`,
		`{"\u006frg":"org_2","ORG":"org_1"}`,
		`{"org":"org_2","org":"org_1"}`,
		`{"org":"org_2","\u006frg":"org_1"}`,
		`{"org":"org_2","x":{"k":1,"K":2}}`,     // elsewhere in the document
		`{"org":"org_2","x":[{"id":1,"ID":2}]}`, // inside an array
		`{"org":"org_2","kid":1,"\u212aid":2}`,  // Kelvin sign K
		`{"org":"org_2","sub":1,"\u017fub":2}`,  // long s ſ
		`{"org":"org_2","id":1,"\u0131d":2}`,    // dotless ı, which invariant upper-casing makes I
		`{"org":"org_2","\u00e9t\u00e9":1,"\u00c9T\u00c9":2}`,
		"{\"org\":\"org_2\",\"\xc1\xafrg\":\"org_1\"}", // an overlong 'o': not UTF-8, not JSON
		"{\"org\":\"org_2\xff\"}",
	} {
		res := decide(s, bindReq("POST", "/orgs", body, caller))
		if res.Allowed || res.Reason != decision.ReasonTemplateUnbound {
			t.Errorf("%s: %s, want template_unbound", body, res.Reason)
		}
	}
	for _, body := range []string{
		`{"org":"org_2"}`,
		`{"org":"org_2","organization":"org_1"}`,
		`{"org":"org_2","orgs":"org_1","x":{"k":1,"k2":2}}`,
		`{"org":"org_2","a":{"org":"org_1"}}`,
	} {
		if res := decide(s, bindReq("POST", "/orgs", body, caller)); !res.Allowed {
			t.Errorf("%s: %s, want allowed", body, res.Reason)
		}
	}
	// Every level of a dotted path.
	for body, want := range map[string]bool{
		`{"a":{"b":{"from":"x"}}}`:                        true,
		`{"a":{"b":{"from":"x","FROM":"y"}}}`:             false,
		`{"a":{"b":{"from":"x"},"B":{"from":"y"}}}`:       false,
		`{"a":{"b":{"from":"x"}},"A":{"b":{"from":"y"}}}`: false,
		`{"a":{"b":{"from":"x"}},"\u0041":{"b":{"c":1}}}`: false,
	} {
		res := decide(s, bindReq("POST", "/nested", body, map[string]any{"sub": "u", "scope": "acct-x"}))
		if res.Allowed != want {
			t.Errorf("%s: %s, want allowed %v", body, res.Reason, want)
		}
	}
}

// TestQueryNamesThatDifferOnlyInCase: ?org=a&ORG=b is one parameter with
// two values to case-insensitive frameworks; like a repeated parameter it
// binds nothing, in templates and in conditions. A query with a name or
// value that decodes to invalid UTF-8 binds nothing at all.
func TestQueryNamesThatDifferOnlyInCase(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})
	caller := map[string]any{"sub": "u", "oid": "org_2", "scope": "acct-x"}
	for target, want := range map[string]string{
		"/orgs?org=org_2":                "allowed",
		"/orgs?org=org_2&orgs=org_1":     "allowed",
		"/orgs?org=org_2&ORG=org_1":      "template_unbound",
		"/orgs?ORG=org_1&org=org_2":      "template_unbound",
		"/orgs?org=org_2&Org=org_2":      "template_unbound",
		"/orgs?org=org_2&%4FRG=org_1":    "template_unbound",
		"/orgs?%6Frg=org_2&ORG=org_1":    "template_unbound",
		"/orgs?org=org_2&org=org_1":      "template_unbound",
		"/orgs?or%C4%9F=org_1&org=org_2": "allowed", // ğ is not g
		"/q?from=x":                      "allowed",
		"/q?from=x&FROM=y":               "template_unbound",
		"/q?from=x&fro%E1%B9%80=y":       "allowed", // Ṁ is not m
		"/q?from=%c0%ae":                 "template_unbound",
		"/q?from=x&%ff=1":                "template_unbound",
		"/q?from=x&fr%C1%AFm=y":          "template_unbound", // an overlong 'o'
		"/q?from=x&y=%ED%A0%80":          "template_unbound",
		"/qc?org=org_2&x=%c0%ae":         "condition_false",
		"/qc?org=org_2":                  "allowed",
		"/qc?org=org_2&ORG=org_1":        "condition_false",
		"/qc?org=org_2&Org=org_2":        "condition_false",
	} {
		res := decide(s, bindReq("GET", target, "", caller))
		if res.Reason.String() != want {
			t.Errorf("%s: %s, want %s", target, res.Reason, want)
		}
	}
}

// TestClaimsBindOnlyExactValues: claims come decoded (numbers as float64,
// the way the identity package decodes tokens, or as json.Number). A number
// binds only where it is exact, and a claim name the token also carries in
// another case is absent, for templates and for the principal's own fields.
func TestClaimsBindOnlyExactValues(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})
	var big float64
	_ = json.Unmarshal([]byte("9007199254740993"), &big) // 9007199254740992 in float64
	for _, c := range []struct {
		name  string
		acct  any
		scope string
		want  string
	}{
		{"small float64 integer", float64(42), "acct-42", "allowed"},
		{"negative float64 integer", float64(-7), "acct--7", "allowed"},
		{"largest exact float64", float64(1<<53 - 1), "acct-9007199254740991", "allowed"},
		{"rounded float64", big, "acct-9007199254740992", "template_unbound"},
		{"rounded float64, true value", big, "acct-9007199254740993", "template_unbound"},
		{"2^53", float64(1 << 53), "acct-9007199254740992", "template_unbound"},
		{"snowflake", float64(1800000000000000001), "acct-1800000000000000000", "template_unbound"},
		{"fraction", 1.5, "acct-1.5", "template_unbound"},
		{"literal number", json.Number("9007199254740993"), "acct-9007199254740993", "allowed"},
		{"literal number, neighbour", json.Number("9007199254740993"), "acct-9007199254740992", "missing_scope"},
		{"literal exponent", json.Number("1e3"), "acct-1e3", "template_unbound"},
		{"literal fraction", json.Number("1.0"), "acct-1.0", "template_unbound"},
		{"literal -0", json.Number("-0"), "acct--0", "template_unbound"},
		{"int", 42, "acct-42", "allowed"},
		{"string", "x", "acct-x", "allowed"},
	} {
		res := decide(s, bindReq("GET", "/claims", "", map[string]any{"sub": "u", "acct": c.acct, "scope": c.scope}))
		if res.Reason.String() != c.want {
			t.Errorf("%s: %s, want %s", c.name, res.Reason, c.want)
		}
	}

	// A claim also present in another case.
	for name, cl := range map[string]map[string]any{
		"template":    {"sub": "u", "acct": "x", "ACCT": "y", "scope": "acct-x"},
		"kelvin":      {"sub": "u", "acct": "x", "\u212a": 1, "scope": "acct-x"},
		"org":         {"sub": "u", "oid": "org_1", "OID": "org_2", "scope": "acct-x"},
		"rounded org": {"sub": "u", "oid": big},
	} {
		var res decision.Result
		if name == "template" || name == "kelvin" {
			res = decide(s, bindReq("GET", "/claims", "", cl))
			if name == "kelvin" {
				// Kelvin folds with k, which is not acct: only exact folds count.
				if !res.Allowed {
					t.Errorf("%s: %s", name, res.Reason)
				}
				continue
			}
		} else {
			res = decide(s, bindReq("GET", "/claim-org/org_1", "", cl))
			if name == "rounded org" {
				res = decide(s, bindReq("GET", "/claim-org/9007199254740992", "", cl))
			}
		}
		if res.Allowed {
			t.Errorf("%s: allowed", name)
		}
	}
	for name, cl := range map[string]map[string]any{
		"subject": {"sub": "u", "SUB": "admin"},
		"long s":  {"sub": "u", "\u017fub": "admin"},
	} {
		if res := decide(s, bindReq("GET", "/claims", "", cl)); res.Reason != decision.ReasonInvalidToken {
			t.Errorf("%s: %s, want invalid_token", name, res.Reason)
		}
	}
	if p := principal(map[string]any{"sub": "u", "roles": []any{"viewer"}, "Roles": []any{"admin"}}); len(p.Roles) != 0 {
		t.Errorf("ambiguous roles claim read as %v", p.Roles)
	}
	if p := principal(map[string]any{"sub": float64(12), "oid": json.Number("9007199254740993")}); p.Subject != "12" || p.Org != "9007199254740993" {
		t.Errorf("exact numbers: subject %q, org %q", p.Subject, p.Org)
	}
}

// TestMethodsAreCanonical: a method that is not an RFC 9110 token in upper
// case never reaches the routes: DELETE /docs/{id} cannot be sidestepped as
// "delete" through /docs/{id}. Every byte of a method is tried.
func TestMethodsAreCanonical(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})
	viewer := map[string]any{"sub": "u", "roles": []any{"viewer"}}
	for _, m := range []string{"delete", "Delete", "dELETE", "DELETe", "get", "Get", "post", "", " DELETE", "DELETE ",
		"DEL ETE", "DELETE\x00", "DELETE\r\n", "DEL/ETE", "DEL:ETE", "DEL(ETE)", "DELET\u0130", "DELETE\xff", "ＤＥＬＥＴＥ", "\"DELETE\""} {
		res := decide(s, bindReq(m, "/docs/d1", "", viewer))
		if res.Allowed || res.Reason != decision.ReasonBadRequest || res.Status != 400 || res.Rule != "" {
			t.Errorf("method %q: %s %d rule %q, want bad_request 400 before routing", m, res.Reason, res.Status, res.Rule)
		}
		if !strings.Contains(res.Message(), "method") {
			t.Errorf("method %q: message %q does not name the method", m, res.Message())
		}
		// Before the token, and after the path.
		if r := decide(s, &call{Request: &decision.Request{Method: m, Target: "/docs/d1"}}); r.Reason != decision.ReasonBadRequest {
			t.Errorf("method %q without a token: %s", m, r.Reason)
		}
		if r := decide(s, bindReq(m, "/docs/../d1", "", viewer)); r.Reason != decision.ReasonBadPath {
			t.Errorf("method %q, bad path: %s", m, r.Reason)
		}
	}
	for m, want := range map[string]string{
		"DELETE": "missing_role", "GET": "allowed", "PURGE": "allowed", "M-SEARCH": "allowed",
		"X_1!#$%&'*+-.^`|~": "allowed",
	} {
		if res := decide(s, bindReq(m, "/docs/d1", "", viewer)); res.Reason.String() != want {
			t.Errorf("method %q: %s, want %s", m, res.Reason, want)
		}
	}
	// Every single byte after a valid prefix: refused unless a tchar that
	// is not a lower-case letter.
	for b := 0; b < 256; b++ {
		m := "GE" + string([]byte{byte(b)})
		tchar := b < 0x80 && (b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(b)) >= 0)
		valid := tchar && !(b >= 'a' && b <= 'z')
		err := decision.CheckMethod(m)
		if (err == nil) != valid {
			t.Errorf("CheckMethod(%q) = %v, want valid %v", m, err, valid)
		}
		if res := decide(s, bindReq(m, "/docs/d1", "", viewer)); (res.Reason == decision.ReasonBadRequest) == valid {
			t.Errorf("method %q: %s", m, res.Reason)
		}
	}
}

// TestMethodPatternsMustBeCanonical: a route for "delete" could never
// match, so the policy is refused rather than silently leaving DELETE to a
// broader route.
func TestMethodPatternsMustBeCanonical(t *testing.T) {
	for _, match := range []string{"delete /docs/{id}", "Get /x", "pOST /x"} {
		err := compileErr("routes:\n  - name: r\n    match: \"" + match + "\"\n    public: true\n")
		if err == nil || !strings.Contains(err.Error(), "policy.yaml:3:") || !strings.Contains(err.Error(), "never match") {
			t.Errorf("%q: %v", match, err)
		}
	}
	if err := compileErr("routes:\n  - name: r\n    match: \"PURGE /x\"\n    public: true\n"); err != nil {
		t.Errorf("PURGE: %v", err)
	}
}

// TestPayloadBindsOnlyJSONContentType: a body binds {payload.…} only when
// its Content-Type declares one JSON document (application/json or
// application/*+json, any case, any parameters). Otherwise the upstream
// reads the same bytes by another type (a form reader sees a2 in the
// smuggled field below), so the template is unbound: no Content-Type,
// another type, a look-alike, or several values joined by commas.
func TestPayloadBindsOnlyJSONContentType(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})
	const body = `{"from":"a1","x":"&from=a2&y="}`
	cases := []struct {
		ct   string // "-": no Content-Type header
		bind bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON;charset=UTF-8", true},
		{" application/json ", true},
		{"application/json\t;\tcharset=utf-8", true},
		{"application/merge-patch+json", true},
		{"application/vnd.api+json; ext=x", true},
		{"APPLICATION/LD+JSON", true},
		{"-", false},
		{"", false},
		{"application/x-www-form-urlencoded", false},
		{"multipart/form-data; boundary=x", false},
		{"text/plain", false},
		{"text/json", false},
		{"application/jsonx", false},
		{"application/json5", false},
		{"application/+json", false},
		{"application/a b+json", false},
		{"application/json-seq", false},
		{"application/x-json", false},
		{"xapplication/json", false},
		{"application/json, application/x-www-form-urlencoded", false},
		{"application/x-www-form-urlencoded,application/json", false},
		{"application/json,application/json", false},
		{"application/json; foo=\"a,b\"", false},
	}
	for _, c := range cases {
		r := bindReq("POST", "/pay", body, map[string]any{"sub": "u", "scope": "acct-a1"})
		if c.ct == "-" {
			delete(r.Headers, "content-type")
		} else {
			r.Headers["content-type"] = c.ct
		}
		res := decide(s, r)
		if c.bind && !res.Allowed {
			t.Errorf("Content-Type %q: %s, want allowed", c.ct, res.Reason)
		}
		if !c.bind && res.Reason != decision.ReasonTemplateUnbound {
			t.Errorf("Content-Type %q: %s, want template_unbound", c.ct, res.Reason)
		}
	}
}

// TestQueryNamesThatNormaliseEqual: a looked-up query parameter is unbound
// when another parameter's name equals it once both are read as lenient
// frameworks read names — white space trimmed, '.' and ' ' as '_', a
// trailing [] or [key] dropped, case folded — since such a reader may take
// the other's value. Names that stay distinct bind as before.
func TestQueryNamesThatNormaliseEqual(t *testing.T) {
	s := compile(t, bindingPolicy, decision.Options{})
	cases := []struct {
		query string
		bind  bool
	}{
		{"org=org_1", true},
		{"org=org_1&other=org_2", true},
		{"org=org_1&organization=org_2", true},
		{"org=org_1&or=org_2", true},
		{"org=org_1&o_rg=org_2", true},
		{"org=org_1&ORG=org_2", false},
		{"org=org_1&+org=org_2", false},
		{"org=org_1&%20org=org_2", false},
		{"org=org_1&org%20=org_2", false},
		{"org=org_1&%09org=org_2", false},
		{"org=org_1&org[]=org_2", false},
		{"org=org_1&org[x]=org_2", false},
		{"org=org_1&org[a][b]=org_2", false},
		{"org=org_1&Org[]=org_2", false},
		{"org=org_1&+org+[]=org_2", false},
		{"org[]=org_2&org=org_1", false},
	}
	for _, c := range cases {
		res := decide(s, bindReq("GET", "/orgs?"+c.query, "", map[string]any{"sub": "u", "oid": "org_1"}))
		if res.Allowed != c.bind {
			t.Errorf("?%s: %s, want allowed %v", c.query, res.Reason, c.bind)
		}
	}
	// '.' and ' ' read as '_': a rule on org_ meets org. and "org ".
	s2 := compile(t, `
routes:
  - name: q
    match: GET /q
    scopes: ["acct-{query.org_}"]
`, decision.Options{})
	for q, bind := range map[string]bool{
		"org_=a1":            true,
		"org_=a1&org.=a2":    false,
		"org_=a1&org+=a2":    false,
		"org_=a1&org%2E=a2":  false,
		"org_=a1&+ORG.=a2":   false,
		"org_=a1&org__=a2":   true,
		"org_=a1&org_[x]=a2": false,
		"org_=a1&or.g=a2":    true,
	} {
		res := decide(s2, bindReq("GET", "/q?"+q, "", map[string]any{"sub": "u", "scope": "acct-a1"}))
		if res.Allowed != bind {
			t.Errorf("?%s: %s, want allowed %v", q, res.Reason, bind)
		}
	}
}
