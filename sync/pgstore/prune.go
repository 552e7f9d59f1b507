package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneChangelog deletes the changelog's oldest rows: those older than
// retention, up to and including seq through (a reader prunes only what it
// has read), as one prefix of the changelog. It records the last deleted
// seq as the checkpoint (PrunedThrough) in the same transaction and returns
// it. Readers behind the checkpoint must reload the tuples in full.
func PruneChangelog(ctx context.Context, db DB, retention time.Duration, through int64) (prunedThrough int64, err error) {
	err = inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		var upto *int64
		if err := tx.QueryRow(ctx, `SELECT max(seq) FROM edgeauthz_tuple_changelog
			WHERE seq <= $1 AND created_at < now() - make_interval(secs => $2)`, through, retention.Seconds()).Scan(&upto); err != nil {
			return err
		}
		if upto == nil {
			return tx.QueryRow(ctx, `SELECT pruned_through FROM edgeauthz_changelog_checkpoint`).Scan(&prunedThrough)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM edgeauthz_tuple_changelog WHERE seq <= $1`, *upto); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `UPDATE edgeauthz_changelog_checkpoint
			SET pruned_through = greatest(pruned_through, $1), pruned_at = now() RETURNING pruned_through`, *upto).Scan(&prunedThrough)
	}, "prune changelog")
	return prunedThrough, err
}

// PrunedThrough returns the changelog checkpoint: the seq up to which rows
// may have been pruned (0: none).
func PrunedThrough(ctx context.Context, db DB) (int64, error) {
	var seq int64
	err := inTx(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT pruned_through FROM edgeauthz_changelog_checkpoint`).Scan(&seq)
	}, "changelog checkpoint")
	return seq, err
}
