package pgstore_test

import (
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// A changelog row's seq is drawn in commit order. A writer around
// edgeauthz that holds its transaction open after inserting a row (a
// revocation, say) must not let a later writer commit a higher seq first:
// readers follow the changelog by "seq greater than the last one seen" and
// would skip the earlier row for good.
func TestChangelogSeqFollowsCommitOrder(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	ctx := ctx10(t)
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:g1#viewer@user:usr_2"}); err != nil {
		t.Fatal(err)
	}

	// The foreign writer: plain SQL, its transaction left open.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, `DELETE FROM edgeauthz_tuples WHERE object = 'document:g1'`); err != nil {
		t.Fatal(err)
	}
	var held int64
	if err := tx.QueryRow(ctx, `INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject)
		VALUES ('d', 'document:g1', 'viewer', 'user:usr_2') RETURNING seq`).Scan(&held); err != nil {
		t.Fatal(err)
	}

	// edgeauthz's own writer, meanwhile.
	done := make(chan error, 1)
	go func() {
		_, err := pgstore.WriteTuples(ctx, pool, []string{"document:g2#viewer@user:usr_4"})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a second writer committed while the first held seq %d open (err %v)", held, err)
	case <-time.After(time.Second):
	}
	var beyond int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM edgeauthz_tuple_changelog WHERE seq > $1`, held).Scan(&beyond); err != nil {
		t.Fatal(err)
	}
	if beyond != 0 {
		t.Fatalf("%d committed rows lie beyond the open seq %d", beyond, held)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var later int64
	if err := pool.QueryRow(ctx, `SELECT seq FROM edgeauthz_tuple_changelog WHERE object = 'document:g2'`).Scan(&later); err != nil {
		t.Fatal(err)
	}
	if later <= held {
		t.Fatalf("the later writer's seq %d is not after the held %d", later, held)
	}
}
