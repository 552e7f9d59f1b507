package decision

import (
	"errors"
	"strconv"
	"testing"
)

// pathCases is shared by TestCanonicalPath and the fuzz seed corpus. reason
// is the expected rejection ("" for an accepted target).
var pathCases = []struct {
	in, path, query, reason string
}{
	// Accepted, unchanged (the fast path).
	{in: "/", path: "/"},
	{in: "/a", path: "/a"},
	{in: "/a/", path: "/a/"},
	{in: "/a/b/c", path: "/a/b/c"},
	{in: "/orgs/org_1/documents/doc123", path: "/orgs/org_1/documents/doc123"},
	{in: "/a?", path: "/a"},
	{in: "/?x=1", path: "/", query: "x=1"},
	{in: "/a/?x=1&y=2", path: "/a/", query: "x=1&y=2"},
	{in: "/a?b?c", path: "/a", query: "b?c"},
	{in: "/a?x=/../;\\//", path: "/a", query: "x=/../;\\//"},
	{in: "/a?%zz%00%2f", path: "/a", query: "%zz%00%2f"},
	{in: "/a?q=%C3%A9", path: "/a", query: "q=%C3%A9"},
	{in: "/a...", path: "/a..."},
	{in: "/.../b", path: "/.../b"},
	{in: "/..a/a../.a/a.", path: "/..a/a../.a/a."},
	{in: "/.well-known/jwks.json", path: "/.well-known/jwks.json"},
	{in: "/a:b@c!$&'()*+,=-._~", path: "/a:b@c!$&'()*+,=-._~"},
	{in: "/a%20b", path: "/a%20b"},
	{in: "/a%3Fb%23c", path: "/a%3Fb%23c"},
	{in: "/a%25", path: "/a%25"},
	{in: "/a%25zz", path: "/a%25zz"},
	{in: "/%C3%A9", path: "/%C3%A9"},

	// Accepted, normalized.
	{in: "/%c3%a9", path: "/%C3%A9"},
	{in: "/%c3%A9?q=%c3", path: "/%C3%A9", query: "q=%c3"},
	{in: "/%3f%3a", path: "/%3F%3A"},
	{in: "/%61%62%63", path: "/abc"},
	{in: "/%7E%7euser", path: "/~~user"},
	{in: "/a%2D%5f%2e", path: "/a-_."},
	{in: "/%2ewell-known", path: "/.well-known"},
	{in: "/%2e%2e%2e", path: "/..."},
	{in: "/a/%2e%2ex", path: "/a/..x"},
	{in: "/a/%41/?x=%41", path: "/a/A/", query: "x=%41"},

	// Not origin-form.
	{in: "", reason: "empty target"},
	{in: "*", reason: "not origin-form"},
	{in: "a/b", reason: "not origin-form"},
	{in: "http://evil.com/x", reason: "not origin-form"},
	{in: "?x", reason: "not origin-form"},
	{in: "%2fa", reason: "not origin-form"},

	// Dot segments, raw and encoded.
	{in: "/.", reason: "dot segment"},
	{in: "/..", reason: "dot segment"},
	{in: "/./a", reason: "dot segment"},
	{in: "/../a", reason: "dot segment"},
	{in: "/a/.", reason: "dot segment"},
	{in: "/a/..", reason: "dot segment"},
	{in: "/a/./b", reason: "dot segment"},
	{in: "/a/../b", reason: "dot segment"},
	{in: "/a/../", reason: "dot segment"},
	{in: "/a/..?x", reason: "dot segment"},
	{in: "/a/.?x", reason: "dot segment"},
	{in: "/a/%2e%2e/b", reason: "dot segment"},
	{in: "/a/%2E%2e/b", reason: "dot segment"},
	{in: "/a/.%2E/b", reason: "dot segment"},
	{in: "/a/%2e./b", reason: "dot segment"},
	{in: "/a/%2e/b", reason: "dot segment"},
	{in: "/a/%2E", reason: "dot segment"},
	{in: "/%2e%2e", reason: "dot segment"},
	{in: "/%2e%2e?x=1", reason: "dot segment"},

	// Empty segments: never an authority.
	{in: "//", reason: "empty segment"},
	{in: "//evil.com/x", reason: "empty segment"},
	{in: "///x", reason: "empty segment"},
	{in: "/a//b", reason: "empty segment"},
	{in: "/a/b//", reason: "empty segment"},

	// Encoded '/' and '\', raw '\'.
	{in: "/a%2fb", reason: "encoded slash"},
	{in: "/a%2Fb", reason: "encoded slash"},
	{in: "/%2f%2fevil.com", reason: "encoded slash"},
	{in: "/a/%2e%2e%2fb", reason: "encoded slash"},
	{in: "/a%5cb", reason: "encoded backslash"},
	{in: "/a%5Cb", reason: "encoded backslash"},
	{in: "/a\\b", reason: "backslash"},
	{in: "/a/..\\b", reason: "backslash"},
	{in: "/\\evil.com", reason: "backslash"},

	// Malformed and double percent-encoding.
	{in: "/a%", reason: "bad percent-encoding"},
	{in: "/a%4", reason: "bad percent-encoding"},
	{in: "/a%4?x", reason: "bad percent-encoding"},
	{in: "/a%g1", reason: "bad percent-encoding"},
	{in: "/a%1g", reason: "bad percent-encoding"},
	{in: "/a%zz", reason: "bad percent-encoding"},
	{in: "/a%%41", reason: "bad percent-encoding"},
	{in: "/a%+1", reason: "bad percent-encoding"},
	{in: "/%252e%252e/x", reason: "double percent-encoding"},
	{in: "/a%252F", reason: "double percent-encoding"},
	{in: "/a%2541", reason: "double percent-encoding"},
	{in: "/a%25%34%31", reason: "double percent-encoding"},
	{in: "/a%25%34%31?x", reason: "double percent-encoding"},
	{in: "/a%25%341", reason: "double percent-encoding"},
	{in: "/a%254%31", reason: "double percent-encoding"},

	// Control characters, DEL and NUL, raw and encoded, path and query.
	{in: "/a%00", reason: "control character"},
	{in: "/a%00.json", reason: "control character"},
	{in: "/a%0a", reason: "control character"},
	{in: "/a%0D%0Ab", reason: "control character"},
	{in: "/a%1f", reason: "control character"},
	{in: "/a%7f", reason: "control character"},
	{in: "/a%7F", reason: "control character"},
	{in: "/a\x00", reason: "control character"},
	{in: "/a\tb", reason: "control character"},
	{in: "/a\r\nb", reason: "control character"},
	{in: "/a\x7f", reason: "control character"},
	{in: "/a?x=\x00", reason: "control character"},
	{in: "/a?x=\n", reason: "control character"},
	{in: "/a?x=\x7f", reason: "control character"},

	// Fragments.
	{in: "/a#x", reason: "fragment"},
	{in: "/a#", reason: "fragment"},
	{in: "/#", reason: "fragment"},
	{in: "/a?x#y", reason: "fragment"},
	{in: "/a?#", reason: "fragment"},

	// Matrix parameters: the ..;x bypass class.
	{in: "/a;b", reason: "matrix parameter"},
	{in: "/a;", reason: "matrix parameter"},
	{in: "/;/a", reason: "matrix parameter"},
	{in: "/a/..;/b", reason: "matrix parameter"},
	{in: "/a/..;x/b", reason: "matrix parameter"},
	{in: "/a/.;/b", reason: "matrix parameter"},
	{in: "/a;jsessionid=1/b", reason: "matrix parameter"},
	{in: "/a%3Bb", reason: "matrix parameter"},
	{in: "/a%3bb", reason: "matrix parameter"},
	{in: "/a/..%3B/b", reason: "matrix parameter"},

	// Space and bytes outside ASCII, path and query.
	{in: "/a b", reason: "space"},
	{in: "/a ", reason: "space"},
	{in: "/a?x=a b", reason: "space"},
	{in: "/é", reason: "non-ascii byte"},
	{in: "/a\x80", reason: "non-ascii byte"},
	{in: "/a\xff", reason: "non-ascii byte"},
	{in: "/\xc0\xae\xc0\xae/x", reason: "non-ascii byte"}, // overlong ".."
	{in: "/a?q=é", reason: "non-ascii byte"},
}

func TestCanonicalPath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			path, query, err := CanonicalPath(tc.in)
			if tc.reason != "" {
				want := "bad path: " + tc.reason
				if err == nil || err.Error() != want {
					t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want error %q", tc.in, path, query, err, want)
				}
				if !errors.Is(err, ErrBadPath) {
					t.Errorf("CanonicalPath(%q) error %v does not wrap ErrBadPath", tc.in, err)
				}
				if path != "" || query != "" {
					t.Errorf("CanonicalPath(%q) returned %q, %q with an error", tc.in, path, query)
				}
				return
			}
			if err != nil || path != tc.path || query != tc.query {
				t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want %q, %q, nil", tc.in, path, query, err, tc.path, tc.query)
			}
			// A canonical path is a fixed point.
			again, q2, err := CanonicalPath(path)
			if err != nil || again != path || q2 != "" {
				t.Errorf("CanonicalPath(%q) = %q, %q, %v; want a fixed point", path, again, q2, err)
			}
		})
	}
}

func TestCanonicalPathAllocs(t *testing.T) {
	for _, in := range []string{
		"/orgs/org_1/documents/doc123?include=owner&x=%C3%A9",
		"/a/b/",
		"/a/%2e%2e/b", // rejected
		"/a;b",        // rejected
	} {
		if n := testing.AllocsPerRun(100, func() { _, _, _ = CanonicalPath(in) }); n != 0 {
			t.Errorf("CanonicalPath(%q): %v allocations, want 0", in, n)
		}
	}
	// Decoding costs exactly the one new string.
	in := "/orgs/org_1/documents/%64oc123?x=1"
	if n := testing.AllocsPerRun(100, func() { _, _, _ = CanonicalPath(in) }); n != 1 {
		t.Errorf("CanonicalPath(%q): %v allocations, want 1", in, n)
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"canonical", "/orgs/org_1/documents/doc123"},
		{"canonical_query", "/orgs/org_1/documents/doc123?include=owner&page=2"},
		{"escaped_upper", "/orgs/org_1/documents/caf%C3%A9?include=owner"},
		{"decode", "/orgs/org_1/documents/%64oc%2D123?include=owner"},
		{"reject_dotdot", "/orgs/org_1/documents/%2e%2e/admin"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				_, _, _ = CanonicalPath(bc.in)
			}
		})
	}
}
