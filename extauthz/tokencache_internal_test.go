package extauthz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

// TestTokenCacheReuseBound: a cached token is served for at most the
// verifier's reuse bound (identity.DefaultReuseFor here), even when its exp
// is later; then it is verified again, and cached again.
func TestTokenCacheReuseBound(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	a, key := newTestAuthorizer(t, clk, 0)
	tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1", "oid": "org_1",
		"roles": []string{"editor"}}, 12*time.Hour, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allow := func() {
		t.Helper()
		if o := a.check(ctx, warmRequest(tok)); !o.res.Allowed {
			t.Fatalf("denied: %v %s", o.res.Reason, o.res.Detail)
		}
		a.authn.Wait()
	}
	allow()
	allow() // a token is cached from its second use on
	clk.Set(t0.Add(identity.DefaultReuseFor - time.Second))
	if ok := a.authn.Cached(tok, clk.Now()); !ok {
		t.Fatal("the token is not served from the cache within the reuse bound")
	}
	clk.Set(t0.Add(identity.DefaultReuseFor))
	if ok := a.authn.Cached(tok, clk.Now()); ok {
		t.Fatal("the token cache serves the token past the reuse bound")
	}
	allow() // verified again
	if ok := a.authn.Cached(tok, clk.Now()); !ok {
		t.Fatal("the token is not cached again after its new verification")
	}
}

// TestNewTokensAreNotCached: tokens used once each (a new token on every
// request) are verified and allowed but fill neither cache; a token used
// twice in a row is cached. (Between two uses further from each other, a
// newer token may take the doorkeeper slot of the first: admission
// forgets by design, so the test does not depend on that.)
func TestNewTokensAreNotCached(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	a, key := newTestAuthorizer(t, clk, 1<<20)
	ctx := context.Background()
	var toks []string
	for i := range 50 {
		tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1", "oid": "org_1",
			"roles": []string{"editor"}, "jti": fmt.Sprint("t", i)}, time.Hour, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		o := a.check(ctx, warmRequest(tok))
		if !o.res.Allowed {
			t.Fatalf("denied: %v %s", o.res.Reason, o.res.Detail)
		}
		if o.cached != nil {
			t.Fatalf("token %d: a first-seen decision was stored", i)
		}
	}
	a.authn.Wait()
	a.decisions.Wait()
	for i, tok := range toks {
		if ok := a.authn.Cached(tok, t0); ok {
			t.Fatalf("token %d, used once, was cached", i)
		}
	}
	last := toks[len(toks)-1]
	a.check(ctx, warmRequest(last))
	a.authn.Wait()
	if ok := a.authn.Cached(last, t0); !ok {
		t.Fatal("a token used twice was not cached")
	}
}
