package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

// devKey is a generated key with its PEM, single-key JWKS and kid.
type devKey struct {
	alg  string
	pem  []byte
	jwks []byte
	kid  string
	priv crypto.Signer
}

func newDevKey(t testing.TB, alg string) devKey {
	t.Helper()
	p, j, kid, err := identity.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := identity.ParsePrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	return devKey{alg: alg, pem: p, jwks: j, kid: kid, priv: priv}
}

// keys are generated once per test binary: RSA key generation is slow.
var testKeys = sync.OnceValues(func() (map[string]devKey, error) {
	m := map[string]devKey{}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		p, j, kid, err := identity.GenerateKey(alg)
		if err != nil {
			return nil, err
		}
		priv, err := identity.ParsePrivateKey(p)
		if err != nil {
			return nil, err
		}
		m[alg] = devKey{alg: alg, pem: p, jwks: j, kid: kid, priv: priv}
	}
	// A second RSA key, never published, for forged tokens.
	p, j, kid, err := identity.GenerateKey("RS256")
	if err != nil {
		return nil, err
	}
	priv, _ := identity.ParsePrivateKey(p)
	m["other"] = devKey{alg: "RS256", pem: p, jwks: j, kid: kid, priv: priv}
	return m, nil
})

func keys(t testing.TB) map[string]devKey {
	t.Helper()
	m, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mergeJWKS joins the keys of several JWKS documents.
func mergeJWKS(t testing.TB, docs ...[]byte) []byte {
	t.Helper()
	var out struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, d := range docs {
		var in struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(d, &in); err != nil {
			t.Fatal(err)
		}
		out.Keys = append(out.Keys, in.Keys...)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signWith builds a compact JWS by hand, so tests can craft any header.
// key is a crypto.Signer for asymmetric algs, []byte for HS*, nil for none.
func signWith(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	input := b64(mustJSON(t, header)) + "." + b64(mustJSON(t, claims))
	alg, _ := header["alg"].(string)
	var sig []byte
	var err error
	switch alg {
	case "HS256", "HS384", "HS512":
		var h func() hash.Hash
		switch alg {
		case "HS256":
			h = sha256.New
		case "HS384":
			h = sha512.New384
		default:
			h = sha512.New
		}
		m := hmac.New(h, key.([]byte))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "RS256":
		d := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
	case "PS256":
		d := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:], nil)
	case "ES256":
		d := sha256.Sum256([]byte(input))
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case "EdDSA":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	default: // none and friends: no signature
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func publicPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func writeFileAt(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
