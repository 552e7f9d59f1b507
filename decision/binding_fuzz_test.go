package decision_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision"
)

const bindingFuzzPolicy = `
routes:
  - name: payload
    match: POST /p
    scopes: ["acct-{payload.a.b}"]
  - name: query
    match: GET /q
    scopes: ["acct-{query.from}"]
  - name: claims
    match: GET /c
    scopes: ["acct-{claims.acct.id}"]
`

// refValue is what an independent reader finds at path in doc: the value
// (numbers as their literal text), and whether any object anywhere in the
// document holds two keys equal under strings.EqualFold.
func refValue(doc []byte, path ...string) (v any, found, ambiguous, valid bool) {
	if !utf8.Valid(doc) {
		return nil, false, false, false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil, false, false, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false, false, false
	}
	var walk func(x any) bool
	walk = func(x any) bool {
		switch t := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k, e := range t {
				for _, o := range keys {
					if strings.EqualFold(o, k) {
						return true
					}
				}
				keys = append(keys, k)
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range t {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	ambiguous = walk(v) || hasExactDuplicate(doc)
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false, ambiguous, true
		}
		if v, ok = m[k]; !ok {
			return nil, false, ambiguous, true
		}
	}
	return v, true, ambiguous, true
}

// hasExactDuplicate finds a key repeated verbatim, which decoding into a map
// hides.
func hasExactDuplicate(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var stack []map[string]bool
	var inObject []bool
	expectKey := func() bool { return len(inObject) > 0 && inObject[len(inObject)-1] }
	keyNext := true
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, map[string]bool{})
			inObject = append(inObject, true)
			keyNext = true
			continue
		case json.Delim('['):
			inObject = append(inObject, false)
			continue
		case json.Delim('}'):
			stack = stack[:len(stack)-1]
			inObject = inObject[:len(inObject)-1]
		case json.Delim(']'):
			inObject = inObject[:len(inObject)-1]
		default:
			if expectKey() && keyNext {
				k := tok.(string)
				if stack[len(stack)-1][k] {
					return true
				}
				stack[len(stack)-1][k] = true
				keyNext = false
				continue
			}
		}
		keyNext = true
	}
}

var plainJSONInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// exactText is the text every reader agrees a scalar has, if there is one.
func exactText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return string(x), plainJSONInteger.MatchString(string(x)) && x != "-0"
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// FuzzBinding holds payload, query and claim templates to one property: a
// template allows only when an independent reader of the same request finds
// exactly the held value — a string, or a number whose literal is an
// integer in plain notation equal to it (never a float64 neighbour) — and
// nothing ambiguous: no key repeated exactly or in another case (at any
// depth of the body, among query names, among claim names on the path), no
// repeated query parameter, no query name or value that decodes to invalid
// UTF-8.
// For payloads it also holds the converse where every reader agrees.
func FuzzBinding(f *testing.F) {
	s := compile(f, bindingFuzzPolicy, decision.Options{})
	for _, sd := range []struct{ body, query, claims, held string }{
		{`{"a":{"b":9007199254740993}}`, "from=9007199254740993", `{"acct":{"id":9007199254740993}}`, "9007199254740993"},
		{`{"a":{"b":9007199254740993}}`, "from=x", `{"acct":{"id":9007199254740993}}`, "9007199254740992"},
		{`{"a":{"b":9007199254740992.4}}`, "from=x&FROM=y", `{"acct":{"id":1.0}}`, "9007199254740992"},
		{`{"a":{"b":90071992547409920e-1}}`, "from=x&%46rom=y", `{"acct":{"id":1e0}}`, "1"},
		{`{"a":{"b":-0}}`, "from=%c0%ae", `{"acct":{"id":-0}}`, "0"},
		{`{"a":{"b":"x"},"A":{"b":"y"}}`, "from=y&from=y", `{"acct":{"id":"y"},"ACCT":{"id":"x"}}`, "x"},
		{`{"a":{"b":"x","B":"y"}}`, "fro%E1%B8%BF=x&from=y", `{"acct":{"id":"x","\u212aid":"y"}}`, "y"},
		{`{"a":{"b":true}}`, "from=true", `{"acct":{"id":true}}`, "true"},
		{`{"a":{"b":null}}`, "from=", `{"acct":{"id":null}}`, ""},
		{`{"a":{"b":123456789012345678901234567890}}`, "from=1", `{"acct":{"id":18014398509481985}}`, "18014398509481985"},
	} {
		f.Add(sd.body, sd.query, sd.claims, sd.held)
	}
	f.Fuzz(func(t *testing.T, body, query, claimsJSON, held string) {
		holder := func(method, target string) *call {
			return &call{&decision.Request{Method: method, Target: target},
				decision.Authenticated(principal(map[string]any{"sub": "u", "scope": []any{"acct-" + held}}))}
		}

		r := holder("POST", "/p")
		r.Body = []byte(body)
		r.Headers = map[string]string{"content-type": "application/json"}
		res := decide(s, r)
		v, found, ambiguous, valid := refValue([]byte(body), "a", "b")
		text, exact := exactText(v)
		if res.Allowed && (!valid || !found || ambiguous || !exact || text != held) {
			t.Fatalf("body %s allowed for %q: the body reads %#v (found %v, ambiguous %v, valid %v)", body, held, v, found, ambiguous, valid)
		}
		if !res.Allowed && valid && found && !ambiguous && exact && text == held && asciiKeys(body) {
			t.Fatalf("body %s denied (%s) for %q, which it binds exactly", body, res.Reason, held)
		}

		target := "/q?" + query
		if _, _, err := decision.CanonicalPath(target); err == nil {
			res := decide(s, holder("GET", target))
			if res.Allowed {
				q, err := url.ParseQuery(query)
				vs := q["from"]
				if err != nil || len(vs) != 1 || vs[0] != held || !utf8.ValidString(held) {
					t.Fatalf("query %q allowed for %q: it reads %v (%v)", query, held, q, err)
				}
				for k, kv := range q {
					if k != "from" && strings.EqualFold(k, "from") || !utf8.ValidString(k) || k == "from" && len(kv) != 1 {
						t.Fatalf("query %q allowed for %q beside the ambiguous %q", query, held, k)
					}
					for _, v := range kv {
						if !utf8.ValidString(v) {
							t.Fatalf("query %q allowed for %q beside the invalid UTF-8 %q=%q", query, held, k, v)
						}
					}
				}
			}
		}

		var claims map[string]any
		dec := json.NewDecoder(strings.NewReader(claimsJSON))
		dec.UseNumber()
		if dec.Decode(&claims) == nil && claims != nil {
			r := holder("GET", "/c")
			for k, v := range claims {
				if k != "sub" && k != "scope" {
					r.Principal.Claims[k] = v
				}
			}
			res := decide(s, r)
			acct, _ := r.Principal.Claims["acct"].(map[string]any)
			text, exact := exactText(acct["id"])
			if res.Allowed && (!exact || text != held || foldSibling(r.Principal.Claims, "acct") || foldSibling(acct, "id")) {
				t.Fatalf("claims %s allowed for %q: they read %#v", claimsJSON, held, acct["id"])
			}
		}
	})
}

func foldSibling(m map[string]any, k string) bool {
	for o := range m {
		if o != k && strings.EqualFold(o, k) {
			return true
		}
	}
	return false
}

// asciiKeys reports whether a document's text is ASCII, where case-folding
// readers agree with strings.EqualFold (beyond ASCII edgeauthz folds more
// widely than EqualFold, as some readers do).
func asciiKeys(doc string) bool {
	for i := 0; i < len(doc); i++ {
		if doc[i] >= utf8.RuneSelf || doc[i] == '\\' {
			return false
		}
	}
	return true
}

// methodToken is RFC 9110's token without lower-case letters.
var methodToken = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Z]+$")

// FuzzMethod holds every method to one rule, checked against an
// independent reading of RFC 9110: a method that is not an upper-case token
// never allows and never reaches a route; one that is, is routed.
func FuzzMethod(f *testing.F) {
	s := compile(f, bindingPolicy, decision.Options{})
	for _, m := range []string{"DELETE", "delete", "Delete", "GET", "get", "PURGE", "", " ", "GET ", "G\x00T", "DELETİ", "M-SEARCH", "X_!#$%&'*+-.^`|~9"} {
		f.Add(m)
	}
	viewer := map[string]any{"sub": "u", "roles": []any{"viewer"}}
	f.Fuzz(func(t *testing.T, m string) {
		canonical := methodToken.MatchString(m)
		if err := decision.CheckMethod(m); (err == nil) != canonical {
			t.Fatalf("CheckMethod(%q) = %v, want canonical %v", m, err, canonical)
		}
		res := decide(s, bindReq(m, "/docs/d1", "", viewer))
		if !canonical && (res.Allowed || res.Reason != decision.ReasonBadRequest || res.Status != 400 || res.Rule != "") {
			t.Fatalf("non-canonical method %q: allowed %v, %s %d, rule %q", m, res.Allowed, res.Reason, res.Status, res.Rule)
		}
		if canonical && res.Reason == decision.ReasonBadRequest {
			t.Fatalf("canonical method %q refused", m)
		}
		if canonical && m == "DELETE" && res.Allowed {
			t.Fatal("a viewer deleted")
		}
	})
}
