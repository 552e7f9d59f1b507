package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/edgeauthz/edgeauthz/config"
)

// Errors of the reads that callers branch on.
var (
	// ErrNoPolicy: no policy revision has been published (or the schema
	// does not exist yet).
	ErrNoPolicy = errors.New("no policy published in the store")
	// ErrNotModified: ReadState found the store at the position the
	// caller already has.
	ErrNotModified = errors.New("not modified")
	// ErrChangelogPruned: Changes was asked for a position behind the
	// changelog's retention checkpoint; reload the tuples in full.
	ErrChangelogPruned = errors.New("changelog pruned")
	// ErrChangelogOrder: the changelog holds a row beyond its sequence, or
	// the reader is past the sequence. A row's seq was chosen around the
	// sequence, so the rows after a position no longer hold every later
	// change. The tuples table is still the truth: reload it in full.
	ErrChangelogOrder = errors.New("changelog rows are out of sequence order")
)

// Position is how far a reader has seen the store: the newest policy
// revision id (base or package: they share one id sequence) and the
// changelog seq.
type Position struct {
	Policy int64
	Seq    int64
}

// String formats p as "policy.seq", the revision edges show and the form
// ParsePosition reads.
func (p Position) String() string {
	return strconv.FormatInt(p.Policy, 10) + "." + strconv.FormatInt(p.Seq, 10)
}

// ParsePosition reads a Position's String form.
func ParsePosition(s string) (Position, bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return Position{}, false
	}
	id, err1 := strconv.ParseInt(a, 10, 64)
	sq, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return Position{}, false
	}
	return Position{Policy: id, Seq: sq}, true
}

// State is the store's whole content as of one Position.
type State struct {
	Position Position
	// BaseID is the revision of the base policy document.
	BaseID int64
	// Document is the base document or, once a package was published,
	// the encoded policy set (config.EncodePolicySet) of the newest
	// revision of every part.
	Document []byte
	// Tuples are the current tuples in rebac.ParseTuple's form.
	Tuples []string
}

// ReadState reads the newest policy, the current tuples and the changelog
// position they reflect, in one REPEATABLE READ read-only transaction. It
// returns ErrNotModified, without reading the document or the tuples, when
// the store is at have (the zero Position never is), and ErrNoPolicy while
// nothing is published.
func ReadState(ctx context.Context, db DB, have Position) (State, error) {
	var st State
	err := inTx(ctx, db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
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
		// either names the policy.
		pos := Position{Policy: *revID, Seq: seq}
		if pkgID != nil {
			pos.Policy = max(pos.Policy, *pkgID)
		}
		if pos == have {
			return ErrNotModified
		}
		var doc string
		if err := tx.QueryRow(ctx, `SELECT document FROM edgeauthz_policy_revisions WHERE id = $1`, *revID).Scan(&doc); err != nil {
			return err
		}
		document := []byte(doc)
		set, _, err := LoadSet(ctx, tx, *revID, doc)
		if err != nil {
			return err
		}
		if set != nil {
			if document, err = config.EncodePolicySet(set); err != nil {
				return err
			}
		}
		tuples, err := readTuples(ctx, tx)
		if err != nil {
			return err
		}
		st = State{Position: pos, BaseID: *revID, Document: document, Tuples: tuples}
		return nil
	}, "")
	if err != nil {
		if errors.Is(err, ErrNotModified) || errors.Is(err, ErrNoPolicy) {
			return State{}, err
		}
		if isUndefinedTable(err) {
			return State{}, fmt.Errorf("%w (the schema does not exist yet: publish a policy)", ErrNoPolicy)
		}
		return State{}, fmt.Errorf("read state: %w", err)
	}
	return st, nil
}

// readTuples streams the current tuples into strings. To avoid one
// allocation per tuple, rows are joined into chunks of about 1 MiB that
// become one string each; the tuples are substrings of those.
func readTuples(ctx context.Context, tx pgx.Tx) ([]string, error) {
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

// Change is one changelog row: a tuple written (in rebac.ParseTuple's
// form, condition included) or deleted (its key).
type Change struct {
	Seq   int64
	Write bool
	Tuple string
}

// Changes returns at most limit changelog rows after since, in seq order.
// It returns ErrChangelogPruned for a position behind the retention
// checkpoint and ErrChangelogOrder when the rows after since may not hold
// every later change; either way the caller reloads with ReadState.
func Changes(ctx context.Context, q Querier, since int64, limit int) ([]Change, error) {
	changes, err := readChanges(ctx, q, since, limit)
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	return changes, nil
}

// readChanges runs each statement on its own, outside a transaction, as
// the readers have always polled: each sees what was committed before it,
// so the sequence read last bounds every row read before it.
func readChanges(ctx context.Context, q Querier, since int64, limit int) ([]Change, error) {
	rows, err := q.Query(ctx, `SELECT seq, op = 'w', object || '#' || relation || '@' || subject
			|| CASE WHEN op = 'w' AND condition_name <> ''
				THEN ' with ' || condition_name || coalesce(' ' || condition_context::text, '') ELSE '' END
		FROM edgeauthz_tuple_changelog WHERE seq > $1 ORDER BY seq LIMIT $2`, since, limit)
	if err != nil {
		return nil, err
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Change, error) {
		var c Change
		err := row.Scan(&c.Seq, &c.Write, &c.Tuple)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	// Rows up to the checkpoint may be pruned: a reader behind it would
	// miss them, so it reloads in full instead. Read after the rows, so a
	// prune that committed before they were read is seen.
	var pruned int64
	if err := q.QueryRow(ctx, `SELECT pruned_through FROM edgeauthz_changelog_checkpoint`).Scan(&pruned); err != nil {
		return nil, err
	}
	if since < pruned {
		return nil, fmt.Errorf("changes after %d: %w (through %d)", since, ErrChangelogPruned, pruned)
	}
	// Read after the rows: a committed row took its seq from the sequence
	// before, so it is at most this unless its seq went around it.
	var last int64
	if err := q.QueryRow(ctx, `SELECT edgeauthz_changelog_last_seq()`).Scan(&last); err != nil {
		return nil, err
	}
	if since > last {
		return nil, fmt.Errorf("%w: reading after %d, the sequence is at %d", ErrChangelogOrder, since, last)
	}
	if n := len(changes); n > 0 && changes[n-1].Seq > last {
		return nil, fmt.Errorf("%w: row %d is beyond the sequence at %d", ErrChangelogOrder, changes[n-1].Seq, last)
	}
	return changes, nil
}

// PolicyRevision returns the newest base policy revision whose id is below
// before (before <= 0: the newest of all). ErrNoPolicy when there is none.
func PolicyRevision(ctx context.Context, q Querier, before int64) (id int64, document []byte, err error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	var doc string
	err = q.QueryRow(ctx, `SELECT id, document FROM edgeauthz_policy_revisions WHERE id < $1 ORDER BY id DESC LIMIT 1`, before).Scan(&id, &doc)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil, ErrNoPolicy
	case err != nil:
		return 0, nil, fmt.Errorf("policy revision: %w", err)
	}
	return id, []byte(doc), nil
}

// NewestCompiling returns the newest of the latest lookback base revisions
// that compile accepts (returns nil for): what an edge serves when newer
// revisions are refused. ErrNoPolicy when nothing is published; when none
// of them compiles, an error wrapping the newest one's refusal.
func NewestCompiling(ctx context.Context, q Querier, lookback int, compile func(id int64, document []byte) error) (id int64, document []byte, err error) {
	return NewestCompilingFrom(ctx, func(ctx context.Context, before int64) (int64, []byte, error) {
		return PolicyRevision(ctx, q, before)
	}, lookback, compile)
}

// NewestCompilingFrom is NewestCompiling over revisions read by revision
// (PolicyRevision's contract), for a reader that holds the store behind
// its own type (the relay).
func NewestCompilingFrom(ctx context.Context, revision func(ctx context.Context, before int64) (id int64, document []byte, err error), lookback int, compile func(id int64, document []byte) error) (id int64, document []byte, err error) {
	var newestErr error
	before := int64(0)
	for range max(lookback, 1) {
		id, document, err = revision(ctx, before)
		if errors.Is(err, ErrNoPolicy) && newestErr != nil {
			break
		}
		if err != nil {
			return 0, nil, err
		}
		cerr := compile(id, document)
		if cerr == nil {
			return id, document, nil
		}
		if newestErr == nil {
			newestErr = cerr
		}
		before = id
	}
	return 0, nil, fmt.Errorf("no recent published revision compiles: %w", newestErr)
}

func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
