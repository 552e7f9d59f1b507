package decision

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrBadPath is wrapped by every error CanonicalPath returns.
var ErrBadPath = errors.New("bad path")

// The rejections are built once so that refusing a hostile path costs no
// allocation either. They are immutable.
var (
	pathErrEmpty         = pathErr("empty target")
	pathErrNotOrigin     = pathErr("not origin-form")
	pathErrDotSegment    = pathErr("dot segment")
	pathErrEmptySegment  = pathErr("empty segment")
	pathErrEncodedSlash  = pathErr("encoded slash")
	pathErrEncodedBslash = pathErr("encoded backslash")
	pathErrBackslash     = pathErr("backslash")
	pathErrBadEscape     = pathErr("bad percent-encoding")
	pathErrDoubleEscape  = pathErr("double percent-encoding")
	pathErrControl       = pathErr("control character")
	pathErrFragment      = pathErr("fragment")
	pathErrMatrix        = pathErr("matrix parameter")
	pathErrSpace         = pathErr("space")
	pathErrNonASCII      = pathErr("non-ascii byte")
	pathErrBadUTF8       = pathErr("percent-encoded invalid UTF-8")
	pathErrNotFixedPoint = pathErr("not canonical after normalization")
)

const pathHexUpper = "0123456789ABCDEF"

// pathPlain marks the bytes that pathScan takes as they are: printable ASCII
// other than the delimiters and refused characters it looks at one by one.
var pathPlain = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune("/?%.#\\;", rune(c))
	}
	return t
}()

// pathError is a rejection reason; it prints as "bad path: REASON" and
// unwraps to ErrBadPath.
type pathError struct{ reason string }

func pathErr(reason string) *pathError { return &pathError{reason: reason} }

func (e *pathError) Error() string { return ErrBadPath.Error() + ": " + e.reason }
func (e *pathError) Unwrap() error { return ErrBadPath }

// CanonicalPath splits Envoy's raw :path (request-target, query included, NOT
// decoded) into the canonical path used for route matching and the raw query
// (text after the first '?', without it; "" if none).
//
// It fails closed: a target that is not origin-form, or whose path has a dot
// segment (also percent-encoded), an empty segment ("//"), an encoded '/' or
// '\', a raw '\', malformed or double percent-encoding ("%25" followed by two
// hex digits), a control character (raw or encoded), a ';' (raw or encoded),
// a space or a byte outside ASCII is refused with an error wrapping
// ErrBadPath. The target as a whole may not contain '#', a control character,
// a space or a byte outside ASCII; the query is otherwise returned as sent.
//
// Percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded and
// the other escapes are written with upper-case hex; everything else,
// including a trailing '/', is kept. An already canonical path without '%'
// is returned as a substring of target, without allocating.
func CanonicalPath(target string) (path, rawQuery string, err error) {
	if target == "" {
		return "", "", pathErrEmpty
	}
	if target[0] != '/' {
		return "", "", pathErrNotOrigin
	}
	end, rewrite, err := pathScan(target)
	if err != nil {
		return "", "", err
	}
	path = target[:end]
	if end < len(target) {
		rawQuery = target[end+1:]
	}
	if rewrite {
		if path, err = pathRewrite(path); err != nil {
			return "", "", err
		}
	}
	return path, rawQuery, nil
}

// pathScan validates s, which starts with '/', in one pass. end is the index
// of the first '?' (len(s) if none); rewrite reports whether the path holds
// an escape that pathRewrite changes.
func pathScan(s string) (end int, rewrite bool, err error) {
	// segLen counts the current segment's characters after decoding, dots
	// how many of them are '.'.
	segLen, dots := 0, 0
	i := 1
scan:
	for ; i < len(s); i++ {
		c := s[i]
		if pathPlain[c] {
			segLen++
			continue
		}
		switch {
		case c == '/':
			if segLen == 0 {
				return 0, false, pathErrEmptySegment
			}
			if dots == segLen && segLen <= 2 {
				return 0, false, pathErrDotSegment
			}
			segLen, dots = 0, 0
			continue
		case c == '?':
			break scan
		case c == '%':
			if i+2 >= len(s) {
				return 0, false, pathErrBadEscape
			}
			hi, ok1 := pathUnhex(s[i+1])
			lo, ok2 := pathUnhex(s[i+2])
			if !ok1 || !ok2 {
				return 0, false, pathErrBadEscape
			}
			switch v := hi<<4 | lo; {
			case v < 0x20 || v == 0x7f:
				return 0, false, pathErrControl
			case v == '/':
				return 0, false, pathErrEncodedSlash
			case v == '\\':
				return 0, false, pathErrEncodedBslash
			case v == ';':
				return 0, false, pathErrMatrix
			case pathUnreserved(v):
				rewrite = true
				c = v
			case v >= 0x80:
				// A byte outside ASCII must start a whole UTF-8 sequence
				// written as escapes: lenient decoders read an overlong form
				// (%C0%AE) as the character it spells ('.').
				n, lower, ok := pathUTF8(s[i:])
				if !ok {
					return 0, false, pathErrBadUTF8
				}
				rewrite = rewrite || lower
				i += 3*n - 1
				segLen++
				continue
			default:
				if s[i+1] >= 'a' || s[i+2] >= 'a' {
					rewrite = true
				}
				// "%25" followed by two hex digits decodes to an escape:
				// a second decoder (a backend) would see another byte.
				if v == '%' && i+4 < len(s) && pathIsHex(s[i+3]) && pathIsHex(s[i+4]) {
					return 0, false, pathErrDoubleEscape
				}
			}
			i += 2
		case c < 0x20 || c == 0x7f:
			return 0, false, pathErrControl
		case c == ' ':
			return 0, false, pathErrSpace
		case c >= 0x80:
			return 0, false, pathErrNonASCII
		case c == '#':
			return 0, false, pathErrFragment
		case c == '\\':
			return 0, false, pathErrBackslash
		case c == ';':
			return 0, false, pathErrMatrix
		}
		segLen++
		if c == '.' {
			dots++
		}
	}
	// The last segment; an empty one is the trailing '/', which is kept.
	if segLen > 0 && dots == segLen && segLen <= 2 {
		return 0, false, pathErrDotSegment
	}
	end = i
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return 0, false, pathErrControl
		case c == ' ':
			return 0, false, pathErrSpace
		case c >= 0x80:
			return 0, false, pathErrNonASCII
		case c == '#':
			return 0, false, pathErrFragment
		}
	}
	return end, rewrite, nil
}

// pathRewrite decodes the unreserved escapes of p and upper-cases the hex of
// the others. p has passed pathScan. The result is scanned again so that only
// a fixed point is ever returned (decoding can join "%25" with hex digits).
func pathRewrite(p string) (string, error) {
	var b strings.Builder
	b.Grow(len(p))
	for {
		i := strings.IndexByte(p, '%')
		if i < 0 {
			b.WriteString(p)
			break
		}
		b.WriteString(p[:i])
		hi, _ := pathUnhex(p[i+1])
		lo, _ := pathUnhex(p[i+2])
		p = p[i+3:]
		if v := hi<<4 | lo; pathUnreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(pathHexUpper[hi])
			b.WriteByte(pathHexUpper[lo])
		}
	}
	out := b.String()
	end, again, err := pathScan(out)
	if err != nil {
		return "", err
	}
	if again || end != len(out) {
		return "", pathErrNotFixedPoint
	}
	return out, nil
}

// pathUTF8 decodes the escapes at the start of s ("%XX%XX…", the first
// one at or above 0x80) that make up one UTF-8 sequence. ok is false unless
// they form one valid sequence: no stray continuation byte, overlong form,
// surrogate, code point above U+10FFFF, or sequence cut short by the end or
// by a byte that is not an escape. n is the number of escapes; lower reports
// lower-case hex among them.
func pathUTF8(s string) (n int, lower, ok bool) {
	var b [utf8.UTFMax]byte
	for n < len(b) && 3*n+2 < len(s) && s[3*n] == '%' {
		hi, ok1 := pathUnhex(s[3*n+1])
		lo, ok2 := pathUnhex(s[3*n+2])
		if !ok1 || !ok2 {
			return 0, false, false
		}
		lower = lower || s[3*n+1] >= 'a' || s[3*n+2] >= 'a'
		b[n] = hi<<4 | lo
		n++
		if utf8.FullRune(b[:n]) {
			break
		}
	}
	r, size := utf8.DecodeRune(b[:n])
	if r == utf8.RuneError && size <= 1 || size != n {
		return 0, false, false
	}
	return n, lower, true
}

func pathUnhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func pathIsHex(c byte) bool {
	_, ok := pathUnhex(c)
	return ok
}

// pathUnreserved reports whether c is an RFC 3986 unreserved character.
func pathUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
