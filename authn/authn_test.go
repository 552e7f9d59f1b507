package authn_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

const issuer = "https://issuer.test"

// newVerifier is a real verifier of an ES256 issuer whose private key it
// returns, on a fixed clock.
func newVerifier(t *testing.T, now time.Time) (*identity.Verifier, []byte) {
	t.Helper()
	priv, jwks, _, err := identity.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{{Issuer: issuer, Audiences: []string{"api"}, JWKSFile: file}},
		Now:     func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v, priv
}

func mint(t *testing.T, key []byte, claims map[string]any, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := identity.Mint(key, claims, ttl, "", now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAuthenticate: each way a request's headers describe its caller.
func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	v, key := newVerifier(t, now)
	good := mint(t, key, map[string]any{"iss": issuer, "aud": "api", "sub": "usr_1", "oid": "org_1"}, time.Hour, now)
	expired := mint(t, key, map[string]any{"iss": issuer, "aud": "api", "sub": "usr_1"}, time.Minute, now.Add(-time.Hour))
	otherAud := mint(t, key, map[string]any{"iss": issuer, "aud": "other", "sub": "usr_1"}, time.Hour, now)
	a := authn.New(authn.Options{Verifier: v, Extractor: identity.Extractor{Cookie: "session"}, Now: func() time.Time { return now }})
	noIssuers := authn.New(authn.Options{})
	for _, c := range []struct {
		name    string
		a       *authn.Authenticator
		headers map[string]string
		state   decision.TokenState
		code    string // the refused token's error code
		sub     string // the valid token's subject
	}{
		{"no token", a, map[string]string{}, decision.TokenAbsent, "", ""},
		{"bearer", a, map[string]string{"authorization": "Bearer " + good}, decision.TokenValid, "", "usr_1"},
		{"cookie", a, map[string]string{"cookie": "session=" + good}, decision.TokenValid, "", "usr_1"},
		{"two credentials", a, map[string]string{"authorization": "Bearer " + good + ",Bearer " + good}, decision.TokenInvalid, "malformed", ""},
		{"basic", a, map[string]string{"authorization": "Basic dXNlcjpwYXNz"}, decision.TokenInvalid, "malformed", ""},
		{"expired", a, map[string]string{"authorization": "Bearer " + expired}, decision.TokenInvalid, "expired", ""},
		{"another audience", a, map[string]string{"authorization": "Bearer " + otherAud}, decision.TokenInvalid, "bad_audience", ""},
		{"no issuers configured", noIssuers, map[string]string{"authorization": "Bearer " + good}, decision.TokenInvalid, "bad_issuer", ""},
		{"no issuers, no token", noIssuers, map[string]string{}, decision.TokenAbsent, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.a.Authenticate(context.Background(), c.headers)
			got := r.Caller
			if got.Token != c.state || got.ErrorCode != c.code {
				t.Fatalf("caller %+v, want state %d code %q", got, c.state, c.code)
			}
			if (got.Error != "") != (c.state == decision.TokenInvalid) {
				t.Errorf("error %q with state %d", got.Error, got.Token)
			}
			if c.sub != "" && (got.Principal == nil || got.Principal.Subject != c.sub || got.Principal.Org != "org_1") {
				t.Errorf("principal %+v, want subject %s of org_1", got.Principal, c.sub)
			}
			if c.state != decision.TokenValid && got.Principal != nil {
				t.Errorf("a principal without a valid token: %+v", got.Principal)
			}
			if r.Lookup != authn.NoLookup {
				t.Errorf("lookup %d without a cache", r.Lookup)
			}
		})
	}
}

// TestAuthenticateWarmPath: a token is cached from its second use, then
// answered without a signature check; a direct Verify shares the cache.
func TestAuthenticateWarmPath(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	v, key := newVerifier(t, now)
	tok := mint(t, key, map[string]any{"iss": issuer, "aud": "api", "sub": "usr_1"}, time.Hour, now)
	a := authn.New(authn.Options{Verifier: v, CacheBytes: 1 << 20, Now: func() time.Time { return now }})
	defer a.Close()
	h := map[string]string{"authorization": "Bearer " + tok}
	var lookups []authn.Lookup
	for range 3 {
		r := a.Authenticate(context.Background(), h)
		if r.Caller.Token != decision.TokenValid {
			t.Fatalf("refused: %s", r.Caller.Error)
		}
		a.Wait()
		lookups = append(lookups, r.Lookup)
	}
	if want := []authn.Lookup{authn.CacheMiss, authn.CacheMiss, authn.CacheHit}; !slices.Equal(lookups, want) {
		t.Errorf("lookups %v, want %v", lookups, want)
	}
	if !a.Cached(tok, now) {
		t.Error("the token is not cached")
	}
	r := a.Verify(context.Background(), tok)
	if r.Lookup != authn.CacheHit || r.TokenKey != a.Authenticate(context.Background(), h).TokenKey {
		t.Errorf("Verify: lookup %d, or another key than Authenticate's", r.Lookup)
	}
	if raceEnabled {
		return // the race detector drops sync.Pool items, which allocates
	}
	if n := testing.AllocsPerRun(100, func() { _ = a.Authenticate(context.Background(), h) }); n != 0 {
		t.Errorf("a cached token's authentication allocates %v times, want 0", n)
	}
}

// TestFromClaims reads claims with the configured claim names, as a
// verified token's.
func TestFromClaims(t *testing.T) {
	names := config.DefaultClaimNames()
	names.Subject = "uid"
	c := authn.New(authn.Options{Claims: names}).FromClaims(map[string]any{"uid": "u1", "sub": "other"})
	if c.Token != decision.TokenValid || c.Principal.Subject != "u1" {
		t.Errorf("caller %+v", c)
	}
}

// TestPrincipal: the AuthZEN API's view of the same step.
func TestPrincipal(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	v, key := newVerifier(t, now)
	a := authn.New(authn.Options{Verifier: v, Now: func() time.Time { return now }})
	bearer := func(claims map[string]any) map[string]string {
		claims["iss"], claims["aud"] = issuer, "api"
		return map[string]string{"authorization": "Bearer " + mint(t, key, claims, time.Hour, now)}
	}
	if p, err := a.Principal(context.Background(), bearer(map[string]any{"sub": "usr_1"})); err != nil || p.Subject != "usr_1" {
		t.Errorf("valid token: %v, %v", p, err)
	}
	if _, err := a.Principal(context.Background(), map[string]string{}); !errors.Is(err, authn.ErrNoToken) {
		t.Errorf("no token: %v", err)
	}
	if _, err := a.Principal(context.Background(), bearer(map[string]any{"oid": "org_1"})); err == nil {
		t.Error("a token without a subject is accepted")
	}
	if _, err := a.Principal(context.Background(), map[string]string{"authorization": "Bearer x.y.z"}); err == nil {
		t.Error("a malformed token is accepted")
	}
}
