package extauthz

import (
	"testing"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// TestDecisionBytes: a cached decision costs more than the principal it
// holds (its own strings and its encoded response come on top).
func TestDecisionBytes(t *testing.T) {
	p := decision.NewPrincipal(map[string]any{"iss": "https://issuer.test", "sub": "usr_1", "oid": "org_1",
		"scope": "read:documents", "exp": 1.7e9, "aud": "api"}, config.DefaultClaimNames())
	s := authn.PrincipalBytes(p)
	c := &cachedDecision{res: decision.Result{Rule: "read-document", Principal: p}}
	if d := decisionBytes(c); d <= s {
		t.Errorf("decision: %d bytes, want more than its principal's %d", d, s)
	}
}
