package server

import (
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

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
		{"postgres://db/edgeauthz?user=app&password=s3cret&sslmode=require", "postgres://db/edgeauthz?password=xxxxx&sslmode=require&user=app"},
		{"postgres://db/x?sslpassword=s3cret", "postgres://db/x?sslpassword=xxxxx"},
		{"postgres://db:bad port/x?password=s3cret", "(unparseable source)"},
	} {
		if got := redactSource(c.in); got != c.want {
			t.Errorf("redactSource(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestOriginHidesStorePassword: the origin persisted beside the last good
// policy names the store without its password, in the URL or the query.
func TestOriginHidesStorePassword(t *testing.T) {
	for _, src := range []string{
		"postgres://app:s3cret@db:5432/edgeauthz",
		"postgres://app@db:5432/edgeauthz?password=s3cret",
	} {
		cfg := &config.Server{}
		cfg.Policy.Source = src
		if o := Origin(cfg); strings.Contains(o, "s3cret") || !strings.Contains(o, "db:5432/edgeauthz") {
			t.Errorf("Origin(%q) = %q", src, o)
		}
	}
}
