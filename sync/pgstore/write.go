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

// ChangeTuplesAs writes and deletes tuples in one transaction: either every
// write and delete is stored, or none is. Writes apply before deletes, so a
// tuple in both ends up deleted. Each list is taken as WriteTuples and
// DeleteTuples take it (the same parser, the same refusals: any malformed
// tuple refuses the whole call). It returns the changelog rows appended for
// each list; the edges are notified once.
func ChangeTuplesAs(ctx context.Context, db DB, writer string, writes, deletes []string) (written, deleted int, err error) {
	w, werr := tupleColumns(writes, true)
	d, derr := tupleColumns(deletes, false)
	if err := errors.Join(werr, derr); err != nil {
		return 0, 0, fmt.Errorf("change tuples: %w", err)
	}
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		var err error
		if written, err = w.apply(ctx, tx, writer); err != nil {
			return err
		}
		if deleted, err = d.apply(ctx, tx, writer); err != nil {
			return err
		}
		if written+deleted == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, 'tuples')`, Channel)
		return err
	}, "change tuples")
	if err != nil {
		return 0, 0, err
	}
	return written, deleted, nil
}

// columns are parsed tuples as the statements' array parameters.
type columns struct {
	write                       bool
	objs, rels, subs, conds, xs []string
}

// tupleColumns parses tuples into columns, one row per key, the last write
// of a key winning, as in a sequence of writes (one statement cannot change
// a row twice). Every malformed tuple is named in the error.
func tupleColumns(tuples []string, write bool) (columns, error) {
	c := columns{write: write}
	seen := make(map[rebac.Tuple]int, len(tuples))
	var bad []error
	for _, t := range tuples {
		// The relationship engine's own parser: a tuple the store takes
		// is one every edge can apply.
		tp, err := rebac.ParseTuple(t)
		if err != nil && !write {
			// A row the engine cannot parse may still be in the store
			// (written by an older edgeauthz, or by hand); deleting it
			// must stay possible. Edges skip the deletion like the write.
			tp, err = rebac.ParseTupleKey(t)
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if i, dup := seen[tp.Key()]; dup {
			c.conds[i], c.xs[i] = tp.Condition, tp.Context
			continue
		}
		seen[tp.Key()] = len(c.objs)
		c.objs, c.rels, c.subs = append(c.objs, tp.Object), append(c.rels, tp.Relation), append(c.subs, tp.User)
		c.conds, c.xs = append(c.conds, tp.Condition), append(c.xs, tp.Context)
	}
	return c, errors.Join(bad...)
}

// apply runs the write or delete statement for c in tx and returns the
// changelog rows it appended.
func (c columns) apply(ctx context.Context, tx pgx.Tx, writer string) (int, error) {
	if len(c.objs) == 0 {
		return 0, nil
	}
	query, args := writeTuplesSQL, []any{c.objs, c.rels, c.subs, c.conds, c.xs, writer}
	if !c.write {
		query, args = deleteTuplesSQL, []any{c.objs, c.rels, c.subs, writer}
	}
	tag, err := tx.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

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
	var changed int
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		var err error
		if changed, err = c.apply(ctx, tx, writer); err != nil || changed == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, 'tuples')`, Channel)
		return err
	}, op)
	return changed, err
}
