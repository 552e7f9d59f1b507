package extauthz

import (
	"context"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// FuzzCheck drives whole CheckRequests through the gRPC adapter. Beyond "no
// panic, no RPC error", it asserts what must never happen: an allow for a
// path that is not canonical, for a route that needs a token without a
// valid one, or a response that lets a client-sent identity header through.
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
