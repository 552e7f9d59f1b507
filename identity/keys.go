package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// minRSABits is the smallest RSA modulus accepted from a JWKS (RFC 7518 §3.3).
const minRSABits = 2048

// keyKind is the kind of public key an algorithm needs. Matching the header
// alg to the key's kind (and to the key's own alg, when the JWK names one) is
// what refuses key confusion.
type keyKind uint8

const (
	kindNone keyKind = iota
	kindRSA
	kindP256
	kindP384
	kindP521
	kindEd25519
	kindHMAC
)

// kindForAlg maps a JWS alg to the key kind it needs; kindNone for an alg
// this package never accepts ("none", ES256K, unknown names).
func kindForAlg(alg string) keyKind {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return kindRSA
	case "ES256":
		return kindP256
	case "ES384":
		return kindP384
	case "ES512":
		return kindP521
	case "EdDSA":
		return kindEd25519
	case "HS256", "HS384", "HS512":
		return kindHMAC
	}
	return kindNone
}

// hmacMinLen is the shortest secret accepted for an HMAC alg: as long as the
// hash output (RFC 7518 §3.2).
func hmacMinLen(alg string) int {
	switch alg {
	case "HS256":
		return 32
	case "HS384":
		return 48
	case "HS512":
		return 64
	}
	return 0
}

// newVerifiers builds one jws.Verifier per supported alg; they are stateless
// and safe for concurrent use.
func newVerifiers() (map[string]jws.Verifier, error) {
	supportedAlgs := [...]string{
		"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
	}
	m := make(map[string]jws.Verifier, len(supportedAlgs))
	for _, alg := range supportedAlgs {
		v, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
		if err != nil {
			return nil, fmt.Errorf("identity: verifier for %s: %w", alg, err)
		}
		m[alg] = v
	}
	return m, nil
}

// keyThumb identifies a public key across JWKS fetches: its RFC 7638
// SHA-256 keyThumb, which depends on the key material alone.
type keyThumb [32]byte

// verifyKey is one usable public key of an issuer.
type verifyKey struct {
	kid   string
	alg   string // the JWK's alg, "" when it names none
	kind  keyKind
	pub   any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	thumb keyThumb
}

// fits reports whether k may verify a signature made with alg.
func (k *verifyKey) fits(alg string) bool {
	return k.kind == kindForAlg(alg) && (k.alg == "" || k.alg == alg)
}

// keySet is an immutable index of an issuer's usable keys. Its identity is
// the key-set generation: a fetch that brings the same keys keeps the
// installed *keySet, so only a real change makes cached verifications look
// at byThumb again.
type keySet struct {
	keys    []*verifyKey
	byKid   map[string][]*verifyKey
	byThumb map[keyThumb][]*verifyKey
}

// vouchesFor reports whether s still holds the key with keyThumb th for
// alg: whether a signature that key made is still acceptable.
func (s *keySet) vouchesFor(th keyThumb, alg string) bool {
	if s == nil {
		return false
	}
	for _, k := range s.byThumb[th] {
		if k.fits(alg) {
			return true
		}
	}
	return false
}

// sameKeys reports whether s and o hold the same keys under the same kids
// and algs, in any order.
func (s *keySet) sameKeys(o *keySet) bool {
	if s == nil || o == nil || len(s.keys) != len(o.keys) {
		return false
	}
	type id struct {
		th       keyThumb
		kid, alg string
	}
	count := make(map[id]int, len(s.keys))
	for _, k := range s.keys {
		count[id{k.thumb, k.kid, k.alg}]++
	}
	for _, k := range o.keys {
		i := id{k.thumb, k.kid, k.alg}
		if count[i] == 0 {
			return false
		}
		count[i]--
	}
	return true
}

var errNoUsableKeys = errors.New("no usable signing keys in JWKS")

// newKeySet keeps the keys of set that can verify signatures: use "sig" or
// unset, key_ops including "verify" or unset, RSA of at least 2048 bits, EC
// P-256/384/521 or Ed25519, and an alg (when named) that fits the key.
// Symmetric ("oct") keys are never taken from a JWKS: HMAC needs a configured
// secret. It returns how many keys were skipped.
func newKeySet(set jwk.Set) (*keySet, int, error) {
	ks := &keySet{byKid: make(map[string][]*verifyKey), byThumb: make(map[keyThumb][]*verifyKey)}
	skipped := 0
	for i := range set.Len() {
		k, ok := set.Key(i)
		if !ok {
			continue
		}
		vk := usableKey(k)
		if vk == nil {
			skipped++
			continue
		}
		ks.keys = append(ks.keys, vk)
		ks.byThumb[vk.thumb] = append(ks.byThumb[vk.thumb], vk)
		if vk.kid != "" {
			ks.byKid[vk.kid] = append(ks.byKid[vk.kid], vk)
		}
	}
	if len(ks.keys) == 0 {
		return nil, skipped, errNoUsableKeys
	}
	return ks, skipped, nil
}

func usableKey(k jwk.Key) *verifyKey {
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return nil
	}
	if ops := k.KeyOps(); len(ops) > 0 {
		verify := false
		for _, op := range ops {
			if op == jwk.KeyOpVerify {
				verify = true
			}
		}
		if !verify {
			return nil
		}
	}
	if k.KeyType() == jwa.OctetSeq {
		return nil
	}
	pk, err := k.PublicKey()
	if err != nil {
		return nil
	}
	var raw any
	if err := pk.Raw(&raw); err != nil {
		return nil
	}
	th, err := pk.Thumbprint(crypto.SHA256)
	if err != nil || len(th) != len(keyThumb{}) {
		return nil
	}
	vk := &verifyKey{kid: k.KeyID(), thumb: keyThumb(th)}
	switch pub := raw.(type) {
	case *rsa.PublicKey:
		if pub.N == nil || pub.N.BitLen() < minRSABits {
			return nil
		}
		vk.kind, vk.pub = kindRSA, pub
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			vk.kind = kindP256
		case elliptic.P384():
			vk.kind = kindP384
		case elliptic.P521():
			vk.kind = kindP521
		default:
			return nil
		}
		vk.pub = pub
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil
		}
		vk.kind, vk.pub = kindEd25519, pub
	default:
		return nil
	}
	if a := k.Algorithm(); a != nil && a.String() != "" {
		if kindForAlg(a.String()) != vk.kind {
			return nil
		}
		vk.alg = a.String()
	}
	return vk
}

// errKeyNotFound is internal: it triggers a rate-limited refresh of the
// issuer's keys before the lookup becomes ErrUnknownKey.
var errKeyNotFound = errors.New("key not found")

// find returns the keys to try for a token's alg and kid: every key named
// by kid that fits alg (an issuer may publish several under one kid, during
// a rotation for instance); without a kid, the issuer's only key that fits
// alg. A kid whose keys all fit another alg is ErrAlgorithm (key confusion)
// and does not trigger a refresh. The returned slice is shared: read only.
func (s *keySet) find(alg, kid string) ([]*verifyKey, error) {
	if s == nil {
		return nil, errKeyNotFound
	}
	if kid != "" {
		cands, ok := s.byKid[kid]
		if !ok {
			return nil, errKeyNotFound
		}
		for _, k := range cands {
			if k.fits(alg) {
				return cands, nil
			}
		}
		return nil, fmt.Errorf("%w: key does not fit the algorithm", ErrAlgorithm)
	}
	found := -1
	for i, k := range s.keys {
		if k.fits(alg) {
			if found >= 0 {
				return nil, fmt.Errorf("%w: token has no kid and several keys fit", ErrUnknownKey)
			}
			found = i
		}
	}
	if found < 0 {
		return nil, errKeyNotFound
	}
	return s.keys[found : found+1], nil
}
