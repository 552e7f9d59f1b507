package sync_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/metrictest"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// TestChangelogSeqOutOfOrder: a changelog row written by SQL behind the
// CLI's back with a seq of its own choosing never hides the changes after
// it. The store assigns seq from its sequence whatever the writer says and
// refuses to change it; and a row that got beyond the sequence anyway (the
// trigger disabled, or before the migration) is detected by the edge,
// counted and logged, and the edge reloads the tuples in full, so a later
// revocation still lands.
func TestChangelogSeqOutOfOrder(t *testing.T) {
	ctx := context.Background()
	const high = "9000000000000000000"
	insert := `INSERT INTO edgeauthz_tuple_changelog (seq, op, object, relation, subject) VALUES (` + high + `, 'w', $1, 'viewer', 'user:mal')`
	cases := []struct {
		name string
		// write inserts a changelog row (and its tuple) for object with
		// the high seq.
		write     func(t *testing.T, tx pgx.Tx, object string)
		reordered bool // the row ends up beyond the sequence
	}{
		{"seq chosen by the writer", func(t *testing.T, tx pgx.Tx, object string) {
			mustExec(t, tx, insert, object)
		}, false},
		{"trigger disabled", func(t *testing.T, tx pgx.Tx, object string) {
			mustExec(t, tx, `ALTER TABLE edgeauthz_tuple_changelog DISABLE TRIGGER edgeauthz_tuple_changelog_seq`)
			mustExec(t, tx, insert, object)
			mustExec(t, tx, `ALTER TABLE edgeauthz_tuple_changelog ENABLE TRIGGER edgeauthz_tuple_changelog_seq`)
		}, true},
		{"replica role", func(t *testing.T, tx pgx.Tx, object string) {
			mustExec(t, tx, `SET LOCAL session_replication_role = replica`)
			mustExec(t, tx, insert, object)
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dsn := pgtest.Database(t)
			pool := pgPool(t, dsn)
			if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
				t.Fatal(err)
			}
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
				t.Fatal(err)
			}
			edge := startPGLoader(t, dsn, policysync.LoaderOptions{})
			waitFor(t, func() bool { return asUser(edge.engine, "ann", "/docs/d1") == decision.ReasonAllowed })

			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, tx, `INSERT INTO edgeauthz_tuples (object, relation, subject) VALUES ('document:d7', 'viewer', 'user:mal')`)
			c.write(t, tx, "document:d7")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			var maxSeq string
			if err := pool.QueryRow(ctx, `SELECT max(seq)::text FROM edgeauthz_tuple_changelog`).Scan(&maxSeq); err != nil {
				t.Fatal(err)
			}
			if (maxSeq == high) != c.reordered {
				t.Fatalf("highest seq %s after the insert", maxSeq)
			}
			if _, err := pool.Exec(ctx, `UPDATE edgeauthz_tuple_changelog SET seq = seq + 1000 WHERE object = 'document:d1'`); err == nil {
				t.Error("a changelog row's seq was changed")
			}
			waitFor(t, func() bool { return asUser(edge.engine, "mal", "/docs/d7") == decision.ReasonAllowed })

			// The revocation, and a grant, written by the CLI after the row.
			if _, err := pgstore.DeleteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
				t.Fatal(err)
			}
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:bob"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool {
				return asUser(edge.engine, "ann", "/docs/d1") == decision.ReasonRelationDenied &&
					asUser(edge.engine, "bob", "/docs/d1") == decision.ReasonAllowed
			})
			n := metrictest.Counter(t, edge.reg, "edgeauthz_sync_errors_total")
			logged := strings.Contains(edge.logs.String(), "out of sequence order")
			if c.reordered && (n == 0 || !logged) {
				t.Errorf("a row beyond the sequence went unnoticed: %v errors counted, logged %v", n, logged)
			}
			if !c.reordered && logged {
				t.Errorf("an ordered changelog was reported out of order: %s", edge.logs.String())
			}
		})
	}
}

func mustExec(t *testing.T, tx pgx.Tx, sql string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// TestSkippedRowLogBounded: a changelog row the edge cannot apply is logged
// with its tuple text, and the reason quoting it, cut short at a UTF-8
// boundary, however long the row (deletions are exempt from the store's
// length limits, so they can be any size).
func TestSkippedRowLogBounded(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	// The edge syncs only when the test says so: one woken between the
	// rows would find the store moved on and reload it in full, which
	// counts no changelog rows.
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	logs, reg := &logBuffer{}, prometheus.NewRegistry()
	l := policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: decision.NewEngine(0), Compile: compile, Logger: slogJSON(logs), Registerer: reg})
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{strings.Repeat("x", 100_000), "a" + strings.Repeat("é", 50_000), strings.Repeat("€", 40_000)} {
		if _, err := pool.Exec(ctx, `INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject) VALUES ('d', $1, 'viewer', 'user:ann')`, "document:"+id); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := metrictest.Counter(t, reg, "edgeauthz_sync_skipped_tuples_total"); n != 3 {
		t.Fatalf("%v rows counted as skipped, want 3", n)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	n := 0
	for _, line := range lines {
		if !strings.Contains(line, "skipped") {
			continue
		}
		n++
		if len(line) > 2000 || !utf8.ValidString(line) || !strings.Contains(line, "…") {
			t.Errorf("log line of %d bytes (valid UTF-8: %v): %.200s", len(line), utf8.ValidString(line), line)
		}
	}
	if n == 0 {
		t.Fatalf("no log line about the skipped rows: %s", logs.String())
	}
}
