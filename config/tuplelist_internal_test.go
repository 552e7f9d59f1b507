package config

import (
	"strings"
	"testing"
)

// TestCutTuplesItems: which one-line items the fast path takes itself;
// any other leaves the whole document to yaml.v3 (TestTupleList checks that
// both read the same).
func TestCutTuplesItems(t *testing.T) {
	for _, c := range []struct {
		item string
		ok   bool
		want string
	}{
		{item: "doc:1#viewer@user:a", ok: true, want: "doc:1#viewer@user:a"},
		{item: `'doc:1#viewer@user:a with c {"x": 1}'`, ok: true, want: `doc:1#viewer@user:a with c {"x": 1}`},
		{item: `'it''s: here'`, ok: true, want: "it's: here"},
		{item: "'a'  ", ok: true, want: "a"},
		{item: "''"},                    // empty
		{item: "'a'b'"},                 // closed before the line ends
		{item: "'a' # c"},               // a comment after it
		{item: "'a"},                    // not closed on this line
		{item: "'caf\u00e9'"},           // beyond printable ASCII
		{item: "'tab\there'"},           // a control character
		{item: `"doc:1#viewer@user:a"`}, // double quotes have escapes
		{item: "doc:1 #viewer"},
	} {
		doc := "tuples:\n  - " + c.item + "\n"
		b, ok := cutTuples([]byte(doc))
		if ok != c.ok {
			t.Errorf("%q: fast path %v, want %v", c.item, ok, c.ok)
			continue
		}
		if ok && (len(b.tuples) != 1 || b.tuples[0] != c.want || b.lines[0] != 2 || strings.Count(string(b.rest), "\n") != 2) {
			t.Errorf("%q: %q on lines %v, rest %q; want %q on line 2", c.item, b.tuples, b.lines, b.rest, c.want)
		}
	}
}
