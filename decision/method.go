package decision

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
)

// ErrBadMethod is wrapped by every error CheckMethod returns.
var ErrBadMethod = errors.New("bad method")

// The rejections are built once, like the path's, so that refusing a
// hostile method costs no allocation.
var (
	methodErrEmpty = methodErr("no method")
	methodErrToken = methodErr("not an RFC 9110 token")
	methodErrLower = methodErr("lower-case letter (methods are case-sensitive: send it upper case)")
)

// methodOverrides are the headers some frameworks (Rails, Laravel, Express's
// method-override, Symfony, ASP.NET) read as the method to run instead of the
// request's, each with its refusal built once.
var methodOverrides = [...]struct {
	name string
	err  *methodError
}{
	{"x-http-method-override", methodErr("X-HTTP-Method-Override names another method than the request's (some frameworks run that one)")},
	{"x-http-method", methodErr("X-HTTP-Method names another method than the request's (some frameworks run that one)")},
	{"x-method-override", methodErr("X-Method-Override names another method than the request's (some frameworks run that one)")},
}

// CheckMethodOverride refuses a request that carries a method-override
// header whose value is not exactly its method: a rule matched on the
// method would say nothing about the one the upstream runs. headers have
// lower-case names. The error wraps ErrBadMethod.
func CheckMethodOverride(method string, headers map[string]string) error {
	if len(headers) == 0 {
		return nil
	}
	for _, o := range methodOverrides {
		if v, ok := headers[o.name]; ok && v != method {
			return o.err
		}
	}
	return nil
}

type methodError struct{ reason string }

func methodErr(reason string) *methodError { return &methodError{reason: reason} }

func (e *methodError) Error() string { return ErrBadMethod.Error() + ": " + e.reason }
func (e *methodError) Unwrap() error { return ErrBadMethod }

// methodTchar marks RFC 9110 tchar bytes other than lower-case letters.
var methodTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// CheckMethod accepts only a canonical request method: a non-empty RFC 9110
// token with no lower-case letter. Methods are case-sensitive, so a rule for
// DELETE says nothing about "delete"; but some servers and frameworks
// upper-case the method before they route, and would run as DELETE what a
// rule matched as another method. Such a request is refused rather than
// matched (or canonicalized, which would hide what the client sent from the
// log). The error wraps ErrBadMethod.
func CheckMethod(m string) error {
	if m == "" {
		return methodErrEmpty
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if methodTchar[c] {
			continue
		}
		if 'a' <= c && c <= 'z' {
			return methodErrLower
		}
		return methodErrToken
	}
	return nil
}

// errMethodParam refuses a _method parameter that names another method.
var errMethodParam = methodErr("a _method parameter names another method than the request's (Rails, Laravel and Symfony run that one)")

// CheckMethodParam refuses a request whose query or body carries a _method
// parameter naming another method than the request's: Rails, Laravel and
// Symfony run a POST as the method it names. A form body is read exactly;
// in any other body (JSON, multipart) a _method field cannot be weighed
// cheaply, so its mere presence is refused. A request without the letters
// "method" in its query or body costs a scan and no allocation. The error
// wraps ErrBadMethod.
func CheckMethodParam(method, target string, headers map[string]string, body []byte) error {
	if _, q, ok := strings.Cut(target, "?"); ok && containsFoldMethod(q) && paramDiffers(q, method) {
		return errMethodParam
	}
	if len(body) == 0 || !containsFoldMethod(body) {
		return nil
	}
	mt, _, _ := strings.Cut(headers["content-type"], ";")
	if strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		if paramDiffers(string(body), method) {
			return errMethodParam
		}
		return nil
	}
	if bytes.Contains(bytes.ToLower(body), []byte("_method")) {
		return errMethodParam
	}
	return nil
}

// containsFoldMethod reports whether s holds "method" in any case: the
// cheap test in front of parsing (an escaped %5Fmethod still spells it).
func containsFoldMethod[T string | []byte](s T) bool {
	const w = "method"
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			if s[i+j]|0x20 != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// paramDiffers reports whether a URL-encoded parameter list has a _method
// parameter (its name compared as frameworks read it: decoded, trimmed,
// any case, with or without []) whose value is not exactly method. A name
// or value that does not decode counts as differing.
func paramDiffers(q, method string) bool {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		name, value, _ := strings.Cut(pair, "=")
		n, err := url.QueryUnescape(name)
		if err != nil {
			return true
		}
		n = strings.TrimSuffix(strings.TrimSpace(n), "[]")
		if !strings.EqualFold(n, "_method") {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil || v != method {
			return true
		}
	}
	return false
}
