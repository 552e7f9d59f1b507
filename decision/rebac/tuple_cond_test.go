package rebac

import "testing"

func TestParseConditionalTuple(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Tuple
	}{
		{"document:1#viewer@user:anne with c1", Tuple{Object: "document:1", Relation: "viewer", User: "user:anne", Condition: "c1"}},
		{`document:1#viewer@user:anne with c1 {"b": 2, "a": "x"}`, Tuple{Object: "document:1", Relation: "viewer", User: "user:anne", Condition: "c1", Context: `{"a":"x","b":2}`}},
		{`document:1#viewer@user:* with c1{"n":12345678901234567890}`, Tuple{Object: "document:1", Relation: "viewer", User: "user:*", Condition: "c1", Context: `{"n":12345678901234567890}`}},
		{"document:1#viewer@team:x#member  with  c_2 {}", Tuple{Object: "document:1", Relation: "viewer", User: "team:x#member", Condition: "c_2"}},
		{`document:1#viewer@user:anne with c {"s":"<&>"}`, Tuple{Object: "document:1", Relation: "viewer", User: "user:anne", Condition: "c", Context: `{"s":"<&>"}`}},
	} {
		got, err := ParseTuple(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTuple(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		again, err := ParseTuple(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %q: %+v, %v", got.String(), again, err)
		}
	}
	for _, bad := range []string{
		"document:1#viewer@user:anne with",
		"document:1#viewer@user:anne without c",
		"document:1#viewer@user:anne c1",
		"document:1#viewer@user:anne with 1c",
		"document:1#viewer@user:anne with c1 []",
		"document:1#viewer@user:anne with c1 null",
		`document:1#viewer@user:anne with c1 {"a":1} x`,
		`document:1#viewer@user:anne with c1 {"a":1}{}`,
		`document:1#viewer@user:anne with c1 {"a":`,
		"document:1#viewer@user:anne with c.d",
		"document:1#viewer @user:anne with c",
	} {
		if tp, err := ParseTuple(bad); err == nil {
			t.Errorf("ParseTuple(%q) accepted: %+v", bad, tp)
		}
	}
}

// A contextual tuple with the key of a stored tuple but a condition context
// of its own: as in OpenFGA, the user's own tuple is read once (the
// contextual one wins), while wildcards, usersets and tuplesets are read
// from both, so the stored tuple still grants there.
func TestContextualTupleSameKeyAsStored(t *testing.T) {
	const dsl = `model
  schema 1.1
type user
type group
  relations
    define member: [user with keyed, user:* with keyed, group#member with keyed, group#member]
    define parent: [group, group with keyed]
    define viewer: member from parent
condition keyed(m: map<int>, k: string) {
  k in m && m[k] > 1
}
`
	cases := []struct {
		name        string
		stored, ctx []string
		object, rel string
		user        string
		allow       bool
	}{
		{"the user's own tuple: the contextual one replaces it",
			[]string{`group:1#member@user:1 with keyed {"m":{"a":2}}`},
			[]string{`group:1#member@user:1 with keyed {"m":{"b":1}}`}, "group:1", "member", "user:1", false},
		{"wildcard: the stored one still grants",
			[]string{`group:1#member@user:* with keyed {"m":{"a":2}}`},
			[]string{`group:1#member@user:* with keyed {"m":{"b":1}}`}, "group:1", "member", "user:1", true},
		{"wildcard: the contextual one grants",
			[]string{`group:1#member@user:* with keyed {"m":{"b":1}}`},
			[]string{`group:1#member@user:* with keyed {"m":{"a":2}}`}, "group:1", "member", "user:1", true},
		{"userset: the stored plain one still grants",
			[]string{`group:1#member@group:2#member`, `group:2#member@user:1 with keyed {"m":{"a":2}}`},
			[]string{`group:1#member@group:2#member with keyed {"m":{"b":1}}`}, "group:1", "member", "user:1", true},
		{"tupleset: the stored plain one still grants",
			[]string{`group:1#parent@group:2`, `group:2#member@user:1 with keyed {"m":{"a":2}}`},
			[]string{`group:1#parent@group:2 with keyed {"m":{"b":1}}`}, "group:1", "viewer", "user:1", true},
		{"neither grants",
			[]string{`group:1#member@user:* with keyed {"m":{"c":2}}`},
			[]string{`group:1#member@user:* with keyed {"m":{"b":1}}`}, "group:1", "member", "user:1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := mustGraph(t, dsl, c.stored...)
			res := g.Check(c.object, c.rel, c.user, CheckOptions{Contextual: mustTuples(t, c.ctx...), Context: map[string]any{"k": "a"}})
			if res.Allowed != c.allow || res.Err != nil {
				t.Fatalf("Check = %v (err %v), want %v", res.Allowed, res.Err, c.allow)
			}
		})
	}
}
