package extauthz_test

import (
	"io"
	"net/http"
	"testing"
)

// methodPolicy has a method-specific rule beside a broader method-less one:
// a delete that reached the broader rule would be decided for a viewer.
const methodPolicy = `
roles:
  viewer: {}
  admin: {}
routes:
  - name: delete-doc
    match: DELETE /docs/{id}
    roles: [admin]
  - name: doc
    match: /docs/{id}
    roles: [viewer]
`

// TestNonCanonicalMethodsAreRefused: over gRPC and in each HTTP style, a
// method that is not an upper-case RFC 9110 token is answered 400
// bad_request before any route is matched, with the deny body every 400
// has; the canonical method is decided by its own rule.
func TestNonCanonicalMethodsAreRefused(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: []byte(methodPolicy)})
	viewer := mint(t, a, with(validClaims(), "roles", []string{"viewer"}))
	cases := []struct {
		method string
		status int
		reason string
		line   bool // can be sent as an HTTP request line
		header bool // survives as a header value (HTTP trims surrounding spaces)
	}{
		{"delete", 400, "bad_request", true, true},
		{"Delete", 400, "bad_request", true, true},
		{"dELETE", 400, "bad_request", true, true},
		{"get", 400, "bad_request", true, true},
		{"DELETE ", 400, "bad_request", false, false},
		{"DEL ETE", 400, "bad_request", false, true},
		{"DELETE\u0130", 400, "bad_request", false, true},
		{"DELETE", 403, "missing_role", true, true},
		{"GET", 200, "allowed", true, true},
		{"PURGE", 200, "allowed", true, true},
	}
	for _, tc := range cases {
		grpcRes := h.check(req{method: tc.method, path: "/docs/d1", headers: bearer(viewer)})
		if meta(grpcRes, "reason") != tc.reason {
			t.Errorf("gRPC %q: reason %q, want %q", tc.method, meta(grpcRes, "reason"), tc.reason)
			continue
		}
		if tc.status == 400 {
			if b := denyBody(t, denied(t, grpcRes).GetBody()); b["error"] != "bad_request" || b["message"] == "" {
				t.Errorf("gRPC %q: body %v", tc.method, b)
			}
			if rule := meta(grpcRes, "rule"); rule != "" {
				t.Errorf("gRPC %q: decided by rule %q", tc.method, rule)
			}
		}
		for style, build := range httpStyles {
			if style == "envoy http_service" && !tc.line || style != "envoy http_service" && !tc.header {
				continue // cannot be sent this way
			}
			t.Run(tc.method+"/"+style, func(t *testing.T) {
				res, err := http.DefaultClient.Do(build(h.base, tc.method, "/docs/d1", viewer))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
				}
				if tc.status != 200 && string(body) != denied(t, grpcRes).GetBody() {
					t.Errorf("body %s differs from gRPC's %s", body, denied(t, grpcRes).GetBody())
				}
			})
		}
	}
}
