package policytest

import (
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// runAccess decides an authzen: case as the AuthZEN API would.
func runAccess(snap *decision.Snapshot, c *config.TestCase) error {
	a := c.AuthZEN
	req := decision.AccessRequest{Action: decision.Action{Name: a.Action, Properties: a.ActionProperties},
		Context: a.Context, TrustProperties: a.TrustProperties}
	req.Subject.Type, req.Subject.ID, _ = strings.Cut(a.Subject, ":")
	req.Resource.Type, req.Resource.ID, _ = strings.Cut(a.Resource, ":")
	req.Subject.Properties, req.Resource.Properties = a.SubjectProperties, a.ResourceProperties
	res := snap.ExplainAccess(&req)
	return compare(c.Expect, res)
}
