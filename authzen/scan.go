package authzen

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision"
)

// The JSON grammar of the request decoder (decode.go): white space,
// literals, numbers, strings, objects with their duplicate-key check,
// arrays, generic values, and where in the document an error lies.

func (p *parser) ws() {
	// Every white space byte is at most ' ': most calls end at the first test.
	for p.pos < len(p.s) && p.s[p.pos] <= ' ' {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the next significant byte, or 0 at the end.
func (p *parser) peek() byte {
	p.ws()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) syntax(context string) error {
	if p.pos >= len(p.s) {
		return badRequest("malformed JSON: unexpected end of JSON input")
	}
	return badRequest("malformed JSON: invalid character %s %s (offset %d)", quoteByte(p.s[p.pos]), context, p.pos)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < utf8.RuneSelf && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	return strconv.QuoteRuneToASCII(rune(c))
}

// skip checks one value and moves past it.
func (p *parser) skip() error {
	switch c := p.peek(); {
	case c == '{':
		var o object
		if err := p.openObject(&o); err != nil {
			return err
		}
		for {
			_, ok, err := p.next(&o)
			if err != nil || !ok {
				return err
			}
			if err := p.skip(); err != nil {
				return err
			}
		}
	case c == '[':
		if err := p.openArray(); err != nil {
			return err
		}
		for i := 0; ; i++ {
			ok, err := p.nextElem(i)
			if err != nil || !ok {
				return err
			}
			if err := p.skip(); err != nil {
				return err
			}
		}
	case c == '"':
		_, _, err := p.scanString()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, err := p.number()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.null()
	}
	return p.syntax("looking for beginning of value")
}

// anyValue decodes a value as encoding/json decodes into an interface:
// objects as map[string]any, arrays as []any, numbers as float64.
func (p *parser) anyValue() (any, error) {
	switch c := p.peek(); {
	case c == '{':
		var o object
		if err := p.openObject(&o); err != nil {
			return nil, err
		}
		m := map[string]any{}
		for {
			key, ok, err := p.next(&o)
			if err != nil {
				return nil, err
			}
			if !ok {
				return m, nil
			}
			v, err := p.anyValue()
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
	case c == '[':
		if err := p.openArray(); err != nil {
			return nil, err
		}
		a := []any{}
		for i := 0; ; i++ {
			ok, err := p.nextElem(i)
			if err != nil {
				return nil, err
			}
			if !ok {
				return a, nil
			}
			v, err := p.anyValue()
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		lit, err := p.number()
		if err != nil {
			return nil, err
		}
		f, perr := strconv.ParseFloat(lit, 64)
		if perr != nil {
			if p.typeErr == nil {
				p.typeErr = badRequest("%s: the number %s does not fit a float64", p.where(), lit)
			}
			return nil, nil
		}
		return f, nil
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.null()
	}
	return nil, p.syntax("looking for beginning of value")
}

func (p *parser) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if p.pos >= len(p.s) || p.s[p.pos] != lit[i] {
			return p.syntax("in literal " + lit + " (expecting " + quoteByte(lit[i]) + ")")
		}
		p.pos++
	}
	return nil
}

func (p *parser) null() error { return p.literal("null") }

// number checks a number literal and returns it.
func (p *parser) number() (string, error) {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.s) && p.s[p.pos] == '0':
		p.pos++
	case p.pos < len(p.s) && p.s[p.pos] >= '1' && p.s[p.pos] <= '9':
		p.digits()
	default:
		return "", p.syntax("in numeric literal")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if p.pos >= len(p.s) || p.s[p.pos] < '0' || p.s[p.pos] > '9' {
			return "", p.syntax("after decimal point in numeric literal")
		}
		p.digits()
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(p.s) || p.s[p.pos] < '0' || p.s[p.pos] > '9' {
			return "", p.syntax("in exponent of numeric literal")
		}
		p.digits()
	}
	return p.s[start:p.pos], nil
}

func (p *parser) digits() {
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
}

// scanString checks the string at p.pos and moves past it. It returns its
// text between the quotes, and whether that text is the string's value
// as is (no escape, valid UTF-8).
func (p *parser) scanString() (string, bool, error) {
	start := p.pos + 1
	plain, ascii := true, true
	i := start
	for {
		// The common bytes first: eight at a time, then one by one.
		for i+8 <= len(p.s) && !special8(load8(p.s, i)) {
			i += 8
		}
		for i < len(p.s) {
			if c := p.s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		if i >= len(p.s) {
			p.pos = i
			return "", false, p.syntax("in string literal")
		}
		switch c := p.s[i]; {
		case c == '"':
			p.pos = i + 1
			text := p.s[start:i]
			// Escapes are ASCII, so the raw text is valid UTF-8 exactly
			// when the string's bytes are.
			if !ascii && !utf8.ValidString(text) {
				p.badString(start, "invalid UTF-8")
			}
			return text, plain, nil
		case c == '\\':
			plain = false
			i++
			if i >= len(p.s) {
				p.pos = i
				return "", false, p.syntax("in string escape code")
			}
			switch p.s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(p.s) || !isHex(p.s[i]) {
						p.pos = i
						return "", false, p.syntax("in \\u hexadecimal character escape")
					}
					i++
				}
				// A surrogate stands for a character only in a pair, high
				// then low; encoding/json reads a lone one as U+FFFD, which
				// would make different strings one.
				switch r := hex4(p.s[i-4 : i]); {
				case r >= 0xdc00 && r <= 0xdfff:
					p.badString(start, "a lone surrogate escape \\u"+p.s[i-4:i])
				case r >= 0xd800 && r <= 0xdbff:
					if i+6 <= len(p.s) && p.s[i] == '\\' && p.s[i+1] == 'u' && isHex(p.s[i+2]) && isHex(p.s[i+3]) && isHex(p.s[i+4]) && isHex(p.s[i+5]) {
						if lo := hex4(p.s[i+2 : i+6]); lo >= 0xdc00 && lo <= 0xdfff {
							i += 6
							break
						}
					}
					p.badString(start, "a lone surrogate escape \\u"+p.s[i-4:i])
				}
			default:
				p.pos = i
				return "", false, p.syntax("in string escape code")
			}
		case c < 0x20:
			p.pos = i
			return "", false, p.syntax("in string literal")
		default:
			ascii = false
			i++
		}
	}
}

// load8 reads 8 bytes of s from i, little-endian (one load).
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// special8 reports whether any of 8 bytes ends a string's plain run: a
// quote, a backslash, a control character or a non-ASCII byte. Each test
// may misfire only on bytes above one that fires, so "any" is exact.
func special8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lo * '"')
	b := x ^ (lo * '\\')
	return ((q-lo)&^q|(b-lo)&^b|(x-lo*0x20)|x)&hi != 0
}

// hex4 reads four hexadecimal digits (already checked).
func hex4(h string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := rune(h[i])
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | c
	}
	return r
}

// badString records the first string that is no sequence of Unicode
// characters: invalid UTF-8, or a lone surrogate escape. encoding/json
// would replace each with U+FFFD, so two different byte strings (two
// subjects, two keys) would read as one; the edge's readers refuse such
// input too. Like a duplicate key it is reported once the whole document
// is known to be well-formed.
func (p *parser) badString(start int, what string) {
	if p.strErr == nil {
		p.strErr = badRequest("%s in a string (offset %d): strings must be Unicode text", what, start-1)
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// str decodes the string at p.pos.
func (p *parser) str() (string, error) {
	start := p.pos
	text, plain, err := p.scanString()
	if err != nil || plain {
		return text, err
	}
	return p.unquote(start)
}

// unquote decodes the string that starts at start and ends at p.pos, with
// escapes or invalid UTF-8 (rare): encoding/json unquotes it, so that it
// reads exactly as there.
func (p *parser) unquote(start int) (string, error) {
	var s string
	if err := json.Unmarshal([]byte(p.s[start:p.pos]), &s); err != nil {
		return "", badRequest("malformed JSON: %v", err) // cannot happen: the string was checked
	}
	return s, nil
}

func (p *parser) push() error {
	if p.depth++; p.depth > maxDepth {
		return badRequest("malformed JSON: exceeded max depth")
	}
	p.pos++
	return nil
}

func (p *parser) openObject(o *object) error {
	o.mark = len(p.keys)
	return p.push()
}

func (p *parser) openArray() error { return p.push() }

// next moves to the object's next key and past its colon. It returns false
// once the object has ended. While a key's value is read, the key is the
// last element of p.path.
func (p *parser) next(o *object) (string, bool, error) {
	first := len(p.keys) == o.mark
	c := p.peek()
	if !first {
		p.path = p.path[:len(p.path)-1]
	}
	switch {
	case c == '}':
		p.pos++
		p.depth--
		p.keys = p.keys[:o.mark]
		return "", false, nil
	case !first && c != ',':
		return "", false, p.syntax("after object key:value pair")
	case !first:
		p.pos++
		c = p.peek()
	}
	if c != '"' {
		return "", false, p.syntax("looking for beginning of object key string")
	}
	start := p.pos
	key, plain, err := p.scanString()
	if err != nil {
		return "", false, err
	}
	ref := keyRef{start + 1, p.pos - 1}
	if !plain {
		if key, err = p.unquote(start); err != nil {
			return "", false, err
		}
		p.decoded = append(p.decoded, key)
		ref = keyRef{start: -len(p.decoded)}
	}
	if p.dupErr == nil && p.seen(o, key) {
		p.dupErr = badRequest("duplicate key %q in %s: a key may appear once per object (keys that differ only in case are the same key)", key, p.where())
	}
	p.keys = append(p.keys, ref)
	if p.peek() != ':' {
		return "", false, p.syntax("after object key")
	}
	p.pos++
	p.path = append(p.path, pathElem{key: ref, idx: -1})
	return key, true, nil
}

// text returns a key.
func (p *parser) text(k keyRef) string {
	if k.start < 0 {
		return p.decoded[-k.start-1]
	}
	return p.s[k.start:k.end]
}

// seen reports whether the object already has a key that folds to key.
func (p *parser) seen(o *object, key string) bool {
	if o.many != nil {
		f := decision.FoldKey(key)
		_, dup := o.many[f]
		o.many[f] = struct{}{}
		return dup
	}
	for _, ref := range p.keys[o.mark:] {
		if k := p.text(ref); mayFoldEqual(k, key) && decision.FoldEqual(k, key) {
			return true
		}
	}
	if len(p.keys)-o.mark >= 16 {
		// Past a few keys, comparing with each would be quadratic.
		o.many = make(map[string]struct{}, 32)
		for _, ref := range p.keys[o.mark:] {
			o.many[decision.FoldKey(p.text(ref))] = struct{}{}
		}
		o.many[decision.FoldKey(key)] = struct{}{}
	}
	return false
}

// mayFoldEqual is false when the first bytes already tell a and b apart
// under decision.FoldEqual: two ASCII bytes fold together only as the same
// letter in either case.
func mayFoldEqual(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	ca, cb := a[0], b[0]
	if ca >= utf8.RuneSelf || cb >= utf8.RuneSelf || ca == cb {
		return true
	}
	l := ca | 0x20
	return l == cb|0x20 && l >= 'a' && l <= 'z'
}

// nextElem moves to the array's element i. It returns false once the
// array has ended.
func (p *parser) nextElem(i int) (bool, error) {
	c := p.peek()
	if i > 0 {
		p.path = p.path[:len(p.path)-1]
	}
	switch {
	case c == ']':
		p.pos++
		p.depth--
		return false, nil
	case i > 0 && c != ',':
		return false, p.syntax("after array element")
	case i > 0:
		p.pos++
	}
	p.path = append(p.path, pathElem{idx: i})
	return true, nil
}

// where names the value being read: "the request", "subject",
// "evaluations[2].resource.properties".
func (p *parser) where() string {
	if len(p.path) == 0 && p.prefix == "" {
		return "the request"
	}
	var b strings.Builder
	b.WriteString(p.prefix)
	for _, e := range p.path {
		if e.idx >= 0 {
			b.WriteString("[" + strconv.Itoa(e.idx) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.text(e.key))
	}
	return b.String()
}
