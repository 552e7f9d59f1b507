package identity

import (
	"errors"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxClaimsDepth bounds the nesting of a header or payload: no issuer nests
// claims deeply, and the bound keeps a token, which is parsed before its
// signature is checked, from growing the request's stack.
const maxClaimsDepth = 64

var (
	errJSONSyntax = errors.New("invalid JSON")
	errJSONDepth  = errors.New("JSON nested too deeply")
)

// parseObject decodes the JSON object in b into the values encoding/json
// gives for map[string]any: objects as map[string]any, arrays as []any,
// numbers as float64 (a number out of its range is an error), and the last
// of duplicate names wins; the grammar is as strict as encoding/json's. b
// must be valid UTF-8 (Verify checks it first). It makes one pass and one
// string of b: strings without escapes, names included, are slices of it,
// which costs a token's claims a few allocations instead of one per value.
func parseObject(b []byte) (map[string]any, error) {
	var d claimsDecoder
	return d.parse(b)
}

// parse is parseObject with d's scratch space, which it leaves empty for
// the next parse.
func (d *claimsDecoder) parse(b []byte) (map[string]any, error) {
	d.s, d.i = string(b), 0
	defer func() { d.s = "" }() // keep no claims alive in a pooled decoder
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return nil, errJSONSyntax
	}
	m, err := d.object(1)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.s) {
		return nil, errJSONSyntax
	}
	return m, nil
}

type claimsDecoder struct {
	s string
	i int
	// members and elems stack the members of the objects and the elements
	// of the arrays being decoded, so that each map and slice is made once,
	// at its final size. They are emptied (and cleared) as decoding goes,
	// and kept for the next parse.
	members []member
	elems   []any
}

type member struct {
	name string
	v    any
}

func (d *claimsDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c, consuming
// it if so.
func (d *claimsDecoder) next(c byte) bool {
	d.space()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *claimsDecoder) value(depth int) (any, error) {
	d.space()
	if d.i >= len(d.s) {
		return nil, errJSONSyntax
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return d.number()
	}
}

func (d *claimsDecoder) literal(lit string) error {
	if len(d.s)-d.i < len(lit) || d.s[d.i:d.i+len(lit)] != lit {
		return errJSONSyntax
	}
	d.i += len(lit)
	return nil
}

// object decodes an object whose '{' is at d.i.
func (d *claimsDecoder) object(depth int) (map[string]any, error) {
	if depth > maxClaimsDepth {
		return nil, errJSONDepth
	}
	d.i++
	if d.next('}') {
		return map[string]any{}, nil
	}
	base := len(d.members)
	defer func() { clear(d.members[base:]); d.members = d.members[:base] }()
	for {
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, errJSONSyntax
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if !d.next(':') {
			return nil, errJSONSyntax
		}
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		d.members = append(d.members, member{k, v})
		if d.next(',') {
			continue
		}
		if d.next('}') {
			ms := d.members[base:]
			m := make(map[string]any, len(ms))
			for _, kv := range ms { // in order: the last of duplicates wins
				m[kv.name] = kv.v
			}
			return m, nil
		}
		return nil, errJSONSyntax
	}
}

// array decodes an array whose '[' is at d.i.
func (d *claimsDecoder) array(depth int) ([]any, error) {
	if depth > maxClaimsDepth {
		return nil, errJSONDepth
	}
	d.i++
	if d.next(']') {
		return []any{}, nil
	}
	base := len(d.elems)
	defer func() { clear(d.elems[base:]); d.elems = d.elems[:base] }()
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		d.elems = append(d.elems, v)
		if d.next(',') {
			continue
		}
		if d.next(']') {
			return append([]any(nil), d.elems[base:]...), nil
		}
		return nil, errJSONSyntax
	}
}

// number decodes a number at d.i with JSON's grammar (no leading zeros,
// digits after a point, no '+').
func (d *claimsDecoder) number() (float64, error) {
	start := d.i
	s := d.s
	i := d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return 0, errJSONSyntax
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return 0, errJSONSyntax
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return 0, errJSONSyntax
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	d.i = i
	if f, ok := smallInteger(s[start:i]); ok {
		return f, nil
	}
	f, err := strconv.ParseFloat(s[start:i], 64)
	if err != nil { // out of range
		return 0, errJSONSyntax
	}
	return f, nil
}

// smallInteger converts a JSON number of at most 15 digits and no
// fraction or exponent, as NumericDates are: such an integer is exact in a
// float64, so this is what ParseFloat returns, only sooner.
func smallInteger(num string) (float64, bool) {
	digits := num
	if num[0] == '-' {
		digits = num[1:]
	}
	if len(digits) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return 0, false
		}
		n = n*10 + int64(digits[i]-'0')
	}
	if num[0] == '-' {
		return -float64(n), true // -0 for "-0", as ParseFloat gives
	}
	return float64(n), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// str decodes a string whose opening quote is at d.i. Without escapes it is
// a slice of d.s.
func (d *claimsDecoder) str() (string, error) {
	start := d.i + 1
	for i := start; i < len(d.s); i++ {
		switch c := d.s[i]; {
		case c == '"':
			d.i = i + 1
			return d.s[start:i], nil
		case c == '\\':
			return d.unescape(start, i)
		case c < 0x20:
			return "", errJSONSyntax
		}
	}
	return "", errJSONSyntax
}

// unescape decodes a string with escapes from start, its first escape at
// i, as encoding/json does: a \u escape of half a surrogate pair that is
// not followed by the other half is U+FFFD.
func (d *claimsDecoder) unescape(start, i int) (string, error) {
	s := d.s
	b := make([]byte, 0, len(s)-start)
	b = append(b, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(b), nil
		case c < 0x20:
			return "", errJSONSyntax
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", errJSONSyntax
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
			i += 2
		case 'b', 'f', 'n', 'r', 't':
			b = append(b, controlEscapes[e])
			i += 2
		case 'u':
			r := hex4(s[i:])
			if r < 0 {
				return "", errJSONSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if dec := utf16.DecodeRune(r, hex4(s[i:])); dec != unicode.ReplacementChar {
					b = utf8.AppendRune(b, dec)
					i += 6
					continue
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", errJSONSyntax
		}
	}
	return "", errJSONSyntax
}

// controlEscapes maps JSON's one-letter control escapes to their bytes.
var controlEscapes = [256]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 reads the \uXXXX escape at the start of s, or returns -1.
func hex4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
