package authzen

import (
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
}

type actionIn struct {
	set   bool
	name  string
	props string
}

// evalIn is the body of evaluation, and each item of evaluations.
type evalIn struct {
	subject, resource entityIn
	action            actionIn
	context           map[string]any // nil when absent or null
	// null names the field of an evaluations item that is an explicit null
	// (subject, action or resource).
	null string
	// nullItem: the evaluations item itself is null.
	nullItem bool
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

// keyRef is an object key: the span [start, end) of parser.s, or, for a
// key with escapes or invalid UTF-8 (start < 0), parser.decoded[-start-1].
// The stacks of a body hold many keys; without pointers they cost the
// garbage collector nothing.
type keyRef struct{ start, end int }

// pathElem is one step into a document: an object key or an array index.
type pathElem struct {
	key keyRef
	idx int // -1 for a key
}

// parser is one body's decoding state. Its stacks are reused between
// requests (see scratch).
type parser struct {
	s     string
	pos   int
	depth int
	// keys holds the keys of the open objects, innermost last.
	keys    []keyRef
	decoded []string // keys that are not spans of s
	path    []pathElem
	prefix  string // names the document in errors: "" for the body
	// The first duplicate key and the first value of a wrong type: reported
	// once the whole body is known to be well-formed JSON, so that a syntax
	// error always wins, as it does with encoding/json.
	dupErr, typeErr error
	// strErr is the first string that is not Unicode text (badString).
	strErr error
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
	p.keys, p.path, p.decoded, p.prefix = p.keys[:0], p.path[:0], p.decoded[:0], ""
	p.dupErr, p.typeErr, p.strErr = nil, nil, nil
	if err := p.request(known, r); err != nil {
		return err
	}
	if p.ws(); p.pos < len(p.s) {
		return badRequest("trailing data after the JSON object")
	}
	if p.strErr != nil {
		return p.strErr
	}
	if p.dupErr != nil {
		return p.dupErr
	}
	return p.typeErr
}

func (p *parser) request(known fields, r *requestIn) error {
	return p.fields(func(key string) error {
		switch {
		case is(key, "subject"):
			return p.entity(&r.subject)
		case is(key, "action"):
			return p.action(&r.action)
		case is(key, "resource"):
			return p.entity(&r.resource)
		case is(key, "context"):
			var err error
			r.context, err = p.context()
			return err
		case known&fieldEvaluations != 0 && is(key, "evaluations"):
			return p.items(r)
		case known&fieldOptions != 0 && is(key, "options"):
			return p.options(r)
		case known&fieldPage != 0 && is(key, "page"):
			return p.page(r)
		}
		return p.skip()
	})
}

// item decodes one evaluations item. The value is an object.
func (p *parser) item(it *evalIn) error {
	return p.fields(func(key string) error {
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
		case is(key, "subject"):
			return p.entity(&it.subject)
		case is(key, "action"):
			return p.action(&it.action)
		case is(key, "resource"):
			return p.entity(&it.resource)
		case is(key, "context"):
			var err error
			it.context, err = p.context()
			return err
		}
		return p.skip()
	})
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
		case 'n':
			// encoding/json reads a null item as an empty one, which takes
			// every top-level default; like a null field it is an error.
			r.items[len(r.items)-1].nullItem = true
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
	return p.optionalObject(func() { e.set = true }, func(key string) error {
		var err error
		switch {
		case is(key, "type"):
			err = p.stringField(&e.typ)
		case is(key, "id"):
			err = p.stringField(&e.id)
		case is(key, "properties"):
			e.props, err = p.raw()
		default:
			err = p.skip()
		}
		return err
	})
}

func (p *parser) action(a *actionIn) error {
	return p.optionalObject(func() { a.set = true }, func(key string) error {
		var err error
		switch {
		case is(key, "name"):
			err = p.stringField(&a.name)
		case is(key, "properties"):
			a.props, err = p.raw()
		default:
			err = p.skip()
		}
		return err
	})
}

func (p *parser) options(r *requestIn) error {
	return p.optionalObject(nil, func(key string) error {
		switch {
		case is(key, "evaluations_semantic"):
			return p.stringField(&r.semantic)
		case is(key, "include_reasons"):
			return p.boolField(&r.reasons)
		}
		return p.skip()
	})
}

func (p *parser) page(r *requestIn) error {
	return p.optionalObject(nil, func(key string) error {
		switch {
		case is(key, "token") && p.peek() == 'n':
			r.hasToken, r.token = false, ""
			return p.null()
		case is(key, "token"):
			r.hasToken = true
			return p.stringField(&r.token)
		case is(key, "limit"):
			return p.intField(&r.limit, &r.hasLimit)
		}
		return p.skip()
	})
}

// optionalObject decodes a value that is null (absent) or an object, whose
// members fields hands to field; opened, when not nil, is called once the
// value is known to be an object.
func (p *parser) optionalObject(opened func(), field func(key string) error) error {
	switch p.peek() {
	case 'n':
		return p.null()
	case '{':
	default:
		return p.mismatch("an object")
	}
	if opened != nil {
		opened()
	}
	return p.fields(field)
}

// fields decodes an object, handing each member's key to field, which
// decodes (or skips) the member's value.
func (p *parser) fields(field func(key string) error) error {
	var o object
	if err := p.openObject(&o); err != nil {
		return err
	}
	for {
		key, ok, err := p.next(&o)
		if err != nil || !ok {
			return err
		}
		if err := field(key); err != nil {
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

// is reports whether key names the field name (lower-case ASCII) to
// encoding/json: equal under Unicode simple folding. Only non-ASCII runes
// (the long s, the Kelvin sign) fold to ASCII letters, and they are longer,
// so most keys are told apart by their length or first byte.
func is(key, name string) bool {
	if len(key) < len(name) || key[0] < utf8.RuneSelf && key[0]|0x20 != name[0] {
		return false
	}
	return key == name || strings.EqualFold(key, name)
}
