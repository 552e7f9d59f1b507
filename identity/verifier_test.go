package identity_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

const (
	issA   = "https://a.example"
	issH   = "https://hmac.example"
	issOne = "https://single.example"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var hmacSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// newTestVerifier trusts issA (RSA, EC and Ed25519 keys, aud api),
// issH (HMAC secret only) and issOne (one RSA key), with the clock at t0.
func newTestVerifier(t testing.TB) *identity.Verifier {
	t.Helper()
	k := keys(t)
	all := writeFile(t, "all.json", mergeJWKS(t, k["RS256"].jwks, k["ES256"].jwks, k["EdDSA"].jwks))
	one := writeFile(t, "one.json", k["RS256"].jwks)
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{
			{Issuer: issA, Audiences: []string{"api", "api2"}, JWKSFile: all},
			{Issuer: issH, Audiences: []string{"api"}, HMACSecret: hmacSecret},
			{Issuer: issOne, JWKSFile: one},
		},
		Now: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// claims returns valid claims for issA, changed by kv pairs (a nil value
// deletes the claim).
func claims(kv ...any) map[string]any {
	c := map[string]any{
		"iss": issA, "sub": "usr_1", "aud": "api", "jti": "j1",
		"iat": t0.Add(-time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func TestVerify(t *testing.T) {
	k := keys(t)
	v := newTestVerifier(t)
	rsaKey, ecKey, edKey := k["RS256"], k["ES256"], k["EdDSA"]
	hdr := func(alg, kid string) map[string]any {
		h := map[string]any{"alg": alg, "typ": "JWT"}
		if kid != "" {
			h["kid"] = kid
		}
		return h
	}
	mint := func(key devKey, c map[string]any) string {
		tok, err := identity.Mint(key.pem, c, 0, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := mint(rsaKey, claims())
	other := mint(rsaKey, claims("sub", "usr_2"))
	parts, otherParts := strings.Split(valid, "."), strings.Split(other, ".")

	tests := []struct {
		name string
		raw  string
		want error // nil: valid
	}{
		{"RS256", valid, nil},
		{"ES256", mint(ecKey, claims()), nil},
		{"EdDSA", mint(edKey, claims()), nil},
		{"PS256 by hand", signWith(t, hdr("PS256", ""), claims("iss", issOne), rsaKey.priv), identity.ErrAlgorithm}, // the JWK says alg RS256
		{"RS256 by hand, no kid, single key", signWith(t, hdr("RS256", ""), claims("iss", issOne), rsaKey.priv), nil},
		{"no kid, one fitting key among several", signWith(t, hdr("ES256", ""), claims(), ecKey.priv), nil},
		{"aud array", mint(rsaKey, claims("aud", []any{"other", "api2"})), nil},
		{"expired within leeway", mint(rsaKey, claims("exp", t0.Add(-10*time.Second).Unix())), nil},
		{"nbf within leeway", mint(rsaKey, claims("nbf", t0.Add(10*time.Second).Unix())), nil},
		{"fractional exp", mint(rsaKey, claims("exp", float64(t0.Add(time.Hour).Unix())+0.5)), nil},
		{"audience not checked when none configured", mint(rsaKey, claims("iss", issOne, "aud", "anything")), nil},

		{"empty", "", identity.ErrNoToken},
		{"expired", mint(rsaKey, claims("exp", t0.Add(-time.Hour).Unix())), identity.ErrExpired},
		{"expired just past leeway", mint(rsaKey, claims("exp", t0.Add(-31*time.Second).Unix())), identity.ErrExpired},
		{"nbf in the future", mint(rsaKey, claims("nbf", t0.Add(time.Hour).Unix())), identity.ErrNotYetValid},
		{"iat in the future", mint(rsaKey, claims("iat", t0.Add(time.Hour).Unix())), identity.ErrNotYetValid},
		{"missing exp", signWith(t, hdr("RS256", rsaKey.kid), claims("exp", nil), rsaKey.priv), identity.ErrMalformed},
		{"exp is a string", signWith(t, hdr("RS256", rsaKey.kid), claims("exp", "tomorrow"), rsaKey.priv), identity.ErrMalformed},
		{"exp out of range", signWith(t, hdr("RS256", rsaKey.kid), claims("exp", 1e300), rsaKey.priv), identity.ErrMalformed},
		{"sub is not a string", mint(rsaKey, claims("sub", 42)), identity.ErrMalformed},
		{"wrong iss", mint(rsaKey, claims("iss", "https://evil.example")), identity.ErrIssuer},
		{"missing iss", mint(rsaKey, claims("iss", nil)), identity.ErrIssuer},
		{"wrong aud", mint(rsaKey, claims("aud", "other")), identity.ErrAudience},
		{"missing aud", mint(rsaKey, claims("aud", nil)), identity.ErrAudience},
		{"aud array without a match", mint(rsaKey, claims("aud", []any{"x", "y"})), identity.ErrAudience},

		{"alg none", signWith(t, hdr("none", ""), claims(), nil), identity.ErrAlgorithm},
		{"alg None", signWith(t, hdr("None", rsaKey.kid), claims(), nil), identity.ErrAlgorithm},
		{"alg ES256K", signWith(t, hdr("ES256K", rsaKey.kid), claims(), nil), identity.ErrAlgorithm},
		{"no alg", signWith(t, map[string]any{"kid": rsaKey.kid}, claims(), nil), identity.ErrMalformed},
		{"key confusion: HS256 with the RSA public key PEM", signWith(t, hdr("HS256", rsaKey.kid), claims(), publicPEM(t, rsaKey.priv)), identity.ErrAlgorithm},
		{"key confusion: HS256 with the JWKS as secret", signWith(t, hdr("HS256", ""), claims(), rsaKey.jwks), identity.ErrAlgorithm},
		{"kid of an RSA key, alg ES256", signWith(t, hdr("ES256", rsaKey.kid), claims(), ecKey.priv), identity.ErrAlgorithm},
		{"HS256 with the configured secret", signWith(t, hdr("HS256", ""), claims("iss", issH), hmacSecret), nil},
		{"HS256 with another secret", signWith(t, hdr("HS256", ""), claims("iss", issH), []byte("another-secret-another-secret-xx")), identity.ErrSignature},
		{"HS512 with a secret shorter than 64 bytes", signWith(t, hdr("HS512", ""), claims("iss", issH), hmacSecret), identity.ErrAlgorithm},
		{"RS256 for an HMAC-only issuer", signWith(t, hdr("RS256", rsaKey.kid), claims("iss", issH), rsaKey.priv), identity.ErrAlgorithm},

		{"tampered payload", parts[0] + "." + otherParts[1] + "." + parts[2], identity.ErrSignature},
		{"signature of another token", otherParts[0] + "." + otherParts[1] + "." + parts[2], identity.ErrSignature},
		{"signed by an unpublished key under a known kid", signWith(t, hdr("RS256", rsaKey.kid), claims(), k["other"].priv), identity.ErrSignature},
		{"truncated signature", valid[:len(valid)-4], identity.ErrInvalidToken},
		{"zero signature", parts[0] + "." + parts[1] + "." + b64(make([]byte, 256)), identity.ErrSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", identity.ErrSignature},
		{"ES256 signature of the wrong length", mint(ecKey, claims()) + "AAAA", identity.ErrSignature},
		{"unknown kid", signWith(t, hdr("RS256", "nope"), claims(), rsaKey.priv), identity.ErrUnknownKey},
		{"no kid, only an RSA key, alg ES256", signWith(t, hdr("ES256", ""), claims("iss", issOne), ecKey.priv), identity.ErrAlgorithm},
		{"crit header", signWith(t, map[string]any{"alg": "RS256", "kid": rsaKey.kid, "crit": []string{"exp"}, "exp": 1}, claims(), rsaKey.priv), identity.ErrMalformed},
		{"b64 header", signWith(t, map[string]any{"alg": "RS256", "kid": rsaKey.kid, "b64": false}, claims(), rsaKey.priv), identity.ErrMalformed},
		{"kid is a number", signWith(t, map[string]any{"alg": "RS256", "kid": 7}, claims(), rsaKey.priv), identity.ErrMalformed},

		{"garbage", "garbage", identity.ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], identity.ErrMalformed},
		{"four parts", valid + ".x", identity.ErrMalformed},
		{"JWE-like five parts", "a.b.c.d.e", identity.ErrMalformed},
		{"dots only", "..", identity.ErrMalformed},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"newline inside", parts[0] + "\n." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"payload not JSON", parts[0] + "." + b64([]byte("hello")) + "." + parts[2], identity.ErrMalformed},
		{"payload a JSON array", parts[0] + "." + b64([]byte("[1]")) + "." + parts[2], identity.ErrMalformed},
		{"header not JSON", b64([]byte("{")) + "." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"too long", valid + strings.Repeat("A", identity.MaxTokenSize), identity.ErrMalformed},
	}
	// Twice: the second round meets the headers of the tokens that
	// verified in the first already remembered, and must judge alike.
	for _, tt := range append(tests, tests...) {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := v.Verify(context.Background(), tt.raw)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tok == nil || tok.Claims == nil || tok.Issuer == "" || tok.Expiry.IsZero() {
					t.Fatalf("Verify returned an incomplete token %+v", tok)
				}
				return
			}
			if tok != nil {
				t.Fatalf("Verify returned a token with error %v", err)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if tt.want != identity.ErrNoToken && !errors.Is(err, identity.ErrInvalidToken) {
				t.Fatalf("error %v does not match ErrInvalidToken", err)
			}
			if len(tt.raw) > 8 && strings.Contains(err.Error(), tt.raw[:8]) {
				t.Fatalf("error %q echoes the token", err)
			}
		})
	}
}

func TestVerifyToken(t *testing.T) {
	k := keys(t)
	v := newTestVerifier(t)
	raw, err := identity.Mint(k["ES256"].pem, claims("jti", "abc", "roles", []any{"admin"}), 0, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Issuer != issA || tok.Subject != "usr_1" || tok.ID != "abc" || !tok.Expiry.Equal(t0.Add(time.Hour)) {
		t.Fatalf("token = %+v", tok)
	}
	if roles, _ := tok.Claims["roles"].([]any); len(roles) != 1 || roles[0] != "admin" {
		t.Fatalf("roles claim = %v", tok.Claims["roles"])
	}
}

func TestNoKidSeveralKeys(t *testing.T) {
	k := keys(t)
	both := writeFile(t, "two-rsa.json", mergeJWKS(t, k["RS256"].jwks, k["other"].jwks))
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSFile: both}},
		Now:     func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	raw := signWith(t, map[string]any{"alg": "RS256"}, claims(), k["RS256"].priv)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("Verify = %v, want ErrUnknownKey", err)
	}
}

func TestNewValidation(t *testing.T) {
	k := keys(t)
	good := writeFile(t, "jwks.json", k["RS256"].jwks)
	octOnly := writeFile(t, "oct.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"s"}]}`))
	encOnly := writeFile(t, "enc.json", []byte(strings.Replace(string(k["RS256"].jwks), `"sig"`, `"enc"`, 1)))
	_, err := identity.New(context.Background(), identity.Config{
		Leeway:     -time.Second,
		MinRefresh: -time.Second,
		Issuers: []identity.Issuer{
			{JWKSFile: good},
			{Issuer: "a", JWKSFile: good, JWKSURL: "https://a.example/jwks"},
			{Issuer: "b"},
			{Issuer: "c", JWKSURL: "ftp://c.example/jwks"},
			{Issuer: "d", HMACSecret: []byte("short")},
			{Issuer: "d", JWKSFile: good, Audiences: []string{""}},
		},
	})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{
		"leeway must not be negative", "min refresh must not be negative",
		"issuers[0]: issuer is required", "not both", "a key source is required",
		"absolute http(s) URL", "at least 32 bytes", "duplicate issuer", "audiences[0] is empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}

	for name, path := range map[string]string{
		"missing file": good + ".missing", "only an oct key": octOnly, "only an enc key": encOnly,
		"not JSON": writeFile(t, "x.json", []byte("nope")),
	} {
		_, err := identity.New(context.Background(), identity.Config{Issuers: []identity.Issuer{{Issuer: "x", JWKSFile: path}}})
		if err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestErrorCode(t *testing.T) {
	for err, want := range map[error]string{
		nil: "", identity.ErrNoToken: "no_token", identity.ErrExpired: "expired",
		identity.ErrAlgorithm: "alg_not_allowed", identity.ErrSignature: "bad_signature", identity.ErrUnknownKey: "unknown_kid",
		identity.ErrIssuer: "bad_issuer", identity.ErrAudience: "bad_audience", identity.ErrLifetimeTooLong: "lifetime_too_long", errors.New("x"): "error",
	} {
		if got := identity.ErrorCode(err); got != want {
			t.Errorf("ErrorCode(%v) = %q, want %q", err, got, want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := keys(b)
	v := newTestVerifier(b)
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		raw, err := identity.Mint(k[alg].pem, claims("roles", []any{"viewer"}, "oid", "org_1"), 0, "", t0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// HS256: the signature costs about a microsecond, so this is mostly
	// what Verify itself adds to a new token's signature check.
	raw := signWith(b, map[string]any{"alg": "HS256", "typ": "JWT"},
		claims("iss", issH, "roles", []any{"viewer"}, "oid", "org_1"), hmacSecret)
	b.Run("HS256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestVerifyRefusesInvalidUTF8: a token's header and claims must be UTF-8
// (RFC 7519 §7.2): an authentic token whose payload is not is refused as
// malformed, and the same token with valid UTF-8 verifies.
func TestVerifyRefusesInvalidUTF8(t *testing.T) {
	v := newTestVerifier(t)
	sign := func(payload []byte) string {
		input := b64(mustJSON(t, map[string]any{"alg": "HS256"})) + "." + b64(payload)
		m := hmac.New(sha256.New, hmacSecret)
		m.Write([]byte(input))
		return input + "." + b64(m.Sum(nil))
	}
	good := mustJSON(t, claims("iss", issH, "sub", "usr_é"))
	bad := bytes.Replace(good, []byte("usr_é"), []byte("usr_\xff"), 1)
	if tok, err := v.Verify(context.Background(), sign(good)); err != nil || tok.Subject != "usr_é" {
		t.Fatalf("valid UTF-8: %v, %v", tok, err)
	}
	if _, err := v.Verify(context.Background(), sign(bad)); !errors.Is(err, identity.ErrMalformed) {
		t.Fatalf("invalid UTF-8: err = %v, want ErrMalformed", err)
	}
}
