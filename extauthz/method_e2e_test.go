package extauthz_test

import (
	"io"
	"net/http"
	"strings"
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

// TestOriginalURIWithoutMethodIsRefused: in HTTP mode, an X-Original-URI or
// X-Forwarded-Uri without a method header is refused 400 bad_request, with a
// message naming the header to set, never decided as GET.
func TestOriginalURIWithoutMethodIsRefused(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: []byte(methodPolicy)})
	viewer := mint(t, a, with(validClaims(), "roles", []string{"viewer"}))
	cases := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"X-Original-URI alone", map[string]string{"X-Original-URI": "/docs/d1"}, 400},
		{"X-Forwarded-Uri alone", map[string]string{"X-Forwarded-Uri": "/docs/d1"}, 400},
		{"both URIs, no method", map[string]string{"X-Original-URI": "/docs/d1", "X-Forwarded-Uri": "/docs/d1"}, 400},
		{"empty method header", map[string]string{"X-Original-URI": "/docs/d1", "X-Original-Method": ""}, 400},
		{"X-Original-Method", map[string]string{"X-Original-URI": "/docs/d1", "X-Original-Method": "GET"}, 200},
		{"X-Forwarded-Method", map[string]string{"X-Forwarded-Uri": "/docs/d1", "X-Forwarded-Method": "GET"}, 200},
		{"delete named", map[string]string{"X-Original-URI": "/docs/d1", "X-Original-Method": "DELETE"}, 403},
	}
	for _, prefix := range []string{"/authz", "/authz/"} {
		for _, tc := range cases {
			t.Run(tc.name+prefix, func(t *testing.T) {
				r, _ := http.NewRequest("GET", h.base+prefix, nil)
				for k, v := range tc.headers {
					r.Header.Set(k, v)
				}
				res, err := http.DefaultClient.Do(withToken(r, viewer))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
				}
				if tc.status == 400 && (!strings.Contains(string(body), `"error":"bad_request"`) || !strings.Contains(string(body), "X-Original-Method")) {
					t.Errorf("body %s: want bad_request naming X-Original-Method", body)
				}
			})
		}
	}
}

// TestMethodOverrideHeadersAreRefused: a request carrying
// X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override whose value is
// not its method is refused 400 bad_request over gRPC and in each HTTP
// style, even after the same request without the header was allowed and
// cached.
func TestMethodOverrideHeadersAreRefused(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: []byte(methodPolicy)})
	viewer := mint(t, a, with(validClaims(), "roles", []string{"viewer"}))
	cases := []struct {
		value  string
		status int
	}{
		{"DELETE", 400},
		{"delete", 400},
		{"GET,DELETE", 400},
		{"get", 400},
		{"POST", 400},
		{"GET", 200},
	}
	for _, name := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		for _, tc := range cases {
			// Warm the cache with the plain request first.
			if r := h.check(req{method: "GET", path: "/docs/d1", headers: bearer(viewer)}); meta(r, "reason") != "allowed" {
				t.Fatalf("plain GET: %s", meta(r, "reason"))
			}
			hdr := bearer(viewer)
			hdr[strings.ToLower(name)] = tc.value
			wantReason := map[int]string{400: "bad_request", 200: "allowed"}[tc.status]
			if got := meta(h.check(req{method: "GET", path: "/docs/d1", headers: hdr}), "reason"); got != wantReason {
				t.Errorf("gRPC %s: %s: reason %q, want %q", name, tc.value, got, wantReason)
			}
			for style, build := range httpStyles {
				r := build(h.base, "GET", "/docs/d1", viewer)
				r.Header.Set(name, tc.value)
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Errorf("%s %s: %s: status %d, want %d (%s)", style, name, tc.value, res.StatusCode, tc.status, body)
				}
			}
		}
	}
}
