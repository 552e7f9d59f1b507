package rebac

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxContextBytes bounds a tuple's condition context as written.
const MaxContextBytes = 16 << 10

// parseCondition reads the " with NAME {json}" tail of a conditional tuple.
func parseCondition(s string) (name, ctx string, err error) {
	s = strings.TrimLeft(s, " \t")
	rest, ok := strings.CutPrefix(s, "with")
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return "", "", errors.New(`want "with CONDITION" after the user`)
	}
	rest = strings.TrimLeft(rest, " \t")
	end := strings.IndexAny(rest, " \t{")
	if end < 0 {
		end = len(rest)
	}
	name, rest = rest[:end], strings.TrimSpace(rest[end:])
	if !ValidConditionName(name) {
		return "", "", fmt.Errorf("malformed condition name %q", name)
	}
	if rest == "" {
		return name, "", nil
	}
	ctx, err = CanonicalContext(rest)
	if err != nil {
		return "", "", err
	}
	return name, ctx, nil
}

// ValidConditionName reports whether s can name a condition: letters,
// digits, '_' and '-', not starting with a digit or '-', at most 256 bytes.
func ValidConditionName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// CanonicalContext checks that s is one JSON object of at most
// MaxContextBytes and returns it with sorted keys and no insignificant
// space, numbers kept as written. An empty object gives "".
func CanonicalContext(s string) (string, error) {
	if len(s) > MaxContextBytes {
		return "", fmt.Errorf("condition context is longer than %d bytes", MaxContextBytes)
	}
	m, err := decodeContext(s)
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", fmt.Errorf("condition context: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// decodeContext parses a JSON object, keeping numbers as json.Number so
// that integers keep their precision until a parameter type converts them.
func decodeContext(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("condition context: want a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("condition context: want a JSON object, got null")
	}
	if dec.More() {
		return nil, errors.New("condition context: trailing data after the JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("condition context: trailing data after the JSON object")
	}
	return m, nil
}
