package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

func TestWriteKeyPairAndMint(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			kid, err := identity.WriteKeyPair(dir, alg)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(filepath.Join(dir, "private.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("private.pem mode = %v, want 0600", st.Mode().Perm())
			}
			jwksJSON, err := os.ReadFile(filepath.Join(dir, "jwks.json"))
			if err != nil {
				t.Fatal(err)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(jwksJSON, &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 || set.Keys[0]["kid"] != kid || set.Keys[0]["alg"] != alg || set.Keys[0]["use"] != "sig" {
				t.Fatalf("jwks = %s", jwksJSON)
			}
			if _, hasD := set.Keys[0]["d"]; hasD {
				t.Fatal("jwks.json holds private key material")
			}
			if _, err := identity.WriteKeyPair(dir, alg); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second WriteKeyPair = %v, want fs.ErrExist", err)
			}

			pemBytes, err := os.ReadFile(filepath.Join(dir, "private.pem"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			raw, err := identity.Mint(pemBytes, map[string]any{"iss": issA, "sub": "usr_1", "aud": "api"}, time.Hour, "", now)
			if err != nil {
				t.Fatal(err)
			}
			hdrJSON, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
			var hdr map[string]any
			if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
				t.Fatal(err)
			}
			if hdr["kid"] != kid || hdr["alg"] != alg || hdr["typ"] != "JWT" {
				t.Fatalf("header = %s, want kid %s alg %s", hdrJSON, kid, alg)
			}

			v, err := identity.New(context.Background(), identity.Config{
				Issuers: []identity.Issuer{{Issuer: issA, Audiences: []string{"api"}, JWKSFile: filepath.Join(dir, "jwks.json")}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			tok, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify minted token: %v", err)
			}
			if !tok.Expiry.Equal(time.Unix(now.Add(time.Hour).Unix(), 0)) {
				t.Errorf("exp = %v, want now+1h", tok.Expiry)
			}
			if iat, _ := tok.Claims["iat"].(float64); int64(iat) != now.Unix() {
				t.Errorf("iat = %v, want %d", tok.Claims["iat"], now.Unix())
			}
		})
	}
}

func TestMintKeepsGivenTimesAndKid(t *testing.T) {
	k := keys(t)
	c := map[string]any{"sub": "u", "iat": 100, "exp": 200}
	raw, err := identity.Mint(k["ES256"].pem, c, time.Hour, "my-kid", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(raw, ".")
	var hdr, payload map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(b, &hdr)
	b, _ = base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &payload)
	if hdr["kid"] != "my-kid" || payload["iat"] != 100.0 || payload["exp"] != 200.0 || hdr["alg"] != "ES256" {
		t.Fatalf("header %v payload %v", hdr, payload)
	}
	if len(c) != 3 {
		t.Fatal("Mint modified the claims")
	}
	if _, err := identity.Mint(k["ES256"].pem, map[string]any{"sub": "u"}, 0, "", time.Now()); err == nil {
		t.Fatal("Mint without exp and ttl succeeded")
	}
	if _, err := identity.Mint([]byte("not a pem"), c, time.Hour, "", time.Now()); err == nil {
		t.Fatal("Mint with a bad key succeeded")
	}
	if _, _, _, err := identity.GenerateKey("HS256"); err == nil {
		t.Fatal("GenerateKey(HS256) succeeded")
	}
}
