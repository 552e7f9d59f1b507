package authn_test

import (
	"fmt"
	"testing"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// TestPrincipalBytes: a principal's cost grows with what its claims hold,
// so a token with 1,500 groups costs about its decoded size, not one entry.
func TestPrincipalBytes(t *testing.T) {
	small := map[string]any{"iss": "https://issuer.test", "sub": "usr_1", "oid": "org_1", "scope": "read:documents",
		"exp": 1.7e9, "aud": "api"}
	groups := make([]any, 1500)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%04d", i)
	}
	big := map[string]any{"groups": groups}
	for k, v := range small {
		big[k] = v
	}
	names := config.DefaultClaimNames()
	s := authn.PrincipalBytes(decision.NewPrincipal(small, names))
	b := authn.PrincipalBytes(decision.NewPrincipal(big, names))
	if s < 300 || s > 2000 {
		t.Errorf("small principal: %d bytes, want a few hundred", s)
	}
	// Each group: the string's bytes and header in the claim, the interface
	// in the claim's array, and the header in Principal.Groups.
	if min := int64(1500 * (10 + 16 + 16 + 16)); b < min {
		t.Errorf("principal with 1,500 groups: %d bytes, want at least %d", b, min)
	}
}
