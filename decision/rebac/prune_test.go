package rebac

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestPrunedEqualsUnpruned: on random models and graphs (built, changed with
// Apply, and with contextual tuples), the pruned search answers every check
// exactly as the search that explores every branch.
func TestPrunedEqualsUnpruned(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	objs := []string{"t1:a", "t1:b", "t2:a", "t2:b"}
	rels := []string{"r0", "r1", "r2", "r3"}
	// user:u9 and t2:z appear in no tuple; user:* only where a wildcard was drawn.
	users := []string{"user:u1", "user:u2", "user:u9", "user:*", "t1:a#r0", "t2:b#r1", "t2:z#r2"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	nModels := 300
	if testing.Short() {
		nModels = 30
	}
	checks, pruned := 0, 0
	for models := 0; models < nModels; {
		m, err := ParseModel(randomModel(rng))
		if err != nil {
			continue
		}
		models++
		var all []Tuple
		for i := 0; i < 30; i++ {
			u := pick([]string{"user:u1", "user:u2", "user:*", pick(objs) + "#" + pick(rels), pick(objs)})
			rel := pick(rels)
			if strings.HasPrefix(u, "t") && !strings.Contains(u, "#") {
				rel = "p"
			}
			all = append(all, Tuple{Object: pick(objs), Relation: rel, User: u})
		}
		third := len(all) / 3
		g, _ := Build(m, all[:third])
		g = g.Apply(all[third:2*third], all[:3])
		ctx := validOnly(m, all[2*third:])
		for _, o := range objs {
			for _, r := range rels {
				for _, u := range users {
					for _, opts := range []CheckOptions{{}, {Contextual: ctx}} {
						want := opts
						want.noPrune = true
						a, b := g.Check(o, r, u, opts), g.Check(o, r, u, want)
						if a.Allowed != b.Allowed || (a.Err == nil) != (b.Err == nil) {
							t.Fatalf("%s#%s@%s (contextual %v): pruned %+v, unpruned %+v", o, r, u, len(opts.Contextual) > 0, a, b)
						}
						checks++
						if len(opts.Contextual) == 0 && !reachableFor(g, o, r, u) {
							pruned++
						}
					}
				}
			}
		}
	}
	if pruned == 0 {
		t.Fatal("no check was pruned at the top: the test does not exercise pruning")
	}
	t.Logf("%d checks, %d decided by pruning at the top", checks, pruned)
}

// reachableFor reports whether the graph's reach sets let object#relation hold for user.
func reachableFor(g *Graph, object, relation, user string) bool {
	m := g.Model()
	ri, _ := m.relID(strings.Split(object, ":")[0], relation)
	u, _ := splitUser(user)
	typ := m.typeIdx[u.typ]
	rs := g.pr.reach
	var b1, b2 int
	switch {
	case u.wildcard:
		b1, b2 = rs.userBits(subjWildcard, typ, -1, false)
	case u.rel != "":
		b1, b2 = rs.userBits(subjUserset, typ, m.types[typ].rels[u.rel], true)
	default:
		_, known := g.lookupObj(user)
		b1, b2 = rs.userBits(subjObject, typ, -1, known)
	}
	return rs.reachable(ri, b1, b2)
}

// TestPruneReach: the reach sets of a small model, by hand.
func TestPruneReach(t *testing.T) {
	g := mustGraph(t, `model
  schema 1.1
type user
type bot
type team
  relations
    define member: [user, team#member]
type doc
  relations
    define owner: [bot]
    define viewer: [user, user:*, team#member] or owner
    define blocked: [user]
    define reader: viewer but not blocked
`, "team:a#member@user:anne", "doc:1#viewer@team:a#member", "doc:1#owner@bot:b")
	cases := []struct {
		object, relation, user string
		reachable              bool
	}{
		{"doc:1", "viewer", "user:anne", true},
		{"doc:1", "viewer", "bot:b", true},         // through owner
		{"doc:1", "blocked", "bot:b", false},       // only [user]
		{"doc:1", "viewer", "user:nobody", false},  // no user:* tuple, and nobody is in no tuple
		{"doc:1", "viewer", "user:*", false},       // no user:* tuple at all
		{"doc:1", "reader", "team:a#member", true}, // team#member restriction
		{"doc:1", "viewer", "doc:1#reader", false}, // no doc#reader restriction anywhere
		{"doc:1", "reader", "doc:1#reader", true},  // a userset reaches itself
		{"team:a", "member", "bot:b", false},
	}
	for _, c := range cases {
		if got := reachableFor(g, c.object, c.relation, c.user); got != c.reachable {
			t.Errorf("reachable(%s#%s@%s) = %v, want %v", c.object, c.relation, c.user, got, c.reachable)
		}
	}
	// A user:* tuple written later makes the wildcard path reachable.
	g2 := g.Apply(mustTuples(t, "doc:2#viewer@user:*"), nil)
	if !reachableFor(g2, "doc:1", "viewer", "user:nobody") {
		t.Error("after a user:* write, doc#viewer must be reachable for any user")
	}
	if !g2.Check("doc:2", "viewer", "user:nobody", CheckOptions{}).Allowed {
		t.Error("user:nobody must view doc:2 through user:*")
	}
}

// TestClosedShortcutEqualsSearch: on random group graphs (nested, with
// cycles, some changes applied as an overlay), answering closed relations
// from the user's side gives the same answer and the same depth errors as
// expanding usersets from the top, at several depth limits.
func TestClosedShortcutEqualsSearch(t *testing.T) {
	const dsl = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
    define admin: [user, group#admin, group#member]
type doc
  relations
    define owner: [group]
    define viewer: [user, group#member] or admin from owner
    define blocked: [group#member]
    define reader: viewer but not blocked
`
	rng := rand.New(rand.NewPCG(1, 2))
	m := mustModel(t, dsl)
	groups := make([]string, 12)
	for i := range groups {
		groups[i] = "group:g" + strconv.Itoa(i)
	}
	users := []string{"user:a", "user:b", "user:c", "user:d", "user:nobody"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	shortcuts := 0
	for round := 0; round < 150; round++ {
		var ts []Tuple
		for i := 0; i < 25; i++ {
			switch rng.IntN(5) {
			case 0, 1:
				ts = append(ts, Tuple{Object: pick(groups), Relation: pick([]string{"member", "admin"}), User: pick(groups) + "#" + pick([]string{"member", "admin"})})
			case 2:
				ts = append(ts, Tuple{Object: pick(groups), Relation: pick([]string{"member", "admin"}), User: pick(users[:4])})
			case 3:
				ts = append(ts, Tuple{Object: "doc:" + strconv.Itoa(rng.IntN(3)), Relation: pick([]string{"viewer", "blocked"}), User: pick(groups) + "#member"})
			default:
				ts = append(ts, Tuple{Object: "doc:" + strconv.Itoa(rng.IntN(3)), Relation: "owner", User: pick(groups)})
			}
		}
		g, _ := Build(m, ts[:15])
		g = g.Apply(ts[15:], ts[:2])
		for _, depth := range []int{0, 3, 6} {
			for _, u := range users {
				check := func(o, r string) {
					a := g.Check(o, r, u, CheckOptions{MaxDepth: depth})
					b := g.Check(o, r, u, CheckOptions{MaxDepth: depth, noPrune: true})
					if a.Allowed != b.Allowed || (a.Err == nil) != (b.Err == nil) && a.Allowed {
						t.Fatalf("round %d depth %d %s#%s@%s: shortcut %+v, search %+v\n%v", round, depth, o, r, u, a, b, g.Tuples())
					}
					// A depth error the search met in a branch that grants
					// nothing may become a plain deny; never the reverse.
					if a.Err != nil && b.Err == nil {
						t.Fatalf("round %d depth %d %s#%s@%s: shortcut errs %v, search answers %v", round, depth, o, r, u, a.Err, b.Allowed)
					}
					shortcuts++
				}
				for _, o := range groups {
					check(o, "member")
					check(o, "admin")
				}
				for i := 0; i < 3; i++ {
					check("doc:"+strconv.Itoa(i), "viewer")
					check("doc:"+strconv.Itoa(i), "reader")
				}
			}
		}
	}
	t.Logf("%d checks compared", shortcuts)
}

// TestClosedShortcutWithConditions: group memberships under a condition,
// checked with a context that makes it true, false or unevaluable: the
// answers and errors match the search from the top.
func TestClosedShortcutWithConditions(t *testing.T) {
	const dsl = `model
  schema 1.1
type user
type group
  relations
    define member: [user, user with weekday, group#member]
type doc
  relations
    define viewer: [user, group#member]
condition weekday(day: int) {
  day < 6
}
`
	rng := rand.New(rand.NewPCG(5, 8))
	m := mustModel(t, dsl)
	groups := []string{"group:a", "group:b", "group:c", "group:d", "group:e"}
	users := []string{"user:x", "user:y", "user:z"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	contexts := []map[string]any{nil, {"day": 3}, {"day": 7}}
	compared := 0
	for round := 0; round < 200; round++ {
		var ts []Tuple
		for i := 0; i < 12; i++ {
			switch rng.IntN(4) {
			case 0:
				ts = append(ts, Tuple{Object: pick(groups), Relation: "member", User: pick(groups) + "#member"})
			case 1:
				ts = append(ts, Tuple{Object: pick(groups), Relation: "member", User: pick(users)})
			case 2:
				ts = append(ts, Tuple{Object: pick(groups), Relation: "member", User: pick(users), Condition: "weekday"})
			default:
				ts = append(ts, Tuple{Object: "doc:1", Relation: "viewer", User: pick(groups) + "#member"})
			}
		}
		g, _ := Build(m, ts)
		for _, ctx := range contexts {
			for _, u := range users {
				for _, o := range append([]string{"doc:1"}, groups...) {
					r := "member"
					if o == "doc:1" {
						r = "viewer"
					}
					a := g.Check(o, r, u, CheckOptions{Context: ctx})
					b := g.Check(o, r, u, CheckOptions{Context: ctx, noPrune: true})
					if a.Allowed != b.Allowed || (a.Err == nil) != (b.Err == nil) {
						t.Fatalf("%s#%s@%s context %v: shortcut %+v, search %+v\n%v", o, r, u, ctx, a, b, g.Tuples())
					}
					compared++
				}
			}
		}
	}
	t.Logf("%d checks compared", compared)
}
