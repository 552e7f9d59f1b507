package sync

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testSettle is the settle time in tests: files written by a test are
// complete at once.
const testSettle = 10 * time.Millisecond

func newFileStore(t *testing.T) storeHarness {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	src := NewFileSource("file://"+path, FileOptions{Settle: testSettle})
	t.Cleanup(func() { src.Close() })
	return storeHarness{
		src: src,
		set: func(t *testing.T, doc []byte) {
			// Atomic replace, as operators are told to do.
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, doc, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		},
		down: func(t *testing.T) {
			if err := os.Rename(path, path+".away"); err != nil {
				t.Fatal(err)
			}
		},
		up: func(t *testing.T) {
			if err := os.Rename(path+".away", path); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestFileSourceConformance(t *testing.T) {
	testSource(t, newFileStore)
}

func TestFileSourcePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	bin := []byte{0, 0xff, 0xfe, 'x'} // not text: still the caller's to judge
	if err := os.WriteFile(path, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{path, "file://" + path} {
		src := NewFileSource(spec, FileOptions{})
		if src.Path() != path {
			t.Errorf("NewFileSource(%q).Path() = %q", spec, src.Path())
		}
		b, err := src.Fetch(context.Background(), "")
		if err != nil || !bytes.Equal(b.Policy, bin) || b.Name != path {
			t.Errorf("Fetch via %q = %+v, %v", spec, b, err)
		}
	}
	_, err := NewFileSource(filepath.Join(dir, "missing.yaml"), FileOptions{}).Fetch(context.Background(), "")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestFileSourceTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1<<10 + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src := NewFileSource(path, FileOptions{})
	src.max = 1 << 10
	if _, err := src.Fetch(context.Background(), ""); err == nil {
		t.Fatal("a file over the size limit was accepted")
	}
}
