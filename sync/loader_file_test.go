package sync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// tenantPolicy guards a DELETE with a scope; a prefix cut after the route's
// match line would be a route without it.
const tenantPolicy = `
routes:
  - name: delete-doc
    match: DELETE /orgs/{org}/docs/{id}
    scopes: [delete:documents]
  - name: a
    match: GET /a
    public: true
`

func tornPrefix(t *testing.T, doc string) string {
	t.Helper()
	i := strings.Index(doc, "    scopes:")
	if i < 0 {
		t.Fatal("no scopes line to cut before")
	}
	return doc[:i]
}

// writeInPlace writes like cp or a shell's >: truncate, then write, into
// the same inode, leaving the modification time at now.
func writeInPlace(t *testing.T, path, body string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
}

func settleFile(t *testing.T, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func deleteDoc(e *decision.Engine) decision.Result {
	return e.Decide(&decision.Request{Method: "DELETE", Target: "/orgs/o2/docs/d1"},
		decision.Authenticated(&decision.Principal{Subject: "mallory", Org: "o1"}))
}

// A policy file caught between two parts of an in-place write is never
// served: not at the first load, not at a poll or SIGHUP (both are a Sync),
// even though the prefix is a valid policy.
func TestLoaderNeverServesAHalfWrittenPolicyFile(t *testing.T) {
	t.Parallel()
	prefix := tornPrefix(t, tenantPolicy)
	shortSync := func(l *policysync.Loader) error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		return l.Sync(ctx)
	}
	newLoader := func(path string, e *decision.Engine) *policysync.Loader {
		return policysync.NewLoader(policysync.LoaderOptions{
			Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: time.Hour}), Engine: e, Compile: compile})
	}

	t.Run("first load", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "policy.yaml")
		writeInPlace(t, path, prefix)
		e := decision.NewEngine(0)
		if err := shortSync(newLoader(path, e)); err == nil {
			t.Fatal("a policy file in mid-write was loaded")
		}
		if got := decide(e, "/a"); got != decision.ReasonNoSnapshot {
			t.Fatalf("after the first load of a file in mid-write: %v, want no_snapshot", got)
		}
	})

	t.Run("reload", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "policy.yaml")
		writeInPlace(t, path, tenantPolicy)
		settleFile(t, path)
		e := decision.NewEngine(0)
		l := newLoader(path, e)
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		good, _ := e.Snapshot()
		if res := deleteDoc(e); res.Allowed {
			t.Fatalf("the full policy allows the DELETE: %+v", res)
		}
		// The writer has written the first part of a new copy.
		writeInPlace(t, path, prefix)
		if err := shortSync(l); err == nil {
			t.Fatal("a policy file in mid-write was loaded")
		}
		if cur, _ := e.Snapshot(); cur.Revision() != good.Revision() {
			t.Fatalf("serving %s after a reload in mid-write, want %s", cur.Revision(), good.Revision())
		}
		if res := deleteDoc(e); res.Allowed {
			t.Fatalf("the DELETE is allowed after a reload in mid-write: %+v", res)
		}
		// Truncated to zero and left so: refused, the last good keeps serving.
		writeInPlace(t, path, "")
		settleFile(t, path)
		if err := l.Sync(context.Background()); err == nil {
			t.Fatal("an empty policy file was loaded")
		}
		// Removed: the same.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(context.Background()); err == nil {
			t.Fatal("a removed policy file was loaded")
		}
		if cur, _ := e.Snapshot(); cur.Revision() != good.Revision() {
			t.Fatalf("serving %s after truncation and removal, want %s", cur.Revision(), good.Revision())
		}
		// The writer finishes: the complete file is served.
		writeInPlace(t, path, tenantPolicy+"  - name: b\n    match: GET /b\n    public: true\n")
		settleFile(t, path)
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := decide(e, "/b"); got != decision.ReasonPublic {
			t.Fatalf("after the write completed: %v", got)
		}
	})
}

// ApplyChanges applies what the relationship engine parses and returns the
// rest, by seq, instead of refusing the batch.
func TestApplyChangesSkipsRowsItCannotParse(t *testing.T) {
	t.Parallel()
	snap, err := compile(policysync.Bundle{Name: "p", Revision: "1.0", Policy: []byte(relPolicy)})
	if err != nil {
		t.Fatal(err)
	}
	changes := []policysync.TupleChange{
		{Seq: 1, Write: true, Tuple: "document:d1#viewer@user:ann"},
		{Seq: 2, Write: true, Tuple: "document:" + strings.Repeat("x", 512) + "#viewer@user:bob"},
		{Seq: 3, Write: true, Tuple: "document:a!b#viewer@user:bob"},
		{Seq: 4, Write: false, Tuple: "not a tuple"},
		{Seq: 5, Write: true, Tuple: "document:d1#viewer@user:carl"},
	}
	next, skipped, err := policysync.ApplyChanges(snap, changes)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, s := range skipped {
		if s.Err == nil {
			t.Errorf("skipped seq %d without a reason", s.Seq)
		}
		seqs = append(seqs, s.Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4]" {
		t.Fatalf("skipped seqs %v, want [2 3 4]", seqs)
	}
	e := decision.NewEngine(0)
	e.Swap(next)
	for _, sub := range []string{"ann", "carl"} {
		if got := asUser(e, sub, "/docs/d1"); got != decision.ReasonAllowed {
			t.Errorf("%s: %v, want allowed", sub, got)
		}
	}
	if next.Revision() != "1.0+5" {
		t.Errorf("revision %q, want 1.0+5", next.Revision())
	}
}
