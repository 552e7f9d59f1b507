package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

const condPolicy = `
model: |
  model
    schema 1.1
  type user
  type document
    relations
      define viewer: [user, user with open]
  condition open(on: bool) {
    on
  }
routes:
  - name: doc
    match: GET /docs/{id}
    relation: {object: "document:{params.id}", relation: viewer}
`

// Conditional tuples reach an edge with their condition and context, in the
// full load and in the changelog; a write that changes a tuple's context
// replaces it on the edge.
func TestLoaderFollowsConditionalTuples(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(condPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{
		`document:d1#viewer@user:ann with open {"on": true}`,
		`document:d1#viewer@user:bob with open {"on": false}`,
		`document:d1#viewer@user:cid with open`,
	}); err != nil {
		t.Fatal(err)
	}
	r := startLoader(t, dsn, "", time.Hour)
	waitFor(t, func() bool { return asUser(r.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	for sub, want := range map[string]decision.Reason{"bob": decision.ReasonRelationDenied, "cid": decision.ReasonRelationError} {
		if got := asUser(r.engine, sub, "/docs/d1"); got != want {
			t.Fatalf("%s: %v, want %v", sub, got, want)
		}
	}
	// Incremental: contexts flip, a condition goes away, one comes.
	if _, err := pgstore.WriteTuples(ctx, pool, []string{
		`document:d1#viewer@user:ann with open {"on": false}`,
		`document:d1#viewer@user:bob`,
		`document:d1#viewer@user:dan with open {"on": true}`,
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(r.engine, "dan", "/docs/d1") == decision.ReasonAllowed })
	for sub, want := range map[string]decision.Reason{"ann": decision.ReasonRelationDenied, "bob": decision.ReasonAllowed, "cid": decision.ReasonRelationError} {
		if got := asUser(r.engine, sub, "/docs/d1"); got != want {
			t.Fatalf("after the changes, %s: %v, want %v", sub, got, want)
		}
	}
	snap, _ := r.engine.Snapshot()
	if n, ignored := snap.RelationStats(); n != 4 || ignored != 0 {
		t.Fatalf("tuples = %d (%d ignored), want 4", n, ignored)
	}
	if _, err := pgstore.DeleteTuples(ctx, pool, []string{"document:d1#viewer@user:dan"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return asUser(r.engine, "dan", "/docs/d1") == decision.ReasonRelationDenied })
}
