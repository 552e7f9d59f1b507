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
