package pgstore_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ctx10(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// emptyDB gives a test its own empty database.
func emptyDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func appliedVersions(t testing.TB, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(ctx10(t), `SELECT version FROM edgeauthz_schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func allVersions() []int { return pgstore.Versions() }

func legacyVersion(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var v int
	if err := pool.QueryRow(ctx10(t), `SELECT version FROM edgeauthz_schema`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	pool := emptyDB(t)
	if v, err := pgstore.Version(ctx10(t), pool); err != nil || v != 0 {
		t.Fatalf("Version of an empty database = %d, %v; want 0", v, err)
	}
	for range 2 { // the second run finds nothing to do
		if err := pgstore.Migrate(ctx10(t), pool); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := pgstore.Version(ctx10(t), pool); err != nil || v != pgstore.SchemaVersion() {
		t.Fatalf("Version = %d, %v; want %d", v, err, pgstore.SchemaVersion())
	}
	if got := appliedVersions(t, pool); !slices.Equal(got, allVersions()) {
		t.Fatalf("applied migrations %v, want %v", got, allVersions())
	}
	if v := legacyVersion(t, pool); v != pgstore.SchemaVersion() {
		t.Fatalf("edgeauthz_schema.version = %d, want %d (binaries from before migrations read it)", v, pgstore.SchemaVersion())
	}
	if _, err := pgstore.Publish(ctx10(t), pool, []byte("routes: []")); err != nil {
		t.Fatal(err)
	}
	if n, err := pgstore.WriteTuples(ctx10(t), pool, []string{"document:1#viewer@user:a"}); err != nil || n != 1 {
		t.Fatalf("WriteTuples = %d, %v", n, err)
	}
}

// A database written by edgeauthz before migrations were versioned is
// recognised as version 1 and upgraded in place, keeping its data.
func TestMigrateVersion1Database(t *testing.T) {
	t.Parallel()
	pool := emptyDB(t)
	ddl, err := os.ReadFile("testdata/schema_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx10(t), string(ddl)); err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(ctx10(t), pool); err != nil {
		t.Fatalf("migrating a version-1 database: %v", err)
	}
	if got := appliedVersions(t, pool); !slices.Equal(got, allVersions()) {
		t.Fatalf("applied migrations %v, want %v", got, allVersions())
	}
	var revisions, tuples, changes int
	var seq int64
	err = pool.QueryRow(ctx10(t), `SELECT (SELECT count(*) FROM edgeauthz_policy_revisions),
		(SELECT count(*) FROM edgeauthz_tuples), (SELECT count(*) FROM edgeauthz_tuple_changelog),
		(SELECT max(seq) FROM edgeauthz_tuple_changelog)`).Scan(&revisions, &tuples, &changes, &seq)
	if err != nil {
		t.Fatal(err)
	}
	if revisions != 1 || tuples != 2 || changes != 4 || seq != 4 {
		t.Fatalf("after migration: %d revisions, %d tuples, %d changes up to seq %d; want 1, 2, 4, 4", revisions, tuples, changes, seq)
	}
	// What the old code wrote reads back through the readers edges use.
	st, err := pgstore.ReadState(ctx10(t), pool, pgstore.Position{})
	if err != nil {
		t.Fatalf("reading a migrated version-1 database: %v", err)
	}
	wantTuples := []string{"document:d1#viewer@team:eng#member", "document:d1#viewer@user:ann"}
	if got := slices.Sorted(slices.Values(st.Tuples)); st.Position != (pgstore.Position{Policy: 1, Seq: 4}) ||
		string(st.Document) != "routes: []" || !slices.Equal(got, wantTuples) {
		t.Fatalf("ReadState after migration = %+v (tuples %q); want position 1.4, the v1 document and %q", st.Position, got, wantTuples)
	}
	rows, err := pgstore.Changes(ctx10(t), pool, 0, 100)
	if err != nil || len(rows) != 4 || rows[2] != (pgstore.Change{Seq: 3, Write: false, Tuple: "document:d1#viewer@user:bob"}) {
		t.Fatalf("Changes after migration = %+v, %v", rows, err)
	}
	// The sequences continue where the old code left them.
	rev, err := pgstore.Publish(ctx10(t), pool, []byte("routes: []"))
	if err != nil || rev != 2 {
		t.Fatalf("Publish after migration = revision %d, %v; want 2", rev, err)
	}
	if _, err := pgstore.DeleteTuples(ctx10(t), pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx10(t), `SELECT max(seq) FROM edgeauthz_tuple_changelog`).Scan(&seq); err != nil || seq != 5 {
		t.Fatalf("changelog seq after migration = %d, %v; want 5", seq, err)
	}
}

func TestMigrateConcurrentFirstStarts(t *testing.T) {
	t.Parallel()
	pool := emptyDB(t)
	var wg gosync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- pgstore.Migrate(ctx10(t), pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if got := appliedVersions(t, pool); !slices.Equal(got, allVersions()) {
		t.Fatalf("applied migrations %v, want %v", got, allVersions())
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup string
	}{
		{"newer migration", `INSERT INTO edgeauthz_schema_migrations (version, name) VALUES (9999, 'from the future')`},
		{"newer unversioned schema", `DELETE FROM edgeauthz_schema_migrations; UPDATE edgeauthz_schema SET version = 2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := emptyDB(t)
			if err := pgstore.Migrate(ctx10(t), pool); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx10(t), tc.setup); err != nil {
				t.Fatal(err)
			}
			if err := pgstore.Migrate(ctx10(t), pool); !errors.Is(err, pgstore.ErrSchemaTooNew) {
				t.Fatalf("Migrate = %v, want ErrSchemaTooNew", err)
			}
		})
	}
}

func TestWriteWithoutSchema(t *testing.T) {
	t.Parallel()
	pool := emptyDB(t)
	if _, err := pgstore.Publish(ctx10(t), pool, []byte("p")); err == nil || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("Publish without the schema: %v", err)
	}
	if _, err := pgstore.WriteTuples(ctx10(t), pool, []string{"document:1#viewer@user:a"}); err == nil || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("WriteTuples without the schema: %v", err)
	}
}
