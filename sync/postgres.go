package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	gosync "sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL store.
//
// Tables (created by EnsureSchema):
//
//	edgeauthz_schema            the schema version
//	edgeauthz_policy_revisions  id bigserial, document text: every published policy
//	edgeauthz_tuples            (object, relation, subject): the current tuples
//	edgeauthz_tuple_changelog   seq bigserial, op 'w'|'d', object, relation, subject
//
// Every writer (Publish, WriteTuples, DeleteTuples) takes one transaction-level
// advisory lock, so revision ids and changelog seqs are assigned in commit
// order: a reader that has seen seq N has seen every change before N, and
// replaying the changelog in seq order gives the current tuples. Writers
// NOTIFY channel "edgeauthz" in the same transaction, so the notification is
// delivered exactly when the change becomes visible.

// PostgresChannel is the LISTEN/NOTIFY channel writers notify.
const PostgresChannel = "edgeauthz"

// SchemaVersion is the version of the tables this code reads and writes.
const SchemaVersion = 1

// ErrNoPolicy is returned by PostgresSource.Fetch while no policy revision has
// been published (or the schema does not exist yet).
var ErrNoPolicy = errors.New("no policy published in the store")

// lockKey is the advisory lock every writer and EnsureSchema take.
const lockKey = 0x65646765617574 // "edgeaut"

// DB is what the store functions need: a *pgxpool.Pool or a *pgx.Conn.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (*pgx.Conn)(nil)
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS edgeauthz_schema (
		version integer NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS edgeauthz_policy_revisions (
		id         bigserial PRIMARY KEY,
		document   text NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE TABLE IF NOT EXISTS edgeauthz_tuples (
		object   text NOT NULL,
		relation text NOT NULL,
		subject  text NOT NULL,
		PRIMARY KEY (object, relation, subject)
	)`,
	`CREATE TABLE IF NOT EXISTS edgeauthz_tuple_changelog (
		seq        bigserial PRIMARY KEY,
		op         char(1) NOT NULL CHECK (op IN ('w', 'd')),
		object     text NOT NULL,
		relation   text NOT NULL,
		subject    text NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now()
	)`,
}

// EnsureSchema creates the tables when they are missing and records the schema
// version. It is idempotent and safe to run from many processes at once (an
// advisory lock serializes it). A database with a newer schema is refused.
func EnsureSchema(ctx context.Context, db DB) error {
	return inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		var have int
		err := tx.QueryRow(ctx, `SELECT version FROM edgeauthz_schema`).Scan(&have)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			_, err = tx.Exec(ctx, `INSERT INTO edgeauthz_schema (version) VALUES ($1)`, SchemaVersion)
			return err
		case err != nil:
			return err
		case have > SchemaVersion:
			return fmt.Errorf("store schema version %d is newer than this edgeauthz supports (%d)", have, SchemaVersion)
		case have < SchemaVersion:
			// Migrations from older versions go here.
			_, err = tx.Exec(ctx, `UPDATE edgeauthz_schema SET version = $1`, SchemaVersion)
			return err
		}
		return nil
	}, "ensure schema")
}

// Publish stores document as the newest policy revision and notifies the
// edges, in one transaction. The caller validates the document first; the
// store only refuses what PostgreSQL text cannot hold (NUL, invalid UTF-8).
// Run EnsureSchema once before the first Publish or WriteTuples.
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
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, PostgresChannel, "policy "+strconv.FormatInt(revision, 10))
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
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, 'tuples')`, PostgresChannel)
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
	var b Bundle
	err := inTx(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var revID *int64
		var seq int64
		err := tx.QueryRow(ctx, `SELECT (SELECT max(id) FROM edgeauthz_policy_revisions),
			(SELECT coalesce(max(seq), 0) FROM edgeauthz_tuple_changelog)`).Scan(&revID, &seq)
		if err != nil {
			return err
		}
		if revID == nil {
			return ErrNoPolicy
		}
		rev := fmt.Sprintf("%d.%d", *revID, seq)
		if rev == have {
			return ErrNotModified
		}
		var doc string
		if err := tx.QueryRow(ctx, `SELECT document FROM edgeauthz_policy_revisions WHERE id = $1`, *revID).Scan(&doc); err != nil {
			return err
		}
		tuples, err := loadTuples(ctx, tx)
		if err != nil {
			return err
		}
		b = Bundle{
			Revision: rev,
			Name:     fmt.Sprintf("postgres revision %d", *revID),
			Policy:   []byte(doc),
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
	rows, err := tx.Query(ctx, `SELECT object, relation, subject FROM edgeauthz_tuples`, pgx.QueryResultFormats{pgx.TextFormatCode})
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
		if len(chunk) > 0 && len(chunk)+len(v[0])+len(v[1])+len(v[2])+2 > chunkSize {
			flush()
		}
		chunk = append(chunk, v[0]...)
		chunk = append(chunk, '#')
		chunk = append(chunk, v[1]...)
		chunk = append(chunk, '@')
		chunk = append(chunk, v[2]...)
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
func inTx(ctx context.Context, db DB, opts pgx.TxOptions, f func(pgx.Tx) error, op string) (err error) {
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
			return fmt.Errorf("%s: the store has no edgeauthz schema (EnsureSchema creates it): %w", op, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return err
}
