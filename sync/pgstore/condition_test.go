package pgstore_test

import (
	"testing"

	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// Conditional tuples keep their condition and context; a write that changes
// them replaces the tuple and is logged, one that changes nothing is not.
func TestWriteConditionalTuples(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	const key = "document:1#viewer@user:anne"
	row := func() (name string, ctx *string) {
		t.Helper()
		err := pool.QueryRow(ctx10(t), `SELECT condition_name, condition_context::text FROM edgeauthz_tuples
			WHERE object = 'document:1' AND relation = 'viewer' AND subject = 'user:anne'`).Scan(&name, &ctx)
		if err != nil {
			t.Fatal(err)
		}
		return name, ctx
	}
	steps := []struct {
		tuples  []string
		changed int
		name    string
		ctx     string // "" for NULL
	}{
		{[]string{key + ` with in_range {"lo": 1, "hi": 2}`}, 1, "in_range", `{"hi": 2, "lo": 1}`},
		{[]string{key + ` with in_range {"hi":2,"lo":1}`}, 0, "in_range", `{"hi": 2, "lo": 1}`},
		{[]string{key + ` with in_range {"lo": 1, "hi": 3}`}, 1, "in_range", `{"hi": 3, "lo": 1}`},
		{[]string{key + ` with other`}, 1, "other", ""},
		{[]string{key}, 1, "", ""},
		{[]string{key}, 0, "", ""},
		// The last write of a key in one call wins.
		{[]string{key + ` with a {"x": 1}`, key + ` with b`}, 1, "b", ""},
	}
	for i, s := range steps {
		n, err := pgstore.WriteTuples(ctx10(t), pool, s.tuples)
		if err != nil || n != s.changed {
			t.Fatalf("step %d: WriteTuples = %d, %v; want %d", i, n, err, s.changed)
		}
		name, ctx := row()
		got := ""
		if ctx != nil {
			got = *ctx
		}
		if name != s.name || got != s.ctx {
			t.Fatalf("step %d: row has %q %q, want %q %q", i, name, got, s.name, s.ctx)
		}
	}
	var logged int
	if err := pool.QueryRow(ctx10(t), `SELECT count(*) FROM edgeauthz_tuple_changelog WHERE condition_name = 'in_range' AND condition_context->>'hi' = '3'`).Scan(&logged); err != nil || logged != 1 {
		t.Fatalf("changelog rows with the replaced context: %d, %v", logged, err)
	}
	// A delete names the key, whatever the condition.
	if n, err := pgstore.DeleteTuples(ctx10(t), pool, []string{key}); err != nil || n != 1 {
		t.Fatalf("DeleteTuples = %d, %v", n, err)
	}
	// The store refuses what the engine's parser would.
	for _, bad := range []string{key + " with", key + " with 9x", key + ` with c [1]`, key + ` with c {"a":`} {
		if _, err := pgstore.WriteTuples(ctx10(t), pool, []string{bad}); err == nil {
			t.Errorf("WriteTuples(%q) accepted", bad)
		}
	}
	// And so do its constraints, for rows written around edgeauthz.
	for _, stmt := range []string{
		`INSERT INTO edgeauthz_tuples (object, relation, subject, condition_name, condition_context) VALUES ('document:2', 'viewer', 'user:x', '', '{"a": 1}')`,
		`INSERT INTO edgeauthz_tuples (object, relation, subject, condition_name, condition_context) VALUES ('document:2', 'viewer', 'user:x', 'c', '[1]')`,
		`INSERT INTO edgeauthz_tuples (object, relation, subject, condition_name) VALUES ('document:2', 'viewer', 'user:x', 'bad name')`,
	} {
		if _, err := pool.Exec(ctx10(t), stmt); err == nil {
			t.Errorf("%s: accepted", stmt)
		}
	}
}
