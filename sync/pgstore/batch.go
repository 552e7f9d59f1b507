package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// ChangeTuplesAs writes and then deletes tuples in one transaction, under
// the writers' lock, so that the changelog rows of the whole call are
// consecutive and become visible (and are notified) together: a reader
// sees all of the call or none of it. It records writer on each row and
// returns the rows appended for each side. Tuples are parsed as WriteTuples
// and DeleteTuples parse them; one malformed tuple refuses the whole call.
func ChangeTuplesAs(ctx context.Context, db DB, writer string, write, del []string) (written, deleted int, err error) {
	w, werr := tupleColumns(write, true)
	d, derr := tupleColumns(del, false)
	if err := errors.Join(werr, derr); err != nil {
		return 0, 0, fmt.Errorf("change tuples: %w", err)
	}
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		if len(w.objs) > 0 {
			tag, err := tx.Exec(ctx, writeTuplesSQL, w.objs, w.rels, w.subs, w.conds, w.ctxs, writer)
			if err != nil {
				return err
			}
			written = int(tag.RowsAffected())
		}
		if len(d.objs) > 0 {
			tag, err := tx.Exec(ctx, deleteTuplesSQL, d.objs, d.rels, d.subs, writer)
			if err != nil {
				return err
			}
			deleted = int(tag.RowsAffected())
		}
		if written+deleted == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, 'tuples')`, Channel)
		return err
	}, "change tuples")
	if err != nil {
		return 0, 0, err
	}
	return written, deleted, nil
}

// columns are tuples as the statements' arrays, one row per key.
type columns struct{ objs, rels, subs, conds, ctxs []string }

// tupleColumns parses tuples into columns, the last write of a key winning
// (one statement cannot change a row twice). A delete may name a row the
// engine cannot parse (written by hand or by an older edgeauthz), so that
// it can still be removed.
func tupleColumns(tuples []string, write bool) (columns, error) {
	var c columns
	seen := make(map[rebac.Tuple]int, len(tuples))
	var bad []error
	for _, t := range tuples {
		tp, err := rebac.ParseTuple(t)
		if err != nil && !write {
			tp, err = splitTuple(t)
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if i, dup := seen[tp.Key()]; dup {
			c.conds[i], c.ctxs[i] = tp.Condition, tp.Context
			continue
		}
		seen[tp.Key()] = len(c.objs)
		c.objs, c.rels, c.subs = append(c.objs, tp.Object), append(c.rels, tp.Relation), append(c.subs, tp.User)
		c.conds, c.ctxs = append(c.conds, tp.Condition), append(c.ctxs, tp.Context)
	}
	return c, errors.Join(bad...)
}
