package pgstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/edgeauthz/edgeauthz/config"
)

// Scoped writers. A writer is a name, the SHA-256 of a random token and the
// parts it may publish: package names, "base", or "*" for every part. Only
// the function edgeauthz_publish writes revisions on a writer's behalf; it
// runs as the schema's owner (SECURITY DEFINER), checks the token and the
// scope in the same transaction as the insert, and records the writer as
// published_by. EXECUTE on it is revoked from PUBLIC: an administrator
// grants it, with SELECT on the revision tables for publish-time
// validation, to the PostgreSQL role the writers connect as, and grants
// that role nothing else. A writer that bypasses the CLI still cannot
// publish another team's package, and the token table is not readable.
var packagesMigration = []string{
	`ALTER TABLE edgeauthz_policy_revisions ALTER COLUMN published_by SET DEFAULT ('role:' || session_user)`,
	// Package revisions share the base's id sequence, so the newest id of
	// either table names the store's newest policy change.
	`CREATE TABLE edgeauthz_package_revisions (
		id           bigint PRIMARY KEY DEFAULT nextval(pg_get_serial_sequence('edgeauthz_policy_revisions', 'id')::regclass),
		package      text NOT NULL CHECK (package ~ '^[a-z0-9][a-z0-9_-]{0,62}$' AND package <> 'base'),
		document     text NOT NULL,
		published_by text NOT NULL DEFAULT ('role:' || session_user),
		created_at   timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE INDEX edgeauthz_package_revisions_latest ON edgeauthz_package_revisions (package, id DESC)`,
	`CREATE TABLE edgeauthz_writers (
		name         text PRIMARY KEY,
		token_sha256 bytea NOT NULL UNIQUE,
		scopes       text[] NOT NULL,
		created_at   timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE FUNCTION edgeauthz_publish(p_token text, p_package text, p_document text) RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
	DECLARE
		w   edgeauthz_writers%ROWTYPE;
		rev bigint;
		part text := coalesce(nullif(p_package, ''), 'base');
	BEGIN
		SELECT * INTO w FROM edgeauthz_writers WHERE token_sha256 = sha256(convert_to(p_token, 'UTF8'));
		IF NOT FOUND THEN
			RAISE EXCEPTION 'unknown credential' USING ERRCODE = '28000';
		END IF;
		IF NOT (part = ANY (w.scopes) OR '*' = ANY (w.scopes)) THEN
			RAISE EXCEPTION 'writer % may not publish %', w.name,
				CASE WHEN part = 'base' THEN 'the base' ELSE 'package ' || part END
				USING ERRCODE = '42501';
		END IF;
		PERFORM pg_advisory_xact_lock(` + strconv.FormatInt(lockKey, 10) + `);
		IF part = 'base' THEN
			INSERT INTO edgeauthz_policy_revisions (document, published_by) VALUES (p_document, w.name) RETURNING id INTO rev;
		ELSE
			INSERT INTO edgeauthz_package_revisions (package, document, published_by) VALUES (part, p_document, w.name) RETURNING id INTO rev;
		END IF;
		PERFORM pg_notify('` + Channel + `', 'policy ' || rev);
		RETURN rev;
	END
	$fn$`,
	`REVOKE ALL ON FUNCTION edgeauthz_publish(text, text, text) FROM PUBLIC`,
}

// Errors of PublishAs that callers branch on.
var (
	// ErrUnknownCredential: no writer has the token.
	ErrUnknownCredential = errors.New("unknown credential")
	// ErrForbidden: the writer may not publish that part.
	ErrForbidden = errors.New("forbidden")
)

// BasePart names the base among the parts a writer may publish.
const BasePart = "base"

// AddWriter registers a writer allowed to publish scopes (package names,
// "base", "*") and returns its token, which the store keeps only hashed.
// It needs the schema owner's privileges.
func AddWriter(ctx context.Context, db DB, name string, scopes []string) (token string, err error) {
	if name == "" || len(scopes) == 0 {
		return "", errors.New("add writer: a name and at least one scope")
	}
	for _, s := range scopes {
		if s != "*" && s != BasePart && !config.ValidPackageName(s) {
			return "", fmt.Errorf("add writer: scope %q is not a package name, %q or *", s, BasePart)
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token = "eaw_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO edgeauthz_writers (name, token_sha256, scopes) VALUES ($1, $2, $3)`, name, sum[:], scopes)
		return err
	}, "add writer")
	return token, err
}

// RemoveWriter deletes a writer; its token stops working at once.
func RemoveWriter(ctx context.Context, db DB, name string) error {
	return inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM edgeauthz_writers WHERE name = $1`, name)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("no writer %q", name)
		}
		return err
	}, "remove writer")
}

// PublishWithCredential stores document as the newest revision of one part (pkg "" is
// the base) on behalf of the writer whose token it is, and notifies the
// edges. The database refuses a token it does not know (ErrUnknownCredential)
// and a part outside the writer's scopes (ErrForbidden).
func PublishWithCredential(ctx context.Context, db DB, token, pkg string, document []byte) (revision int64, err error) {
	if !utf8.Valid(document) || strings.IndexByte(string(document), 0) >= 0 {
		return 0, errors.New("publish: the document is not UTF-8 text without NUL bytes")
	}
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT edgeauthz_publish($1, $2, $3)`, token, pkg, string(document)).Scan(&revision)
	}, "publish")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28000":
			return 0, fmt.Errorf("publish: %w", ErrUnknownCredential)
		case "42501":
			return 0, fmt.Errorf("publish: %w: %s", ErrForbidden, pgErr.Message)
		}
	}
	return revision, err
}

// PublishPackage stores a package revision with the connection's own
// privileges (an administrator's), recording its PostgreSQL role.
func PublishPackage(ctx context.Context, db DB, pkg string, document []byte) (revision int64, err error) {
	if !config.ValidPackageName(pkg) {
		return 0, fmt.Errorf("publish: %q is not a package name", pkg)
	}
	if !utf8.Valid(document) || strings.IndexByte(string(document), 0) >= 0 {
		return 0, errors.New("publish: the document is not UTF-8 text without NUL bytes")
	}
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO edgeauthz_package_revisions (package, document) VALUES ($1, $2) RETURNING id`, pkg, string(document)).Scan(&revision); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, "policy "+strconv.FormatInt(revision, 10))
		return err
	}, "publish")
	return revision, err
}

// Querier runs queries; a pgx.Tx, *pgx.Conn and *pgxpool.Pool are ones.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// LoadSet reads the newest base revision and the newest revision of every
// package. It returns a nil set when no package was ever published (a
// single-document policy), and the newest revision id of either.
func LoadSet(ctx context.Context, q Querier, baseID int64, baseDoc string) (*config.PolicySet, int64, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT ON (package) id, package, document, published_by
		FROM edgeauthz_package_revisions ORDER BY package, id DESC`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	set := &config.PolicySet{}
	newest := baseID
	for rows.Next() {
		var p config.SetPart
		var id int64
		if err := rows.Scan(&id, &p.Name, &p.Document, &p.PublishedBy); err != nil {
			return nil, 0, err
		}
		p.Revision = strconv.FormatInt(id, 10)
		p.File = fmt.Sprintf("package %s revision %d", p.Name, id)
		newest = max(newest, id)
		set.Packages = append(set.Packages, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(set.Packages) == 0 {
		return nil, baseID, nil
	}
	var by string
	if err := q.QueryRow(ctx, `SELECT published_by FROM edgeauthz_policy_revisions WHERE id = $1`, baseID).Scan(&by); err != nil {
		return nil, 0, err
	}
	set.Base = config.SetPart{Revision: strconv.FormatInt(baseID, 10), File: fmt.Sprintf("base revision %d", baseID), Document: baseDoc, PublishedBy: by}
	return set, newest, nil
}
