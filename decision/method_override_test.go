package decision_test

import (
	"errors"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// TestMethodOverrideRefused: a method-override header whose value is not
// exactly the request's method is refused bad_request (400) before any
// route matches, whichever of the three headers it is; the same value as the
// method, or no such header, is decided as usual.
func TestMethodOverrideRefused(t *testing.T) {
	s := compile(t, `
roles:
  viewer: {}
routes:
  - name: doc
    match: /docs/{id}
    roles: [viewer]
`, decision.Options{})
	for _, name := range []string{"x-http-method-override", "x-http-method", "x-method-override"} {
		for _, c := range []struct {
			method, value string
			refused       bool
		}{
			{"GET", "DELETE", true},
			{"POST", "DELETE", true},
			{"POST", "delete", true},
			{"GET", "get", true},
			{"GET", "", true},
			{"GET", "GET,DELETE", true},
			{"GET", " GET", true},
			{"GET", "GET", false},
			{"POST", "POST", false},
		} {
			r := withToken(c.method, "/docs/d1", map[string]any{"sub": "u", "roles": []any{"viewer"}})
			r.Headers = map[string]string{name: c.value}
			res := decide(s, r)
			if c.refused && (res.Reason != decision.ReasonBadRequest || res.Status != 400 || res.Rule != "") {
				t.Errorf("%s %s: %q: %s %d (rule %q), want bad_request 400", c.method, name, c.value, res.Reason, res.Status, res.Rule)
			}
			if !c.refused && !res.Allowed {
				t.Errorf("%s %s: %q: %s, want allowed", c.method, name, c.value, res.Reason)
			}
			if err := decision.CheckMethodOverride(c.method, r.Headers); (err != nil) != c.refused || err != nil && !errors.Is(err, decision.ErrBadMethod) {
				t.Errorf("CheckMethodOverride(%s, %s: %q) = %v", c.method, name, c.value, err)
			}
		}
	}
	if res := decide(s, withToken("GET", "/docs/d1", map[string]any{"sub": "u", "roles": []any{"viewer"}})); !res.Allowed {
		t.Errorf("no override header: %s", res.Reason)
	}
}

// A _method parameter in the query or the body is the same class as the
// override headers: Rails, Laravel and Symfony run a POST as the method it
// names.
func TestMethodParamRefused(t *testing.T) {
	s := compile(t, `
roles:
  viewer: {}
routes:
  - name: doc
    match: /docs/{id}
    roles: [viewer]
`, decision.Options{})
	form := map[string]string{"content-type": "application/x-www-form-urlencoded"}
	for _, c := range []struct {
		name, method, target string
		headers              map[string]string
		body                 string
		refused              bool
	}{
		{"query", "POST", "/docs/1?_method=DELETE", nil, "", true},
		{"query escaped name", "POST", "/docs/1?%5Fmethod=DELETE", nil, "", true},
		{"query upper-case name", "POST", "/docs/1?_METHOD=DELETE", nil, "", true},
		{"query name with []", "POST", "/docs/1?_method[]=DELETE", nil, "", true},
		{"query padded name", "POST", "/docs/1?+_method=DELETE", nil, "", true},
		{"query lower-case value", "POST", "/docs/1?_method=post", nil, "", true},
		{"query after another", "POST", "/docs/1?a=1&_method=PUT", nil, "", true},
		{"query bad escape", "POST", "/docs/1?_method=%zz", nil, "", true},
		{"query same method", "POST", "/docs/1?_method=POST", nil, "", false},
		{"query other parameter", "POST", "/docs/1?method=DELETE", nil, "", false},
		{"form body", "POST", "/docs/1", form, "a=1&_method=DELETE", true},
		{"form body same method", "POST", "/docs/1", form, "_method=POST", false},
		{"form body without it", "POST", "/docs/1", form, "methodical=1", false},
		{"JSON body", "POST", "/docs/1", map[string]string{"content-type": "application/json"}, `{"_method":"DELETE"}`, true},
		{"multipart body", "POST", "/docs/1", map[string]string{"content-type": "multipart/form-data; boundary=b"},
			"--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n", true},
		{"no parameter", "POST", "/docs/1?x=1", form, "x=1", false},
	} {
		r := withToken(c.method, c.target, map[string]any{"sub": "u", "roles": []any{"viewer"}})
		r.Headers, r.Body = c.headers, []byte(c.body)
		res := decide(s, r)
		if c.refused && (res.Reason != decision.ReasonBadRequest || res.Status != 400) {
			t.Errorf("%s: %s %d, want bad_request 400", c.name, res.Reason, res.Status)
		}
		if !c.refused && !res.Allowed {
			t.Errorf("%s: %s, want allowed", c.name, res.Reason)
		}
		err := decision.CheckMethodParam(c.method, c.target, c.headers, []byte(c.body))
		if (err != nil) != c.refused || err != nil && !errors.Is(err, decision.ErrBadMethod) {
			t.Errorf("%s: CheckMethodParam = %v", c.name, err)
		}
	}
}
