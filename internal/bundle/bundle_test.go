package bundle_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/bundle"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

func newSigner(t *testing.T, alg string) (*bundle.Signer, jwk.Set) {
	t.Helper()
	priv, jwks, kid, err := identity.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bundle.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != kid {
		t.Errorf("kid %q, keygen's JWKS says %q", s.KeyID(), kid)
	}
	set, err := jwk.Parse(jwks)
	if err != nil {
		t.Fatal(err)
	}
	return s, set
}

// TestWriteKeepsUnchangedFiles: the same content keeps the file (so its
// mtime-based ETag) and a still-valid signature; a new key re-signs without
// touching the document; new content rewrites both.
func TestWriteKeepsUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	s1, keys1 := newSigner(t, "ES256")
	s2, keys2 := newSigner(t, "RS256")
	doc := []byte("routes: []\n")

	w, err := bundle.Write(dir, "policy.yaml", bundle.Bundle{Policy: doc}, s1)
	if err != nil || !w.Changed || !w.Signed {
		t.Fatalf("first write: %+v %v", w, err)
	}
	verify(t, w, keys1)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, p := range []string{w.Path, w.SignaturePath} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	w, err = bundle.Write(dir, "policy.yaml", bundle.Bundle{Policy: doc}, s1)
	if err != nil || w.Changed || w.Signed {
		t.Fatalf("unchanged write: %+v %v", w, err)
	}
	for _, p := range []string{w.Path, w.SignaturePath} {
		if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("%s was rewritten for unchanged content", p)
		}
	}

	w, err = bundle.Write(dir, "policy.yaml", bundle.Bundle{Policy: doc}, s2)
	if err != nil || w.Changed || !w.Signed {
		t.Fatalf("new key: %+v %v", w, err)
	}
	verify(t, w, keys2)
	if fi, _ := os.Stat(w.Path); !fi.ModTime().Equal(old) {
		t.Errorf("the document was rewritten for a new key")
	}

	w, err = bundle.Write(dir, "policy.yaml", bundle.Bundle{Policy: append(doc, '#')}, s2)
	if err != nil || !w.Changed || !w.Signed {
		t.Fatalf("new content: %+v %v", w, err)
	}
	verify(t, w, keys2)
	if err := verifyErr(w, keys1); !errors.Is(err, policysync.ErrSignature) {
		t.Errorf("signature verifies with the old key: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the bundle folder, want the bundle and its signature (no temporary files left)", len(entries))
	}
}

func TestWriteRefuses(t *testing.T) {
	s, _ := newSigner(t, "EdDSA")
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"../escape.yaml", []byte("x")},
		{"sub/policy.yaml", []byte("x")},
		{".hidden", []byte("x")},
		{"", []byte("x")},
		{"policy.yaml", nil},
	} {
		if _, err := bundle.Write(t.TempDir(), tc.name, bundle.Bundle{Policy: tc.doc}, s); err == nil {
			t.Errorf("Write(%q, %q): no error", tc.name, tc.doc)
		}
	}
	if _, err := bundle.NewSigner([]byte("not a key")); err == nil {
		t.Errorf("NewSigner accepted garbage")
	}
}

func verify(t *testing.T, w bundle.Written, keys jwk.Set) {
	t.Helper()
	if err := verifyErr(w, keys); err != nil {
		t.Errorf("%s: %v", w.SignaturePath, err)
	}
}

func verifyErr(w bundle.Written, keys jwk.Set) error {
	doc, err := os.ReadFile(w.Path)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(filepath.Clean(w.SignaturePath))
	if err != nil {
		return err
	}
	return policysync.VerifyDetached(bytes.TrimSpace(sig), doc, keys)
}
