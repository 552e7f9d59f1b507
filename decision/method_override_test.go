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
			res := s.Decide(r)
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
	if res := s.Decide(withToken("GET", "/docs/d1", map[string]any{"sub": "u", "roles": []any{"viewer"}})); !res.Allowed {
		t.Errorf("no override header: %s", res.Reason)
	}
}
