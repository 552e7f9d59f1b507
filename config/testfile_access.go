package config

import "strings"

// TestAccess is an AuthZEN question in a test case: may Subject perform
// Action on Resource? Subject and Resource are TYPE:ID.
type TestAccess struct {
	Subject            string         `yaml:"subject"`
	Action             string         `yaml:"action"`
	Resource           string         `yaml:"resource"`
	SubjectProperties  map[string]any `yaml:"subject_properties"`
	ResourceProperties map[string]any `yaml:"resource_properties"`
	ActionProperties   map[string]any `yaml:"action_properties"`
	Context            map[string]any `yaml:"context"`
	// TrustProperties lets the subject's properties vouch for its roles,
	// scopes and org, as for a trusted caller.
	TrustProperties bool `yaml:"trust_properties"`
}

// checkAccessCase validates an authzen: case.
func checkAccessCase(c *TestCase, errs *List) {
	if c.Request.Path != "" || c.Claims != nil || c.Token != "" || c.Check != nil {
		errs.Add(c.Line, "case %q: an authzen case has no request, claims, token or check", c.Name)
	}
	a := c.AuthZEN
	for _, f := range []struct{ name, v string }{{"subject", a.Subject}, {"resource", a.Resource}} {
		if t, id, ok := strings.Cut(f.v, ":"); !ok || t == "" || id == "" {
			errs.Add(c.Line, "case %q: authzen.%s must be TYPE:ID, not %q", c.Name, f.name, f.v)
		}
	}
	if a.Action == "" {
		errs.Add(c.Line, "case %q: authzen.action is required", c.Name)
	}
}
