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
