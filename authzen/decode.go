package authzen

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision"
)

// The request decoder reads a body once, byte by byte. In that one pass it
// checks the JSON syntax exactly as encoding/json does (the same grammar,
// the same nesting limit), refuses a key that appears twice in one object,
// and fills in the fields of the AuthZEN request shape it knows; any other
// value is checked and skipped. Strings without escapes are slices of the
// body, so the common request allocates nothing per item. Generic decoding
// into maps is a large part of a batch's server time; this is why the API
// does not use it.
//
// Accepted bodies decode to what encoding/json decodes them to (the
// FuzzDecoder differential holds it), with its field matching (a key
// matches a field under Unicode simple case folding) and its number rules.
//
// A key that appears twice in an object is read differently by different
// parsers (the first or the last one wins), and names that differ only in
// case are one name to a case-insensitive one: Go's own decoders match
// fields that way. A PEP and the PDP could then decide on different
// subjects, so such a body is refused at any level, with the edge's rule for
// names that collide (decision.FoldEqual).

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// entityIn is a subject or resource as sent. Properties stay raw JSON until
// a rule reads them: role and scope rules never pay for decoding them.
type entityIn struct {
	set     bool // present and not null
	typ, id string
	props   string // raw JSON, "" when absent
	fromTop bool   // an evaluations item took it from the top level
}

type actionIn struct {
	set     bool
	name    string
	props   string
	fromTop bool
}

// evalIn is the body of evaluation, and each item of evaluations.
type evalIn struct {
	subject, resource entityIn
	action            actionIn
	context           map[string]any // nil when absent or null
	// null names the field of an evaluations item that is an explicit null
	// (subject, action or resource).
	null string
}

// requestIn is a whole body.
type requestIn struct {
	evalIn
	items    []evalIn
	semantic string // options.evaluations_semantic
	reasons  bool   // options.include_reasons
	hasToken bool   // page.token
	token    string
	hasLimit bool // page.limit
	limit    int
}

// fields says which top-level fields an endpoint reads besides subject,
// action, resource and context; the others are unknown fields to it.
type fields uint8

const (
	fieldEvaluations fields = 1 << iota
	fieldOptions
	fieldPage
)

// pathElem is one step into a document: an object key or an array index.
type pathElem struct {
	key string
	idx int // -1 for a key
}

// parser is one body's decoding state. Its stacks are reused between
// requests (see scratch).
type parser struct {
	s     string
	pos   int
	depth int
	// keys holds the keys of the open objects, innermost last.
	keys []string
	path []pathElem
	// The first duplicate key and the first value of a wrong type: reported
	// once the whole body is known to be well-formed JSON, so that a syntax
	// error always wins, as it does with encoding/json.
	dupErr, typeErr error
}

// object is one open object.
type object struct {
	mark int                 // where its keys start in parser.keys
	many map[string]struct{} // folded keys, once it has many
}

// decodeRequest decodes body (already trimmed of white space, non-empty,
// starting with '{') into r.
func (p *parser) decodeRequest(body string, known fields, r *requestIn) error {
	p.s, p.pos, p.depth = body, 0, 0
	p.keys, p.path = p.keys[:0], p.path[:0]
	p.dupErr, p.typeErr = nil, nil
	if err := p.request(known, r); err != nil {
		return err
	}
	if p.ws(); p.pos < len(p.s) {
		return badRequest("trailing data after the JSON object")
	}
	if p.dupErr != nil {
		return p.dupErr
	}
	return p.typeErr
}

func (p *parser) request(known fields, r *requestIn) error {
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		switch {
		case strings.EqualFold(key, "subject"):
			err = p.entity(&r.subject)
		case strings.EqualFold(key, "action"):
			err = p.action(&r.action)
		case strings.EqualFold(key, "resource"):
			err = p.entity(&r.resource)
		case strings.EqualFold(key, "context"):
			r.context, err = p.context()
		case known&fieldEvaluations != 0 && strings.EqualFold(key, "evaluations"):
			err = p.items(r)
		case known&fieldOptions != 0 && strings.EqualFold(key, "options"):
			err = p.options(r)
		case known&fieldPage != 0 && strings.EqualFold(key, "page"):
			err = p.page(r)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// item decodes one evaluations item. The value is an object.
func (p *parser) item(it *evalIn) error {
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		if p.peek() == 'n' {
			// An explicit null is no "use the default" (see evaluations). A
			// name any case-insensitive reader takes for a field counts.
			for _, f := range [...]string{"subject", "action", "resource"} {
				if decision.FoldEqual(key, f) {
					it.null = f
				}
			}
		}
		switch {
		case strings.EqualFold(key, "subject"):
			err = p.entity(&it.subject)
		case strings.EqualFold(key, "action"):
			err = p.action(&it.action)
		case strings.EqualFold(key, "resource"):
			err = p.entity(&it.resource)
		case strings.EqualFold(key, "context"):
			it.context, err = p.context()
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) items(r *requestIn) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '[':
	default:
		return p.mismatch("an array")
	}
	if err := p.openArray(); err != nil {
		return err
	}
	for i := 0; ; i++ {
		ok, err := p.nextElem(i)
		if err != nil || !ok {
			return err
		}
		r.items = append(r.items, evalIn{})
		switch p.peek() {
		case 'n': // a null item is an empty one, as encoding/json has it
			err = p.null()
		case '{':
			err = p.item(&r.items[len(r.items)-1])
		default:
			err = p.mismatch("an object")
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) entity(e *entityIn) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '{':
	default:
		return p.mismatch("an object")
	}
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	e.set = true
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		switch {
		case strings.EqualFold(key, "type"):
			err = p.stringField(&e.typ)
		case strings.EqualFold(key, "id"):
			err = p.stringField(&e.id)
		case strings.EqualFold(key, "properties"):
			e.props, err = p.raw()
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) action(a *actionIn) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '{':
	default:
		return p.mismatch("an object")
	}
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	a.set = true
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		switch {
		case strings.EqualFold(key, "name"):
			err = p.stringField(&a.name)
		case strings.EqualFold(key, "properties"):
			a.props, err = p.raw()
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) options(r *requestIn) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '{':
	default:
		return p.mismatch("an object")
	}
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		switch {
		case strings.EqualFold(key, "evaluations_semantic"):
			err = p.stringField(&r.semantic)
		case strings.EqualFold(key, "include_reasons"):
			err = p.boolField(&r.reasons)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) page(r *requestIn) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '{':
	default:
		return p.mismatch("an object")
	}
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		switch {
		case strings.EqualFold(key, "token"):
			if p.peek() == 'n' {
				r.hasToken, r.token = false, ""
				err = p.null()
			} else {
				r.hasToken = true
				err = p.stringField(&r.token)
			}
		case strings.EqualFold(key, "limit"):
			err = p.intField(&r.limit, &r.hasLimit)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// context decodes a context object; null is no context.
func (p *parser) context() (map[string]any, error) {
	switch p.peek() {
	case 'n':
		return nil, p.null()
	case '{':
		v, err := p.anyValue()
		m, _ := v.(map[string]any)
		return m, err
	}
	return nil, p.mismatch("an object")
}

// stringField decodes a string; null leaves *dst as it is.
func (p *parser) stringField(dst *string) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '"':
		s, err := p.str()
		*dst = s
		return err
	}
	return p.mismatch("a string")
}

func (p *parser) boolField(dst *bool) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case 't':
		*dst = true
		return p.literal("true")
	case 'f':
		*dst = false
		return p.literal("false")
	}
	return p.mismatch("a boolean")
}

// intField decodes an integer, as encoding/json decodes into an int: a
// fraction or an exponent is a type error.
func (p *parser) intField(dst *int, set *bool) error {
	switch c := p.peek(); {
	case c == 'n':
		*set = false
		return p.null()
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		lit, err := p.number()
		if err != nil {
			return err
		}
		n, perr := strconv.ParseInt(lit, 10, 0)
		if perr != nil {
			p.pos = start
			return p.mismatch("an integer")
		}
		*dst, *set = int(n), true
		return nil
	}
	return p.mismatch("an integer")
}

// raw skips a value and returns its text.
func (p *parser) raw() (string, error) {
	p.ws()
	start := p.pos
	err := p.skip()
	return p.s[start:p.pos], err
}

// mismatch records that the value at p.pos is not what the field holds,
// and skips it: the rest of the body must still be well-formed.
func (p *parser) mismatch(want string) error {
	if p.typeErr == nil {
		p.ws()
		start := p.pos
		if err := p.skip(); err != nil {
			return err
		}
		p.typeErr = badRequest("%s: must be %s, not %s", p.where(), want, describe(p.s[start:p.pos]))
		return nil
	}
	return p.skip()
}

// describe names a JSON value's kind for an error.
func describe(v string) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if len(v) > 32 {
		v = v[:32] + "…"
	}
	return "the number " + v
}

// --- the JSON grammar ---

func (p *parser) ws() {
	for p.pos < len(p.s) {
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
		// The common bytes first, in a tight loop.
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
			if plain && !ascii {
				plain = utf8.ValidString(text)
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

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// str decodes the string at p.pos. A string with escapes or invalid UTF-8
// (rare) is unquoted by encoding/json, so that it reads exactly as there.
func (p *parser) str() (string, error) {
	start := p.pos
	text, plain, err := p.scanString()
	if err != nil || plain {
		return text, err
	}
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
	key, err := p.str()
	if err != nil {
		return "", false, err
	}
	if p.dupErr == nil && p.seen(o, key) {
		p.dupErr = badRequest("duplicate key %q in %s: a key may appear once per object (keys that differ only in case are the same key)", key, p.where())
	}
	p.keys = append(p.keys, key)
	if p.peek() != ':' {
		return "", false, p.syntax("after object key")
	}
	p.pos++
	p.path = append(p.path, pathElem{key: key, idx: -1})
	return key, true, nil
}

// seen reports whether the object already has a key that folds to key.
func (p *parser) seen(o *object, key string) bool {
	if o.many != nil {
		f := decision.FoldKey(key)
		_, dup := o.many[f]
		o.many[f] = struct{}{}
		return dup
	}
	for _, k := range p.keys[o.mark:] {
		if decision.FoldEqual(k, key) {
			return true
		}
	}
	if len(p.keys)-o.mark >= 16 {
		// Past a few keys, comparing with each would be quadratic.
		o.many = make(map[string]struct{}, 32)
		for _, k := range p.keys[o.mark:] {
			o.many[decision.FoldKey(k)] = struct{}{}
		}
		o.many[decision.FoldKey(key)] = struct{}{}
	}
	return false
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
	if len(p.path) == 0 {
		return "the request"
	}
	var b strings.Builder
	for i, e := range p.path {
		if e.idx >= 0 {
			b.WriteString("[" + strconv.Itoa(e.idx) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	return b.String()
}
