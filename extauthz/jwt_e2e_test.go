package extauthz_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const docPath = "/orgs/org_1/documents/d1"

// validClaims are the claims of a token that may read docPath.
func validClaims() map[string]any {
	now := time.Now()
	return map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "usr_1", "oid": "org_1",
		"roles": []string{"editor"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// assertDenied401 checks a deny for a bad or missing token.
func assertDenied401(t *testing.T, h *harness, r req, reason string) {
	t.Helper()
	res := h.check(r)
	d := denied(t, res)
	if d.GetStatus().GetCode() != 401 || meta(res, "reason") != reason {
		t.Fatalf("status %d reason %q, want 401 %s (body %s)", d.GetStatus().GetCode(), meta(res, "reason"), reason, d.GetBody())
	}
	www, _ := header(d.GetHeaders(), "www-authenticate")
	if !strings.HasPrefix(www, `Bearer realm="edgeauthz"`) {
		t.Errorf("www-authenticate = %q", www)
	}
	if sent := reason != "no_token"; sent != strings.Contains(www, `error="invalid_token"`) {
		t.Errorf("www-authenticate = %q for reason %s", www, reason)
	}
}

// TestTokens sends tokens that must never allow, each to a route their
// claims would otherwise open, and one good token as the control.
func TestTokens(t *testing.T) {
	a, _, c := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t)})
	good := mint(t, a, validClaims())
	if res := h.check(req{path: docPath, headers: bearer(good)}); res.GetOkResponse() == nil {
		t.Fatalf("the control token is denied: %v", res)
	}
	parts := strings.Split(good, ".")
	hdrRS := map[string]any{"alg": "RS256", "typ": "JWT", "kid": a.kid}
	now := time.Now()

	tampered := b64JSON(t, with(validClaims(), "sub", "usr_admin"))
	cases := map[string]string{
		"expired":           mint(t, a, with(validClaims(), "iat", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-time.Hour).Unix())),
		"nbf in the future": mint(t, a, with(validClaims(), "nbf", now.Add(time.Hour).Unix())),
		"iat in the future": mint(t, a, with(validClaims(), "iat", now.Add(time.Hour).Unix())),
		"no exp":            signRS256(t, a, hdrRS, with(validClaims(), "exp", nil)),
		"exp not a number":  signRS256(t, a, hdrRS, with(validClaims(), "exp", "tomorrow")),
		"wrong iss":         mint(t, a, with(validClaims(), "iss", "https://evil.test")),
		"no iss":            signRS256(t, a, hdrRS, with(validClaims(), "iss", nil)),
		"wrong aud":         mint(t, a, with(validClaims(), "aud", "other")),
		"wrong aud list":    mint(t, a, with(validClaims(), "aud", []string{"other", "more"})),
		"alg none":          b64JSON(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + parts[1] + ".",
		"alg None":          b64JSON(t, map[string]any{"alg": "None", "typ": "JWT", "kid": a.kid}) + "." + parts[1] + ".",
		"alg none with sig": b64JSON(t, map[string]any{"alg": "none"}) + "." + parts[1] + "." + parts[2],
		"HS256 with the RSA public key": hs256(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": a.kid},
			validClaims(), publicPEM(t, a)),
		"HS256 with the JWKS": hs256(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": a.kid},
			validClaims(), a.jwks),
		"unknown kid":                mint(t, c, validClaims()),
		"unpublished key, known kid": mintKid(t, c, a.kid),
		"no kid, unpublished key":    mintKid(t, c, "-"),
		"tampered payload":           parts[0] + "." + tampered + "." + parts[2],
		"tampered signature":         parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"no signature":               parts[0] + "." + parts[1] + ".",
		"header and payload only":    parts[0] + "." + parts[1],
		"padded":                     good + "==",
		"garbage":                    "garbage",
		"dots":                       "...",
		"json":                       `{"alg":"none"}`,
		"embedded jwk header": b64JSON(t, map[string]any{"alg": "RS256", "jwk": map[string]any{"kty": "RSA"}}) +
			"." + parts[1] + "." + parts[2],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			assertDenied401(t, h, req{path: docPath, headers: bearer(tok)}, "invalid_token")
			// A public route refuses a bad token too.
			assertDenied401(t, h, req{path: "/docs/d1", headers: bearer(tok)}, "invalid_token")
		})
	}

	headerCases := map[string]map[string]string{
		"two authorization values":      {"authorization": "Bearer " + good + ",Bearer " + good},
		"two values, joined with space": {"authorization": "Bearer " + good + ", Bearer " + good},
		"basic scheme":                  {"authorization": "Basic dXNlcjpwYXNz"},
		"scheme only":                   {"authorization": "Bearer"},
		"bad characters":                {"authorization": "Bearer " + good + "!"},
		"raw token without scheme":      {"authorization": good},
	}
	for name, hs := range headerCases {
		t.Run(name, func(t *testing.T) {
			assertDenied401(t, h, req{path: docPath, headers: hs}, "invalid_token")
		})
	}
	t.Run("no token", func(t *testing.T) {
		assertDenied401(t, h, req{path: docPath}, "no_token")
		assertDenied401(t, h, req{path: docPath, headers: map[string]string{"cookie": "accessToken=" + good}}, "no_token")
	})
}

// mintKid signs valid claims with k but names kid ("-": no kid at all).
func mintKid(t testing.TB, k signingKey, kid string) string {
	t.Helper()
	hdr := map[string]any{"alg": "RS256", "typ": "JWT"}
	if kid != "-" {
		hdr["kid"] = kid
	}
	return signRS256(t, k, hdr, validClaims())
}

func flip(sig string) string {
	b := []byte(sig)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// TestTokenCookie reads the token from a configured cookie.
func TestTokenCookie(t *testing.T) {
	a, _, c := testKeys(t)
	h := start(t, harnessOptions{policy: testPolicy(t), tokens: "  cookie: accessToken\n"})
	good := mint(t, a, validClaims())
	for name, cookie := range map[string]string{
		"alone":        "accessToken=" + good,
		"among others": "theme=dark; accessToken=" + good + "; lang=en",
		"quoted":       `accessToken="` + good + `"`,
	} {
		t.Run(name, func(t *testing.T) {
			res := h.check(req{path: docPath, headers: map[string]string{"cookie": cookie}})
			if res.GetOkResponse() == nil || meta(res, "subject") != "usr_1" {
				t.Fatalf("want an allow for usr_1: %v", res)
			}
		})
	}
	bad := map[string]string{
		"unknown key": "accessToken=" + mint(t, c, validClaims()),
		"two cookies": "accessToken=" + good + "; accessToken=" + good,
		"garbage":     "accessToken=garbage",
		"bad chars":   "accessToken=" + good + "!",
	}
	for name, cookie := range bad {
		t.Run(name, func(t *testing.T) {
			assertDenied401(t, h, req{path: docPath, headers: map[string]string{"cookie": cookie}}, "invalid_token")
		})
	}
	t.Run("header wins over cookie", func(t *testing.T) {
		r := req{path: docPath, headers: map[string]string{"authorization": "Bearer garbage", "cookie": "accessToken=" + good}}
		assertDenied401(t, h, r, "invalid_token")
	})
	t.Run("other cookie only", func(t *testing.T) {
		assertDenied401(t, h, req{path: docPath, headers: map[string]string{"cookie": "session=" + good}}, "no_token")
	})
}

// jwksServer serves a JWKS that the test can rotate, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int64
	hook    func() // called on each fetch before answering, when set
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		hook, body := s.hook, s.body
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

// TestJWKSRotation: a token whose kid is not in the JWKS refreshes it from
// the jwks_url once; a key published by then verifies, a key never published
// is refused, and further unknown kids do not fetch again (rate limit).
func TestJWKSRotation(t *testing.T) {
	a, b, c := testKeys(t)
	js := newJWKSServer(t, a.jwks)
	h := start(t, harnessOptions{policy: testPolicy(t), issuer: "jwks_url: " + js.URL + "/jwks.json"})
	h.waitFor("the first JWKS fetch", func() bool { return js.fetches.Load() >= 1 })
	if res := h.check(req{path: docPath, headers: bearer(mint(t, a, validClaims()))}); res.GetOkResponse() == nil {
		t.Fatalf("key A is refused: %v", res)
	}
	tokB := mint(t, b, validClaims())
	before := js.fetches.Load()

	js.serve(mergeJWKS(t, a.jwks, b.jwks)) // the issuer rotates in key B
	if res := h.check(req{path: docPath, headers: bearer(tokB)}); res.GetOkResponse() == nil {
		t.Fatalf("key B after rotation is refused: %v", res)
	}
	if got := js.fetches.Load(); got != before+1 {
		t.Errorf("fetches = %d, want %d (one refresh for the unknown kid)", got, before+1)
	}

	afterRotation := js.fetches.Load()
	for range 5 {
		assertDenied401(t, h, req{path: docPath, headers: bearer(mint(t, c, validClaims()))}, "invalid_token")
	}
	if got := js.fetches.Load(); got != afterRotation {
		t.Errorf("unknown kids fetched the JWKS %d more times, want 0 within the refresh interval", got-afterRotation)
	}
	// Key A still works after the rotation; key B keeps working from cache.
	for _, tok := range []string{mint(t, a, validClaims()), tokB} {
		if res := h.check(req{path: docPath, headers: bearer(tok)}); res.GetOkResponse() == nil {
			t.Fatalf("refused after rotation: %v", res)
		}
	}
}
