package extauthz_test

import (
	"strings"
	"testing"
	"time"
)

// TestCachedTokenRefusedAfterKeyRotation drives a key rotation through a
// real JWKS server on 127.0.0.1 and the whole Check: T1 (key A, exp in year
// 9999, lifetime limit lifted) is allowed and cached; the issuer publishes
// key B only and a B token brings it in; from then on T1 is refused like a
// fresh A token, and B tokens pass.
func TestCachedTokenRefusedAfterKeyRotation(t *testing.T) {
	a, b, _ := testKeys(t)
	js := newJWKSServer(t, a.jwks)
	h := start(t, harnessOptions{policy: testPolicy(t), issuer: "jwks_url: " + js.URL + "/jwks.json",
		tokens: "  max_lifetime: 0s\n"})
	h.waitFor("the first JWKS fetch", func() bool { return js.fetches.Load() >= 1 })
	year9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	t1 := mint(t, a, with(validClaims(), "exp", year9999))
	for range 2 { // verified, then from the token cache
		if res := h.check(req{path: docPath, headers: bearer(t1)}); res.GetOkResponse() == nil {
			t.Fatalf("T1 before the rotation is refused: %v", res)
		}
	}

	js.serve(b.jwks)
	tokB := mint(t, b, validClaims())
	if res := h.check(req{path: docPath, headers: bearer(tokB)}); res.GetOkResponse() == nil {
		t.Fatalf("key B after the rotation is refused: %v", res)
	}
	for _, tok := range []string{t1, mint(t, a, validClaims())} {
		assertDenied401(t, h, req{path: docPath, headers: bearer(tok)}, "invalid_token")
	}
	if res := h.check(req{path: docPath, headers: bearer(tokB)}); res.GetOkResponse() == nil {
		t.Fatalf("key B again is refused: %v", res)
	}
}

// TestTokenLifetimeLimit: by default a token that claims to live longer
// than 24h is refused, whatever its signature.
func TestTokenLifetimeLimit(t *testing.T) {
	a, _, _ := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	year9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	res := h.check(req{path: docPath, headers: bearer(mint(t, a, with(validClaims(), "exp", year9999)))})
	if d := denied(t, res); d.GetStatus().GetCode() != 401 || !strings.Contains(string(d.GetBody()), "lifetime") {
		t.Fatalf("status %d body %q, want 401 naming the lifetime", d.GetStatus().GetCode(), d.GetBody())
	}
	if res := h.check(req{path: docPath, headers: bearer(mint(t, a, validClaims()))}); res.GetOkResponse() == nil {
		t.Fatalf("a 1h token is refused: %v", res)
	}
}
