package extauthz

import (
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/decisionid"
)

// TestIDFragmentMergesAsResponse holds the hand-encoded decision-id
// fragment to the generated code: a cached decision's reply (shared
// pre-encoded parts plus the fragment) must decode to exactly the response
// built from scratch with the same id, for allows and denies, and for a
// header prefix too long for the reply's inline buffer.
func TestIDFragmentMergesAsResponse(t *testing.T) {
	principal := &decision.Principal{Subject: "usr_1", Org: "org_1", Roles: []string{"editor"}}
	results := map[string]decision.Result{
		"allow":        {Allowed: true, Reason: decision.ReasonAllowed, Status: 200, Rule: "read", Revision: "r1", Principal: principal},
		"allow public": {Allowed: true, Reason: decision.ReasonPublic, Status: 200, Rule: "docs", Revision: "r1"},
		"deny": {Reason: decision.ReasonMissingScope, Status: 403, Rule: "read", Revision: "r1", Principal: principal,
			MissingScopes: []string{"read:docs"}},
		"deny no token": {Reason: decision.ReasonNoToken, Status: 401, Revision: "r1"},
	}
	for _, prefix := range []string{"", "x-" + strings.Repeat("long-", 40)} {
		a := NewAuthorizer(Options{Headers: config.Headers{Prefix: prefix, StripAuthorization: true}})
		for name, res := range results {
			t.Run(name+"/prefix "+prefix, func(t *testing.T) {
				id := a.ids.Next()
				want := a.response(&res, id, nil)
				parts := preEncodedParts(a.response(&res, decisionid.ID{}, nil))
				c := &grpcCall{}
				got := decodeWire(t, c.reply(parts, &a.idFrags, id))
				if !proto.Equal(got, want) {
					t.Fatalf("cached reply decodes to\n%v\nwant\n%v", got, want)
				}
			})
		}
	}
}

func decodeWire(t *testing.T, m *authv3.CheckResponse) *authv3.CheckResponse {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := &authv3.CheckResponse{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}
