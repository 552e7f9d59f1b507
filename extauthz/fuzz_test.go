package extauthz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// FuzzCheck drives whole CheckRequests through the gRPC adapter. Beyond "no
// panic, no RPC error", it asserts what must never happen: an allow for a
// path that is not canonical, for a method that is not canonical (always a
// 400), for a route that needs a token without a valid one, or a response
// that lets a client-sent identity header through.
func FuzzCheck(f *testing.F) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	a, key := newTestAuthorizer(f, clk, 1<<20)
	good, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1",
		"oid": "org_1", "roles": []any{"editor"}, "scope": "read:documents"}, time.Hour, "", t0)
	if err != nil {
		f.Fatal(err)
	}
	g := NewGRPC(a)
	for _, s := range []struct{ method, path, host, auth, spoof, body, route string }{
		{"GET", "/orgs/org_1/documents/d1", "api.test", "Bearer " + good, "", "", ""},
		{"GET", "/orgs/org_1/documents/../d1", "api.test", "Bearer " + good, "", "", ""},
		{"GET", "/docs/x", "", "", "x-auth-subject", "", ""},
		{"POST", "/payments", "API.TEST:443", "Bearer " + good, "", `{"amount": 5}`, ""},
		{"GET", "/orgs/org_1/documents/d1%2f..", "", "Bearer " + good + ", Bearer " + good, "", "", "read-document"},
		{"HEAD", "/healthz?x=%00", "h", "Basic Zm9vOmJhcg==", "X-Auth-Org", "", "nope"},
		{"delete", "/docs/d1", "api.test", "Bearer " + good, "", "", ""},
		{"Get", "/docs/x%c0%ae%c0%ae", "api.test", "", "", "", ""},
	} {
		f.Add(s.method, s.path, s.host, s.auth, s.spoof, s.body, s.route)
	}
	f.Fuzz(func(t *testing.T, method, path, host, auth, spoof, body, route string) {
		headers := map[string]string{}
		if auth != "" {
			headers["authorization"] = strings.ReplaceAll(auth, "GOOD", good)
		}
		if spoof != "" {
			headers[strings.ToLower(spoof)] = "spoofed"
		}
		ctxExt := map[string]string{}
		if route != "" {
			ctxExt[decision.RouteContextKey] = route
		}
		cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			ContextExtensions: ctxExt,
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: method, Path: path, Host: host, Headers: headers, RawBody: []byte(body),
			}},
		}}
		resp, err := g.Check(context.Background(), cr)
		if err != nil {
			t.Fatalf("Check returned an RPC error: %v", err)
		}
		resp = onTheWire(t, resp)
		ok := resp.GetOkResponse()
		if decision.CheckMethod(method) != nil {
			// Whatever else is wrong, a non-canonical method is a 400.
			if ok != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 400 {
				t.Fatalf("method %q: %v", method, resp)
			}
		}
		if ok == nil {
			if resp.GetDeniedResponse() == nil {
				t.Fatal("neither allowed nor denied")
			}
			return
		}
		if _, _, err := decision.CanonicalPath(path); err != nil {
			t.Fatalf("allowed a non-canonical path %q", path)
		}
		rule := ""
		for _, h := range ok.GetHeaders() {
			if h.GetHeader().GetKey() == "x-auth-rule" {
				rule = h.GetHeader().GetValue()
			}
		}
		if rule != "docs-read" && rule != "health" && headers["authorization"] != "Bearer "+good {
			t.Fatalf("allowed rule %q without the valid token (authorization %q)", rule, headers["authorization"])
		}
		set := map[string]bool{}
		for _, h := range ok.GetHeaders() {
			set[h.GetHeader().GetKey()] = true
		}
		removed := map[string]bool{}
		for _, h := range ok.GetHeadersToRemove() {
			removed[h] = true
		}
		for k := range headers {
			if strings.HasPrefix(k, "x-auth-") && !set[k] && !removed[k] {
				t.Fatalf("client header %q reaches the upstream", k)
			}
		}
	})
}

// FuzzHTTPMethod drives the HTTP endpoint in each style (Envoy's
// http_service, nginx's X-Original-Method, Traefik's X-Forwarded-Method)
// with fuzzed methods. The method a style describes is refused with 400
// unless it is an upper-case RFC 9110 token; it never allows.
func FuzzHTTPMethod(f *testing.F) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, key := newTestAuthorizer(f, &clock{t: t0}, 1000)
	admin, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_admin",
		"oid": "org_1"}, time.Hour, "", t0)
	if err != nil {
		f.Fatal(err)
	}
	h := NewHTTPHandler(a, "/authz")
	for _, s := range []struct {
		method, original, forwarded, uri string
		bare                             bool
	}{
		{"GET", "", "", "/docs/d1", false},
		{"delete", "", "", "/docs/d1", false},
		{"GET", "delete", "", "/docs/d1", true},
		{"GET", "", "Delete", "/docs/d1", true},
		{"GET", "DELETE", "DELETE", "/docs/d1", true},
		{"GET", "", "", "/docs/d1", true},
		{"PURGE", "PURGE", "", "/docs/d1", false},
		{"GET", "GET ", "", "/healthz", true},
	} {
		f.Add(s.method, s.original, s.forwarded, s.uri, s.bare)
	}
	f.Fuzz(func(t *testing.T, method, original, forwarded, uri string, bare bool) {
		r := &http.Request{Method: method, Host: "api.test", Header: http.Header{}, RequestURI: "/authz" + uri}
		r.Header.Set("Authorization", "Bearer "+admin)
		if original != "" {
			r.Header["X-Original-Method"] = []string{original}
		}
		if forwarded != "" {
			r.Header["X-Forwarded-Method"] = []string{forwarded}
		}
		described := method
		if bare {
			r.RequestURI = "/authz"
			r.Header["X-Original-Uri"] = []string{uri}
			if described = original; described == "" {
				described = forwarded
			}
			if described == "" {
				described = http.MethodGet
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if decision.CheckMethod(described) != nil && (w.Code != http.StatusBadRequest || !json.Valid(w.Body.Bytes())) {
			t.Fatalf("method %q (line %q, X-Original-Method %q, X-Forwarded-Method %q, uri %q): %d %s",
				described, method, original, forwarded, uri, w.Code, w.Body)
		}
	})
}
