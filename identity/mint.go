package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// GenerateKey makes a development signing key: alg "RS256" (RSA 2048),
// "ES256" (P-256) or "EdDSA" (Ed25519). It returns the private key as PKCS #8
// PEM, a JWKS holding its public key (with kid, alg and use "sig"), and the
// kid: the key's RFC 7638 SHA-256 thumbprint, base64url.
func GenerateKey(alg string) (privatePEM, jwksJSON []byte, kid string, err error) {
	var priv crypto.Signer
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, "", fmt.Errorf("identity: unsupported key algorithm %q (want RS256, ES256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("identity: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, "", fmt.Errorf("identity: encode key: %w", err)
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	jwksJSON, kid, err = publicJWKS(priv.Public(), alg)
	if err != nil {
		return nil, nil, "", err
	}
	return privatePEM, jwksJSON, kid, nil
}

// publicJWKS returns a JWKS holding pub (with its thumbprint kid, alg and
// use "sig") and the kid.
func publicJWKS(pub crypto.PublicKey, alg string) ([]byte, string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, "", fmt.Errorf("identity: public key: %w", err)
	}
	kid, err := thumbprint(k)
	if err != nil {
		return nil, "", err
	}
	for name, val := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, val); err != nil {
			return nil, "", fmt.Errorf("identity: set %s: %w", name, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(k); err != nil {
		return nil, "", fmt.Errorf("identity: jwks: %w", err)
	}
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, "", fmt.Errorf("identity: jwks: %w", err)
	}
	return append(b, '\n'), kid, nil
}

func thumbprint(k jwk.Key) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("identity: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// WriteKeyPair generates a key (see GenerateKey) and writes DIR/private.pem
// (mode 0600) and DIR/jwks.json, creating DIR. It refuses to overwrite an
// existing private.pem (the error matches fs.ErrExist).
func WriteKeyPair(dir, alg string) (kid string, err error) {
	privatePEM, jwksJSON, kid, err := GenerateKey(alg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	keyPath := filepath.Join(dir, "private.pem")
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	if _, err := f.Write(privatePEM); err != nil {
		f.Close()
		os.Remove(keyPath)
		return "", fmt.Errorf("identity: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(keyPath)
		return "", fmt.Errorf("identity: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwksJSON, 0o644); err != nil {
		os.Remove(keyPath)
		return "", fmt.Errorf("identity: %w", err)
	}
	return kid, nil
}

// ParsePrivateKey reads a PEM private key: PKCS #8, PKCS #1 (RSA) or SEC 1 (EC).
func ParsePrivateKey(privatePEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(privatePEM)
	if block == nil {
		return nil, errors.New("identity: no PEM block in key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: parse private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("identity: unsupported private key type %T", key)
	}
	return s, nil
}

// signingAlg picks the JWS alg for a private key.
func signingAlg(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return "RS256", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
	case ed25519.PrivateKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("identity: unsupported signing key type %T", key)
}

// Mint signs claims with the PEM private key: RS256 for RSA, ES256 for P-256
// (ES384/ES512 for P-384/P-521, EdDSA for Ed25519). iat is set to now and exp
// to now+ttl unless claims has them. kid "" means the key's thumbprint, the
// kid WriteKeyPair puts in its JWKS. claims is not modified.
func Mint(privatePEM []byte, claims map[string]any, ttl time.Duration, kid string, now time.Time) (string, error) {
	key, err := ParsePrivateKey(privatePEM)
	if err != nil {
		return "", err
	}
	alg, err := signingAlg(key)
	if err != nil {
		return "", err
	}
	if kid == "" {
		k, err := jwk.FromRaw(key.Public())
		if err != nil {
			return "", fmt.Errorf("identity: public key: %w", err)
		}
		if kid, err = thumbprint(k); err != nil {
			return "", err
		}
	}
	c := make(map[string]any, len(claims)+2)
	for k, v := range claims {
		c[k] = v
	}
	if _, ok := c["iat"]; !ok {
		c["iat"] = now.Unix()
	}
	if _, ok := c["exp"]; !ok {
		if ttl <= 0 {
			return "", errors.New("identity: ttl must be positive when claims have no exp")
		}
		c["exp"] = now.Add(ttl).Unix()
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("identity: claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		return "", fmt.Errorf("identity: header: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("identity: header: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	return string(tok), nil
}
