package identity

import (
	"fmt"
	"strings"
)

// Extractor finds the token of a request. The zero value reads
// "authorization: Bearer <token>".
type Extractor struct {
	// Header is the header carrying the token, "authorization" by default.
	// "authorization" must hold "Bearer <token>"; another header holds either
	// that or the bare token.
	Header string
	// Cookie, when set, names a cookie that carries the token when the header
	// is absent.
	Cookie string
}

// Extract returns the token from headers (keys lower-cased, as Envoy sends
// them). The header is looked at first, then the cookie. Envoy joins repeated
// headers with ",", so a comma in the value (two Authorization headers) is
// ErrMalformed, as are another scheme (Basic), a missing token and characters
// outside RFC 6750's b64token. Two cookies of the configured name are
// ErrMalformed too (cookie tossing). Nothing found is ErrNoToken.
func (e Extractor) Extract(headers map[string]string) (string, error) {
	name := e.Header
	if name == "" {
		name = "authorization"
	} else {
		name = strings.ToLower(name)
	}
	if v, ok := headers[name]; ok && strings.TrimSpace(v) != "" {
		return fromHeader(v, name == "authorization")
	}
	if e.Cookie != "" {
		if v, ok := headers["cookie"]; ok {
			return fromCookie(v, e.Cookie)
		}
	}
	return "", ErrNoToken
}

func fromHeader(v string, requireScheme bool) (string, error) {
	if strings.IndexByte(v, ',') >= 0 {
		return "", fmt.Errorf("%w: several token header values", ErrMalformed)
	}
	v = strings.Trim(v, " \t")
	scheme, rest, hasSpace := strings.Cut(v, " ")
	switch {
	case hasSpace && strings.EqualFold(scheme, "bearer"):
		v = strings.TrimLeft(rest, " ")
	case requireScheme:
		return "", fmt.Errorf("%w: authorization scheme is not Bearer", ErrMalformed)
	}
	if !isB64Token(v) {
		return "", fmt.Errorf("%w: bad token characters", ErrMalformed)
	}
	return v, nil
}

// fromCookie finds the single cookie called name in a Cookie header (several
// Cookie headers arrive joined by "; " or ", ").
func fromCookie(header, name string) (string, error) {
	found := ""
	n := 0
	for header != "" {
		var part string
		i := strings.IndexAny(header, ";,")
		if i < 0 {
			part, header = header, ""
		} else {
			part, header = header[:i], header[i+1:]
		}
		k, val, ok := strings.Cut(strings.Trim(part, " \t"), "=")
		if !ok || k != name {
			continue
		}
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		found = val
		n++
	}
	switch {
	case n == 0:
		return "", ErrNoToken
	case n > 1:
		return "", fmt.Errorf("%w: several token cookies", ErrMalformed)
	case !isB64Token(found):
		return "", fmt.Errorf("%w: bad token characters", ErrMalformed)
	}
	return found, nil
}

// isB64Token reports whether s is an RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		if !b64TokenChars[s[i]] {
			return false
		}
	}
	return true
}

// b64TokenChars is RFC 6750's b64token alphabet (before any '=' padding),
// as a table: the check runs over every byte of every request's token.
var b64TokenChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isBase64URL(byte(c)) || c == '.' || c == '~' || c == '+' || c == '/'
	}
	return t
}()
