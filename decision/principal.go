package decision

import (
	"fmt"
	"strconv"
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

// NewPrincipal reads the principal out of verified claims.
func NewPrincipal(claims map[string]any, names config.ClaimNames) *Principal {
	p := &Principal{Claims: claims}
	p.Subject = claimString(claims[names.Subject])
	p.Org = claimString(claims[names.Org])
	p.TokenID = claimString(claims[names.TokenID])
	p.Roles = claimStrings(claims[names.Roles])
	p.Groups = claimStrings(claims[names.Groups])
	p.Scopes = append(claimStrings(claims[names.Scope]), claimStrings(claims[names.Permissions])...)
	return p
}

// claimString renders a scalar claim; structured values are not identities.
func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case fmt.Stringer:
		return x.String()
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

// TokenState says what the transport found about the caller's token.
type TokenState uint8

const (
	// TokenAbsent: the request carried no token.
	TokenAbsent TokenState = iota
	// TokenValid: the token verified; Request.Principal is set.
	TokenValid
	// TokenInvalid: a token was sent but did not verify (or several were).
	TokenInvalid
)
