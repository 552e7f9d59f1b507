package sync_test

import (
	"context"
	gosync "sync"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

const modelPolicy = `
model: |
  model
    schema 1.1
  type user
  type document
    relations
      define viewer: [user]
routes:
  - name: a
    match: GET /a
    public: true
`

// memChangelog is a Changelog store held in memory whose revisions have a
// form of its own ("policy P at N"): the loader must follow it without
// knowing that form.
type memChangelog struct {
	mu      gosync.Mutex
	tuples  map[string]bool
	changes []policysync.TupleChange
	fetches int // full bundles returned
}

func (m *memChangelog) revision(seq int64) string {
	return "policy P at " + string(rune('0'+seq))
}

func (m *memChangelog) seq() int64 { return int64(len(m.changes)) }

func (m *memChangelog) Fetch(_ context.Context, have string) (policysync.Bundle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rev := m.revision(m.seq())
	if rev == have {
		return policysync.Bundle{}, policysync.ErrNotModified
	}
	m.fetches++
	var tuples []string
	for t, ok := range m.tuples {
		if ok {
			tuples = append(tuples, t)
		}
	}
	return policysync.Bundle{Revision: rev, Name: "memory", Policy: []byte(modelPolicy), Tuples: tuples, Seq: m.seq()}, nil
}

func (m *memChangelog) Changes(_ context.Context, since int64) ([]policysync.TupleChange, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]policysync.TupleChange(nil), m.changes[since:]...), nil
}

func (m *memChangelog) Advance(rev string, seq int64) string {
	if rev == "" {
		return rev
	}
	return m.revision(seq)
}

func (m *memChangelog) Close() error { return nil }

func (m *memChangelog) write(t string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tuples[t] = true
	m.changes = append(m.changes, policysync.TupleChange{Seq: int64(len(m.changes)) + 1, Write: true, Tuple: t})
}

// The loader applies a changelog store's changes incrementally whatever
// its revisions look like: it never parses them, it asks the store.
func TestLoaderFollowsOpaqueChangelogRevisions(t *testing.T) {
	src := &memChangelog{tuples: map[string]bool{"document:1#viewer@user:a": true}}
	engine := decision.NewEngine(0)
	l := policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: engine, Compile: compile})
	ctx := context.Background()
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tu := range []string{"document:2#viewer@user:b", "document:3#viewer@user:c"} {
		src.write(tu)
		if err := l.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := engine.Snapshot()
	if n, _ := snap.RelationStats(); n != 3 {
		t.Fatalf("serving %d tuples, want 3", n)
	}
	if src.fetches != 1 {
		t.Fatalf("%d full loads, want 1: the changes were not applied incrementally", src.fetches)
	}
	if got := snap.Revision(); got != "policy P at 0+2" {
		t.Fatalf("revision %q, want the loaded one plus the changelog seq", got)
	}
}
