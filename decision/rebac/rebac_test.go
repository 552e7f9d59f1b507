package rebac

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

const driveModel = `model
  schema 1.1
type user
type team
  relations
    define member: [user, team#member]
type folder
  relations
    define owner: [user]
    define parent: [folder]
    define viewer: [user, user:*, team#member] or owner or viewer from parent
type document
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user, team#member] or owner
    define blocked: [user, team#member]
    define viewer: ([user] or editor or viewer from parent) but not blocked
    define auditor: [user] and viewer
`

func mustModel(t testing.TB, dsl string) *Model {
	t.Helper()
	m, err := ParseModel(dsl)
	if err != nil {
		t.Fatalf("ParseModel: %v", err)
	}
	return m
}

func mustTuples(t testing.TB, ss ...string) []Tuple {
	t.Helper()
	out := make([]Tuple, 0, len(ss))
	for _, s := range ss {
		tu, err := ParseTuple(s)
		if err != nil {
			t.Fatalf("ParseTuple(%q): %v", s, err)
		}
		out = append(out, tu)
	}
	return out
}

func mustGraph(t testing.TB, dsl string, ss ...string) *Graph {
	t.Helper()
	g, _ := Build(mustModel(t, dsl), mustTuples(t, ss...))
	return g
}

type checkCase struct {
	name                   string
	object, relation, user string
	ctx                    []string
	allow                  bool
	err                    error
}

func runChecks(t *testing.T, g *Graph, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := g.Check(tc.object, tc.relation, tc.user, CheckOptions{Contextual: mustTuples(t, tc.ctx...)})
			if res.Allowed != tc.allow {
				t.Errorf("Allowed = %v (err %v), want %v", res.Allowed, res.Err, tc.allow)
			}
			if tc.err == nil && res.Err != nil {
				t.Errorf("Err = %v, want nil", res.Err)
			}
			if tc.err != nil && !errors.Is(res.Err, tc.err) {
				t.Errorf("Err = %v, want %v", res.Err, tc.err)
			}
		})
	}
}

func TestRewrites(t *testing.T) {
	g := mustGraph(t, driveModel,
		"team:eng#member@user:usr_1",
		"team:all#member@team:eng#member",
		"team:all#member@user:usr_2",
		"folder:root#viewer@team:all#member",
		"folder:f1#parent@folder:root",
		"folder:f1#owner@user:olga",
		"folder:pub#viewer@user:*",
		"document:doc123#parent@folder:f1",
		"document:doc123#owner@user:dora",
		"document:doc123#blocked@user:usr_2",
		"document:doc123#auditor@user:usr_1",
		"document:doc123#auditor@user:zed",
		"document:pubdoc#parent@folder:pub",
		"document:pubdoc#editor@team:eng#member",
	)
	runChecks(t, g, []checkCase{
		{"direct", "folder:f1", "owner", "user:olga", nil, true, nil},
		{"direct other user", "folder:f1", "owner", "user:usr_1", nil, false, nil},
		{"computed", "folder:f1", "viewer", "user:olga", nil, true, nil},
		{"userset nested", "folder:root", "viewer", "user:usr_1", nil, true, nil},
		{"ttu three hops", "document:doc123", "viewer", "user:usr_1", nil, true, nil},
		{"ttu computed owner of parent", "document:doc123", "viewer", "user:olga", nil, true, nil},
		{"computed through editor", "document:doc123", "viewer", "user:dora", nil, true, nil},
		{"but not", "document:doc123", "viewer", "user:usr_2", nil, false, nil},
		{"unrelated user", "document:doc123", "viewer", "user:nobody", nil, false, nil},
		{"and both", "document:doc123", "auditor", "user:usr_1", nil, true, nil},
		{"and one side", "document:doc123", "auditor", "user:zed", nil, false, nil},
		{"wildcard grants any user", "folder:pub", "viewer", "user:anyone", nil, true, nil},
		{"wildcard grants the wildcard", "folder:pub", "viewer", "user:*", nil, true, nil},
		{"wildcard through ttu", "document:pubdoc", "viewer", "user:anyone", nil, true, nil},
		{"wildcard is not a team", "folder:pub", "viewer", "team:x#member", nil, false, nil},
		{"userset as user", "folder:root", "viewer", "team:eng#member", nil, true, nil},
		{"userset contains itself", "team:eng", "member", "team:eng#member", nil, true, nil},
		{"unknown object", "document:nope", "viewer", "user:usr_1", nil, false, nil},
		{"wildcard user not granted by plain tuple", "folder:f1", "owner", "user:*", nil, false, nil},
	})
}

func TestExplain(t *testing.T) {
	g := mustGraph(t, driveModel,
		"team:eng#member@user:usr_1",
		"folder:f1#viewer@team:eng#member",
		"document:doc123#parent@folder:f1",
	)
	res := g.Check("document:doc123", "viewer", "user:usr_1", CheckOptions{Explain: true})
	want := []string{"document:doc123#parent@folder:f1", "folder:f1#viewer@team:eng#member", "team:eng#member@user:usr_1"}
	if !res.Allowed || !slices.Equal(res.Path, want) {
		t.Fatalf("got %v %q, want true %q", res.Allowed, res.Path, want)
	}
	res = g.Check("document:doc123", "viewer", "user:usr_9", CheckOptions{Explain: true})
	if res.Allowed || len(res.Path) != 0 {
		t.Fatalf("denied check has path %q", res.Path)
	}
	// Steps of a branch that did not hold are dropped: viewer holds, blocked too.
	g = mustGraph(t, driveModel, "document:d#viewer@user:u", "document:d#blocked@user:u", "document:d#auditor@user:u", "document:e#viewer@user:u", "document:e#auditor@user:u")
	if res := g.Check("document:d", "auditor", "user:u", CheckOptions{Explain: true}); res.Allowed || len(res.Path) != 0 {
		t.Fatalf("got %v %q", res.Allowed, res.Path)
	}
	res = g.Check("document:e", "auditor", "user:u", CheckOptions{Explain: true})
	if want := []string{"document:e#viewer@user:u", "document:e#auditor@user:u"}; !res.Allowed || !slices.Equal(res.Path, want) {
		t.Fatalf("got %v %q, want %q", res.Allowed, res.Path, want)
	}
}

func TestCyclesAndDepth(t *testing.T) {
	const cyc = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define restricted: [user, doc#viewer]
    define viewer: [user] but not restricted
    define a: [user, doc#b]
    define b: [user, doc#a]
    define c: a and b
`
	g := mustGraph(t, cyc,
		"group:1#member@group:2#member",
		"group:2#member@group:1#member",
		"group:2#member@user:bob",
		"doc:1#viewer@user:jon",
		"doc:1#restricted@doc:1#viewer",
		"doc:2#a@doc:2#b",
		"doc:2#b@doc:2#a",
	)
	runChecks(t, g, []checkCase{
		{"group cycle still finds member", "group:1", "member", "user:bob", nil, true, nil},
		{"group cycle denies stranger", "group:1", "member", "user:eve", nil, false, nil},
		{"true but not cycle", "doc:1", "viewer", "user:jon", nil, false, nil},
		{"pure cycle", "doc:2", "a", "user:jon", nil, false, nil},
		{"cycle and cycle", "doc:2", "c", "user:jon", nil, false, nil},
	})

	// A chain of usersets longer than the depth limit.
	dsl := "model\n  schema 1.1\ntype user\ntype r\n  relations\n    define m: [user, r#m]\n"
	var ts []string
	for i := 0; i < 30; i++ {
		ts = append(ts, fmt.Sprintf("r:%d#m@r:%d#m", i, i+1))
	}
	ts = append(ts, "r:30#m@user:deep")
	g = mustGraph(t, dsl, ts...)
	runChecks(t, g, []checkCase{
		{"depth exceeded", "r:0", "m", "user:deep", nil, false, ErrDepth},
		{"within depth", "r:10", "m", "user:deep", nil, true, nil},
	})
	if res := g.Check("r:0", "m", "user:deep", CheckOptions{MaxDepth: 40}); !res.Allowed {
		t.Errorf("MaxDepth 40: %+v", res)
	}
	if res := g.Check("r:20", "m", "user:deep", CheckOptions{MaxDepth: 5}); !errors.Is(res.Err, ErrDepth) {
		t.Errorf("MaxDepth 5: %+v", res)
	}
}

// The depth limit counts as OpenFGA's resolution depth does: a step to
// another object (a userset tuple) is one level, a computed userset (another
// relation of the same object, as in "but not blocked") is none. Each model
// is a chain of n userset tuples from group:0 down to group:n, which holds
// user:3; OpenFGA allows n = 24 and answers "too complex" from n = 25.
func TestDepthCountsAsOpenFGA(t *testing.T) {
	models := []struct {
		name, dsl, rel string
		alternate      string // the relation of every other hop, if it alternates
	}{
		{"computed between hops", "define owner: [user, group#editor]\n    define editor: owner", "owner", ""},
		{"exclusion on every hop", "define blocked: [user]\n    define editor: [user, group#editor] but not blocked", "editor", ""},
		{"two relations alternating", "define viewer: [user, group#editor]\n    define editor: [user, group#viewer]", "editor", "viewer"},
	}
	for _, m := range models {
		dsl := "model\n  schema 1.1\ntype user\ntype group\n  relations\n    " + m.dsl + "\n"
		for _, c := range []struct {
			n       int
			allowed bool
			err     error
		}{{24, true, nil}, {25, false, ErrDepth}} {
			t.Run(fmt.Sprintf("%s/%d hops", m.name, c.n), func(t *testing.T) {
				rel := func(i int) string {
					if m.alternate != "" && i%2 == 1 {
						return m.alternate
					}
					return m.rel
				}
				user := func(i int) string {
					if m.rel == "owner" {
						return "editor" // the computed relation over owner
					}
					return rel(i)
				}
				var ts []string
				for i := 0; i < c.n; i++ {
					ts = append(ts, fmt.Sprintf("group:%d#%s@group:%d#%s", i, rel(i), i+1, user(i+1)))
				}
				ts = append(ts, fmt.Sprintf("group:%d#%s@user:3", c.n, rel(c.n)))
				g := mustGraph(t, dsl, ts...)
				runChecks(t, g, []checkCase{{"chain", "group:0", rel(0), "user:3", nil, c.allowed, c.err}})
			})
		}
	}
}

func TestInvalidChecks(t *testing.T) {
	g := mustGraph(t, driveModel, "document:1#owner@user:a")
	runChecks(t, g, []checkCase{
		{"unknown object type", "nope:1", "viewer", "user:a", nil, false, ErrInvalidCheck},
		{"unknown relation", "document:1", "nope", "user:a", nil, false, ErrInvalidCheck},
		{"malformed object", "document", "viewer", "user:a", nil, false, ErrInvalidCheck},
		{"malformed user", "document:1", "viewer", "a:b:c", nil, false, ErrInvalidCheck},
		{"user without type", "document:1", "viewer", "anne", nil, false, ErrInvalidCheck},
		{"user type not in model", "document:1", "viewer", "robot:r2", nil, false, ErrInvalidCheck},
		{"userset type not in model", "document:1", "viewer", "robot:r2#x", nil, false, ErrInvalidCheck},
		{"userset relation not in model", "document:1", "viewer", "team:x#nope", nil, false, ErrInvalidCheck},
		{"empty user", "document:1", "owner", "", nil, false, ErrInvalidCheck},
		{"valid still works", "document:1", "owner", "user:a", nil, true, nil},
	})
	var nilGraph *Graph
	if res := nilGraph.Check("document:1", "owner", "user:a", CheckOptions{}); res.Allowed || !errors.Is(res.Err, ErrInvalidCheck) {
		t.Errorf("nil graph: %+v", res)
	}
}

func TestContextualTuples(t *testing.T) {
	g := mustGraph(t, driveModel, "folder:f1#viewer@user:anne")
	runChecks(t, g, []checkCase{
		{"grants for one check", "document:new", "viewer", "user:anne", []string{"document:new#parent@folder:f1"}, true, nil},
		{"new user and object", "document:x", "viewer", "user:fresh", []string{"document:x#owner@user:fresh"}, true, nil},
		{"not kept", "document:new", "viewer", "user:anne", nil, false, nil},
		{"merges with stored edges", "folder:f1", "viewer", "user:bea", []string{"folder:f1#viewer@user:bea"}, true, nil},
		{"unknown object type", "document:1", "viewer", "user:anne", []string{"nope:1#viewer@user:anne"}, false, ErrInvalidCheck},
		{"unknown relation", "document:1", "viewer", "user:anne", []string{"document:1#nope@user:anne"}, false, ErrInvalidCheck},
		{"user type not allowed", "document:1", "viewer", "user:anne", []string{"document:1#owner@team:x"}, false, ErrInvalidCheck},
		{"userset not allowed", "document:1", "viewer", "user:anne", []string{"document:1#owner@team:x#member"}, false, ErrInvalidCheck},
		{"wildcard not allowed", "document:1", "viewer", "user:anne", []string{"document:1#parent@user:*"}, false, ErrInvalidCheck},
	})
	// document#auditor is "[user] and viewer": assignable; the row above holds
	// only if viewer holds too, so check a relation that is not assignable.
	const dsl = "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define owner: [user]\n    define viewer: owner\n"
	g2 := mustGraph(t, dsl)
	runChecks(t, g2, []checkCase{
		{"computed relation is not assignable", "doc:1", "viewer", "user:a", []string{"doc:1#viewer@user:a"}, false, ErrInvalidCheck},
	})
}

func TestIgnoredTuples(t *testing.T) {
	m := mustModel(t, driveModel)
	g, st := Build(m, mustTuples(t,
		"document:1#owner@user:a",     // fits
		"document:1#owner@user:a",     // duplicate: stored once
		"document:1#owner@team:x",     // type not allowed
		"document:1#viewer@user:*",    // wildcard not allowed on viewer's direct types
		"document:1#nope@user:a",      // relation not in model
		"robot:1#owner@user:a",        // type not in model
		"folder:1#viewer@team:x#nope", // userset relation not in model
		"folder:1#viewer@team:x#member",
	))
	if st.Ignored != 5 || st.Tuples != 2 || g.Len() != 2 {
		t.Fatalf("stats %+v, Len %d; want 5 ignored, 2 tuples", st, g.Len())
	}
	if res := g.Check("document:1", "viewer", "user:other", CheckOptions{}); res.Allowed {
		t.Fatal("ignored wildcard tuple granted access")
	}
}

func TestParseModelErrors(t *testing.T) {
	cases := []struct {
		name string
		dsl  string
		line int
	}{
		{"syntax", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user] oor x\n", 6},
		{"undefined computed", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define owner: [user]\n    define viewer: editor\n", 7},
		{"undefined type", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [robot]\n", 6},
		{"undefined userset relation", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user, doc#nope]\n", 6},
		{"undefined tupleset", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: viewer from parent\n", 6},
		{"ttu relation on no parent type", "model\n  schema 1.1\ntype user\ntype folder\n  relations\n    define owner: [user]\ntype doc\n  relations\n    define parent: [folder]\n    define viewer: viewer from parent\n", 10},
		{"schema 1.0", "model\n  schema 1.0\ntype user\n", 2},
		{"duplicate type", "model\n  schema 1.1\ntype user\ntype user\n", 4},
		{"no entrypoint: self", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: viewer\n", 6},
		{"no entrypoint: loop", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: b\n    define b: [doc#a] or a\n", 6},
		{"no entrypoint: intersection", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user]\n    define b: a and b\n", 7},
		{"computed cycle", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user] or b\n    define b: a\n", 6},
		{"condition does not compile", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  x < \"3\"\n}\n", 7},
		{"condition is not bool", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  x + 1\n}\n", 7},
		{"condition unknown variable", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  y < 3\n}\n", 7},
		{"undefined condition", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user with nope]\ncondition c(x: int) {\n  x < 3\n}\n", 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseModel(tc.dsl)
			var me *ModelError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *ModelError", err)
			}
			if me.Line != tc.line {
				t.Fatalf("line %d, want %d (%v)", me.Line, tc.line, err)
			}
			if want := fmt.Sprintf("line %d: ", tc.line); len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestParseTuple(t *testing.T) {
	good := []string{
		"document:doc123#parent@folder:f1",
		"folder:f1#viewer@team:eng#member",
		"folder:f1#viewer@user:*",
		"doc:a@b.c#viewer@user:anne@example.com",
		"repo:org/name#admin@user:x|y",
	}
	for _, s := range good {
		tu, err := ParseTuple(s)
		if err != nil || tu.String() != s {
			t.Errorf("ParseTuple(%q) = %v, %v", s, tu, err)
		}
	}
	bad := []string{"", "doc:1", "doc:1#viewer", "doc#viewer@user:a", "doc:1#@user:a", "doc:1#viewer@", "doc:1#viewer@a:b:c",
		"doc:*#viewer@user:a", "doc:1#viewer@user", "doc:1#viewer@user:a#", "doc:1#view er@user:a", ":1#viewer@user:a", "doc:1#viewer@*:*"}
	for _, s := range bad {
		if tu, err := ParseTuple(s); err == nil {
			t.Errorf("ParseTuple(%q) = %v, want error", s, tu)
		}
	}
}

// TestApplyEqualsBuild applies random writes and deletes incrementally and
// compares every check against a graph built from scratch.
func TestApplyEqualsBuild(t *testing.T) {
	for _, mm := range []int{64, 3} {
		t.Run(fmt.Sprintf("mergeMin=%d", mm), func(t *testing.T) {
			defer func(old int) { mergeMin = old }(mergeMin)
			mergeMin = mm
			applyEqualsBuild(t)
		})
	}
}

func applyEqualsBuild(t *testing.T) {
	m := mustModel(t, driveModel)
	rng := rand.New(rand.NewPCG(1, 2))
	users := []string{"user:a", "user:b", "user:c", "user:*"}
	teams := []string{"team:t1", "team:t2", "team:t3"}
	folders := []string{"folder:f1", "folder:f2", "folder:f3"}
	docs := []string{"document:d1", "document:d2"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	randTuple := func() Tuple {
		switch rng.IntN(8) {
		case 0:
			return Tuple{Object: pick(teams), Relation: "member", User: pick(users[:3])}
		case 1:
			return Tuple{Object: pick(teams), Relation: "member", User: pick(teams) + "#member"}
		case 2:
			return Tuple{Object: pick(folders), Relation: "viewer", User: pick(append(users, "team:t1#member", "team:t2#member"))}
		case 3:
			return Tuple{Object: pick(folders), Relation: "parent", User: pick(folders)}
		case 4:
			return Tuple{Object: pick(docs), Relation: "parent", User: pick(folders)}
		case 5:
			return Tuple{Object: pick(docs), Relation: pick([]string{"owner", "blocked", "auditor"}), User: pick(users[:3])}
		case 6:
			return Tuple{Object: pick(docs), Relation: "editor", User: pick([]string{"user:a", "team:t3#member"})}
		default:
			return Tuple{Object: pick(folders), Relation: "owner", User: pick(users)} // wildcard here is ignored
		}
	}
	var queries []query
	for _, o := range append(append(slices.Clone(docs), folders...), teams...) {
		rels := []string{"viewer", "editor", "auditor", "owner"}
		if o[:4] == "team" {
			rels = []string{"member"}
		}
		for _, r := range rels {
			if r != "member" && o[:4] == "fold" && (r == "editor" || r == "auditor") {
				continue
			}
			for _, u := range append(slices.Clone(users), "user:zz", "team:t1#member") {
				queries = append(queries, query{o, r, u})
			}
		}
	}
	merged := false
	defer func() {
		if mergeMin < 10 && !merged {
			t.Error("the overlay was never merged")
		}
	}()
	for round := 0; round < 20; round++ {
		live := map[Tuple]bool{}
		var initial []Tuple
		for i := 0; i < 10; i++ {
			tu := randTuple()
			initial = append(initial, tu)
			live[tu] = true
		}
		g, _ := Build(m, initial)
		for step := 0; step < 15; step++ {
			var ws, ds []Tuple
			for i := rng.IntN(4); i > 0; i-- {
				ws = append(ws, randTuple())
			}
			for i := rng.IntN(4); i > 0; i-- {
				if rng.IntN(2) == 0 {
					ds = append(ds, randTuple())
				} else {
					for tu := range live { // an existing one
						ds = append(ds, tu)
						break
					}
				}
			}
			prev := g
			prevAnswers := answers(prev, queries)
			for _, d := range ds {
				delete(live, d)
			}
			for _, w := range ws {
				live[w] = true
			}
			g = g.Apply(ws, ds)
			if g.ov != nil && g.ov.frozen != nil {
				merged = true
			}
			var all []Tuple
			for tu := range live {
				all = append(all, tu)
			}
			want, _ := Build(m, all)
			if g.Len() != want.Len() {
				t.Fatalf("round %d step %d: Len %d, want %d", round, step, g.Len(), want.Len())
			}
			got, exp := answers(g, queries), answers(want, queries)
			for i := range queries {
				if got[i] != exp[i] {
					t.Fatalf("round %d step %d: %v = %v incrementally, %v rebuilt", round, step, queries[i], got[i], exp[i])
				}
			}
			if after := answers(prev, queries); !slices.Equal(after, prevAnswers) {
				t.Fatalf("round %d step %d: Apply changed the old graph", round, step)
			}
			if step%5 == 4 {
				c := g.Compact()
				if c.OverlaySize() != 0 || c.Len() != g.Len() || !slices.Equal(answers(c, queries), got) {
					t.Fatalf("round %d step %d: Compact differs", round, step)
				}
				g = c
			}
		}
	}
}

type query struct{ obj, rel, user string }

func answers(g *Graph, qs []query) []bool {
	out := make([]bool, len(qs))
	for i, q := range qs {
		out[i] = g.Check(q.obj, q.rel, q.user, CheckOptions{}).Allowed
	}
	return out
}

func TestApplyOverlay(t *testing.T) {
	g := mustGraph(t, driveModel, "team:eng#member@user:a")
	g2 := g.Apply(mustTuples(t, "team:eng#member@user:b", "team:eng#member@user:a", "document:1#viewer@team:eng#member"), nil)
	if g2.OverlaySize() != 1 || g2.Len() != 2 {
		t.Fatalf("OverlaySize %d Len %d", g2.OverlaySize(), g2.Len())
	}
	g3 := g2.Apply(nil, mustTuples(t, "team:eng#member@user:a", "team:eng#member@user:zzz"))
	if g3.Len() != 1 || g3.OverlaySize() != 2 {
		t.Fatalf("OverlaySize %d Len %d", g3.OverlaySize(), g3.Len())
	}
	if !g.Check("team:eng", "member", "user:a", CheckOptions{}).Allowed || g.Check("team:eng", "member", "user:b", CheckOptions{}).Allowed {
		t.Fatal("old graph changed")
	}
	if g3.Check("team:eng", "member", "user:a", CheckOptions{}).Allowed || !g3.Check("team:eng", "member", "user:b", CheckOptions{}).Allowed {
		t.Fatal("new graph wrong")
	}
	if _, st := g2.ApplyStats(mustTuples(t, "document:1#viewer@team:eng#member"), nil); st.Ignored != 1 {
		t.Fatalf("Ignored %d", st.Ignored)
	}
}

func TestConcurrentChecks(t *testing.T) {
	g := mustGraph(t, driveModel,
		"team:eng#member@user:usr_1",
		"folder:f1#viewer@team:eng#member",
		"document:doc123#parent@folder:f1",
	)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				want := (i+j)%2 == 0
				user := "user:usr_1"
				if !want {
					user = "user:usr_2"
				}
				opts := CheckOptions{Explain: j%3 == 0}
				if j%5 == 0 {
					opts.Contextual = []Tuple{{Object: "team:eng", Relation: "member", User: "user:ctx"}}
				}
				if res := g.Check("document:doc123", "viewer", user, opts); res.Allowed != want {
					t.Errorf("goroutine %d: %s = %v", i, user, res.Allowed)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestCheckAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	g := mustGraph(t, driveModel,
		"team:eng#member@user:usr_1",
		"folder:f1#viewer@team:eng#member",
		"document:doc123#parent@folder:f1",
	)
	g.Check("document:doc123", "viewer", "user:usr_1", CheckOptions{}) // warm the pool
	allocs := testing.AllocsPerRun(100, func() {
		g.Check("document:doc123", "viewer", "user:usr_1", CheckOptions{})
	})
	if allocs > 0 {
		t.Errorf("Check allocates %.1f times", allocs)
	}
}
