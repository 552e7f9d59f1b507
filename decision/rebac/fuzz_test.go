package rebac

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseTuple: no panic, and a tuple that parses formats back to its input
// (a conditional one to its canonical form, which parses to the same tuple)
// and is accepted by the same rules Check uses.
func FuzzParseTuple(f *testing.F) {
	for _, s := range []string{
		"document:doc123#parent@folder:f1", "folder:f1#viewer@team:eng#member", "folder:f1#viewer@user:*",
		"doc:a@b#viewer@user:anne@example.com", "a:b#c@d:e#f#g", "doc:1#viewer@a:b:c", "#@", "x:y#z@:*", "doc:é#r@user:ü",
		"doc:1#viewer@user:a with c", `doc:1#viewer@user:a with c {"x": 1, "l": [1, "a"], "m": {"k": null}}`,
		`doc:1#viewer@user:a with c {}`, `doc:1#viewer@user:a with c {"x": 1e400}`, "doc:1#viewer@user:a with",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tu, err := ParseTuple(s)
		if err != nil {
			return
		}
		if got := tu.String(); tu.Condition == "" && got != s {
			t.Fatalf("ParseTuple(%q).String() = %q", s, got)
		}
		if again, err := ParseTuple(tu.String()); err != nil || again != tu {
			t.Fatalf("ParseTuple(%q) = %+v, %v; want %+v", tu.String(), again, err, tu)
		}
		if tu.Condition != "" && !ValidConditionName(tu.Condition) {
			t.Fatalf("condition %q accepted", tu.Condition)
		}
		if _, _, ok := splitObject(tu.Object); !ok {
			t.Fatalf("object %q accepted", tu.Object)
		}
		if _, ok := splitUser(tu.User); !ok {
			t.Fatalf("user %q accepted", tu.User)
		}
		if strings.ContainsAny(tu.Relation, "#@: ") {
			t.Fatalf("relation %q accepted", tu.Relation)
		}
	})
}

// FuzzModelCheck: parsing a model, building tuples and checking never
// panics; an answer is never both allowed and an error; a check is
// repeatable and the same with and without Explain; Apply of the same
// tuples on an empty graph answers like Build.
func FuzzModelCheck(f *testing.F) {
	f.Add(driveModel, "team:eng#member@user:a\nfolder:f1#viewer@team:eng#member\ndocument:d#parent@folder:f1", "document:d", "viewer", "user:a")
	f.Add("model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define r: [user, doc#r] but not s\n    define s: [user, doc#r] and r\n",
		"doc:1#r@doc:1#r\ndoc:1#s@user:a\ndoc:1#r@user:a", "doc:1", "r", "user:a")
	f.Add("model\n  schema 1.1\ntype user\ntype g\n  relations\n    define m: [user:*, g#m] or n from p\n    define n: m\n    define p: [g]\n",
		"g:1#m@user:*\ng:2#p@g:1\ng:1#p@g:2", "g:2", "n", "user:*")
	f.Add(condModel, "document:1#viewer@user:anne with in_range {\"lo\": 1, \"hi\": 3}\nteam:t#member@user:b with in_range\ndocument:4#owner@team:t#member with flag {\"on\": true}",
		"document:4", "owner", "user:b")
	f.Fuzz(func(t *testing.T, dsl, tuples, object, relation, user string) {
		if len(dsl) > 2000 || len(tuples) > 2000 {
			return
		}
		m, err := ParseModel(dsl)
		if err != nil {
			var me *ModelError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *ModelError", err)
			}
			return
		}
		var ts []Tuple
		for _, line := range strings.Split(tuples, "\n") {
			if tu, err := ParseTuple(line); err == nil {
				ts = append(ts, tu)
			}
		}
		g, st := Build(m, ts)
		if st.Tuples != g.Len() || st.Tuples+st.Ignored > len(ts) {
			t.Fatalf("stats %+v, Len %d, %d tuples", st, g.Len(), len(ts))
		}
		res := g.Check(object, relation, user, CheckOptions{MaxDepth: 8})
		if res.Allowed && res.Err != nil {
			t.Fatalf("allowed with error %v", res.Err)
		}
		if res.Err != nil && !errors.Is(res.Err, ErrDepth) && !errors.Is(res.Err, ErrInvalidCheck) && !errors.Is(res.Err, ErrCondition) {
			t.Fatalf("unexpected error %v", res.Err)
		}
		ex := g.Check(object, relation, user, CheckOptions{MaxDepth: 8, Explain: true})
		if ex.Allowed != res.Allowed || (ex.Allowed && len(ex.Path) == 0 && !strings.Contains(user, "#")) {
			t.Fatalf("Explain: %+v vs %+v", ex, res)
		}
		empty, _ := Build(m, nil)
		inc := empty.Apply(ts, nil)
		if r2 := inc.Check(object, relation, user, CheckOptions{MaxDepth: 8}); r2.Allowed != res.Allowed {
			t.Fatalf("Apply graph answers %v, Build graph %v", r2.Allowed, res.Allowed)
		}
		_ = g.Check(object, relation, user, CheckOptions{Contextual: ts, MaxDepth: 8})
	})
}
