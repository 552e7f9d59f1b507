package decision

import (
	"maps"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Names that differ only in case are one name to many readers: Go's
// encoding/json matches struct fields case-insensitively (last one wins),
// so do Jackson and System.Text.Json when configured to, and ASP.NET reads
// query parameters that way. When a document holds two such names the rule
// and the upstream may read different values, so the name binds nothing.

// foldRune maps r to one representative of every rune a case-insensitive
// reader may take it for: its Unicode simple case-folding orbit (which
// strings.EqualFold and encoding/json use, with the Kelvin sign and the long
// s), joined with the orbits its upper- and lower-case mappings reach (so
// that the dotless ı and the dotted İ meet I, as culture-invariant
// upper-casing has it).
func foldRune(r rune) rune {
	r = unicode.ToUpper(unicode.ToLower(r))
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// foldEqual reports whether a and b name the same thing to a
// case-insensitive reader. It does not allocate.
func foldEqual(a, b string) bool {
	for a != "" && b != "" {
		if ca, cb := a[0], b[0]; ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			// Two ASCII bytes fold together only as upper and lower case.
			if ca|0x20 != cb|0x20 || ca != cb && (ca|0x20 < 'a' || ca|0x20 > 'z') {
				return false
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		a, b = a[na:], b[nb:]
		if ra != rb && foldRune(ra) != foldRune(rb) {
			return false
		}
	}
	return a == "" && b == ""
}

// foldKey is a string that two names share exactly when foldEqual holds.
func foldKey(s string) string {
	b := make([]rune, 0, len(s))
	for _, r := range s {
		b = append(b, foldRune(r))
	}
	return string(b)
}

// foldAmbiguous reports whether m has a key other than k that foldEqual
// takes for k.
func foldAmbiguous[V any](m map[string]V, k string) bool {
	for other := range m {
		if other != k && foldEqual(other, k) {
			return true
		}
	}
	return false
}

// foldUnambiguous returns v without the map keys that foldEqual takes for
// another key of the same map, at every level of nested maps and arrays, as
// templates read them: such a key is absent. v itself comes back, with no
// allocation, when it holds no such keys; otherwise a copy, sharing the
// parts that need no change.
func foldUnambiguous(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		var out map[string]any // a copy, once something changes
		for k, e := range x {
			if foldAmbiguous(x, k) {
				if out == nil {
					out = maps.Clone(x)
				}
				delete(out, k)
				continue
			}
			if c, changed := foldUnambiguous(e); changed {
				if out == nil {
					out = maps.Clone(x)
				}
				out[k] = c
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range x {
			if c, changed := foldUnambiguous(e); changed {
				if out == nil {
					out = slices.Clone(x)
				}
				out[i] = c
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	return v, false
}

// FoldKey returns a string that two names share exactly when a
// case-insensitive reader may take one for the other (the rule the edge
// applies to payload and claim names). Other readers of JSON documents,
// such as the AuthZEN API, use it to refuse names that collide.
func FoldKey(s string) string { return foldKey(s) }

// FoldEqual reports whether FoldKey(a) == FoldKey(b), without allocating.
func FoldEqual(a, b string) bool { return foldEqual(a, b) }
