package authzen

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/edgeauthz/edgeauthz/decision"
)

// A JSON object with the same key twice is read differently by different
// parsers (this one takes the last, others the first), and names that differ
// only in case are one name to a case-insensitive one: Go's own decoders
// match struct fields that way. A PEP and the PDP could then decide on
// different subjects, so such a body is refused, as the edge refuses such
// payload names.

// pathElem is one step into a document: an object key or an array index.
type pathElem struct {
	key []byte
	idx int // -1 for a key
}

// bodyScan walks a document that json.Valid accepted.
type bodyScan struct {
	data []byte
	pos  int
	path []pathElem
	// keys holds the keys of the objects being read, innermost last, so
	// that a body costs no allocation per object or key.
	keys [][]byte
	// nullItems are the evaluations items whose subject, action or resource
	// is an explicit null, by index: decoding cannot tell it from absent.
	nullItems map[int]string
}

// itemField names the evaluations item field a key is, in any case, or "".
func itemField(key []byte) string {
	for _, f := range [...]string{"subject", "action", "resource"} {
		if decision.FoldEqual(string(key), f) {
			return f
		}
	}
	return ""
}

// scanBody refuses a body with a duplicate key at any level, and reports the
// batch items with an explicit null subject, action or resource. body must
// be valid JSON.
func scanBody(body []byte) (map[int]string, error) {
	s := bodyScan{data: body}
	if err := s.value(); err != nil {
		return nil, err
	}
	return s.nullItems, nil
}

func (s *bodyScan) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *bodyScan) value() error {
	s.ws()
	switch s.data[s.pos] {
	case '{':
		return s.object()
	case '[':
		s.pos++
		for i := 0; ; i++ {
			s.ws()
			if s.data[s.pos] == ']' {
				s.pos++
				return nil
			}
			s.path = append(s.path, pathElem{idx: i})
			if err := s.value(); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			s.ws()
			if s.data[s.pos] == ',' {
				s.pos++
			}
		}
	case '"':
		s.str()
		return nil
	}
	// A number or a literal: it ends at the next delimiter.
	for s.pos < len(s.data) && !strings.ContainsRune(",]} \t\n\r", rune(s.data[s.pos])) {
		s.pos++
	}
	return nil
}

// str skips a string and returns its raw contents, without the quotes.
func (s *bodyScan) str() []byte {
	start := s.pos + 1
	for s.pos++; s.data[s.pos] != '"'; s.pos++ {
		if s.data[s.pos] == '\\' {
			s.pos++
		}
	}
	s.pos++
	return s.data[start : s.pos-1]
}

func (s *bodyScan) object() error {
	s.pos++
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	var many map[string]bool // folded keys, once an object has many
	for {
		s.ws()
		if s.data[s.pos] == '}' {
			s.pos++
			return nil
		}
		key := s.str()
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(s.data[s.pos-len(key)-2:s.pos], &k) // valid JSON: cannot fail
			key = []byte(k)
		}
		dup := false
		if many != nil {
			fold := decision.FoldKey(string(key))
			dup = many[fold]
			many[fold] = true
		} else {
			for _, k := range s.keys[first:] {
				if decision.FoldEqual(string(k), string(key)) {
					dup = true
					break
				}
			}
			if s.keys = append(s.keys, key); len(s.keys)-first > 16 {
				many = make(map[string]bool, 32)
				for _, k := range s.keys[first:] {
					many[decision.FoldKey(string(k))] = true
				}
			}
		}
		if dup {
			return badRequest("duplicate key %q in %s: a key may appear once per object (keys that differ only in case are the same key)", key, s.where())
		}
		s.ws()
		s.pos++ // ':'
		s.ws()
		if s.data[s.pos] == 'n' && len(s.path) == 2 && s.path[1].idx >= 0 && s.path[0].idx < 0 && decision.FoldEqual(string(s.path[0].key), "evaluations") {
			if name := itemField(key); name != "" {
				if s.nullItems == nil {
					s.nullItems = map[int]string{}
				}
				s.nullItems[s.path[1].idx] = name
			}
		}
		s.path = append(s.path, pathElem{key: key, idx: -1})
		if err := s.value(); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		s.ws()
		if s.data[s.pos] == ',' {
			s.pos++
		}
	}
}

// where names the object being read: "the request", "subject",
// "evaluations[2].resource.properties".
func (s *bodyScan) where() string {
	if len(s.path) == 0 {
		return "the request"
	}
	var b strings.Builder
	for i, p := range s.path {
		if p.idx >= 0 {
			b.WriteString("[" + strconv.Itoa(p.idx) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.Write(p.key)
	}
	return b.String()
}
