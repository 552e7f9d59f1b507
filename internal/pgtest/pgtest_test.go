package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func query(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	return conn.QueryRow(ctx, "select 1").Scan(&one)
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	s := New(t)
	if err := query(s.DSN); err != nil {
		t.Fatalf("query after start: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := query(s.DSN); err == nil {
		t.Fatal("query succeeded on a stopped server")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := WaitReady(5*time.Second, func() error { return query(s.DSN) }); err != nil {
		t.Fatalf("query after restart: %v", err)
	}
}

func TestParallelClusters(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two clusters share a DSN %q", a)
	}
	for _, dsn := range []string{a, b} {
		if err := query(dsn); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestDatabase(t *testing.T) {
	t.Parallel()
	a, b := Database(t), Database(t)
	if a == b {
		t.Fatalf("two databases share a DSN %q", a)
	}
	for _, dsn := range []string{a, b} {
		if err := query(dsn); err != nil {
			t.Fatal(err)
		}
	}
}
