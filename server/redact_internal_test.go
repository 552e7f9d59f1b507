package server

import "testing"

// A store password never reaches the logs or the admin summary; sources
// without credentials are shown as written.
func TestRedactSource(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/edgeauthz", "postgres://app:xxxxx@db:5432/edgeauthz"},
		{"https://bundles.example.com/policy.yaml", "https://bundles.example.com/policy.yaml"},
		{"policy.yaml", "policy.yaml"},
		{"xds://relay-a:18000,relay-b:18000", "xds://relay-a:18000,relay-b:18000"},
		{"postgres://app:s3cret@db-a:5432,db-b:5432/edgeauthz", "postgres://app:xxxxx@db-a:5432,db-b:5432/edgeauthz"},
		{"postgres://app:s3cret@db:bad port/x", "(unparseable source)"},
	} {
		if got := redactSource(c.in); got != c.want {
			t.Errorf("redactSource(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
