package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/cache"
	"github.com/edgeauthz/edgeauthz/identity"
)

// withKid rewrites the kid of every key of a JWKS document.
func withKid(t testing.TB, jwks []byte, kid string) []byte {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		k["kid"] = kid
	}
	return mustJSON(t, doc)
}

// mintKid signs c with k under kid ("" for k's own).
func mintKid(t testing.TB, k devKey, c map[string]any, kid string) string {
	t.Helper()
	raw, err := identity.Mint(k.pem, c, 0, kid, t0)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tokenUser uses a Verifier the way the server does: a verified token is
// cached, and a cached one is served without Verify while it is trusted.
type tokenUser struct {
	v      *identity.Verifier
	now    func() time.Time
	tokens *cache.Tokens[*identity.Token]
}

func newTokenUser(v *identity.Verifier, now func() time.Time) *tokenUser {
	return &tokenUser{v: v, now: now, tokens: cache.NewTokens[*identity.Token](1<<20, cache.AdmitAll)}
}

// use reports whether raw was served from the cache, or Verify's error.
func (u *tokenUser) use(raw string) (cached bool, err error) {
	if _, ok := u.tokens.Get(raw, u.now()); ok {
		return true, nil
	}
	tok, err := u.v.Verify(context.Background(), raw)
	if err != nil {
		return false, err
	}
	u.tokens.Add(raw, tok, func(*identity.Token) int64 { return 1024 }, tok.Expiry, tok.Trust())
	u.tokens.Wait()
	return false, nil
}

func newVerifierT(t testing.TB, cfg identity.Config) *identity.Verifier {
	t.Helper()
	v, err := identity.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// TestCachedTokenRefusedAfterKeyRemoval is the rotation an issuer does
// after a key leaks: T1 (k1, exp in year 9999 with no lifetime limit) is
// used once and cached; the JWKS at the URL becomes k2 only and a k2 token
// brings it in. From then on T1 is not served from the cache and is
// refused when verified again, like any fresh k1 token; k2 tokens pass.
func TestCachedTokenRefusedAfterKeyRemoval(t *testing.T) {
	k1, k2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	srv := newJWKSServer(t, k1.jwks) // httptest: 127.0.0.1
	clk := &clock{t: t0}
	v := newVerifierT(t, identity.Config{
		Issuers:     []identity.Issuer{{Issuer: issA, Audiences: []string{"api"}, JWKSURL: srv.URL + "/jwks.json"}},
		MaxLifetime: identity.NoMaxLifetime,
		Now:         clk.Now,
	})
	u := newTokenUser(v, clk.Now)
	year9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	t1 := mintKid(t, k1, claims("exp", year9999), "")
	for i, wantCached := range []bool{false, true} {
		if cached, err := u.use(t1); err != nil || cached != wantCached {
			t.Fatalf("T1 use %d: cached %v, %v; want cached %v, nil", i, cached, err, wantCached)
		}
	}

	srv.serve(http.StatusOK, k2.jwks) // the issuer drops k1
	clk.Advance(time.Second)
	t2 := mintKid(t, k2, claims("jti", "j2"), "")
	if _, err := u.use(t2); err != nil {
		t.Fatalf("k2 token after the rotation: %v", err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("JWKS requests = %d, want 2 (the k2 token's refresh)", n)
	}
	if _, ok := u.tokens.Get(t1, clk.Now()); ok {
		t.Fatal("T1 is served from the token cache after k1 left the JWKS")
	}
	for _, raw := range []string{t1, mintKid(t, k1, claims("jti", "fresh"), "")} {
		if cached, err := u.use(raw); cached || !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatalf("k1 token after the rotation: cached %v, %v; want ErrUnknownKey", cached, err)
		}
	}
	if cached, err := u.use(t2); !cached || err != nil {
		t.Fatalf("k2 token again: cached %v, %v; want a cache hit", cached, err)
	}
}

// TestSameKidReplacement: the issuer replaces the key under one kid. A token
// signed by the new key fails against the old one, which refreshes the keys
// (the kid is known, so only a signature failure can tell) and then passes;
// the old key's tokens lose their cached trust and are refused. Forged
// signatures under a known kid refresh at most once per MinRefresh.
func TestSameKidReplacement(t *testing.T) {
	k1, k2, forger := newDevKey(t, "ES256"), newDevKey(t, "ES256"), newDevKey(t, "ES256")
	srv := newJWKSServer(t, withKid(t, k1.jwks, "main"))
	clk := &clock{t: t0}
	v := newVerifierT(t, identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		Now:     clk.Now,
	})
	u := newTokenUser(v, clk.Now)
	t1 := mintKid(t, k1, claims(), "main")
	if _, err := u.use(t1); err != nil {
		t.Fatal(err)
	}

	srv.serve(http.StatusOK, withKid(t, k2.jwks, "main"))
	t2 := mintKid(t, k2, claims("jti", "j2"), "main")
	if _, err := u.use(t2); err != nil {
		t.Fatalf("token of the replacing key: %v", err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("JWKS requests = %d, want 2", n)
	}
	if cached, err := u.use(t1); cached || !errors.Is(err, identity.ErrSignature) {
		t.Fatalf("token of the replaced key: cached %v, %v; want ErrSignature", cached, err)
	}

	forged := mintKid(t, forger, claims("jti", "forged"), "main")
	for range 5 {
		if _, err := v.Verify(context.Background(), forged); !errors.Is(err, identity.ErrSignature) {
			t.Fatalf("forged = %v, want ErrSignature", err)
		}
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("JWKS requests after forged tokens within MinRefresh = %d, want 2", n)
	}
	clk.Advance(identity.DefaultMinRefresh)
	if _, err := v.Verify(context.Background(), forged); !errors.Is(err, identity.ErrSignature) {
		t.Fatalf("forged = %v, want ErrSignature", err)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("JWKS requests after MinRefresh = %d, want 3", n)
	}
}

// TestTwoKeysUnderOneKid: every key published under the token's kid (and
// fitting its alg) is tried, without a refresh.
func TestTwoKeysUnderOneKid(t *testing.T) {
	k := keys(t)
	k1, k2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	srv := newJWKSServer(t, withKid(t, mergeJWKS(t, k1.jwks, k2.jwks, k["RS256"].jwks), "main"))
	v := newVerifierT(t, identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		Now:     func() time.Time { return t0 },
	})
	for name, key := range map[string]devKey{"first": k1, "second": k2, "RSA": k["RS256"]} {
		if _, err := v.Verify(context.Background(), mintKid(t, key, claims(), "main")); err != nil {
			t.Errorf("%s key under the shared kid: %v", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), mintKid(t, newDevKey(t, "ES256"), claims(), "main")); !errors.Is(err, identity.ErrSignature) {
		t.Errorf("unpublished key under the shared kid = %v, want ErrSignature", err)
	}
	if n := srv.requests.Load(); n != 2 {
		// The initial fetch, and one refresh for the unpublished key.
		t.Errorf("JWKS requests = %d, want 2", n)
	}
}

// TestJWKSFileChangeEndsTrust: a JWKS file is watched; once it drops a key,
// tokens that key verified lose their cached trust without any token with
// an unknown kid. A broken file keeps the keys it had.
func TestJWKSFileChangeEndsTrust(t *testing.T) {
	k1, k2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	path := writeFile(t, "jwks.json", k1.jwks)
	log := newRefreshLog()
	v := newVerifierT(t, identity.Config{
		Issuers:          []identity.Issuer{{Issuer: issA, JWKSFile: path}},
		FilePollInterval: 10 * time.Millisecond,
		Now:              func() time.Time { return t0 },
		OnRefresh:        log.hook,
	})
	tok, err := v.Verify(context.Background(), mintKid(t, k1, claims(), ""))
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, k2.jwks)
	waitUntil(t, "the file change to end T1's trust", func() bool { return !tok.Trusted(t0) })
	if _, err := v.Verify(context.Background(), mintKid(t, k2, claims(), "")); err != nil {
		t.Fatalf("k2 after the file change: %v", err)
	}
	replaceFile(t, path, []byte("{not json"))
	waitUntil(t, "the broken file to be reported", func() bool { return log.failures() > 0 })
	if _, err := v.Verify(context.Background(), mintKid(t, k2, claims(), "")); err != nil {
		t.Fatalf("k2 after a broken file: %v", err)
	}
}

// TestTrusted: a verification is trusted for ReuseFor, and not once its
// Verifier is closed (as when the issuers are reconfigured and the Verifier
// replaced); HMAC tokens too.
func TestTrusted(t *testing.T) {
	k := keys(t)
	path := writeFile(t, "jwks.json", k["ES256"].jwks)
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{
			{Issuer: issA, JWKSFile: path},
			{Issuer: issH, HMACSecret: hmacSecret},
		},
		ReuseFor: time.Minute,
		Now:      func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var toks []*identity.Token
	for _, raw := range []string{
		mintKid(t, k["ES256"], claims(), ""),
		signWith(t, map[string]any{"alg": "HS256"}, claims("iss", issH), hmacSecret),
	} {
		tok, err := v.Verify(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	for _, tok := range toks {
		if !tok.Trusted(t0.Add(time.Minute - time.Nanosecond)) {
			t.Errorf("%s: not trusted within ReuseFor", tok.Issuer)
		}
		if tok.Trusted(t0.Add(time.Minute)) {
			t.Errorf("%s: trusted at ReuseFor", tok.Issuer)
		}
	}
	var zero *identity.Token
	if zero.Trusted(t0) || (&identity.Token{}).Trusted(t0) {
		t.Error("a Token that Verify did not make is trusted")
	}
	v.Close()
	for _, tok := range toks {
		if tok.Trusted(t0) {
			t.Errorf("%s: trusted after Close", tok.Issuer)
		}
	}
}

// TestTrustedDoesNotAllocate holds the token cache's hit path at zero
// allocations, before and after the issuer's keys change.
func TestTrustedDoesNotAllocate(t *testing.T) {
	k1, k2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	path := writeFile(t, "jwks.json", k1.jwks)
	v := newVerifierT(t, identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSFile: path}},
		Now:     func() time.Time { return t0 },
	})
	tok, err := v.Verify(context.Background(), mintKid(t, k1, claims(), ""))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { tok.Trusted(t0) }); n != 0 {
		t.Errorf("Trusted allocates %v times, want 0", n)
	}
	// k2 joins: T1's key set is no longer the installed one.
	writeFileAt(t, path, mergeJWKS(t, k1.jwks, k2.jwks))
	if _, err := v.Verify(context.Background(), mintKid(t, k2, claims(), "")); err != nil {
		t.Fatal(err)
	}
	if !tok.Trusted(t0) {
		t.Fatal("T1 untrusted though k1 is still published")
	}
	if n := testing.AllocsPerRun(100, func() { tok.Trusted(t0) }); n != 0 {
		t.Errorf("Trusted after a key-set change allocates %v times, want 0", n)
	}
}

// TestMaxAgeDoesNotStretchRefresh: a JWKS served with a year's max-age is
// still refetched every RefreshInterval, so a removed key stops being
// trusted then.
func TestMaxAgeDoesNotStretchRefresh(t *testing.T) {
	k1, k2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	srv := newJWKSServer(t, k1.jwks)
	srv.mu.Lock()
	srv.cacheCtl = "public, max-age=31536000"
	srv.mu.Unlock()
	v := newVerifierT(t, identity.Config{
		Issuers:         []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		RefreshInterval: time.Second,
		Now:             func() time.Time { return t0 },
	})
	tok, err := v.Verify(context.Background(), mintKid(t, k1, claims(), ""))
	if err != nil {
		t.Fatal(err)
	}
	srv.serve(http.StatusOK, k2.jwks)
	waitUntil(t, "a background refresh despite max-age", func() bool { return !tok.Trusted(t0) })
	if srv.requests.Load() < 2 {
		t.Fatal("trust ended without a fetch")
	}
}

// TestMaxLifetime: exp − iat (or exp − now without iat) beyond MaxLifetime
// is refused; the default is 24h; NoMaxLifetime lifts it.
func TestMaxLifetime(t *testing.T) {
	k := keys(t)
	year9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	iat := t0.Add(-time.Minute)
	tests := []struct {
		name   string
		max    time.Duration
		claims map[string]any
		want   error
	}{
		{"default: 24h from iat", 0, claims("exp", iat.Add(24*time.Hour).Unix()), nil},
		{"default: 24h and 1s from iat", 0, claims("exp", iat.Add(24*time.Hour+time.Second).Unix()), identity.ErrLifetimeTooLong},
		{"default: year 9999", 0, claims("exp", year9999), identity.ErrLifetimeTooLong},
		{"default: no iat, 24h and the leeway left", 0, claims("iat", nil, "exp", t0.Add(24*time.Hour+identity.DefaultLeeway).Unix()), nil},
		{"default: no iat, a second more", 0, claims("iat", nil, "exp", t0.Add(24*time.Hour+identity.DefaultLeeway+time.Second).Unix()), identity.ErrLifetimeTooLong},
		{"1h: 61m", time.Hour, claims("exp", iat.Add(61*time.Minute).Unix()), identity.ErrLifetimeTooLong},
		{"1h: 60m", time.Hour, claims("exp", iat.Add(time.Hour).Unix()), nil},
		{"no limit: year 9999", identity.NoMaxLifetime, claims("exp", year9999), nil},
	}
	path := writeFile(t, "jwks.json", k["ES256"].jwks)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifierT(t, identity.Config{
				Issuers:     []identity.Issuer{{Issuer: issA, JWKSFile: path}},
				MaxLifetime: tt.max,
				Now:         func() time.Time { return t0 },
			})
			// Signed by hand: Mint would add the missing iat.
			raw := signWith(t, map[string]any{"alg": "ES256", "kid": k["ES256"].kid}, tt.claims, k["ES256"].priv)
			_, err := v.Verify(context.Background(), raw)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify = %v, want success", err)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !errors.Is(err, identity.ErrInvalidToken) {
					t.Fatalf("Verify = %v, want %v", err, tt.want)
				}
				if code := identity.ErrorCode(err); code != "lifetime_too_long" {
					t.Fatalf("ErrorCode = %q, want lifetime_too_long", code)
				}
			}
		})
	}
	if _, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSFile: path}}, MaxLifetime: -time.Hour,
	}); err == nil {
		t.Fatal("a negative MaxLifetime other than NoMaxLifetime is accepted")
	}
}

// replaceFile swaps path's content atomically, as deployment tools do.
func replaceFile(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond. The bound only keeps a broken build from hanging;
// no assertion depends on how long it takes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkTrusted is the check a token cache hit pays: with the key set
// the token was verified with, and after the set changed.
func BenchmarkTrusted(b *testing.B) {
	k1, k2 := newDevKey(b, "ES256"), newDevKey(b, "ES256")
	path := writeFile(b, "jwks.json", k1.jwks)
	v := newVerifierT(b, identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSFile: path}},
		Now:     func() time.Time { return t0 },
	})
	tok, err := v.Verify(context.Background(), mintKid(b, k1, claims(), ""))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("same key set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !tok.Trusted(t0) {
				b.Fatal("untrusted")
			}
		}
	})
	writeFileAt(b, path, mergeJWKS(b, k1.jwks, k2.jwks))
	if _, err := v.Verify(context.Background(), mintKid(b, k2, claims(), "")); err != nil {
		b.Fatal(err)
	}
	b.Run("key set changed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !tok.Trusted(t0) {
				b.Fatal("untrusted")
			}
		}
	})
}
