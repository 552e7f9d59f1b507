package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
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
	return PublishAs(ctx, db, "", document)
}

// PublishAs is Publish recording who published the revision (the audit
// trail the relay's write API keeps).
func PublishAs(ctx context.Context, db DB, writer string, document []byte) (revision int64, err error) {
	if !utf8.Valid(document) || strings.IndexByte(string(document), 0) >= 0 {
		return 0, errors.New("publish: the document is not UTF-8 text without NUL bytes")
	}
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO edgeauthz_policy_revisions (document, published_by) VALUES ($1, COALESCE(NULLIF($2, ''), 'role:' || session_user)) RETURNING id`, string(document), writer).Scan(&revision); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, "policy "+strconv.FormatInt(revision, 10))
		return err
	}, "publish")
	return revision, err
}

// WriteTuples adds tuples to the current state and appends a changelog row
// for each one that was not already there (or was there with another
// condition or context, which the write replaces), in order, in one
// transaction that also notifies the edges. It returns the number of changelog rows appended.
// Tuples are parsed by the relationship engine's parser (rebac.ParseTuple)
// with its limits; a malformed one refuses the whole call.
func WriteTuples(ctx context.Context, db DB, tuples []string) (changed int, err error) {
	return changeTuples(ctx, db, tuples, true, "")
}

// WriteTuplesAs is WriteTuples recording writer on each changelog row.
func WriteTuplesAs(ctx context.Context, db DB, writer string, tuples []string) (changed int, err error) {
	return changeTuples(ctx, db, tuples, true, writer)
}

// DeleteTuplesAs is DeleteTuples recording writer on each changelog row.
func DeleteTuplesAs(ctx context.Context, db DB, writer string, tuples []string) (changed int, err error) {
	return changeTuples(ctx, db, tuples, false, writer)
}

// DeleteTuples removes tuples from the current state and appends a changelog
// row for each one that was there. See WriteTuples.
func DeleteTuples(ctx context.Context, db DB, tuples []string) (changed int, err error) {
	return changeTuples(ctx, db, tuples, false, "")
}

// A write of a tuple that is there with another condition or context
// replaces it (a tuple's key is object, relation and subject) and is logged;
// one that is there unchanged is not.
const writeTuplesSQL = `
WITH input AS (
	SELECT o, r, s, c, nullif(x, '')::jsonb AS x, n
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(o, r, s, c, x, n)
), ins AS (
	INSERT INTO edgeauthz_tuples AS t (object, relation, subject, condition_name, condition_context)
	SELECT o, r, s, c, x FROM input ORDER BY n
	ON CONFLICT (object, relation, subject) DO UPDATE
		SET condition_name = EXCLUDED.condition_name, condition_context = EXCLUDED.condition_context
		WHERE (t.condition_name, t.condition_context) IS DISTINCT FROM (EXCLUDED.condition_name, EXCLUDED.condition_context)
	RETURNING object, relation, subject
)
INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject, condition_name, condition_context, written_by)
SELECT 'w', i.o, i.r, i.s, i.c, i.x, $6 FROM ins JOIN input i ON i.o = ins.object AND i.r = ins.relation AND i.s = ins.subject
ORDER BY i.n`

// Deletes name a tuple by its key; its condition does not matter.
const deleteTuplesSQL = `
WITH input AS (
	SELECT o, r, s, n FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(o, r, s, n)
), del AS (
	DELETE FROM edgeauthz_tuples t USING input i
	WHERE t.object = i.o AND t.relation = i.r AND t.subject = i.s
	RETURNING t.object, t.relation, t.subject
)
INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject, written_by)
SELECT 'd', i.o, i.r, i.s, $4 FROM del JOIN input i ON i.o = del.object AND i.r = del.relation AND i.s = del.subject
ORDER BY i.n`

func changeTuples(ctx context.Context, db DB, tuples []string, write bool, writer string) (int, error) {
	op := "write tuples"
	if !write {
		op = "delete tuples"
	}
	c, err := tupleColumns(tuples, write)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if len(c.objs) == 0 {
		return 0, nil
	}
	query, args := writeTuplesSQL, []any{c.objs, c.rels, c.subs, c.conds, c.ctxs, writer}
	if !write {
		query, args = deleteTuplesSQL, []any{c.objs, c.rels, c.subs, writer}
	}
	var changed int64
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, query, args...)
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

// splitTuple names a row to delete that rebac.ParseTuple refuses (written
// by an older edgeauthz, or by hand): rebac.ParseTupleKey, the one lenient
// split.
func splitTuple(t string) (rebac.Tuple, error) { return rebac.ParseTupleKey(t) }
