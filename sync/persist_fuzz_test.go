package sync

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzPersistedState feeds arbitrary bytes to the persisted-state reader as
// last-good.json and last-good.changes, beside the head the edge wrote.
// Property: nothing but what an edge holding the key wrote is accepted, the
// journal only whole (it must reach the head), and nothing panics.
func FuzzPersistedState(f *testing.F) {
	key := bytes.Repeat([]byte{'k'}, MinPersistKeySize)
	seedDir := f.TempDir()
	p := &persistStore{dir: seedDir, key: key, origin: "file://p.yaml"}
	if err := p.saveBundle(persisted{Revision: "r1", Name: "p.yaml", Policy: []byte("routes: []"), Seq: 1, SavedAt: time.Unix(0, 0), Origin: p.origin}); err != nil {
		f.Fatal(err)
	}
	if _, err := p.appendChanges(1, []TupleChange{{Seq: 2, Write: true, Tuple: "document:1#viewer@user:a"}}, time.Unix(1, 0)); err != nil {
		f.Fatal(err)
	}
	bundle, err := os.ReadFile(filepath.Join(seedDir, persistFile))
	if err != nil {
		f.Fatal(err)
	}
	journal, err := os.ReadFile(filepath.Join(seedDir, journalFile))
	if err != nil {
		f.Fatal(err)
	}
	head, err := os.ReadFile(filepath.Join(seedDir, headFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bundle, journal)
	f.Add(bundle, journal[:len(journal)-1])
	f.Add(bundle, []byte{})
	f.Add([]byte(`{"revision":"r1","policy":"cm91dGVzOiBbXQ==","origin":"file://p.yaml"}`), []byte{})
	f.Add([]byte(`{"mac":"00","body":{}}`), journal[:len(journal)/2])
	f.Fuzz(func(t *testing.T, bundleIn, journalIn []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, persistFile), bundleIn, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, journalFile), journalIn, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, headFile), head, 0o600); err != nil {
			t.Fatal(err)
		}
		q := &persistStore{dir: dir, key: key, origin: "file://p.yaml"}
		b, replayed, err := q.load()
		if err != nil {
			return
		}
		// Accepted: the bundle must be the one written with the key, and
		// the journal must end in a newline and replay the batch the head
		// records (a line it repeats is already in the state, and skipped).
		if !bytes.Equal(bundleIn, bundle) {
			t.Fatalf("a bundle the key did not write was accepted: %q", bundleIn)
		}
		if len(journalIn) == 0 || journalIn[len(journalIn)-1] != '\n' {
			t.Fatalf("a journal cut short was accepted: %q", journalIn)
		}
		if replayed != 1 || b.Seq != 2 {
			t.Fatalf("replayed %d changes to seq %d, want the one change to seq 2", replayed, b.Seq)
		}
	})
}
