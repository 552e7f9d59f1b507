package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// The PostgreSQL store's schema and writers live in package pgstore:
//
//	edgeauthz_schema_migrations the applied migrations (the schema version)
//	edgeauthz_policy_revisions  id bigserial, document text: every published policy
//	edgeauthz_tuples            (object, relation, subject), condition_name, condition_context: the current tuples
//	edgeauthz_tuple_changelog   seq bigserial, op 'w'|'d', object, relation, subject, condition_name, condition_context
//
// Writers assign revision ids and changelog seqs in commit order under one
// advisory lock: a reader that has seen seq N has seen every change before
// N, and replaying the changelog in seq order gives the current tuples.

// PostgresChannel is the LISTEN/NOTIFY channel writers notify.
const PostgresChannel = pgstore.Channel

// ErrChangelogPruned is returned by PostgresSource.Changes for a position
// behind the changelog's retention checkpoint: reload the tuples in full.
var ErrChangelogPruned = errors.New("changelog pruned")

// ErrChangelogOrder is returned by PostgresSource.Changes when the
// changelog holds a row beyond its sequence, or the reader is past the
// sequence: a row's seq was chosen around the sequence, so the rows after
// a position no longer hold every later change. The tuples table is still
// the truth: reload it in full.
var ErrChangelogOrder = errors.New("changelog rows are out of sequence order")

// ErrNoPolicy is returned by PostgresSource.Fetch while no policy revision has
// been published (or the schema does not exist yet).
var ErrNoPolicy = errors.New("no policy published in the store")

// PostgresOptions configures a PostgresSource. The zero value works.
type PostgresOptions struct {
	// ChangesBatch bounds the rows one Changes call returns; default 100,000.
	ChangesBatch int
	// ReconnectBase and ReconnectMax bound the listener's reconnect backoff;
	// defaults 100 ms and 5 s.
	ReconnectBase, ReconnectMax time.Duration
	// PingInterval: how long the listener waits for a notification before it
	// pings the server to detect a dead connection; default 30 s.
	PingInterval time.Duration
	// Logger gets the listener's connection failures and reconnects; nil
	// discards them.
	Logger *slog.Logger
}

// PostgresSource reads the policy and tuples from PostgreSQL and listens for
// changes.
//
// How a loader uses it:
//
//  1. Fetch("") loads the latest revision's document, all current tuples and
//     the changelog position they reflect (Bundle.Seq), from one consistent
//     snapshot of the database. Revision is "revisionID.seq".
//  2. On a Notify signal or a poll tick, call Changes(ctx, seq) (repeatedly,
//     until it returns none) and apply the rows in order to the tuples it
//     holds; seq becomes the last row's Seq. A million tuples are not
//     reloaded for one change.
//  3. Then call Fetch(fmt.Sprintf("%d.%d", revisionID, seq)): ErrNotModified
//     when no new policy was published and no tuple changed since step 2; a
//     full Bundle otherwise (a new policy, or tuple writes that landed between
//     steps 2 and 3 — correct, just not incremental).
//
// A caller that ignores Changes and Notify still gets every change: a tuple
// change moves the revision, so Fetch returns the full bundle.
//
// The LISTEN goroutine starts in NewPostgresSource and stops in Close. It
// holds its own connection, reconnects with backoff when the database goes
// away, and signals Notify after every (re)connect, since notifications sent
// while it was not listening are lost. Fetch and Changes are safe for
// concurrent use.
type PostgresSource struct {
	pool   *pgxpool.Pool
	opts   PostgresOptions
	notify chan struct{}

	// migrated is set once Migrate succeeded: the schema is the one this
	// code reads.
	migrated atomic.Bool

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce gosync.Once
}

var (
	_ Source    = (*PostgresSource)(nil)
	_ Notifier  = (*PostgresSource)(nil)
	_ Changelog = (*PostgresSource)(nil)
)

// NewPostgresSource returns a source for a postgres:// DSN. It does not wait
// for the database: an unreachable store makes Fetch fail until it is back.
func NewPostgresSource(dsn string, opts PostgresOptions) (*PostgresSource, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	if cfg.MaxConns > 4 {
		cfg.MaxConns = 4
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 10*time.Second {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.ChangesBatch <= 0 {
		opts.ChangesBatch = 100_000
	}
	if opts.ReconnectBase <= 0 {
		opts.ReconnectBase = 100 * time.Millisecond
	}
	if opts.ReconnectMax <= 0 {
		opts.ReconnectMax = 5 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &PostgresSource{
		pool:   pool,
		opts:   opts,
		notify: make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go s.listen(ctx, cfg.ConnConfig)
	return s, nil
}

// Notify is signalled (coalescing, never blocking the listener) when a
// writer committed a change, and after each (re)connect of the listener.
func (s *PostgresSource) Notify() <-chan struct{} { return s.notify }

// Close stops the listener and closes the connections. It is idempotent.
func (s *PostgresSource) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
		s.pool.Close()
	})
	return nil
}

func (s *PostgresSource) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// ParsePostgresRevision splits a PostgresSource revision "revisionID.seq".
func ParsePostgresRevision(rev string) (revisionID, seq int64, ok bool) {
	a, b, found := strings.Cut(rev, ".")
	if !found {
		return 0, 0, false
	}
	id, err1 := strconv.ParseInt(a, 10, 64)
	sq, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return id, sq, true
}

// Fetch loads the latest policy revision, the current tuples and the
// changelog position, in one REPEATABLE READ read-only transaction. It
// returns ErrNotModified when have names the latest revision and the current
// changelog position, and ErrNoPolicy while nothing has been published.
func (s *PostgresSource) Fetch(ctx context.Context, have string) (Bundle, error) {
	if !s.migrated.Load() {
		// An edge of a newer edgeauthz upgrades the schema it reads; one
		// of an older edgeauthz refuses a schema it does not know.
		if err := pgstore.Migrate(ctx, s.pool); err != nil {
			return Bundle{}, fmt.Errorf("postgres schema: %w", err)
		}
		s.migrated.Store(true)
	}
	var b Bundle
	err := inTx(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var revID, pkgID *int64
		var seq int64
		// Never a position past the sequence: a reader there would wait
		// for rows that come before it. Never one before the checkpoint
		// either: with every row pruned, the tuples are still as of it.
		err := tx.QueryRow(ctx, `SELECT (SELECT max(id) FROM edgeauthz_policy_revisions),
			(SELECT max(id) FROM edgeauthz_package_revisions),
			least(greatest((SELECT coalesce(max(seq), 0) FROM edgeauthz_tuple_changelog),
				(SELECT pruned_through FROM edgeauthz_changelog_checkpoint)), edgeauthz_changelog_last_seq())`).Scan(&revID, &pkgID, &seq)
		if err != nil {
			return err
		}
		if revID == nil {
			return ErrNoPolicy
		}
		// Package revisions share the base's id sequence: the newest id of
		// either names the policy, and the revision keeps its "id.seq" form.
		newest := *revID
		if pkgID != nil {
			newest = max(newest, *pkgID)
		}
		rev := fmt.Sprintf("%d.%d", newest, seq)
		if rev == have {
			return ErrNotModified
		}
		var doc string
		if err := tx.QueryRow(ctx, `SELECT document FROM edgeauthz_policy_revisions WHERE id = $1`, *revID).Scan(&doc); err != nil {
			return err
		}
		policy := []byte(doc)
		set, _, err := pgstore.LoadSet(ctx, tx, *revID, doc)
		if err != nil {
			return err
		}
		if set != nil {
			if policy, err = config.EncodePolicySet(set); err != nil {
				return err
			}
		}
		tuples, err := loadTuples(ctx, tx)
		if err != nil {
			return err
		}
		b = Bundle{
			Revision: rev,
			Name:     fmt.Sprintf("postgres revision %d", newest),
			Policy:   policy,
			Tuples:   tuples,
			Seq:      seq,
		}
		return nil
	}, "")
	if err != nil {
		if errors.Is(err, ErrNotModified) || errors.Is(err, ErrNoPolicy) {
			return Bundle{}, err
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return Bundle{}, fmt.Errorf("%w (the schema does not exist yet: publish a policy)", ErrNoPolicy)
		}
		return Bundle{}, fmt.Errorf("postgres fetch: %w", err)
	}
	return b, nil
}

// loadTuples streams the current tuples into strings. To avoid one allocation
// per tuple, rows are joined into chunks of about 1 MiB that become one
// string each; the tuples are substrings of those.
func loadTuples(ctx context.Context, tx pgx.Tx) ([]string, error) {
	var n int64
	// reltuples is an estimate (maybe -1); it only sizes the slice.
	if err := tx.QueryRow(ctx, `SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'edgeauthz_tuples'::regclass`).Scan(&n); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT object, relation, subject, condition_name, coalesce(condition_context::text, '') FROM edgeauthz_tuples`, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// Capped: a stale estimate must not allocate wildly.
	tuples := make([]string, 0, min(n+n/8+16, 4_000_000))
	const chunkSize = 1 << 20
	chunk := make([]byte, 0, chunkSize)
	var ends []int // end offsets of the tuples in chunk
	flush := func() {
		s := string(chunk)
		start := 0
		for _, end := range ends {
			tuples = append(tuples, s[start:end])
			start = end
		}
		chunk, ends = chunk[:0], ends[:0]
	}
	for rows.Next() {
		v := rows.RawValues()
		if len(chunk) > 0 && len(chunk)+len(v[0])+len(v[1])+len(v[2])+len(v[3])+len(v[4])+9 > chunkSize {
			flush()
		}
		chunk = append(chunk, v[0]...)
		chunk = append(chunk, '#')
		chunk = append(chunk, v[1]...)
		chunk = append(chunk, '@')
		chunk = append(chunk, v[2]...)
		// A conditional tuple in rebac.ParseTuple's form.
		if len(v[3]) > 0 {
			chunk = append(chunk, " with "...)
			chunk = append(chunk, v[3]...)
			if len(v[4]) > 0 {
				chunk = append(chunk, ' ')
				chunk = append(chunk, v[4]...)
			}
		}
		ends = append(ends, len(chunk))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	flush()
	return tuples, nil
}

// Changes returns the changelog rows after since, in seq order, at most
// ChangesBatch of them.
func (s *PostgresSource) Changes(ctx context.Context, since int64) ([]TupleChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, op = 'w', object || '#' || relation || '@' || subject
			|| CASE WHEN op = 'w' AND condition_name <> ''
				THEN ' with ' || condition_name || coalesce(' ' || condition_context::text, '') ELSE '' END
		FROM edgeauthz_tuple_changelog WHERE seq > $1 ORDER BY seq LIMIT $2`, since, s.opts.ChangesBatch)
	if err != nil {
		return nil, fmt.Errorf("postgres changes: %w", err)
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TupleChange, error) {
		var c TupleChange
		err := row.Scan(&c.Seq, &c.Write, &c.Tuple)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres changes: %w", err)
	}
	// Rows up to the checkpoint may be pruned: a reader behind it would
	// miss them, so it reloads in full instead. Read after the rows, so a
	// prune that committed before they were read is seen.
	var pruned int64
	if err := s.pool.QueryRow(ctx, `SELECT pruned_through FROM edgeauthz_changelog_checkpoint`).Scan(&pruned); err != nil {
		return nil, fmt.Errorf("postgres changes: %w", err)
	}
	if since < pruned {
		return nil, fmt.Errorf("changes after %d: %w (through %d)", since, ErrChangelogPruned, pruned)
	}
	// Read after the rows: a committed row took its seq from the sequence
	// before, so it is at most this unless its seq went around it.
	var last int64
	if err := s.pool.QueryRow(ctx, `SELECT edgeauthz_changelog_last_seq()`).Scan(&last); err != nil {
		return nil, fmt.Errorf("postgres changes: %w", err)
	}
	if since > last {
		return nil, fmt.Errorf("%w: reading after %d, the sequence is at %d", ErrChangelogOrder, since, last)
	}
	if n := len(changes); n > 0 && changes[n-1].Seq > last {
		return nil, fmt.Errorf("%w: row %d is beyond the sequence at %d", ErrChangelogOrder, changes[n-1].Seq, last)
	}
	return changes, nil
}

// listen owns the LISTEN connection until ctx ends.
func (s *PostgresSource) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer close(s.done)
	failures := 0
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{PostgresChannel}.Sanitize()); err != nil {
				closeConn(conn)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			delay := NextDelay(s.opts.ReconnectBase, s.opts.ReconnectMax, failures, nil)
			s.opts.Logger.Warn("postgres listen failed", "error", err, "failures", failures, "retry_in", delay)
			sleep(ctx, delay)
			continue
		}
		if failures > 0 {
			s.opts.Logger.Info("postgres listening again", "failures", failures)
		}
		failures = 0
		s.signal() // whatever happened while we were not listening
		err = s.wait(ctx, conn)
		closeConn(conn)
		if ctx.Err() == nil {
			s.opts.Logger.Warn("postgres listen connection lost", "error", err)
		}
	}
}

// wait forwards notifications until the connection fails (its error) or
// ctx ends.
func (s *PostgresSource) wait(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.opts.PingInterval)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.signal()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return err
		}
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// inTx runs f in a transaction, committing when it returns nil. op, when
// set, prefixes errors.
func inTx(ctx context.Context, db pgstore.DB, opts pgx.TxOptions, f func(pgx.Tx) error, op string) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err == nil {
		err = f(tx)
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			tx.Rollback(rctx)
			cancel()
		}
	}
	if err != nil && op != "" {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return fmt.Errorf("%s: the store has no edgeauthz schema (pgstore.Migrate creates it): %w", op, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return err
}
