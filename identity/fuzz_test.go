package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/identity"
)

// FuzzVerify: no panic; a token xor an error; every error is ErrNoToken or
// matches ErrInvalidToken and does not echo the input; and nothing is
// accepted whose signed part differs from a token we minted.
func FuzzVerify(f *testing.F) {
	k := keys(f)
	v := newTestVerifier(f)
	signed := map[string]bool{}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		raw, err := identity.Mint(k[alg].pem, claims(), 0, "", t0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		signed[raw[:strings.LastIndexByte(raw, '.')]] = true
	}
	hs := signWith(f, map[string]any{"alg": "HS256"}, claims("iss", issH), hmacSecret)
	signed[hs[:strings.LastIndexByte(hs, '.')]] = true
	for _, s := range []string{
		hs, "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2EuZXhhbXBsZSJ9.",
		signWith(f, map[string]any{"alg": "HS256", "kid": k["RS256"].kid}, claims(), publicPEM(f, k["RS256"].priv)),
		signWith(f, map[string]any{"alg": "RS256", "crit": []string{"x"}}, claims(), k["RS256"].priv),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw)
		if (tok == nil) == (err == nil) {
			t.Fatalf("Verify returned token %v and error %v", tok, err)
		}
		if err != nil {
			if !errors.Is(err, identity.ErrInvalidToken) && !errors.Is(err, identity.ErrNoToken) {
				t.Fatalf("untyped error %v", err)
			}
			if len(raw) >= 12 && strings.Contains(err.Error(), raw) {
				t.Fatalf("error echoes the token: %v", err)
			}
			return
		}
		if !signed[raw[:strings.LastIndexByte(raw, '.')]] {
			t.Fatalf("accepted a token we never signed: %q", raw)
		}
	})
}

// FuzzExtract: no panic; a token xor an error; a returned token is a clean
// b64token found verbatim in the input.
func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc.def.ghi", "", "")
	f.Add("Bearer a, Bearer b", "x", "at=1")
	f.Add("", "Bearer x", "at=tok; at=tok2")
	f.Add("Basic dXNlcg==", "", `at="q"`)
	f.Fuzz(func(t *testing.T, authz, custom, cookie string) {
		headers := map[string]string{}
		for name, val := range map[string]string{"authorization": authz, "x-token": custom, "cookie": cookie} {
			if val != "" {
				headers[name] = val
			}
		}
		for _, e := range []identity.Extractor{{}, {Header: "X-Token", Cookie: "at"}, {Cookie: "at"}} {
			tok, err := e.Extract(headers)
			if (tok == "") == (err == nil) {
				t.Fatalf("Extract returned %q and %v", tok, err)
			}
			if err != nil {
				if !errors.Is(err, identity.ErrNoToken) && !errors.Is(err, identity.ErrMalformed) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			if strings.ContainsAny(tok, " \t\r\n,;\"\x00") {
				t.Fatalf("token %q has separator characters", tok)
			}
			if !strings.Contains(authz, tok) && !strings.Contains(custom, tok) && !strings.Contains(cookie, tok) {
				t.Fatalf("token %q is not in the input", tok)
			}
		}
	})
}
