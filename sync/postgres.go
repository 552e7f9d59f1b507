package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// PostgresSource adapts package pgstore, which owns the PostgreSQL schema,
// its reads and its writes, to the Source, Notifier and Changelog
// contracts. Its revisions are pgstore.Position strings; the Loader treats
// them as opaque (Advance names the next one), and only PostgreSQL readers
// (this file, pgstore, the relay) parse them.

// PostgresChannel is the LISTEN/NOTIFY channel writers notify.
const PostgresChannel = pgstore.Channel

// ErrChangelogPruned is returned by PostgresSource.Changes for a position
// behind the changelog's retention checkpoint: reload the tuples in full.
var ErrChangelogPruned = pgstore.ErrChangelogPruned

// ErrChangelogOrder is returned by PostgresSource.Changes when the
// changelog holds a row beyond its sequence, or the reader is past the
// sequence: a row's seq was chosen around the sequence, so the rows after
// a position no longer hold every later change. The tuples table is still
// the truth: reload it in full.
var ErrChangelogOrder = pgstore.ErrChangelogOrder

// ErrNoPolicy is returned by PostgresSource.Fetch while no policy revision has
// been published (or the schema does not exist yet).
var ErrNoPolicy = pgstore.ErrNoPolicy

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
//     snapshot of the database (pgstore.ReadState).
//  2. On a Notify signal or a poll tick, call Changes(ctx, seq) (repeatedly,
//     until it returns none) and apply the rows in order to the tuples it
//     holds; seq becomes the last row's Seq. A million tuples are not
//     reloaded for one change.
//  3. Then call Fetch(Advance(revision, seq)): ErrNotModified when no new
//     policy was published and no tuple changed since step 2; a full Bundle
//     otherwise (a new policy, or tuple writes that landed between steps 2
//     and 3 — correct, just not incremental).
//
// A caller that ignores Changes and Notify still gets every change: a tuple
// change moves the revision, so Fetch returns the full bundle.
//
// The LISTEN goroutine (pgstore.Listen) starts in NewPostgresSource and
// stops in Close; it signals Notify after every (re)connect, since
// notifications sent while it was not listening are lost. Fetch and Changes
// are safe for concurrent use.
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
	pool, err := pgstore.Connect(dsn, 4)
	if err != nil {
		return nil, err
	}
	if opts.ChangesBatch <= 0 {
		opts.ChangesBatch = 100_000
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &PostgresSource{
		pool:   pool,
		opts:   opts,
		notify: make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	lopts := pgstore.ListenOptions{
		ReconnectBase: opts.ReconnectBase,
		ReconnectMax:  opts.ReconnectMax,
		PingInterval:  opts.PingInterval,
		Logger:        opts.Logger,
		Backoff: func(base, max time.Duration, failures int) time.Duration {
			return NextDelay(base, max, failures, nil)
		},
	}
	go func() {
		defer close(s.done)
		pgstore.Listen(ctx, pool.Config().ConnConfig, lopts, s.signal)
	}()
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

// Advance is the revision of a bundle of revision rev with the changes
// through seq applied: rev's policy at changelog position seq.
func (s *PostgresSource) Advance(rev string, seq int64) string {
	p, ok := pgstore.ParsePosition(rev)
	if !ok {
		return rev
	}
	p.Seq = seq
	return p.String()
}

// migrate brings the schema to this code's version once: an edge of a
// newer edgeauthz upgrades the schema it reads; one of an older edgeauthz
// refuses a schema it does not know.
func (s *PostgresSource) migrate(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	if err := pgstore.Migrate(ctx, s.pool); err != nil {
		return fmt.Errorf("postgres schema: %w", err)
	}
	s.migrated.Store(true)
	return nil
}

// Fetch loads the latest policy revision, the current tuples and the
// changelog position (pgstore.ReadState). It returns ErrNotModified when
// have names the latest revision and the current changelog position, and
// ErrNoPolicy while nothing has been published.
func (s *PostgresSource) Fetch(ctx context.Context, have string) (Bundle, error) {
	if err := s.migrate(ctx); err != nil {
		return Bundle{}, err
	}
	pos, _ := pgstore.ParsePosition(have)
	st, err := pgstore.ReadState(ctx, s.pool, pos)
	switch {
	case errors.Is(err, pgstore.ErrNotModified):
		return Bundle{}, ErrNotModified
	case errors.Is(err, pgstore.ErrNoPolicy):
		return Bundle{}, err
	case err != nil:
		return Bundle{}, fmt.Errorf("postgres fetch: %w", err)
	}
	return Bundle{
		Revision: st.Position.String(),
		Name:     fmt.Sprintf("postgres revision %d", st.Position.Policy),
		Policy:   st.Document,
		Tuples:   st.Tuples,
		Seq:      st.Position.Seq,
	}, nil
}

// Changes returns the changelog rows after since, in seq order, at most
// ChangesBatch of them.
func (s *PostgresSource) Changes(ctx context.Context, since int64) ([]TupleChange, error) {
	rows, err := pgstore.Changes(ctx, s.pool, since, s.opts.ChangesBatch)
	if err != nil {
		return nil, fmt.Errorf("postgres %w", err)
	}
	changes := make([]TupleChange, len(rows))
	for i, r := range rows {
		changes[i] = TupleChange{Seq: r.Seq, Write: r.Write, Tuple: r.Tuple}
	}
	return changes, nil
}

// PolicyRevision returns the newest policy revision whose id is below before
// (before <= 0: the newest of all), without the tuples: a reader that
// follows the changelog on its own (the relay) reads a new policy without
// reloading every tuple. ErrNoPolicy when there is none.
func (s *PostgresSource) PolicyRevision(ctx context.Context, before int64) (id int64, document []byte, err error) {
	if err := s.migrate(ctx); err != nil {
		return 0, nil, err
	}
	id, document, err = pgstore.PolicyRevision(ctx, s.pool, before)
	if err != nil && !errors.Is(err, ErrNoPolicy) {
		err = fmt.Errorf("postgres %w", err)
	}
	return id, document, err
}
