package pgstore_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

func migratedDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := emptyDB(t)
	if err := pgstore.Migrate(ctx10(t), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// tupleCases are tuples the relationship engine accepts or refuses; the
// store's writers must agree with it on every one.
var tupleCases = []struct {
	tuple string
	ok    bool
}{
	{"document:doc1#viewer@user:anne", true},
	{"folder:f1#viewer@team:eng#member", true},
	{"folder:f1#viewer@user:*", true},
	{"document:doc1#viewer@user:anne@example.com", true},
	{"document:" + strings.Repeat("a", 247) + "#viewer@user:x", true}, // 256 bytes
	{"document:" + strings.Repeat("a", 248) + "#viewer@user:x", false},
	{"document:" + strings.Repeat("a", 512) + "#viewer@user:x", false},
	{"document:d#viewer@user:" + strings.Repeat("b", 512), false},
	{"document:d#" + strings.Repeat("r", 51) + "@user:x", false},
	{"document:a!b#viewer@user:x", false},
	{"document:a%20b#viewer@user:x", false},
	{"document:d#viewer@user:an ne", false},
	{"doc:a:b#owner@user:1", false},
	{"", false}, {"document:doc1", false}, {"document:doc1#viewer", false},
	{"doc1#viewer@user:anne", false}, {"document:#viewer@user:anne", false},
	{"document:*#viewer@user:anne", false}, {"document:d#@user:anne", false},
	{"document:d#viewer@anne", false}, {"document:d#viewer@user:", false},
	{"document:d#viewer@user:*#member", false}, {"document:d#viewer@team:eng#", false},
	{"document:d #viewer@user:anne", false}, {"document:d#viewer@user:an\nne", false},
	{"document:d#view:er@user:anne", false},
}

// The writers take exactly what the relationship engine parses.
func TestWriteTuplesUsesTheEnginesSyntax(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	for _, c := range tupleCases {
		_, engineErr := rebac.ParseTuple(c.tuple)
		if (engineErr == nil) != c.ok {
			t.Fatalf("rebac.ParseTuple(%.60q) = %v; the case says ok=%v", c.tuple, engineErr, c.ok)
		}
		n, err := pgstore.WriteTuples(ctx10(t), pool, []string{c.tuple})
		if (err == nil) != c.ok {
			t.Errorf("WriteTuples(%.60q) = %d, %v; want ok=%v", c.tuple, n, err, c.ok)
		}
	}
	// One bad tuple refuses the whole call.
	if _, err := pgstore.WriteTuples(ctx10(t), pool, []string{"document:x1#viewer@user:ok", "document:a!b#viewer@user:x"}); err == nil {
		t.Fatal("a batch with a malformed tuple was written")
	}
	var n int
	if err := pool.QueryRow(ctx10(t), `SELECT count(*) FROM edgeauthz_tuples WHERE object = 'document:x1'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("part of a refused batch was written: %d rows, %v", n, err)
	}
}

// The store refuses rows past the engine's limits even when they are
// written around edgeauthz, and such rows written before the limits can
// still be deleted.
func TestStoreEnforcesTupleLimits(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	long := "document:" + strings.Repeat("a", 512)
	for _, stmt := range []string{
		`INSERT INTO edgeauthz_tuples (object, relation, subject) VALUES ($1, 'viewer', 'user:x')`,
		`INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject) VALUES ('w', $1, 'viewer', 'user:x')`,
	} {
		if _, err := pool.Exec(ctx10(t), stmt, long); err == nil || !strings.Contains(err.Error(), "limits") {
			t.Errorf("%s with a 521-byte object: %v, want a check violation", stmt, err)
		}
	}
	// A row from before the limits (the constraint is dropped and put back
	// NOT VALID, as migrating an old database leaves it).
	for _, stmt := range []string{
		`ALTER TABLE edgeauthz_tuples DROP CONSTRAINT edgeauthz_tuples_limits`,
		`INSERT INTO edgeauthz_tuples (object, relation, subject) VALUES ('` + long + `', 'viewer', 'user:x')`,
		`ALTER TABLE edgeauthz_tuples ADD CONSTRAINT edgeauthz_tuples_limits CHECK (octet_length(object) <= 256) NOT VALID`,
	} {
		if _, err := pool.Exec(ctx10(t), stmt); err != nil {
			t.Fatal(err)
		}
	}
	n, err := pgstore.DeleteTuples(ctx10(t), pool, []string{long + "#viewer@user:x"})
	if err != nil || n != 1 {
		t.Fatalf("deleting a row the engine cannot parse: %d, %v; want 1 deleted", n, err)
	}
}
