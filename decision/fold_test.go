package decision

import (
	"strings"
	"testing"
	"unicode"
)

// TestFoldCoversSimpleFolding: every rune folds together with its whole
// simple case-folding orbit (so foldEqual is at least strings.EqualFold),
// and foldEqual agrees with foldKey.
func TestFoldCoversSimpleFolding(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		fr := foldRune(r)
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldRune(f) != fr {
				t.Fatalf("%U folds to %U, but %U in its orbit to %U", r, fr, f, foldRune(f))
			}
		}
		if u := unicode.ToUpper(r); foldRune(u) != fr {
			t.Fatalf("%U folds to %U, its upper case %U to %U", r, fr, u, foldRune(u))
		}
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"org", "ORG", true}, {"org", "oRg", true}, {"org", "org", true}, {"org", "orgs", false},
		{"kid", "\u212aid", true}, {"sub", "\u017fub", true}, {"id", "\u0131d", true}, {"id", "\u0130D", true},
		{"\u00e9t\u00e9", "\u00c9T\u00c9", true}, {"\u03c3", "\u03a3", true}, {"\u03c2", "\u03a3", true},
		{"@", "`", false}, {"[", "{", false}, {"a", "b", false}, {"", "", true}, {"a", "", false},
		{"stra\u00dfe", "STRASSE", false}, // full folding only: readers disagree, but the lengths differ
	} {
		if got := foldEqual(c.a, c.b); got != c.want {
			t.Errorf("foldEqual(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := foldKey(c.a) == foldKey(c.b); got != c.want {
			t.Errorf("foldKey(%q) == foldKey(%q): %v, want %v", c.a, c.b, got, c.want)
		}
		if strings.EqualFold(c.a, c.b) && !foldEqual(c.a, c.b) {
			t.Errorf("EqualFold(%q, %q) but not foldEqual", c.a, c.b)
		}
	}
}

func TestFoldEqualAllocs(t *testing.T) {
	m := map[string]any{"sub": 1, "oid": 2, "roles": 3, "scope": 4, "exp": 5, "iat": 6, "Kelvin\u212a": 7}
	if n := testing.AllocsPerRun(100, func() { _ = foldAmbiguous(m, "tenant") }); n != 0 {
		t.Errorf("foldAmbiguous allocates %v times", n)
	}
}
