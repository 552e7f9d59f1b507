package decision

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
)

// Principal is the caller as its verified token describes it. It is built
// once per token (and cached with it), so Decide only reads it.
type Principal struct {
	Subject string
	Org     string
	TokenID string
	Roles   []string
	Groups  []string
	// Scopes is the scope claim (space-separated string or array) together
	// with the permissions claim.
	Scopes []string
	Claims map[string]any
}

// NewPrincipal reads the principal out of verified claims. A claim that
// the token also holds under a name differing only in case ("oid" and
// "OID") is ambiguous to case-insensitive readers and counts as absent.
func NewPrincipal(claims map[string]any, names config.ClaimNames) *Principal {
	claim := func(name string) any {
		if foldAmbiguous(claims, name) {
			return nil
		}
		return claims[name]
	}
	p := &Principal{Claims: claims}
	p.Subject = claimString(claim(names.Subject))
	p.Org = claimString(claim(names.Org))
	p.TokenID = claimString(claim(names.TokenID))
	p.Roles = claimStrings(claim(names.Roles))
	p.Groups = claimStrings(claim(names.Groups))
	p.Scopes = append(claimStrings(claim(names.Scope)), claimStrings(claim(names.Permissions))...)
	return p
}

// claimString renders a scalar claim as templates do (numbers only as exact
// integers: see scalarString); structured values are not identities.
func claimString(v any) string {
	if s, ok := scalarString(v); ok {
		return s
	}
	if _, isNumber := v.(json.Number); !isNumber {
		if x, ok := v.(fmt.Stringer); ok {
			return x.String()
		}
	}
	return ""
}

// claimStrings accepts a space-separated string or an array of strings, the
// two shapes issuers use for scopes and roles.
func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (p *Principal) hasScope(s string) bool {
	for _, have := range p.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Caller is who sent a request, as the authentication step (package authn)
// found them from the request's headers. Decide reads it and changes neither
// it nor the request.
type Caller struct {
	Token TokenState
	// Principal is set when Token is TokenValid.
	Principal *Principal
	// Error says why the token was refused, when Token is TokenInvalid.
	Error string
	// ErrorCode is Error's short, stable code (a bounded set, for metric
	// labels and log fields).
	ErrorCode string
}

// Authenticated is the caller a verified token (or claims given directly,
// as check and test files do) describes.
func Authenticated(p *Principal) Caller { return Caller{Token: TokenValid, Principal: p} }

// TokenState says what authentication found about the caller's token.
type TokenState uint8

const (
	// TokenAbsent: the request carried no token.
	TokenAbsent TokenState = iota
	// TokenValid: the token verified; Caller.Principal is set.
	TokenValid
	// TokenInvalid: a token was sent but did not verify (or several were).
	TokenInvalid
)
