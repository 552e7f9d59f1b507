package sync

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// storeHarness is one store behind a Source, with the controls the
// conformance suite needs.
type storeHarness struct {
	src  Source
	set  func(t *testing.T, doc []byte) // make doc the store's current policy
	down func(t *testing.T)             // make the store unreachable
	up   func(t *testing.T)             // bring it back
}

// testSource runs the contract every Source keeps against fresh stores.
func testSource(t *testing.T, newStore func(t *testing.T) storeHarness) {
	doc1 := []byte("roles:\n  viewer: {permissions: [read:documents]}\n")
	doc2 := []byte("roles:\n  viewer: {permissions: [read:documents, list:documents]}\n")

	fetch := func(t *testing.T, src Source, have string) (Bundle, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return src.Fetch(ctx, have)
	}
	mustFetch := func(t *testing.T, src Source, have string) Bundle {
		t.Helper()
		b, err := fetch(t, src, have)
		if err != nil {
			t.Fatalf("Fetch(%q): %v", have, err)
		}
		if b.Revision == "" || b.Name == "" {
			t.Fatalf("Fetch(%q): bundle without revision or name: %+v", have, b)
		}
		return b
	}
	mustNotModified := func(t *testing.T, src Source, have string) {
		t.Helper()
		if b, err := fetch(t, src, have); !errors.Is(err, ErrNotModified) {
			t.Fatalf("Fetch(%q) = %q, %v; want ErrNotModified", have, b.Policy, err)
		}
	}

	t.Run("first load", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		h.set(t, doc1)
		b := mustFetch(t, h.src, "")
		if !bytes.Equal(b.Policy, doc1) {
			t.Fatalf("Policy = %q, want %q", b.Policy, doc1)
		}
	})

	t.Run("no change", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		h.set(t, doc1)
		b := mustFetch(t, h.src, "")
		mustNotModified(t, h.src, b.Revision)
		mustNotModified(t, h.src, b.Revision)
		// A revision the store never issued is not "not modified".
		if b2 := mustFetch(t, h.src, "bogus"); !bytes.Equal(b2.Policy, doc1) {
			t.Fatalf("Fetch(bogus) Policy = %q", b2.Policy)
		}
	})

	t.Run("change", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		h.set(t, doc1)
		b1 := mustFetch(t, h.src, "")
		h.set(t, doc2)
		b2 := mustFetch(t, h.src, b1.Revision)
		if !bytes.Equal(b2.Policy, doc2) || b2.Revision == b1.Revision {
			t.Fatalf("after change: Policy %q revision %q (was %q)", b2.Policy, b2.Revision, b1.Revision)
		}
		mustNotModified(t, h.src, b2.Revision)
		h.set(t, doc1) // back to the first content
		if b3 := mustFetch(t, h.src, b2.Revision); !bytes.Equal(b3.Policy, doc1) {
			t.Fatalf("after change back: Policy %q", b3.Policy)
		}
	})

	t.Run("unreachable then recovery", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		h.set(t, doc1)
		b := mustFetch(t, h.src, "")
		h.down(t)
		for _, have := range []string{"", b.Revision} {
			_, err := fetch(t, h.src, have)
			if err == nil || errors.Is(err, ErrNotModified) {
				t.Fatalf("Fetch(%q) with the store down: err = %v, want a failure", have, err)
			}
			t.Logf("store down: %v", err)
		}
		h.up(t)
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := fetch(t, h.src, b.Revision)
			if errors.Is(err, ErrNotModified) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no recovery after the store came back: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if b2 := mustFetch(t, h.src, ""); !bytes.Equal(b2.Policy, doc1) {
			t.Fatalf("after recovery: Policy %q", b2.Policy)
		}
	})

	t.Run("corrupt content reaches the caller", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		bad := []byte("roles: {{{ [unclosed\n\tnot: json\u00e9\n")
		h.set(t, bad)
		if b := mustFetch(t, h.src, ""); !bytes.Equal(b.Policy, bad) {
			t.Fatalf("Policy = %q, want the stored bytes %q", b.Policy, bad)
		}
		// An empty document reaches the caller, or is refused as such (a
		// file truncated to zero is never a policy anyone meant).
		h.set(t, []byte{})
		b, err := h.src.Fetch(ctx10(t), "")
		switch {
		case errors.Is(err, ErrEmptyPolicy):
		case err != nil:
			t.Fatalf("empty document: %v", err)
		case len(b.Policy) != 0:
			t.Fatalf("empty document: Policy = %q", b.Policy)
		}
	})

	t.Run("cancellation", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		h.set(t, doc1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		_, err := h.src.Fetch(ctx, "")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch with a cancelled context: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Fetch with a cancelled context took %v", d)
		}
	})

	t.Run("close", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		if err := h.src.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := h.src.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}
