package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/relay/wire"
)

func TestNames(t *testing.T) {
	for _, c := range []struct {
		name  string
		after int64 // -1: not an after name
		chunk int   // -1: not a chunk name
	}{
		{wire.AfterName(0), 0, -1},
		{wire.AfterName(42), 42, -1},
		{"after/-1", -1, -1},
		{"after/01", -1, -1},
		{"after/", -1, -1},
		{"after/9223372036854775808", -1, -1},
		{wire.ChunkName(7), -1, 7},
		{"chunk/07", -1, -1},
		{"chunk/+7", -1, -1},
		{"chunk/", -1, -1},
		{wire.DeltaName(1, 2), -1, -1},
	} {
		seq, ok := wire.ParseAfter(c.name)
		if ok != (c.after >= 0) || (ok && seq != c.after) {
			t.Errorf("ParseAfter(%q) = %d, %v", c.name, seq, ok)
		}
		if i := wire.ChunkIndex(c.name); i != c.chunk {
			t.Errorf("ChunkIndex(%q) = %d, want %d", c.name, i, c.chunk)
		}
	}
}

func TestManifestCheck(t *testing.T) {
	for _, c := range []struct {
		m  wire.Manifest
		ok bool
	}{
		{wire.Manifest{Seq: 3, Chunks: map[string]string{"chunk/0": "a", "chunk/1": "b"}}, true},
		{wire.Manifest{Seq: 3, Chunks: map[string]string{}}, false},
		{wire.Manifest{Seq: -1, Chunks: map[string]string{"chunk/0": "a"}}, false},
		{wire.Manifest{Seq: 3, Chunks: map[string]string{"chunk/0": "a", "chunk/2": "b"}}, false},
		{wire.Manifest{Seq: 3, Chunks: map[string]string{"chunk/0": "a", "delta/0-1": "b"}}, false},
	} {
		if err := c.m.Check(); (err == nil) != c.ok || (err != nil && !errors.Is(err, wire.ErrMalformed)) {
			t.Errorf("%+v: %v", c.m, err)
		}
	}
}

func TestTupleKey(t *testing.T) {
	for _, c := range []struct{ tuple, key string }{
		{"document:1#viewer@user:ann", "document:1#viewer@user:ann"},
		{"document:1#viewer@team:t#member", "document:1#viewer@team:t#member"},
		{"document:1#viewer@user:*", "document:1#viewer@user:*"},
		{`document:1#viewer@user:ann with in_office {"start":"09:00"}`, "document:1#viewer@user:ann"},
		{"document:1#viewer@user:ann with in_office", "document:1#viewer@user:ann"},
		// Refused by rebac.ParseTuple: named as the store deletes it.
		{"Doc ument:1#viewer@user:ann", "Doc ument:1#viewer@user:ann"},
		{"document:1#viewer@user:ann with 9bad", "document:1#viewer@user:ann with 9bad"},
		// Not a tuple at all: its own key.
		{"document:1", "document:1"},
		{"", ""},
	} {
		if got := wire.TupleKey(c.tuple); got != c.key {
			t.Errorf("TupleKey(%q) = %q, want %q", c.tuple, got, c.key)
		}
	}
}

// FuzzTupleKey: a key is a prefix of its tuple, and its own key.
func FuzzTupleKey(f *testing.F) {
	f.Add(`document:1#viewer@user:ann with c {"a":1}`)
	f.Add("a#b@c d")
	f.Fuzz(func(t *testing.T, tuple string) {
		k := wire.TupleKey(tuple)
		if !strings.HasPrefix(tuple, k) {
			t.Fatalf("TupleKey(%q) = %q: not a prefix", tuple, k)
		}
		if k2 := wire.TupleKey(k); k2 != k {
			t.Fatalf("TupleKey(%q) = %q, TupleKey of that = %q", tuple, k, k2)
		}
	})
}

// FuzzNames: a name parses back to itself or not at all.
func FuzzNames(f *testing.F) {
	f.Add("after/12")
	f.Add("chunk/3")
	f.Fuzz(func(t *testing.T, name string) {
		if seq, ok := wire.ParseAfter(name); ok && wire.AfterName(seq) != name {
			t.Fatalf("ParseAfter(%q) = %d", name, seq)
		}
		if i := wire.ChunkIndex(name); i >= 0 && wire.ChunkName(i) != name {
			t.Fatalf("ChunkIndex(%q) = %d", name, i)
		}
	})
}
