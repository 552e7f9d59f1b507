package rebac

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tuple is one relationship in Zanzibar notation: Object#Relation@User.
// Object is "type:id"; User is "type:id", "type:id#relation" or "type:*".
type Tuple struct {
	Object   string
	Relation string
	User     string
}

// String formats t as "object#relation@user".
func (t Tuple) String() string {
	return t.Object + "#" + t.Relation + "@" + t.User
}

// ParseTuple parses "object#relation@user". The parts must satisfy OpenFGA's
// syntax rules for types, ids and relations.
func ParseTuple(s string) (Tuple, error) {
	hash := strings.IndexByte(s, '#')
	if hash < 0 {
		return Tuple{}, fmt.Errorf("tuple %q: want object#relation@user", s)
	}
	at := strings.IndexByte(s[hash+1:], '@')
	if at < 0 {
		return Tuple{}, fmt.Errorf("tuple %q: want object#relation@user", s)
	}
	t := Tuple{Object: s[:hash], Relation: s[hash+1 : hash+1+at], User: s[hash+2+at:]}
	if _, _, ok := splitObject(t.Object); !ok {
		return Tuple{}, fmt.Errorf("tuple %q: malformed object %q", s, t.Object)
	}
	if !validRelation(t.Relation) {
		return Tuple{}, fmt.Errorf("tuple %q: malformed relation %q", s, t.Relation)
	}
	if _, ok := splitUser(t.User); !ok {
		return Tuple{}, fmt.Errorf("tuple %q: malformed user %q", s, t.User)
	}
	return t, nil
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
