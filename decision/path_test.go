package decision

import (
	"errors"
	"strconv"
	"testing"
	"unicode/utf8"
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

	// Percent-encoded UTF-8: every escaped byte outside ASCII must belong
	// to one valid sequence, or lenient decoders read something else.
	{in: "/%C2%80", path: "/%C2%80"},                         // U+0080, the first 2-byte form
	{in: "/%DF%BF%E0%A0%80", path: "/%DF%BF%E0%A0%80"},       // U+07FF, U+0800
	{in: "/%ED%9F%BF%EE%80%80", path: "/%ED%9F%BF%EE%80%80"}, // around the surrogates
	{in: "/%EF%BF%BD", path: "/%EF%BF%BD"},                   // U+FFFD itself
	{in: "/%F0%90%80%80", path: "/%F0%90%80%80"},             // U+10000
	{in: "/%f4%8f%bf%bf", path: "/%F4%8F%BF%BF"},             // U+10FFFF
	{in: "/caf%C3%A9-%e2%82%AC", path: "/caf%C3%A9-%E2%82%AC"},
	{in: "/orgs/org_2/documents/x%c0%ae%c0%ae", reason: "percent-encoded invalid UTF-8"}, // overlong ".."
	{in: "/%c0%ae%c0%ae/x", reason: "percent-encoded invalid UTF-8"},
	{in: "/%C0%80", reason: "percent-encoded invalid UTF-8"},             // overlong NUL
	{in: "/%C1%BF", reason: "percent-encoded invalid UTF-8"},             // overlong DEL
	{in: "/%E0%80%AE", reason: "percent-encoded invalid UTF-8"},          // overlong '.', 3 bytes
	{in: "/%E0%9F%BF", reason: "percent-encoded invalid UTF-8"},          // overlong U+07FF
	{in: "/%F0%80%80%AE", reason: "percent-encoded invalid UTF-8"},       // overlong '.', 4 bytes
	{in: "/%F0%8F%BF%BF", reason: "percent-encoded invalid UTF-8"},       // overlong U+FFFF
	{in: "/%ED%A0%80", reason: "percent-encoded invalid UTF-8"},          // surrogate U+D800
	{in: "/%ed%bf%bf", reason: "percent-encoded invalid UTF-8"},          // surrogate U+DFFF
	{in: "/%ED%A0%BD%ED%B2%A9", reason: "percent-encoded invalid UTF-8"}, // CESU-8 pair
	{in: "/%F4%90%80%80", reason: "percent-encoded invalid UTF-8"},       // U+110000
	{in: "/%F5%80%80%80", reason: "percent-encoded invalid UTF-8"},
	{in: "/%F8%88%80%80%80", reason: "percent-encoded invalid UTF-8"},
	{in: "/%FE", reason: "percent-encoded invalid UTF-8"},
	{in: "/%FF", reason: "percent-encoded invalid UTF-8"},
	{in: "/%80", reason: "percent-encoded invalid UTF-8"},       // lone continuation
	{in: "/%C3%A9%A9", reason: "percent-encoded invalid UTF-8"}, // stray continuation after a rune
	{in: "/%C3", reason: "percent-encoded invalid UTF-8"},       // truncated by the end
	{in: "/%E2%82", reason: "percent-encoded invalid UTF-8"},
	{in: "/%F0%9F%98", reason: "percent-encoded invalid UTF-8"},
	{in: "/%C3/a", reason: "percent-encoded invalid UTF-8"}, // truncated by a segment
	{in: "/%C3?x", reason: "percent-encoded invalid UTF-8"}, // truncated by the query
	{in: "/%C3a", reason: "percent-encoded invalid UTF-8"},  // truncated by a raw byte
	{in: "/%E2%82a", reason: "percent-encoded invalid UTF-8"},
	{in: "/%C3%41", reason: "percent-encoded invalid UTF-8"}, // an escaped ASCII byte is no continuation
	{in: "/%C3%2e", reason: "percent-encoded invalid UTF-8"},
	{in: "/%C3%2F", reason: "percent-encoded invalid UTF-8"},
	{in: "/%E2%82%", reason: "percent-encoded invalid UTF-8"},
	{in: "/%E2%82%zz", reason: "percent-encoded invalid UTF-8"},
	{in: "/%C3\\x", reason: "percent-encoded invalid UTF-8"},  // truncated by a backslash
	{in: "/%C3\xa9", reason: "percent-encoded invalid UTF-8"}, // mixed escaped and raw
	{in: "/\xc3%A9", reason: "non-ascii byte"},
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

// TestCanonicalPathUTF8Class escapes every sequence of up to four bytes
// drawn from the boundaries of UTF-8's ranges (lead bytes, continuation
// limits, the overlong, surrogate and U+10FFFF edges, and an ASCII byte) and
// holds CanonicalPath to utf8.Valid: it accepts exactly the valid ones, with
// lower- or upper-case hex.
func TestCanonicalPathUTF8Class(t *testing.T) {
	edges := []byte{0x41, 0x7e, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
		0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff}
	var seq []byte
	var try func()
	try = func() {
		if len(seq) > 0 {
			for _, hex := range []string{"0123456789ABCDEF", "0123456789abcdef"} {
				in := []byte("/x")
				for _, b := range seq {
					in = append(in, '%', hex[b>>4], hex[b&15])
				}
				_, _, err := CanonicalPath(string(in) + "/y")
				if valid := utf8.Valid(seq); valid != (err == nil) {
					t.Fatalf("CanonicalPath(%q): %v, but utf8.Valid(% x) = %v", in, err, seq, valid)
				}
			}
		}
		if len(seq) == utf8.UTFMax {
			return
		}
		for _, b := range edges {
			seq = append(seq, b)
			try()
			seq = seq[:len(seq)-1]
		}
	}
	try()
}

func TestCanonicalPathAllocs(t *testing.T) {
	for _, in := range []string{
		"/orgs/org_1/documents/doc123?include=owner&x=%C3%A9",
		"/a/b/",
		"/a/%2e%2e/b", // rejected
		"/a;b",        // rejected
		"/x%c0%ae",    // rejected
		"/caf%C3%A9",
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
