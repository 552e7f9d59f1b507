package extauthz

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
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
				want := decodeWire(t, a.response(&res, id, nil))
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

// TestMetadataEncoding holds the hand-encoded metadata to structpb's.
func TestMetadataEncoding(t *testing.T) {
	a := NewAuthorizer(Options{})
	for _, res := range []decision.Result{
		{Allowed: true, Reason: decision.ReasonAllowed, Status: 200, Rule: "read", Revision: "r1",
			Principal: &decision.Principal{Subject: "usr_1", Org: "org_1"}},
		{Reason: decision.ReasonNoToken, Status: 401, Revision: strings.Repeat("r", 300)},
		{Reason: decision.ReasonNoSnapshot, Status: 503},
	} {
		for _, id := range []decisionid.ID{{}, a.ids.Next()} {
			f := map[string]any{"decision": verdict(&res), "reason": res.Reason.String(), "status": float64(res.Status),
				"rule": res.Rule, "revision": res.Revision}
			if res.Principal != nil {
				f["subject"], f["org"] = res.Principal.Subject, res.Principal.Org
			}
			if !id.IsZero() {
				f["decision_id"] = id.String()
			}
			want, err := structpb.NewStruct(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(metadata(&res, id))
			if err != nil {
				t.Fatal(err)
			}
			got := &structpb.Struct{}
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("metadata decodes to\n%v\nwant\n%v", got, want)
			}
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

// BenchmarkUncachedResponse builds and encodes an allow that the decision
// cache does not hold (a new token's first request): what GRPC.Check and
// gRPC's codec do after the decision.
func BenchmarkUncachedResponse(b *testing.B) {
	a := NewAuthorizer(Options{})
	res := decision.Result{Allowed: true, Reason: decision.ReasonAllowed, Status: 200, Rule: "read-document",
		Revision:  "sha256:2ad49c7c9e90ddd6a97ee237fba0e8767105ee2e6df0c9fc6b0362bbf15b888b",
		Principal: &decision.Principal{Subject: "usr_2", Org: "org_1", Roles: []string{"viewer"}}}
	headers := map[string]string{"authorization": "Bearer x", ":path": "/orgs/org_1/documents/doc123"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(a.response(&res, a.ids.Next(), headers)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckNewToken drives the whole gRPC Check with a token never
// seen before on every call (ES256: the signature is not what it measures).
func BenchmarkCheckNewToken(b *testing.B) {
	clk := &clock{t: time.Now()}
	a, key := newTestAuthorizer(b, clk, 1<<20)
	toks := make([]*authv3.CheckRequest, 20000)
	for i := range toks {
		tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1",
			"oid": "org_1", "roles": []string{"editor"}, "jti": strconv.Itoa(i)}, time.Hour, "", clk.Now())
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = docCheck(tok)
	}
	g := NewGRPC(a)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		res, _ := g.Check(ctx, toks[i%len(toks)])
		if _, err := proto.Marshal(res); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
