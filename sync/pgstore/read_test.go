package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

func TestPositionRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want pgstore.Position
		ok   bool
	}{
		{"7.42", pgstore.Position{Policy: 7, Seq: 42}, true},
		{"1.0", pgstore.Position{Policy: 1}, true},
		{"", pgstore.Position{}, false},
		{"7", pgstore.Position{}, false},
		{"7.x", pgstore.Position{}, false},
		{"sha256:ab.1", pgstore.Position{}, false},
		{"7.4.2", pgstore.Position{}, false},
	}
	for _, c := range cases {
		got, ok := pgstore.ParsePosition(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParsePosition(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok && got.String() != c.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

func TestReadState(t *testing.T) {
	t.Parallel()
	ctx := ctx10(t)
	if _, err := pgstore.ReadState(ctx, emptyDB(t), pgstore.Position{}); !errors.Is(err, pgstore.ErrNoPolicy) {
		t.Fatalf("ReadState without a schema = %v, want ErrNoPolicy", err)
	}
	pool := migratedDB(t)
	if _, err := pgstore.ReadState(ctx, pool, pgstore.Position{}); !errors.Is(err, pgstore.ErrNoPolicy) {
		t.Fatalf("ReadState before a publish = %v, want ErrNoPolicy", err)
	}
	rev, err := pgstore.Publish(ctx, pool, []byte("routes: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	tuples := []string{"document:1#viewer@user:a", `document:2#viewer@user:b with in_office {"tz":"UTC"}`}
	if _, err := pgstore.WriteTuples(ctx, pool, tuples); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.ReadState(ctx, pool, pgstore.Position{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Position != (pgstore.Position{Policy: rev, Seq: 2}) || st.BaseID != rev || string(st.Document) != "routes: []\n" {
		t.Fatalf("ReadState = %+v", st)
	}
	// The context comes back as PostgreSQL prints jsonb; rebac.ParseTuple
	// reads either form.
	wantTuples := []string{"document:1#viewer@user:a", `document:2#viewer@user:b with in_office {"tz": "UTC"}`}
	if got := slices.Sorted(slices.Values(st.Tuples)); !slices.Equal(got, wantTuples) {
		t.Fatalf("tuples = %q, want %q", got, wantTuples)
	}
	if _, err := pgstore.ReadState(ctx, pool, st.Position); !errors.Is(err, pgstore.ErrNotModified) {
		t.Fatalf("ReadState at the current position = %v, want ErrNotModified", err)
	}
	// A package makes the document a policy set and moves the position.
	pkg, err := pgstore.PublishPackage(ctx, pool, "billing", []byte("package: billing\n"))
	if err != nil {
		t.Fatal(err)
	}
	st2, err := pgstore.ReadState(ctx, pool, st.Position)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Position != (pgstore.Position{Policy: pkg, Seq: 2}) || st2.BaseID != rev || !config.IsPolicySet(st2.Document) {
		t.Fatalf("ReadState after a package = %+v", st2.Position)
	}
	set, err := config.DecodePolicySet(st2.Document)
	if err != nil || len(set.Packages) != 1 || set.Packages[0].Name != "billing" || set.Base.Document != "routes: []\n" {
		t.Fatalf("the set = %+v, %v", set, err)
	}
}

func TestChanges(t *testing.T) {
	t.Parallel()
	ctx := ctx10(t)
	pool := migratedDB(t)
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:1#viewer@user:a", `document:2#viewer@user:b with c {"x":1}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.DeleteTuples(ctx, pool, []string{`document:2#viewer@user:b`}); err != nil {
		t.Fatal(err)
	}
	all, err := pgstore.Changes(ctx, pool, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []pgstore.Change{
		{Seq: 1, Write: true, Tuple: "document:1#viewer@user:a"},
		{Seq: 2, Write: true, Tuple: `document:2#viewer@user:b with c {"x": 1}`},
		{Seq: 3, Write: false, Tuple: "document:2#viewer@user:b"},
	}
	if !slices.Equal(all, want) {
		t.Fatalf("Changes(0) = %+v\nwant %+v", all, want)
	}
	if got, err := pgstore.Changes(ctx, pool, 1, 1); err != nil || !slices.Equal(got, want[1:2]) {
		t.Fatalf("Changes(1, limit 1) = %+v, %v", got, err)
	}
	if got, err := pgstore.Changes(ctx, pool, 3, 100); err != nil || len(got) != 0 {
		t.Fatalf("Changes at the end = %+v, %v", got, err)
	}
	if _, err := pgstore.Changes(ctx, pool, 99, 100); !errors.Is(err, pgstore.ErrChangelogOrder) {
		t.Fatalf("Changes past the sequence = %v, want ErrChangelogOrder", err)
	}
	if _, err := pgstore.PruneChangelog(ctx, pool, time.Nanosecond, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Changes(ctx, pool, 1, 100); !errors.Is(err, pgstore.ErrChangelogPruned) {
		t.Fatalf("Changes behind the checkpoint = %v, want ErrChangelogPruned", err)
	}
}

func TestPolicyRevisionAndNewestCompiling(t *testing.T) {
	t.Parallel()
	ctx := ctx10(t)
	pool := migratedDB(t)
	if _, _, err := pgstore.PolicyRevision(ctx, pool, 0); !errors.Is(err, pgstore.ErrNoPolicy) {
		t.Fatalf("PolicyRevision before a publish = %v, want ErrNoPolicy", err)
	}
	refuse := func(_ int64, doc []byte) error {
		if strings.HasPrefix(string(doc), "bad") {
			return errors.New("refused: " + string(doc))
		}
		return nil
	}
	if _, _, err := pgstore.NewestCompiling(ctx, pool, 5, refuse); !errors.Is(err, pgstore.ErrNoPolicy) {
		t.Fatalf("NewestCompiling before a publish = %v, want ErrNoPolicy", err)
	}
	var ids []int64
	for _, doc := range []string{"good 1", "good 2", "bad 3", "bad 4"} {
		id, err := pgstore.Publish(ctx, pool, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if id, doc, err := pgstore.PolicyRevision(ctx, pool, 0); err != nil || id != ids[3] || string(doc) != "bad 4" {
		t.Fatalf("PolicyRevision(0) = %d, %q, %v", id, doc, err)
	}
	if id, doc, err := pgstore.PolicyRevision(ctx, pool, ids[1]); err != nil || id != ids[0] || string(doc) != "good 1" {
		t.Fatalf("PolicyRevision(before %d) = %d, %q, %v", ids[1], id, doc, err)
	}
	if _, _, err := pgstore.PolicyRevision(ctx, pool, ids[0]); !errors.Is(err, pgstore.ErrNoPolicy) {
		t.Fatalf("PolicyRevision before the first = %v, want ErrNoPolicy", err)
	}
	if id, doc, err := pgstore.NewestCompiling(ctx, pool, 5, refuse); err != nil || id != ids[1] || string(doc) != "good 2" {
		t.Fatalf("NewestCompiling = %d, %q, %v; want revision %d", id, doc, err, ids[1])
	}
	// Two refused revisions are as far as a lookback of 2 reaches; the
	// error is the newest one's.
	if _, _, err := pgstore.NewestCompiling(ctx, pool, 2, refuse); err == nil || !strings.Contains(err.Error(), "refused: bad 4") {
		t.Fatalf("NewestCompiling(lookback 2) = %v, want the newest refusal", err)
	}
}

// A write-and-delete batch is stored whole or not at all.
func TestChangeTuplesIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := ctx10(t)
	pool := migratedDB(t)
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:old#viewer@user:a"}); err != nil {
		t.Fatal(err)
	}
	w, d, err := pgstore.ChangeTuplesAs(ctx, pool, "ops", []string{"document:new#viewer@user:a", "document:both#viewer@user:a"},
		[]string{"document:old#viewer@user:a", "document:both#viewer@user:a", "document:absent#viewer@user:a"})
	if err != nil || w != 2 || d != 2 {
		t.Fatalf("ChangeTuplesAs = %d written, %d deleted, %v; want 2, 2", w, d, err)
	}
	if got := storeTuples(t, pool); !slices.Equal(got, []string{"document:new#viewer@user:a"}) {
		t.Fatalf("tuples after the batch = %q (writes apply before deletes)", got)
	}
	// A malformed tuple on either side refuses the whole batch.
	if _, _, err := pgstore.ChangeTuplesAs(ctx, pool, "ops", []string{"document:x#viewer@user:a"}, []string{"nonsense"}); err == nil {
		t.Fatal("a batch with a malformed delete was accepted")
	}
	// A failure inside the transaction, after the writes ran, stores
	// nothing of the batch.
	failing := failDeletes{pool}
	if _, _, err := pgstore.ChangeTuplesAs(ctx, failing, "ops", []string{"document:y#viewer@user:a"}, []string{"document:new#viewer@user:a"}); err == nil {
		t.Fatal("the injected failure was not reported")
	}
	if got := storeTuples(t, pool); !slices.Equal(got, []string{"document:new#viewer@user:a"}) {
		t.Fatalf("tuples after a failed batch = %q: part of it was stored", got)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM edgeauthz_tuple_changelog WHERE object = 'document:y'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("changelog rows of a failed batch: %d, %v", rows, err)
	}
}

func storeTuples(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	st, err := pgstore.ReadState(ctx10(t), pool, pgstore.Position{})
	if errors.Is(err, pgstore.ErrNoPolicy) {
		if _, err := pgstore.Publish(ctx10(t), pool, []byte("routes: []")); err != nil {
			t.Fatal(err)
		}
		st, err = pgstore.ReadState(ctx10(t), pool, pgstore.Position{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(slices.Values(st.Tuples))
}

// failDeletes is the real database whose transactions fail the delete
// statement, the last step of a batch.
type failDeletes struct{ *pgxpool.Pool }

func (f failDeletes) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := f.Pool.BeginTx(ctx, opts)
	return failDeleteTx{tx}, err
}

type failDeleteTx struct{ pgx.Tx }

func (tx failDeleteTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if strings.Contains(sql, "DELETE FROM edgeauthz_tuples") {
		return pgconn.CommandTag{}, errors.New("injected failure")
	}
	return tx.Tx.Exec(ctx, sql, args...)
}

func TestListen(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pgstore.Listen(ctx, pool.Config().ConnConfig, pgstore.ListenOptions{}, func() { signals <- struct{}{} })
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-signals:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal %s", what)
		}
	}
	wait("after connecting") // what happened while not listening
	if _, err := pgstore.WriteTuples(ctx10(t), pool, []string{"document:1#viewer@user:a"}); err != nil {
		t.Fatal(err)
	}
	wait("after a write")
}
