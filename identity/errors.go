package identity

import "errors"

// ErrInvalidToken matches every error for a token that was presented but is
// not acceptable. Callers branch on it for the invalid_token deny reason.
var ErrInvalidToken = errors.New("invalid token")

// ErrNoToken means the request carries no token at all. It does not match
// ErrInvalidToken.
var ErrNoToken = errors.New("no token")

// Each of these matches ErrInvalidToken too. Their messages are short, fixed
// and safe to show a client: no error from this package echoes a token.
var (
	ErrMalformed   = invalid("malformed token")
	ErrExpired     = invalid("token expired")
	ErrNotYetValid = invalid("token not yet valid")
	ErrIssuer      = invalid("untrusted token issuer")
	ErrAudience    = invalid("token audience not accepted")
	ErrSignature   = invalid("invalid token signature")
	ErrUnknownKey  = invalid("unknown signing key")
	ErrAlgorithm   = invalid("signing algorithm not accepted")
	// ErrLifetimeTooLong: exp is further from iat (or from now) than the
	// configured maximum token lifetime.
	ErrLifetimeTooLong = invalid("token lifetime too long")
)

type invalidError struct{ msg string }

func invalid(msg string) error { return &invalidError{msg: msg} }

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Unwrap() error { return ErrInvalidToken }

// ErrorCode returns a short stable code for err, suitable as a metric label or
// a log field: "no_token", "malformed", "expired", "not_yet_valid",
// "bad_issuer", "bad_audience", "bad_signature", "unknown_kid",
// "alg_not_allowed", "lifetime_too_long", "invalid_token" (any other invalid
// token), "" for nil and "error" for anything else.
func ErrorCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoToken):
		return "no_token"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrIssuer):
		return "bad_issuer"
	case errors.Is(err, ErrAudience):
		return "bad_audience"
	case errors.Is(err, ErrSignature):
		return "bad_signature"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_kid"
	case errors.Is(err, ErrAlgorithm):
		return "alg_not_allowed"
	case errors.Is(err, ErrLifetimeTooLong):
		return "lifetime_too_long"
	case errors.Is(err, ErrInvalidToken):
		return "invalid_token"
	default:
		return "error"
	}
}
