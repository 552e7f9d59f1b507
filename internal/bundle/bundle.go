package bundle

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/edgeauthz/edgeauthz/identity"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// SignatureSuffix is appended to the bundle's name for its signature; the
// HTTP source fetches URL + ".sig" by default.
const SignatureSuffix = ".sig"

// Bundle is what an edge fetches from one URL.
type Bundle struct {
	// Policy is the policy document, as `edgeauthz validate` accepts it.
	Policy []byte
}

// Signer makes detached signatures with one private key.
type Signer struct {
	key crypto.Signer
	alg jwa.SignatureAlgorithm
	kid string
	pub jwk.Set
}

// NewSigner reads a PEM private key (as keygen writes it). The algorithm
// follows the key: RS256 for RSA, ES256/ES384/ES512 for P-256/P-384/P-521,
// EdDSA for Ed25519. The kid is the key's SHA-256 JWK thumbprint, the kid of
// keygen's jwks.json.
func NewSigner(privatePEM []byte) (*Signer, error) {
	key, err := identity.ParsePrivateKey(privatePEM)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	alg, err := algFor(key)
	if err != nil {
		return nil, err
	}
	pub, err := jwk.FromRaw(key.Public())
	if err != nil {
		return nil, fmt.Errorf("bundle: public key: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("bundle: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	if err := pub.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return &Signer{key: key, alg: alg, kid: kid, pub: set}, nil
}

// KeyID is the kid written into each signature's header.
func (s *Signer) KeyID() string { return s.kid }

// Algorithm is the JWS algorithm of the signatures.
func (s *Signer) Algorithm() string { return s.alg.String() }

// Sign returns a compact JWS with a detached payload ("header..signature")
// over doc.
func (s *Signer) Sign(doc []byte) ([]byte, error) {
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, s.kid); err != nil {
		return nil, fmt.Errorf("bundle: header: %w", err)
	}
	sig, err := jws.Sign(nil, jws.WithKey(s.alg, s.key, jws.WithProtectedHeaders(hdr)), jws.WithDetachedPayload(doc))
	if err != nil {
		return nil, fmt.Errorf("bundle: sign: %w", err)
	}
	return sig, nil
}

// verifies reports whether sig is a valid signature of doc by this signer's key.
func (s *Signer) verifies(sig, doc []byte) bool {
	return policysync.VerifyDetached(bytes.TrimSpace(sig), doc, s.pub) == nil
}

func algFor(key crypto.Signer) (jwa.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jwa.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwa.ES256, nil
		case elliptic.P384():
			return jwa.ES384, nil
		case elliptic.P521():
			return jwa.ES512, nil
		}
	case ed25519.PrivateKey:
		return jwa.EdDSA, nil
	}
	return "", fmt.Errorf("bundle: unsupported signing key type %T", key)
}

// Written says what Write did.
type Written struct {
	Path, SignaturePath string
	// SHA256 is the hex digest of the document.
	SHA256 string
	// Changed is false when the document on disk already had these bytes.
	Changed bool
	// Signed is false when the existing signature was kept.
	Signed bool
}

// Write puts b into dir/name and its signature into dir/name.sig, creating
// dir. name is a file name, not a path.
func Write(dir, name string, b Bundle, s *Signer) (Written, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return Written{}, fmt.Errorf("bundle: name %q: want a plain file name", name)
	}
	if len(b.Policy) == 0 {
		return Written{}, errors.New("bundle: empty policy")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Written{}, fmt.Errorf("bundle: %w", err)
	}
	sum := sha256.Sum256(b.Policy)
	w := Written{
		Path:          filepath.Join(dir, name),
		SignaturePath: filepath.Join(dir, name+SignatureSuffix),
		SHA256:        hex.EncodeToString(sum[:]),
	}
	old, err := os.ReadFile(w.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Written{}, fmt.Errorf("bundle: %w", err)
	}
	w.Changed = err != nil || !bytes.Equal(old, b.Policy)
	if !w.Changed {
		if sig, err := os.ReadFile(w.SignaturePath); err == nil && s.verifies(sig, b.Policy) {
			return w, nil
		}
	}
	sig, err := s.Sign(b.Policy)
	if err != nil {
		return Written{}, err
	}
	// Signature first: an edge that fetches in between sees the old document
	// with the new signature, refuses it and keeps serving its last good
	// policy until the next poll, which sees both.
	if err := replaceFile(w.SignaturePath, append(sig, '\n')); err != nil {
		return Written{}, err
	}
	w.Signed = true
	if w.Changed {
		if err := replaceFile(w.Path, b.Policy); err != nil {
			return Written{}, err
		}
	}
	return w, nil
}

// replaceFile writes data to a temporary file in path's folder and renames it
// over path, so readers see the old or the new file, never a part.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bundle: write %s: %w", path, err)
	}
	return nil
}
