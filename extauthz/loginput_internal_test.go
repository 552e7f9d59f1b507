package extauthz

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

const inputPolicy = `
routes:
  - name: tenant-header
    match: GET /t/{id}
    scopes: ["tenant:{headers.x-tenant}"]
  - name: open
    match: GET /open
    public: true
`

// TestInputRecord: the input records what the policy reads and the
// method-override headers, withholds credentials, and names what it left
// out; masks and the field bound take out the inputs they touch rather than
// write altered ones.
func TestInputRecord(t *testing.T) {
	pol, err := config.ParsePolicy("p.yaml", []byte(inputPolicy))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := decision.Compile(pol, decision.Options{Revision: "r"})
	if err != nil {
		t.Fatal(err)
	}
	names, all := snap.CacheKeyHeaders()
	if all || !reflect.DeepEqual(names, []string{"x-tenant"}) {
		t.Fatalf("the policy reads %v (all %v); the test expects x-tenant", names, all)
	}
	principal := &decision.Principal{Subject: "usr_1", Org: "org_1", Roles: []string{"admin"},
		Claims: map[string]any{"sub": "usr_1", "oid": "org_1", "level": 3.0}}
	base := func() *decision.Request {
		return &decision.Request{Method: "GET", Host: "api.test", Target: "/t/1?q=2",
			Headers: map[string]string{"x-tenant": "t1", "authorization": "Bearer secret", "x-other": "o", "x-http-method": "GET"},
			Context: map[string]string{"edgeauthz_route": "r"}}
	}
	for _, c := range []struct {
		name    string
		req     func() *decision.Request
		mask    Mask
		max     int
		check   func(t *testing.T, in *Input)
		missing []string
		caller  *decision.Caller // nil: principal's
	}{
		{name: "whole", req: base, check: func(t *testing.T, in *Input) {
			if !reflect.DeepEqual(in.Headers, map[string]string{"x-tenant": "t1", "x-http-method": "GET"}) {
				t.Errorf("headers %v", in.Headers)
			}
			if !reflect.DeepEqual(in.HeaderNames, []string{"x-http-method", "x-http-method-override", "x-method-override", "x-tenant"}) {
				t.Errorf("header names %v", in.HeaderNames)
			}
			if in.Target != "/t/1?q=2" || in.Token != InputTokenValid || in.Principal == nil || in.Principal.Claims["level"] != 3.0 ||
				in.Context["edgeauthz_route"] != "r" {
				t.Errorf("input %+v", in)
			}
		}},
		{name: "mask sub", req: base, mask: Mask{Hash: []string{"sub"}}, missing: []string{"principal (masked)"},
			check: func(t *testing.T, in *Input) {
				if in.Principal != nil {
					t.Error("principal kept")
				}
			}},
		{name: "mask path", req: base, mask: Mask{Drop: []string{"path"}}, missing: []string{"target (masked)"}},
		{name: "over the bound", req: func() *decision.Request {
			r := base()
			r.Target = "/t/" + strings.Repeat("x", 40)
			r.Headers["x-tenant"] = strings.Repeat("t", 40)
			return r
		}, max: 32, missing: []string{"header x-tenant (over max_field_bytes)", "target (over max_field_bytes)"}},
		{name: "body", req: func() *decision.Request {
			r := base()
			r.Body = []byte("{}")
			return r
		}, missing: []string{"body (read, not recorded)"}, check: func(t *testing.T, in *Input) {
			if in.BodyBytes != 2 || len(in.BodySHA256) != 64 {
				t.Errorf("body %d %q", in.BodyBytes, in.BodySHA256)
			}
		}},
		{name: "invalid token", req: base, caller: &decision.Caller{Token: decision.TokenInvalid, Error: "token is expired", ErrorCode: "expired"},
			check: func(t *testing.T, in *Input) {
				if in.Token != InputTokenInvalid || in.TokenErrorCode != "expired" || in.Principal != nil {
					t.Errorf("input %+v", in)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewDecisionLog(&buf, LogOptions{MaxFieldBytes: c.max, Mask: c.mask, RecordInputs: true})
			caller := decision.Authenticated(principal)
			if c.caller != nil {
				caller = *c.caller
			}
			l.write(&Entry{Decision: "allow", Input: newInput(c.req(), caller, snap, "authorization")})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "secret") {
				t.Fatalf("the credential was written: %s", buf.String())
			}
			var e Entry
			if err := json.Unmarshal(buf.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Input.Missing, c.missing) {
				t.Errorf("missing %q, want %q", e.Input.Missing, c.missing)
			}
			if c.check != nil {
				c.check(t, e.Input)
			}
		})
	}
}

// TestInputWithholdsCredentialsInAnyCase: a credential header is withheld
// whatever the case of its name in the request or of the configured token
// header, whether the policy reads every header or names some; a target
// whose query carries a token is left out.
func TestInputWithholdsCredentialsInAnyCase(t *testing.T) {
	const all = `
routes:
  - name: cond
    match: GET /c
    when: 'request.headers["x-level"] == "high"'
`
	const named = `
routes:
  - name: named
    match: GET /c
    scopes: ["s:{headers.x-token}", "a:{headers.authorization}", "p:{headers.proxy-authorization}"]
`
	compile := func(src string) *decision.Snapshot {
		t.Helper()
		pol, err := config.ParsePolicy("p.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		snap, err := decision.Compile(pol, decision.Options{Revision: "r"})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	allSnap, namedSnap := compile(all), compile(named)
	if _, a := allSnap.CacheKeyHeaders(); !a {
		t.Fatal("the condition policy should read every header")
	}
	const secret = "s3cr3tTOKENvalue"
	for _, c := range []struct {
		name         string
		snap         *decision.Snapshot
		tokenHeader  string
		target       string
		headers      map[string]string
		wantWithheld []string
		wantMissing  []string
	}{
		{name: "all, token header configured upper-case", snap: allSnap, tokenHeader: "X-Token",
			headers:      map[string]string{"x-token": secret, "x-level": "high"},
			wantWithheld: []string{"x-token"}},
		{name: "all, token header lower-case, request key mixed case", snap: allSnap, tokenHeader: "x-token",
			headers:      map[string]string{"X-Token": secret, "x-level": "high"},
			wantWithheld: []string{"x-token"}},
		{name: "all, gRPC keys not lower-cased", snap: allSnap, tokenHeader: "authorization",
			headers: map[string]string{"Authorization": "Bearer " + secret, "Proxy-Authorization": "Basic " + secret,
				"COOKIE": "s=" + secret, "x-level": "high"},
			wantWithheld: []string{"authorization", "cookie", "proxy-authorization"}},
		{name: "all, same credential in two cases", snap: allSnap, tokenHeader: "authorization",
			headers:      map[string]string{"authorization": "Bearer " + secret, "AUTHORIZATION": "Bearer " + secret},
			wantWithheld: []string{"authorization"}},
		{name: "named, token header upper-case", snap: namedSnap, tokenHeader: "X-Token",
			headers:      map[string]string{"x-token": secret, "authorization": "Bearer " + secret, "proxy-authorization": secret},
			wantWithheld: []string{"authorization", "proxy-authorization", "x-token"}},
		{name: "access_token in the query", snap: namedSnap, tokenHeader: "authorization",
			target:      "/c?a=1&ACCESS_TOKEN=" + secret,
			wantMissing: []string{"target (carries a credential query parameter)"}},
		{name: "percent-encoded id_token in the query", snap: namedSnap, tokenHeader: "authorization",
			target:      "/c?id%5Ftoken=" + secret,
			wantMissing: []string{"target (carries a credential query parameter)"}},
		{name: "other query kept", snap: namedSnap, tokenHeader: "authorization", target: "/c?token_type=x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := c.target
			if target == "" {
				target = "/c"
			}
			req := &decision.Request{Method: "GET", Host: "api.test", Target: target, Headers: c.headers}
			var buf bytes.Buffer
			l := NewDecisionLog(&buf, LogOptions{RecordInputs: true})
			in := newInput(req, decision.Caller{}, c.snap, c.tokenHeader)
			l.write(&Entry{Decision: "deny", Input: in})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), secret) {
				t.Fatalf("the credential was written: %s", buf.String())
			}
			var e Entry
			if err := json.Unmarshal(buf.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Input.Withheld, c.wantWithheld) {
				t.Errorf("withheld %q, want %q", e.Input.Withheld, c.wantWithheld)
			}
			if !reflect.DeepEqual(e.Input.Missing, c.wantMissing) {
				t.Errorf("missing %q, want %q", e.Input.Missing, c.wantMissing)
			}
			if c.wantMissing == nil && e.Input.Target != target {
				t.Errorf("target %q, want %q", e.Input.Target, target)
			}
		})
	}
}

// FuzzInputWithholdsCredentials: whatever the names' case and the target,
// the recorded input of a policy that reads every header holds no value of
// a credential header and no target naming access_token.
func FuzzInputWithholdsCredentials(f *testing.F) {
	pol, err := config.ParsePolicy("p.yaml", []byte("routes:\n  - name: c\n    match: GET /c\n    when: 'request.headers[\"x-level\"] == \"high\"'\n"))
	if err != nil {
		f.Fatal(err)
	}
	snap, err := decision.Compile(pol, decision.Options{Revision: "r"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("X-Token", "x-TOKEN", "Authorization", "/c?access_token=1")
	f.Add("authorization", "Cookie", "PROXY-authorization", "/c?a=1&Access%5FToken=2")
	f.Fuzz(func(t *testing.T, tokenHeader, h1, h2, target string) {
		const secret = "\x00fuzz-secret\x00"
		req := &decision.Request{Method: "GET", Host: "h", Target: target,
			Headers: map[string]string{h1: secret + "1", h2: secret + "2", "x-level": "high"}}
		in := newInput(req, decision.Caller{}, snap, tokenHeader)
		for _, h := range []string{h1, h2} {
			lower := strings.ToLower(h)
			if strings.EqualFold(h, tokenHeader) || lower == "authorization" || lower == "proxy-authorization" || lower == "cookie" {
				for k, v := range in.Headers {
					if strings.HasPrefix(v, secret) && strings.EqualFold(k, h) {
						t.Fatalf("credential header %q recorded (token header %q)", k, tokenHeader)
					}
				}
			}
		}
		if strings.Contains(strings.ToLower(in.Target), "?access_token=") || strings.Contains(strings.ToLower(in.Target), "&access_token=") {
			t.Fatalf("target %q recorded", in.Target)
		}
	})
}
