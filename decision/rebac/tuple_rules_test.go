package rebac

import (
	"strings"
	"testing"
)

// TestTupleRules is the one table of the tuple syntax every component
// shares (edges, the CLI, publish, the relay and the store's writers all
// call ParseTuple): each row names the rule it holds.
func TestTupleRules(t *testing.T) {
	id := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		rule  string
		tuple string
		ok    bool
	}{
		{"plain", "document:1#viewer@user:anne", true},
		{"userset user", "folder:f1#viewer@team:eng#member", true},
		{"wildcard user", "folder:f1#viewer@user:*", true},
		{"id punctuation _|*@.+/-", "doc:a_b|c*d@e.f+g/h-i#viewer@user:x", true},
		{"object at 256 bytes", "document:" + id(247) + "#viewer@user:x", true},
		{"object over 256 bytes", "document:" + id(248) + "#viewer@user:x", false},
		{"user object over 256 bytes", "document:1#viewer@user:" + id(252), false},
		{"type at 254 bytes", id(254) + ":1#viewer@user:x", true},
		{"relation at 50 bytes", "document:1#" + id(50) + "@user:x", true},
		{"relation over 50 bytes", "document:1#" + id(51) + "@user:x", false},
		{"userset relation over 50 bytes", "document:1#viewer@team:eng#" + id(51), false},
		{"id starting with *", "document:*x#viewer@user:x", false},
		{"wildcard object", "document:*#viewer@user:x", false},
		{"id with a space", "document:a b#viewer@user:x", false},
		{"id with %", "document:a%20b#viewer@user:x", false},
		{"id with !", "document:a!b#viewer@user:x", false},
		{"id with a second :", "doc:a:b#owner@user:1", false},
		{"non-ASCII first id character (as OpenFGA)", "document:é#viewer@user:x", true},
		{"non-ASCII later id character", "document:aé#viewer@user:x", false},
		{"relation with :", "document:1#view:er@user:x", false},
		{"empty type", ":1#viewer@user:x", false},
		{"empty id", "document:#viewer@user:x", false},
		{"empty relation", "document:1#@user:x", false},
		{"user without type", "document:1#viewer@anne", false},
		{"wildcard userset", "document:1#viewer@user:*#member", false},
		{"empty userset relation", "document:1#viewer@team:eng#", false},
		{"no relation", "document:1", false},
		{"control character", "document:1#viewer@user:an\nne", false},
		{"condition", "document:1#viewer@user:x with in_office", true},
		{"condition with context", `document:1#viewer@user:x with in_office {"tz":"UTC"}`, true},
		{"condition name at 256 bytes", "document:1#viewer@user:x with " + id(256), true},
		{"condition name over 256 bytes", "document:1#viewer@user:x with " + id(257), false},
		{"condition name starting with a digit", "document:1#viewer@user:x with 1c", false},
		{"context not an object", "document:1#viewer@user:x with c [1]", false},
		{"context over 16 KiB", `document:1#viewer@user:x with c {"k":"` + id(MaxContextBytes) + `"}`, false},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			_, err := ParseTuple(c.tuple)
			if (err == nil) != c.ok {
				t.Fatalf("ParseTuple(%.80q) = %v, want ok=%v", c.tuple, err, c.ok)
			}
			// Every tuple ParseTuple refuses that still has the three
			// parts can be named for deletion; nothing else can.
			key, kerr := ParseTupleKey(c.tuple)
			if c.ok && (kerr != nil || key.Object == "") {
				t.Fatalf("ParseTupleKey(%.80q) = %v, %v", c.tuple, key, kerr)
			}
		})
	}
	for _, s := range []string{"", "document:1", "document:1#viewer", "#viewer@user:x", "document:1#@user:x", "document:1#viewer@"} {
		if k, err := ParseTupleKey(s); err == nil {
			t.Errorf("ParseTupleKey(%q) = %+v, want an error", s, k)
		}
	}
}

// FuzzParseTupleKey: the lenient split for deletions never panics, never
// returns an empty part, and agrees with ParseTuple on every plain tuple
// ParseTuple accepts.
func FuzzParseTupleKey(f *testing.F) {
	for _, s := range []string{"document:1#viewer@user:a", "folder:f1#viewer@team:eng#member", "a#b@c", "#@", "x#@y", "d:1#r@u:1 with c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseTupleKey(s)
		if err == nil && (k.Object == "" || k.Relation == "" || k.User == "") {
			t.Fatalf("ParseTupleKey(%q) = %+v: an empty part", s, k)
		}
		tu, perr := ParseTuple(s)
		if perr != nil || tu.Condition != "" {
			return
		}
		if err != nil || k != tu.Key() {
			t.Fatalf("ParseTupleKey(%q) = %+v, %v; ParseTuple gives %+v", s, k, err, tu.Key())
		}
	})
}
