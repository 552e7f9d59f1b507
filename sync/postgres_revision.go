package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// PolicyRevision returns the newest policy revision whose id is below before
// (before <= 0: the newest of all), without the tuples: a reader that
// follows the changelog on its own (the relay) reads a new policy without
// reloading every tuple. ErrNoPolicy when there is none.
func (s *PostgresSource) PolicyRevision(ctx context.Context, before int64) (id int64, document []byte, err error) {
	if !s.migrated.Load() {
		if err := pgstore.Migrate(ctx, s.pool); err != nil {
			return 0, nil, fmt.Errorf("postgres schema: %w", err)
		}
		s.migrated.Store(true)
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	var doc string
	err = s.pool.QueryRow(ctx, `SELECT id, document FROM edgeauthz_policy_revisions WHERE id < $1 ORDER BY id DESC LIMIT 1`, before).Scan(&id, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNoPolicy
	}
	if err != nil {
		return 0, nil, fmt.Errorf("postgres policy revision: %w", err)
	}
	return id, []byte(doc), nil
}
