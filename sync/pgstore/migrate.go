package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is what the store functions need: a *pgxpool.Pool or a *pgx.Conn.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (*pgx.Conn)(nil)
)

// ErrSchemaTooNew is returned by Migrate when the database was migrated by
// a newer edgeauthz than this one.
var ErrSchemaTooNew = errors.New("the store's schema is newer than this edgeauthz supports")

// lockKey is the transaction-level advisory lock that Migrate and every
// writer take.
const lockKey = 0x65646765617574 // "edgeaut"

// Migrate brings the database's schema to SchemaVersion, creating it when
// missing. It is idempotent and safe to run from many processes at once.
// A database already current costs one read-only query.
func Migrate(ctx context.Context, db DB) error {
	if v, err := readVersion(ctx, db); err == nil && v == SchemaVersion() {
		return nil
	}
	return inTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS edgeauthz_schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM edgeauthz_schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have == 0 {
			legacy, err := legacyVersion(ctx, tx)
			if err != nil {
				return err
			}
			switch {
			case legacy > 1:
				return fmt.Errorf("%w: edgeauthz_schema says version %d but edgeauthz_schema_migrations is empty", ErrSchemaTooNew, legacy)
			case legacy == 1:
				// Created by edgeauthz before migrations were versioned:
				// its tables are migration 1's.
				if _, err := tx.Exec(ctx, `INSERT INTO edgeauthz_schema_migrations (version, name) VALUES (1, $1)`, migrations[0].name); err != nil {
					return err
				}
				have = 1
			}
		}
		if have > SchemaVersion() {
			return fmt.Errorf("%w: version %d, this edgeauthz knows up to %d", ErrSchemaTooNew, have, SchemaVersion())
		}
		for _, m := range migrations {
			if m.version <= have {
				continue
			}
			for _, stmt := range m.stmts {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO edgeauthz_schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
		}
		// Binaries from before versioned migrations read this table and
		// refuse a version above theirs; keep it current so they do.
		if _, err := tx.Exec(ctx, `DELETE FROM edgeauthz_schema`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO edgeauthz_schema (version) VALUES ($1)`, SchemaVersion())
		return err
	}, "migrate")
}

// Version returns the database's schema version: 0 when it has none.
func Version(ctx context.Context, db DB) (int, error) {
	v, err := readVersion(ctx, db)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return 0, nil
		}
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

func readVersion(ctx context.Context, db DB) (int, error) {
	var v int
	err := inTx(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM edgeauthz_schema_migrations`).Scan(&v)
	}, "")
	return v, err
}

// legacyVersion reads the pre-migrations version table: 0 when absent.
func legacyVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('edgeauthz_schema') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v *int
	if err := tx.QueryRow(ctx, `SELECT max(version) FROM edgeauthz_schema`).Scan(&v); err != nil || v == nil {
		return 0, err
	}
	return *v, nil
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
			_ = tx.Rollback(rctx)
			cancel()
		}
	}
	if err != nil && op != "" {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return fmt.Errorf("%s: the store has no edgeauthz schema (Migrate creates it): %w", op, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return err
}
