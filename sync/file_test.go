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

// age makes a file look written long ago.
func age(t *testing.T, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestFileSourceServesOnlySettledContent(t *testing.T) {
	t.Parallel()
	doc := []byte("routes: []\n")
	cases := []struct {
		name    string
		content []byte
		mtime   func(t *testing.T, path string)
		settle  time.Duration
		want    error // nil: the content is served
	}{
		// A file modified moments ago may be half-written: not served while
		// it is that fresh (the caller's context ends the wait here).
		{"just written", doc, func(*testing.T, string) {}, time.Hour, context.DeadlineExceeded},
		{"settled", doc, age, time.Hour, nil},
		{"truncated to zero", []byte{}, age, time.Hour, ErrEmptyPolicy},
		{"white space only", []byte(" \n\t\n"), age, time.Hour, ErrEmptyPolicy},
		{"truncated to zero just now", []byte{}, func(*testing.T, string) {}, time.Hour, context.DeadlineExceeded},
		// A modification time in the future cannot be judged by age; the
		// content holding still for a settle period is served.
		{"modified in the future", doc, func(t *testing.T, path string) {
			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, future, future); err != nil {
				t.Fatal(err)
			}
		}, 10 * time.Millisecond, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(path, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			c.mtime(t, path)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			b, err := NewFileSource(path, FileOptions{Settle: c.settle}).Fetch(ctx, "")
			switch {
			case c.want == nil && (err != nil || !bytes.Equal(b.Policy, c.content)):
				t.Fatalf("Fetch = %q, %v; want the content", b.Policy, err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("Fetch = %q, %v; want %v", b.Policy, err, c.want)
			}
		})
	}
}

// A file that keeps changing is given up on with ErrUnsettled, not read
// while it changes.
func TestFileSourceGivesUpOnAFileThatKeepsChanging(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("routes: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := NewFileSource(path, FileOptions{Settle: time.Hour})
	// The clock stands still just after the file's modification time, so
	// the file never gets old enough; the deadline is what ends the wait.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	src.now = func() time.Time {
		calls++
		if calls == 1 {
			return fi.ModTime().Add(-4 * time.Hour) // the deadline is set before the first read
		}
		return fi.ModTime()
	}
	if _, err := src.Fetch(context.Background(), ""); !errors.Is(err, ErrUnsettled) {
		t.Fatalf("Fetch = %v, want ErrUnsettled", err)
	}
}
