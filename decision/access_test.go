package decision_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

const accessPolicy = `
roles:
  viewer: {permissions: [read:docs]}
  editor: {inherits: [viewer], permissions: [write:docs]}
  owner_role: {}
  evil_genius: {inherits: [editor]}
model: |
  model
    schema 1.1
  type user
  type folder
    relations
      define viewer: [user]
  type doc
    relations
      define parent: [folder]
      define owner: [user]
      define reader: [user] or owner or viewer from parent
authzen:
  subjects:
    user:
      alice: {roles: [editor], org: acme, properties: {email: alice@acme.test}}
      bob: {roles: [viewer], org: acme, scopes: [export:docs]}
      eve: {roles: [evil_genius], org: evil}
  resources:
    doc:
      ids: [d1, d2, d3]
      actions:
        delete:
          any_of:
            - roles: [evil_genius]
            - roles: [editor]
              relation: owner
        write: {scopes: [write:docs], org: org}
        export: {scopes: [export:docs]}
        annotate:
          roles: [viewer]
          when: context.purpose == "review" && subject.properties.email.endsWith("@acme.test")
        open: {public: true}
tuples:
  - doc:d1#owner@user:alice
  - doc:d2#parent@folder:f1
  - folder:f1#viewer@user:bob
`

func access(subject, action, resource string) *decision.AccessRequest {
	st, sid, _ := strings.Cut(subject, ":")
	rt, rid, _ := strings.Cut(resource, ":")
	return &decision.AccessRequest{Subject: decision.Entity{Type: st, ID: sid}, Action: decision.Action{Name: action},
		Resource: decision.Entity{Type: rt, ID: rid}}
}

func TestDecideAccess(t *testing.T) {
	s := compile(t, accessPolicy, decision.Options{})
	with := func(r *decision.AccessRequest, f func(*decision.AccessRequest)) *decision.AccessRequest {
		f(r)
		return r
	}
	cases := []struct {
		name   string
		req    *decision.AccessRequest
		allow  bool
		reason decision.Reason
	}{
		{"any_of: the first alternative", access("user:eve", "delete", "doc:d9"), true, decision.ReasonAllowed},
		{"any_of: the second alternative, role and relation", access("user:alice", "delete", "doc:d1"), true, decision.ReasonAllowed},
		{"any_of: role without the relation", access("user:alice", "delete", "doc:d2"), false, decision.ReasonRelationDenied},
		{"any_of: neither", access("user:bob", "delete", "doc:d1"), false, decision.ReasonMissingRole},
		{"scope from a role and the org from a resource property", with(access("user:alice", "write", "doc:d1"), func(r *decision.AccessRequest) {
			r.Resource.Properties = map[string]any{"org": "acme"}
		}), true, decision.ReasonAllowed},
		{"another org's resource", with(access("user:alice", "write", "doc:d1"), func(r *decision.AccessRequest) {
			r.Resource.Properties = map[string]any{"org": "globex"}
		}), false, decision.ReasonTenantMismatch},
		{"scope without the role's permission", access("user:bob", "write", "doc:d1"), false, decision.ReasonMissingScope},
		{"scope assigned to the subject", access("user:bob", "export", "doc:d1"), true, decision.ReasonAllowed},
		{"when over subject and context", with(access("user:alice", "annotate", "doc:d1"), func(r *decision.AccessRequest) {
			r.Context = map[string]any{"purpose": "review"}
		}), true, decision.ReasonAllowed},
		{"when false", with(access("user:alice", "annotate", "doc:d1"), func(r *decision.AccessRequest) {
			r.Context = map[string]any{"purpose": "fun"}
		}), false, decision.ReasonConditionFalse},
		{"when without its context is an error, denied", access("user:alice", "annotate", "doc:d1"), false, decision.ReasonConditionError},
		{"public", access("user:nobody", "open", "doc:x"), true, decision.ReasonPublic},
		{"a relation of the model answers an action no rule names", access("user:bob", "reader", "doc:d2"), true, decision.ReasonAllowed},
		{"the relation denies", access("user:bob", "reader", "doc:d1"), false, decision.ReasonRelationDenied},
		{"neither a rule nor a relation", access("user:alice", "fly", "doc:d1"), false, decision.ReasonNoRoute},
		{"properties do not vouch for roles from an untrusted caller", with(access("user:mallory", "delete", "doc:d1"), func(r *decision.AccessRequest) {
			r.Subject.Properties = map[string]any{"roles": []any{"evil_genius"}}
		}), false, decision.ReasonMissingRole},
		{"properties vouch for roles from a trusted caller", with(access("user:mallory", "delete", "doc:d1"), func(r *decision.AccessRequest) {
			r.Subject.Properties = map[string]any{"roles": []any{"evil_genius"}}
			r.TrustProperties = true
		}), true, decision.ReasonAllowed},
		{"trusted scopes and org", with(access("user:mallory", "write", "doc:d1"), func(r *decision.AccessRequest) {
			r.Subject.Properties = map[string]any{"scopes": "a write:docs", "org": "acme"}
			r.Resource.Properties = map[string]any{"org": "acme"}
			r.TrustProperties = true
		}), true, decision.ReasonAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := s.ExplainAccess(c.req)
			if res.Allowed != c.allow || res.Reason != c.reason {
				t.Errorf("allowed=%v reason=%s (%s %s), want %v %s; trace %+v", res.Allowed, res.Reason, res.Requirement, res.Detail, c.allow, c.reason, res.Trace)
			}
			if plain := s.DecideAccess(c.req); plain.Allowed != res.Allowed || plain.Reason != res.Reason {
				t.Errorf("DecideAccess and ExplainAccess disagree")
			}
			if len(res.Trace) == 0 {
				t.Errorf("no trace")
			}
		})
	}
}

func TestAccessRevokedSubject(t *testing.T) {
	s := compile(t, accessPolicy+"revoked: {subjects: [eve]}\n", decision.Options{})
	if res := s.DecideAccess(access("user:eve", "delete", "doc:d1")); res.Allowed || res.Reason != decision.ReasonRevoked {
		t.Errorf("%+v", res)
	}
}

func TestAccessSearch(t *testing.T) {
	s := compile(t, accessPolicy, decision.Options{})
	ctx := context.Background()
	// Candidates from the policy's subjects and from the tuples, each decided.
	ids, _ := s.SearchSubjects(ctx, access("user:", "delete", "doc:d1"))
	if !slices.Equal(ids, []string{"alice", "eve"}) {
		t.Errorf("who may delete d1: %v", ids)
	}
	ids, _ = s.SearchSubjects(ctx, access("user:", "reader", "doc:d2"))
	if !slices.Equal(ids, []string{"bob"}) {
		t.Errorf("who reads d2 (through the folder): %v", ids)
	}
	ids, _ = s.SearchResources(ctx, access("user:bob", "reader", "doc:"))
	if !slices.Equal(ids, []string{"d2"}) {
		t.Errorf("what bob reads: %v", ids)
	}
	ids, _ = s.SearchResources(ctx, access("user:alice", "delete", "doc:"))
	if !slices.Equal(ids, []string{"d1"}) {
		t.Errorf("what alice deletes: %v", ids)
	}
	ids, _ = s.SearchActions(ctx, access("user:bob", "", "doc:d2"))
	if !slices.Equal(ids, []string{"export", "open", "reader"}) {
		t.Errorf("what bob may do to d2: %v", ids)
	}
}

func TestAccessCompileErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown role", "roles: {a: {}}\nauthzen:\n  resources:\n    doc:\n      actions:\n        read: {roles: [b]}\n", `policy.yaml:6: authzen rule doc/read: unknown role "b"`},
		{"unknown subject role", "roles: {a: {}}\nauthzen:\n  subjects:\n    user:\n      u1: {roles: [zz]}\n", `policy.yaml:5:`},
		{"empty rule", "authzen:\n  resources:\n    doc:\n      actions:\n        read: {}\n", "policy.yaml:5: authzen rule doc/read requires nothing"},
		{"bad CEL", "authzen:\n  resources:\n    doc:\n      actions:\n        read:\n          when: 'subject.id =='\n", "policy.yaml:6: authzen rule doc/read: when:"},
		{"non-bool CEL", "authzen:\n  resources:\n    doc:\n      actions:\n        read:\n          when: '1 + 2'\n", "not bool"},
		{"relation without a model", "authzen:\n  resources:\n    doc:\n      actions:\n        read: {relation: viewer}\n", "needs a model"},
		{"any_of beside requirements", "roles: {a: {}}\nauthzen:\n  resources:\n    doc:\n      actions:\n        read:\n          roles: [a]\n          any_of: [{roles: [a]}]\n", "any_of stands alone"},
		{"nested any_of", "roles: {a: {}}\nauthzen:\n  resources:\n    doc:\n      actions:\n        read:\n          any_of: [{any_of: [{roles: [a]}]}]\n", "does not nest"},
		{"public with more", "roles: {a: {}}\nauthzen:\n  resources:\n    doc:\n      actions:\n        read: {public: true, roles: [a]}\n", "public: true stands alone"},
		{"unknown key", "authzen:\n  resources:\n    doc:\n      actions:\n        read: {rolez: [a]}\n", "rolez"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := compileErr(c.src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestDecideAccessZeroAlloc holds the AuthZEN decision path for role and
// scope rules to no allocation.
func TestDecideAccessZeroAlloc(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	s := compile(t, accessPolicy, decision.Options{})
	for _, req := range []*decision.AccessRequest{
		access("user:eve", "delete", "doc:d1"),
		access("user:bob", "export", "doc:d1"),
		access("user:bob", "delete", "doc:d1"), // a deny
	} {
		_ = s.DecideAccess(req)
		if n := testing.AllocsPerRun(200, func() { _ = s.DecideAccess(req) }); n != 0 {
			t.Errorf("%s %s: %v allocations, want 0", req.Subject.ID, req.Action.Name, n)
		}
	}
}

// BenchmarkDecideAccess is one AuthZEN decision on a role rule and on a
// rule with alternatives.
func BenchmarkDecideAccess(b *testing.B) {
	s := compile(b, accessPolicy, decision.Options{})
	for name, req := range map[string]*decision.AccessRequest{
		"roles":       access("user:bob", "export", "doc:d1"),
		"any_of":      access("user:eve", "delete", "doc:d1"),
		"any_of-deny": access("user:bob", "delete", "doc:d1"),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = s.DecideAccess(req)
			}
		})
	}
}
