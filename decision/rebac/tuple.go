package rebac

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tuple is one relationship in Zanzibar notation: Object#Relation@User.
// Object is "type:id"; User is "type:id", "type:id#relation" or "type:*".
//
// A conditional tuple names one of the model's conditions; it grants only
// when the condition evaluates to true. Context is the tuple's part of the
// condition's parameters as a JSON object in canonical form (sorted keys, no
// spaces; see ParseTuple), "" when it has none. Both are empty for a plain
// tuple. Object, Relation and User identify a tuple: a store holds at most
// one tuple per key, whatever its condition.
type Tuple struct {
	Object    string
	Relation  string
	User      string
	Condition string
	Context   string
}

// String formats t as "object#relation@user", followed by
// " with condition" and " {context}" for a conditional tuple, the form
// ParseTuple reads.
func (t Tuple) String() string {
	s := t.Object + "#" + t.Relation + "@" + t.User
	if t.Condition == "" {
		return s
	}
	s += " with " + t.Condition
	if t.Context != "" {
		s += " " + t.Context
	}
	return s
}

// Key returns t without its condition: what identifies it in a store.
func (t Tuple) Key() Tuple {
	return Tuple{Object: t.Object, Relation: t.Relation, User: t.User}
}

// ParseTuple parses "object#relation@user". It is the one tuple parser:
// edges, the CLI, publish, the relay and the store's writers all call it,
// and the store's CHECK constraints hold the same limits. The parts follow
// OpenFGA's syntax rules (TestTupleRules is their table):
//
//   - an object is "type:id" of at most 256 bytes;
//   - a type is 1 to 254 bytes without ':', '#', '@', '*' or white space;
//   - an id is not empty, its first character is anything but '#', ':',
//     '*' or white space, and the rest are ASCII letters, digits and
//     "_|*@.+/-";
//   - a relation is 1 to 50 bytes without ':', '#', '@', '*' or white space;
//   - a user is an object, "type:id#relation" or the wildcard "type:*".
//
// A conditional tuple continues with " with NAME" (letters, digits, '_'
// and '-', not starting with a digit or '-', at most 256 bytes) and
// optionally a JSON object of at most MaxContextBytes holding part of the
// condition's context:
//
//	document:1#viewer@user:anne with in_office_hours {"start": "09:00"}
func ParseTuple(s string) (Tuple, error) {
	// Types, ids and relations hold no space, so the first one ends the key.
	key, tail := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		key, tail = s[:i], s[i:]
	}
	hash := strings.IndexByte(key, '#')
	if hash < 0 {
		return Tuple{}, fmt.Errorf("tuple %q: want object#relation@user", s)
	}
	at := strings.IndexByte(key[hash+1:], '@')
	if at < 0 {
		return Tuple{}, fmt.Errorf("tuple %q: want object#relation@user", s)
	}
	t := Tuple{Object: key[:hash], Relation: key[hash+1 : hash+1+at], User: key[hash+2+at:]}
	if _, _, ok := splitObject(t.Object); !ok {
		return Tuple{}, fmt.Errorf("tuple %q: malformed object %q", s, t.Object)
	}
	if !validRelation(t.Relation) {
		return Tuple{}, fmt.Errorf("tuple %q: malformed relation %q", s, t.Relation)
	}
	if _, ok := splitUser(t.User); !ok {
		return Tuple{}, fmt.Errorf("tuple %q: malformed user %q", s, t.User)
	}
	if tail != "" {
		var err error
		if t.Condition, t.Context, err = parseCondition(tail); err != nil {
			return Tuple{}, fmt.Errorf("tuple %q: %w", s, err)
		}
	}
	return t, nil
}

// ParseTupleKey splits "object#relation@user" at its first '#' and the
// first '@' after it, requiring only that the three parts are non-empty. It
// does not judge them: it names a row to delete that ParseTuple refuses
// (one written by an older edgeauthz, or by hand), so that such a row can
// still be removed. Everything a store keeps or an edge applies goes
// through ParseTuple.
func ParseTupleKey(s string) (Tuple, error) {
	o, rest, ok := strings.Cut(s, "#")
	r, u, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 || o == "" || r == "" || u == "" {
		return Tuple{}, fmt.Errorf("tuple %q: want object#relation@user", s)
	}
	return Tuple{Object: o, Relation: r, User: u}, nil
}

// userRef is a user string split into its parts.
type userRef struct {
	typ, id, rel string
	wildcard     bool
}

// splitObject splits "type:id", following OpenFGA's rules: the type has no
// ':', '#', '@', '*' or space; the id has no ':', '#' or space, does not start
// with '*', and the whole is at most 256 bytes.
func splitObject(s string) (typ, id string, ok bool) {
	if len(s) < 3 || len(s) > 256 {
		return "", "", false
	}
	c := strings.IndexByte(s, ':')
	if c < 0 || !validName(s[:c], 254) || !validID(s[c+1:]) {
		return "", "", false
	}
	return s[:c], s[c+1:], true
}

// splitUser accepts "type:id", "type:id#relation" and "type:*".
func splitUser(s string) (userRef, bool) {
	if h := strings.IndexByte(s, '#'); h >= 0 {
		typ, id, ok := splitObject(s[:h])
		if !ok || !validRelation(s[h+1:]) {
			return userRef{}, false
		}
		return userRef{typ: typ, id: id, rel: s[h+1:]}, true
	}
	if strings.HasSuffix(s, ":*") {
		typ := s[:len(s)-2]
		if !validName(typ, 254) {
			return userRef{}, false
		}
		return userRef{typ: typ, wildcard: true}, true
	}
	typ, id, ok := splitObject(s)
	if !ok {
		return userRef{}, false
	}
	return userRef{typ: typ, id: id}, true
}

func validRelation(s string) bool { return validName(s, 50) }

func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ':', '#', '@', '*', ' ', '\t', '\n', '\r', '\v', '\f':
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if len(s) == 0 {
		return false
	}
	r, w := utf8.DecodeRuneInString(s)
	if r == '#' || r == ':' || r == '*' || unicode.IsSpace(r) {
		return false
	}
	for i := w; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '|' || c == '*' || c == '@' || c == '.' || c == '+' || c == '/' || c == '-':
		default:
			return false
		}
	}
	return true
}
