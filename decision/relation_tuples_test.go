package decision_test

import (
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

const storeTuplesPolicy = `model: |
  model
    schema 1.1
  type user
  type team
    relations
      define member: [user, team#member]
  type document
    relations
      define viewer: [user, team#member]
tuples:
  - document:d1#viewer@team:eng#member
  - %s
`

// TestCompileTuples: the policy's tuples and the store's are parsed as the
// graph indexes them; every malformed one is still reported (the policy's
// with its file:line) and the good ones are indexed.
func TestCompileTuples(t *testing.T) {
	tests := []struct {
		name    string
		inline  string
		store   []string
		tuples  int      // indexed, when the policy compiles
		wantErr []string // each must appear in the error
	}{
		{name: "good", inline: "team:eng#member@user:ann", store: []string{"document:d2#viewer@user:bob", "team:eng#member@user:cid"}, tuples: 4},
		{name: "no store tuples", inline: "team:eng#member@user:ann", tuples: 2},
		{name: "bad inline tuple", inline: "team:eng#member", store: []string{"document:d2#viewer@user:bob"},
			wantErr: []string{"p.yaml:13:", `"team:eng#member"`}},
		{name: "bad store tuples", inline: "team:eng#member@user:ann", store: []string{"document:d2#viewer@user:bob", "nocolon#viewer@user:x", "document:d3#viewer"},
			wantErr: []string{`store tuple: tuple "nocolon#viewer@user:x"`, `store tuple: tuple "document:d3#viewer"`}},
		{name: "both bad", inline: "document#viewer@user:ann", store: []string{"team:eng#member@"},
			wantErr: []string{"p.yaml:13:", `store tuple: tuple "team:eng#member@"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := config.ParsePolicy("p.yaml", []byte(strings.Replace(storeTuplesPolicy, "%s", tt.inline, 1)))
			if err != nil {
				t.Fatal(err)
			}
			s, err := decision.Compile(p, decision.Options{Tuples: tt.store})
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("compiled; want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n, ignored := s.RelationStats(); n != tt.tuples || ignored != 0 {
				t.Fatalf("RelationStats = %d, %d; want %d, 0", n, ignored, tt.tuples)
			}
			if r := s.CheckRelation("document:d1", "viewer", "user:ann", nil); r.Reason != decision.ReasonAllowed {
				t.Errorf("ann views d1 through team eng: %v %s", r.Reason, r.Detail)
			}
			for _, st := range tt.store {
				obj, rest, _ := strings.Cut(st, "#")
				rel, user, _ := strings.Cut(rest, "@")
				if r := s.CheckRelation(obj, rel, user, nil); r.Reason != decision.ReasonAllowed {
					t.Errorf("store tuple %s not indexed: %v %s", st, r.Reason, r.Detail)
				}
			}
		})
	}
}

// TestCompileReusesRelationIndex: a policy compiled with Options.Reuse takes
// the relationship index over exactly when its model and tuples (its own
// and the store's) are the ones Reuse was built from, and answers as a
// fresh build would.
func TestCompileReusesRelationIndex(t *testing.T) {
	const routes = "routes:\n  - {name: r, match: 'GET /docs/{id}', relation: {object: 'document:{params.id}', relation: viewer}}\n"
	base := strings.Replace(storeTuplesPolicy, "%s", "team:eng#member@user:ann", 1)
	store := []string{"document:d2#viewer@user:bob"}
	first := compile(t, base+routes, decision.Options{Tuples: store})
	if first.ReusedRelations() {
		t.Fatal("a first compile reports a reused index")
	}
	applied, err := first.ApplyTuples([]string{"document:d3#viewer@user:cid"}, nil, "r2")
	if err != nil {
		t.Fatal(err)
	}
	otherRoutes := strings.Replace(routes, "name: r,", "name: renamed,", 1)
	for _, c := range []struct {
		name   string
		policy string
		store  []string
		reuse  *decision.Snapshot
		want   bool
	}{
		{"routes changed", base + otherRoutes, store, first, true},
		{"no snapshot to reuse", base + otherRoutes, store, nil, false},
		{"a policy tuple changed", strings.Replace(base, "user:ann", "user:amy", 1) + routes, store, first, false},
		{"a store tuple changed", base + routes, []string{"document:d2#viewer@user:bo"}, first, false},
		{"a tuple moved from the store to the policy", base + "  - document:d2#viewer@user:bob\n" + routes, nil, first, false},
		{"the model changed", strings.Replace(base, "define viewer: [user, team#member]", "define viewer: [user]", 1) + routes, store, first, false},
		{"tuples were applied since", base + otherRoutes, store, applied, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := compile(t, c.policy, decision.Options{Tuples: c.store, Reuse: c.reuse})
			if s.ReusedRelations() != c.want {
				t.Fatalf("reused %v, want %v", s.ReusedRelations(), c.want)
			}
			fresh := compile(t, c.policy, decision.Options{Tuples: c.store})
			for _, q := range [][3]string{{"document:d1", "viewer", "user:ann"}, {"document:d1", "viewer", "user:amy"},
				{"document:d2", "viewer", "user:bob"}, {"document:d2", "viewer", "user:bo"}, {"document:d3", "viewer", "user:cid"}} {
				got, want := s.CheckRelation(q[0], q[1], q[2], nil), fresh.CheckRelation(q[0], q[1], q[2], nil)
				if got.Allowed != want.Allowed {
					t.Errorf("%s#%s@%s: %v, a fresh build answers %v", q[0], q[1], q[2], got.Allowed, want.Allowed)
				}
			}
		})
	}
}
