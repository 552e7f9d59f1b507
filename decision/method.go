package decision

import "errors"

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
