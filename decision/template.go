package decision

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// varSource is where a template variable is read from.
type varSource uint8

const (
	srcParams varSource = iota + 1
	srcQuery
	srcPayload
	srcHeaders
	srcClaims
	srcContext
	srcPrincipal
)

var sourceNames = map[string]varSource{
	"params": srcParams, "query": srcQuery, "payload": srcPayload, "headers": srcHeaders,
	"claims": srcClaims, "context": srcContext, "principal": srcPrincipal,
}

// template is a string with {source.key} variables, parsed once at compile
// time. A variable that is absent (or empty, or ambiguous) leaves the template
// unbound: it never expands to "" or to a guess.
type template struct {
	raw   string
	parts []tplPart
}

type tplPart struct {
	lit   string
	src   varSource // 0 for a literal
	key   string    // the name after the source; dotted for payload and claims
	path  []string  // key split on dots, for payload and claims
	param int       // wildcard index for params
}

// errTemplate is wrapped by template syntax errors.
var errTemplate = errors.New("template")

// parseTemplate parses s. pat, when non-nil, is the route's pattern, against
// which {params.x} is bound at compile time.
func parseTemplate(s string, pat *pattern) (*template, error) {
	t := &template{raw: s}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		closing := strings.IndexByte(rest, '}')
		if open < 0 {
			if closing >= 0 {
				return nil, fmt.Errorf("%w %q: unmatched }", errTemplate, s)
			}
			t.parts = append(t.parts, tplPart{lit: rest})
			break
		}
		if closing >= 0 && closing < open {
			return nil, fmt.Errorf("%w %q: unmatched }", errTemplate, s)
		}
		if open > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%w %q: unclosed {", errTemplate, s)
		}
		v := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		src, key, ok := strings.Cut(v, ".")
		vs := sourceNames[src]
		if !ok || vs == 0 || key == "" || strings.ContainsAny(key, "{ ") {
			return nil, fmt.Errorf("%w %q: {%s} is not {source.name} with source params, query, payload, headers, claims, context or principal", errTemplate, s, v)
		}
		p := tplPart{src: vs, key: key}
		switch vs {
		case srcParams:
			if pat == nil {
				return nil, fmt.Errorf("%w %q: {params.%s} needs a route pattern", errTemplate, s, key)
			}
			p.param = pat.param(key)
			if p.param < 0 {
				return nil, fmt.Errorf("%w %q: the route pattern %q has no {%s}", errTemplate, s, pat.text, key)
			}
		case srcHeaders:
			p.key = strings.ToLower(key)
		case srcPayload, srcClaims:
			p.path = strings.Split(key, ".")
			for _, e := range p.path {
				if e == "" {
					return nil, fmt.Errorf("%w %q: empty name in {%s}", errTemplate, s, v)
				}
			}
		case srcPrincipal:
			if key != "sub" && key != "org" {
				return nil, fmt.Errorf("%w %q: principal has sub and org", errTemplate, s)
			}
		}
		t.parts = append(t.parts, p)
	}
	return t, nil
}

// static reports whether the template has no variables, and its text.
func (t *template) static() (string, bool) {
	if len(t.parts) == 0 {
		return "", true
	}
	if len(t.parts) == 1 && t.parts[0].src == 0 {
		return t.parts[0].lit, true
	}
	return "", false
}

// expand appends the expansion to buf. ok is false when a variable is unbound.
func (t *template) expand(buf []byte, e *evalState) ([]byte, bool) {
	for i := range t.parts {
		p := &t.parts[i]
		if p.src == 0 {
			buf = append(buf, p.lit...)
			continue
		}
		v, ok := e.lookup(p)
		if !ok || v == "" {
			return buf, false
		}
		buf = append(buf, v...)
	}
	return buf, true
}

// scalarString renders a JSON scalar the way a template uses it, and only
// when every reader of the same document reads the same text. A number binds
// only as an exact integer: as its literal text when the decoder kept it
// (json.Number: plain notation, no fraction, exponent, leading zero or "-0"),
// and from a float64 only in the range where float64 holds every integer
// exactly (|x| < 2^53). Otherwise a rule would bind a rounded neighbour of
// the number the upstream reads (9007199254740993 reads as …992 in float64).
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		if plainInteger(string(x)) {
			return string(x), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), true
		}
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// plainInteger reports whether s is an integer written as JSON writes one,
// -?(0|[1-9][0-9]*), other than "-0", which readers disagree on.
func plainInteger(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || digits[0] == '0' && (len(digits) > 1 || len(s) > 1) {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// walk follows a dotted path through nested JSON objects. A name that the
// object also holds in another case is ambiguous (see foldRune) and binds
// nothing, at every level.
func walk(v any, path []string) (any, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok || foldAmbiguous(m, k) {
			return nil, false
		}
	}
	return v, true
}
