package sync

import (
	"errors"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// TestPostgresFetchAfterEveryRowPruned: with the whole changelog pruned,
// a full load is still as of the checkpoint, not of position 0, so that a
// reader (a relay) continues from there instead of reloading for ever or
// serving a base under a position older than its content.
func TestPostgresFetchAfterEveryRowPruned(t *testing.T) {
	s := newPGStore(t, PostgresOptions{})
	if _, err := pgstore.Publish(ctx10(t), s.pool, []byte("routes: []\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx10(t), s.pool, []string{"document:a#viewer@user:x", "document:b#viewer@user:y"}); err != nil {
		t.Fatal(err)
	}
	through, err := pgstore.PruneChangelog(ctx10(t), s.pool, time.Nanosecond, 2)
	if err != nil || through != 2 {
		t.Fatalf("pruned through %d, %v", through, err)
	}
	tuples, seq := state(t, s)
	if seq != 2 || len(tuples) != 2 {
		t.Fatalf("a load after pruning everything: seq %d, %d tuples; want seq 2", seq, len(tuples))
	}
	if c, err := s.src.Changes(ctx10(t), seq); err != nil || len(c) != 0 {
		t.Fatalf("Changes from the load's position: %v, %v", c, err)
	}
	if _, err := s.src.Changes(ctx10(t), 1); !errors.Is(err, ErrChangelogPruned) {
		t.Fatalf("Changes behind the checkpoint: %v, want ErrChangelogPruned", err)
	}
}
