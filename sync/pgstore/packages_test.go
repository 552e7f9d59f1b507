package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// A writer scoped to one package is refused for another and for the base,
// by the database itself: its PostgreSQL role can run edgeauthz_publish and
// read revisions, and nothing else.
func TestScopedWriters(t *testing.T) {
	ctx := ctx10(t)
	admin := migratedDB(t)
	if _, err := pgstore.Publish(ctx, admin, []byte("roles: {}\n")); err != nil {
		t.Fatal(err)
	}
	payments, err := pgstore.AddWriter(ctx, admin, "payments-ci", []string{"payments"})
	if err != nil {
		t.Fatal(err)
	}
	platform, err := pgstore.AddWriter(ctx, admin, "platform-ci", []string{"base", "*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.AddWriter(ctx, admin, "bad", []string{"Not A Package"}); err == nil {
		t.Fatal("a scope that is no package name was taken")
	}

	var db string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := "writer_" + db
	for _, stmt := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT EXECUTE ON FUNCTION edgeauthz_publish(text, text, text) TO ` + role,
		`GRANT SELECT ON edgeauthz_policy_revisions, edgeauthz_package_revisions, edgeauthz_schema_migrations TO ` + role,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), `REASSIGN OWNED BY `+role+` TO current_user`)
		_, _ = admin.Exec(context.Background(), `DROP OWNED BY `+role)
		_, _ = admin.Exec(context.Background(), `DROP ROLE `+role)
	})
	cfg := admin.Config().Copy()
	cfg.ConnConfig.User = role
	writer, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(writer.Close)
	if err := pgstore.Migrate(ctx, writer); err != nil {
		t.Fatalf("a writer role cannot open a current store: %v", err)
	}

	doc := []byte("package: payments\nowns: {paths: [/payments]}\n")
	rev, err := pgstore.PublishWithCredential(ctx, writer, payments, "payments", doc)
	if err != nil {
		t.Fatalf("payments-ci publishing payments: %v", err)
	}
	tests := []struct {
		name, token, pkg string
		want             error
	}{
		{"another package", payments, "documents", pgstore.ErrForbidden},
		{"the base", payments, "", pgstore.ErrForbidden},
		{"an unknown token", "eaw_nope", "payments", pgstore.ErrUnknownCredential},
		{"a token's prefix", payments[:len(payments)-1], "payments", pgstore.ErrUnknownCredential},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pgstore.PublishWithCredential(ctx, writer, tc.token, tc.pkg, doc)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := pgstore.PublishWithCredential(ctx, writer, platform, "", []byte("roles: {a: {}}\n")); err != nil {
		t.Fatalf("platform-ci publishing the base: %v", err)
	}
	if _, err := pgstore.PublishWithCredential(ctx, writer, platform, "documents", []byte("package: documents\nowns: {paths: [/documents]}\n")); err != nil {
		t.Fatalf("a * writer publishing a package: %v", err)
	}

	// Around the function the writer's role can change nothing.
	for _, stmt := range []string{
		`INSERT INTO edgeauthz_package_revisions (package, document) VALUES ('documents', 'x')`,
		`INSERT INTO edgeauthz_policy_revisions (document) VALUES ('x')`,
		`UPDATE edgeauthz_writers SET scopes = '{*}'`,
		`SELECT count(*) FROM edgeauthz_writers`,
	} {
		if _, err := writer.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: err = %v, want permission denied", stmt, err)
		}
	}

	// Who published each revision is recorded.
	var by string
	if err := admin.QueryRow(ctx, `SELECT published_by FROM edgeauthz_package_revisions WHERE id = $1`, rev).Scan(&by); err != nil || by != "payments-ci" {
		t.Fatalf("published_by = %q, %v; want payments-ci", by, err)
	}
	var baseID int64
	var baseDoc string
	if err := admin.QueryRow(ctx, `SELECT id, document, published_by FROM edgeauthz_policy_revisions ORDER BY id DESC LIMIT 1`).Scan(&baseID, &baseDoc, &by); err != nil || by != "platform-ci" {
		t.Fatalf("base published_by = %q, %v", by, err)
	}
	if err := admin.QueryRow(ctx, `SELECT published_by FROM edgeauthz_policy_revisions ORDER BY id LIMIT 1`).Scan(&by); err != nil || !strings.HasPrefix(by, "role:") {
		t.Fatalf("an administrator's publish: published_by = %q, %v; want role:…", by, err)
	}
	set, newest, err := pgstore.LoadSet(ctx, writer, baseID, baseDoc)
	if err != nil {
		t.Fatal(err)
	}
	if set == nil || len(set.Packages) != 2 || set.Packages[1].Name != "payments" || set.Packages[1].PublishedBy != "payments-ci" || newest <= baseID || set.Base.PublishedBy != "platform-ci" {
		t.Fatalf("LoadSet = %+v, newest %d", set, newest)
	}

	if err := pgstore.RemoveWriter(ctx, admin, "payments-ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.PublishWithCredential(ctx, writer, payments, "payments", doc); !errors.Is(err, pgstore.ErrUnknownCredential) {
		t.Fatalf("a removed writer: %v", err)
	}
}
