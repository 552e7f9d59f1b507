package decision

import (
	"errors"
	"net/url"
	gopath "path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalPath holds CanonicalPath to its properties: it never panics,
// every error wraps ErrBadPath, and an accepted path is canonical (origin-form,
// no empty or dot segment, none of the refused bytes or escapes), a fixed
// point, means what the input meant once decoded, and decodes to valid UTF-8.
func FuzzCanonicalPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		path, query, err := CanonicalPath(in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("CanonicalPath(%q): error %v does not wrap ErrBadPath", in, err)
			}
			if path != "" || query != "" {
				t.Fatalf("CanonicalPath(%q) returned %q, %q with an error", in, path, query)
			}
			return
		}
		rawPath, rawQuery, hasQuery := strings.Cut(in, "?")
		if query != rawQuery || hasQuery && in != rawPath+"?"+query {
			t.Fatalf("CanonicalPath(%q): query %q, want %q", in, query, rawQuery)
		}
		if !strings.Contains(rawPath, "%") && path != rawPath {
			t.Fatalf("CanonicalPath(%q): path %q changed without an escape", in, path)
		}
		if !strings.HasPrefix(path, "/") {
			t.Fatalf("CanonicalPath(%q) = %q: not origin-form", in, path)
		}
		if strings.Contains(path, "//") {
			t.Fatalf("CanonicalPath(%q) = %q: empty segment", in, path)
		}
		for seg := range strings.SplitSeq(path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("CanonicalPath(%q) = %q: dot segment", in, path)
			}
		}
		if i := strings.IndexFunc(path, func(r rune) bool {
			return r <= ' ' || r >= 0x7f || strings.ContainsRune(";\\#?", r)
		}); i >= 0 {
			t.Fatalf("CanonicalPath(%q) = %q: refused byte %q", in, path, path[i])
		}
		upper := strings.ToUpper(path)
		for _, esc := range []string{"%2F", "%5C", "%2E", "%3B", "%00", "%7F"} {
			if strings.Contains(upper, esc) {
				t.Fatalf("CanonicalPath(%q) = %q: contains %s", in, path, esc)
			}
		}
		for i := 0; i < len(path); i++ {
			if path[i] != '%' {
				continue
			}
			// Validated escapes only, upper-case hex, none of an unreserved
			// character, control or double encoding.
			if i+2 >= len(path) {
				t.Fatalf("CanonicalPath(%q) = %q: truncated escape", in, path)
			}
			hi, ok1 := pathUnhex(path[i+1])
			lo, ok2 := pathUnhex(path[i+2])
			v := hi<<4 | lo
			if !ok1 || !ok2 || path[i+1] >= 'a' || path[i+2] >= 'a' || pathUnreserved(v) || v < 0x20 {
				t.Fatalf("CanonicalPath(%q) = %q: non-canonical escape %q", in, path, path[i:i+3])
			}
			if v == '%' && i+4 < len(path) && pathIsHex(path[i+3]) && pathIsHex(path[i+4]) {
				t.Fatalf("CanonicalPath(%q) = %q: double encoding", in, path)
			}
		}
		again, q2, err := CanonicalPath(path)
		if err != nil || again != path || q2 != "" {
			t.Fatalf("CanonicalPath(%q) = %q, then CanonicalPath(%q) = %q, %q, %v: not a fixed point", in, path, path, again, q2, err)
		}
		// Same meaning: decoding the input and the output agree, and the
		// decoded path is already clean (the trailing '/' aside).
		decIn, err1 := url.PathUnescape(rawPath)
		decOut, err2 := url.PathUnescape(path)
		if err1 != nil || err2 != nil || decIn != decOut {
			t.Fatalf("CanonicalPath(%q) = %q: decodes to %q (%v), input to %q (%v)", in, path, decOut, err2, decIn, err1)
		}
		// Every escaped byte outside ASCII belongs to valid UTF-8: nothing
		// an overlong form or a surrogate could smuggle past the rules.
		if !utf8.ValidString(decOut) {
			t.Fatalf("CanonicalPath(%q) = %q: decodes to invalid UTF-8 %q", in, path, decOut)
		}
		if clean := gopath.Clean(decOut); clean != strings.TrimSuffix(decOut, "/") && decOut != "/" {
			t.Fatalf("CanonicalPath(%q) = %q: decoded %q cleans to %q", in, path, decOut, clean)
		}
	})
}
