package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Connect returns a pool of at most maxConns connections (0: pgx's
// default) for a postgres:// DSN, with a connect timeout of at most 10 s. It
// does not wait for the database: an unreachable store fails the calls that
// use the pool until it is back.
func Connect(dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	if maxConns > 0 && cfg.MaxConns > maxConns {
		cfg.MaxConns = maxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 10*time.Second {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}

// Open connects to the store and migrates its schema to this edgeauthz's
// version: what a writer (the CLI, the relay) does first.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	pool, err := Connect(dsn, 0)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ListenOptions configure Listen. The zero value works.
type ListenOptions struct {
	// ReconnectBase and ReconnectMax bound the reconnect backoff; defaults
	// 100 ms and 5 s.
	ReconnectBase, ReconnectMax time.Duration
	// Backoff is the wait before reconnecting after failures consecutive
	// failures; nil doubles from ReconnectBase up to ReconnectMax.
	Backoff func(base, max time.Duration, failures int) time.Duration
	// PingInterval is how long Listen waits for a notification before it
	// pings the server to detect a dead connection; default 30 s.
	PingInterval time.Duration
	// Logger gets connection failures and reconnects; nil discards them.
	Logger *slog.Logger
}

// Listen holds a connection that LISTENs on Channel until ctx ends, and
// calls signal after every notification and after every (re)connect, since
// notifications sent while it was not listening are lost. It reconnects
// with backoff when the database goes away, and returns when ctx ends.
// signal must not block.
func Listen(ctx context.Context, cfg *pgx.ConnConfig, opts ListenOptions, signal func()) {
	if opts.ReconnectBase <= 0 {
		opts.ReconnectBase = 100 * time.Millisecond
	}
	if opts.ReconnectMax <= 0 {
		opts.ReconnectMax = 5 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.Backoff == nil {
		opts.Backoff = doubling
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	failures := 0
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
				closeConn(conn)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			delay := opts.Backoff(opts.ReconnectBase, opts.ReconnectMax, failures)
			opts.Logger.Warn("postgres listen failed", "error", err, "failures", failures, "retry_in", delay)
			sleep(ctx, delay)
			continue
		}
		if failures > 0 {
			opts.Logger.Info("postgres listening again", "failures", failures)
		}
		failures = 0
		signal() // whatever happened while we were not listening
		err = wait(ctx, conn, opts.PingInterval, signal)
		closeConn(conn)
		if ctx.Err() == nil {
			opts.Logger.Warn("postgres listen connection lost", "error", err)
		}
	}
}

// wait forwards notifications until the connection fails (its error) or
// ctx ends.
func wait(ctx context.Context, conn *pgx.Conn, ping time.Duration, signal func()) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, ping)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			signal()
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

func doubling(base, max time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	return min(d, max)
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
