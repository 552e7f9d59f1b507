package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Channel is the LISTEN/NOTIFY channel writers notify. Writers NOTIFY in the
// same transaction as their change, so the notification is delivered
// exactly when the change becomes visible.
const Channel = "edgeauthz"

// Publish stores document as the newest policy revision and notifies the
// edges, in one transaction. The caller validates the document first; the
// store only refuses what PostgreSQL text cannot hold (NUL, invalid UTF-8).
// Run Migrate once before the first Publish or WriteTuples.
func Publish(ctx context.Context, db DB, document []byte) (revision int64, err error) {
	if !utf8.Valid(document) || strings.IndexByte(string(document), 0) >= 0 {
		return 0, errors.New("publish: the document is not UTF-8 text without NUL bytes")
	}
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO edgeauthz_policy_revisions (document) VALUES ($1) RETURNING id`, string(document)).Scan(&revision); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, "policy "+strconv.FormatInt(revision, 10))
		return err
	}, "publish")
	return revision, err
}

// WriteTuples adds tuples to the current state and appends a changelog row
// for each one that was not already there, in order, in one transaction that
// also notifies the edges. It returns the number of changelog rows appended.
// Malformed tuples refuse the whole call.
func WriteTuples(ctx context.Context, db DB, tuples []string) (changed int, err error) {
	return changeTuples(ctx, db, tuples, true)
}

// DeleteTuples removes tuples from the current state and appends a changelog
// row for each one that was there. See WriteTuples.
func DeleteTuples(ctx context.Context, db DB, tuples []string) (changed int, err error) {
	return changeTuples(ctx, db, tuples, false)
}

const writeTuplesSQL = `
WITH input AS (
	SELECT o, r, s, n FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(o, r, s, n)
), ins AS (
	INSERT INTO edgeauthz_tuples (object, relation, subject)
	SELECT o, r, s FROM input ORDER BY n
	ON CONFLICT DO NOTHING
	RETURNING object, relation, subject
)
INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject)
SELECT 'w', i.o, i.r, i.s FROM ins JOIN input i ON i.o = ins.object AND i.r = ins.relation AND i.s = ins.subject
ORDER BY i.n`

const deleteTuplesSQL = `
WITH input AS (
	SELECT o, r, s, n FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(o, r, s, n)
), del AS (
	DELETE FROM edgeauthz_tuples t USING input i
	WHERE t.object = i.o AND t.relation = i.r AND t.subject = i.s
	RETURNING t.object, t.relation, t.subject
)
INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject)
SELECT 'd', i.o, i.r, i.s FROM del JOIN input i ON i.o = del.object AND i.r = del.relation AND i.s = del.subject
ORDER BY i.n`

func changeTuples(ctx context.Context, db DB, tuples []string, write bool) (int, error) {
	op := "write tuples"
	if !write {
		op = "delete tuples"
	}
	var objs, rels, subs []string
	seen := make(map[string]struct{}, len(tuples))
	var bad []error
	for _, t := range tuples {
		o, r, s, err := ParseTuple(t)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = struct{}{}
		objs, rels, subs = append(objs, o), append(rels, r), append(subs, s)
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("%s: %w", op, errors.Join(bad...))
	}
	if len(objs) == 0 {
		return 0, nil
	}
	query := writeTuplesSQL
	if !write {
		query = deleteTuplesSQL
	}
	var changed int64
	err := inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, query, objs, rels, subs)
		if err != nil {
			return err
		}
		if changed = tag.RowsAffected(); changed == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, 'tuples')`, Channel)
		return err
	}, op)
	return int(changed), err
}

// ParseTuple splits "object#relation@subject" and checks its syntax
// minimally: object is type:id, relation a name, subject type:id,
// type:id#relation or type:*. Whether the types and relations exist in the
// model is checked at the edge when the snapshot compiles.
func ParseTuple(t string) (object, relation, subject string, err error) {
	bad := func(why string) (string, string, string, error) {
		return "", "", "", fmt.Errorf("tuple %q: %s (want object#relation@subject, e.g. document:1#viewer@user:anne)", t, why)
	}
	if len(t) > 1024 {
		return bad("longer than 1024 bytes")
	}
	if !utf8.ValidString(t) {
		return bad("not UTF-8")
	}
	for _, c := range t {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return bad("contains white space or control characters")
		}
	}
	h := strings.IndexByte(t, '#')
	if h < 0 {
		return bad("no #relation")
	}
	object = t[:h]
	rest := t[h+1:]
	a := strings.IndexByte(rest, '@')
	if a < 0 {
		return bad("no @subject")
	}
	relation, subject = rest[:a], rest[a+1:]
	if strings.IndexByte(object, '@') >= 0 {
		return bad("object contains @")
	}
	if typ, id, ok := strings.Cut(object, ":"); !ok || !isName(typ) || !isID(id) || id == "*" {
		return bad("object is not type:id")
	}
	if !isName(relation) {
		return bad("relation is not a name")
	}
	subj, subjRel, isSet := strings.Cut(subject, "#")
	typ, id, ok := strings.Cut(subj, ":")
	if !ok || !isName(typ) || !isID(id) {
		return bad("subject is not type:id, type:id#relation or type:*")
	}
	if isSet && (!isName(subjRel) || id == "*") {
		return bad("subject userset is not type:id#relation")
	}
	return object, relation, subject, nil
}

// isName: an OpenFGA type or relation name.
func isName(s string) bool {
	if s == "" || len(s) > 254 {
		return false
	}
	return !strings.ContainsAny(s, ":#@*")
}

func isID(s string) bool {
	return s != "" && len(s) <= 512 && !strings.ContainsRune(s, '#')
}
