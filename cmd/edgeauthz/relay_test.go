package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/server"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// publishedStore starts a PostgreSQL store with the example policy
// published to it, and returns its DSN.
func publishedStore(t *testing.T) string {
	t.Helper()
	dsn := pgtest.Start(t)
	if code, _, errOut := run(t, "publish", "--store", dsn, "../../examples/policy.yaml"); code != exitOK {
		t.Fatalf("publish: %d %s", code, errOut)
	}
	return dsn
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRelayAndFleet runs `edgeauthz relay` against a real PostgreSQL, follows
// it with an xds:// source and reads the edge back with `edgeauthz fleet`.
func TestRelayAndFleet(t *testing.T) {
	dsn := publishedStore(t)
	if code, _, errOut := run(t, "tuples", "write", "--store", dsn, "team:eng#member@user:bob"); code != exitOK {
		t.Fatalf("tuples: %d %s", code, errOut)
	}
	keys := t.TempDir()
	kid, err := identity.WriteKeyPair(keys, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := os.ReadFile(filepath.Join(keys, "private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mint := func(scope string) string {
		tok, err := identity.Mint(priv, map[string]any{"iss": "https://writers.test", "sub": "ci-bot", "aud": "edgeauthz-relay", "scope": scope}, time.Hour, kid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var relayErr strings.Builder
	go func() {
		done <- Run(ctx, []string{"relay", "--store", dsn, "--listen", grpcAddr, "--http", httpAddr, "--log-level", "error",
			"--write-issuer", "https://writers.test", "--write-jwks", filepath.Join(keys, "jwks.json")}, &strings.Builder{}, &relayErr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relay exited %d: %s", code, relayErr.String())
		}
	}()
	src, err := policysync.NewXDSSource("xds://"+grpcAddr, policysync.XDSOptions{NodeID: "edge-under-test", ReconnectBase: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// The server's own source for an xds:// policy.source follows the relay.
	cfg, err := config.ParseServer("server.yaml", []byte("policy: {source: 'xds://"+grpcAddr+"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	serverSrc, err := server.NewSource(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer serverSrc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := src.Fetch(context.Background(), "")
		if err == nil && len(b.Tuples) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bundle from the relay: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		b, err := serverSrc.Fetch(context.Background(), "")
		if err == nil && len(b.Tuples) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's xds source got nothing: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		code, out, errOut := run(t, "fleet", "--relay", httpAddr)
		if code != exitOK {
			t.Fatalf("fleet: %d %s", code, errOut)
		}
		if strings.Contains(out, "edge-under-test  1 ") {
			if !strings.Contains(out, "NODE") || !strings.Contains(out, "relay revision 1") {
				t.Fatalf("fleet table:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge never showed at revision 1:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Writes through the relay: authenticated, validated, recorded with
	// the writer, and pushed to the edge.
	good, readOnly := mint("edgeauthz:write"), mint("edgeauthz:read")
	steps := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no token", []string{"tuples", "write", "--relay", httpAddr, "--token-file", filepath.Join(keys, "none"), "document:d1#viewer@user:zoe"}, exitFail, "token-file"},
		{"without the scope", []string{"tuples", "write", "--relay", httpAddr, "--token-file", readOnly, "document:d1#viewer@user:zoe"}, exitFail, "403"},
		{"outside the model", []string{"tuples", "write", "--relay", httpAddr, "--token-file", good, "planet:p#viewer@user:zoe"}, exitFail, "not written"},
		{"write", []string{"tuples", "write", "--relay", httpAddr, "--token-file", good, "document:d1#viewer@user:zoe"}, exitOK, "wrote 1 of 1"},
		{"delete", []string{"tuples", "delete", "--relay", httpAddr, "--token-file", good, "team:eng#member@user:bob"}, exitOK, "deleted 1 of 1"},
		{"publish", []string{"publish", "--relay", httpAddr, "--token-file", good, "../../examples/policy.yaml"}, exitOK, "as revision 2"},
	}
	for _, s := range steps {
		code, out, errOut := run(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.out) {
			t.Fatalf("%s: code %d, out %q, err %q; want %d and %q", s.name, code, out, errOut, s.code, s.out)
		}
	}
	for {
		b, err := src.Fetch(context.Background(), "")
		if err == nil && strings.HasPrefix(b.Revision, "2.") && slices.Equal(b.Tuples, []string{"document:d1#viewer@user:zoe"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge never got the relay's writes: %+v %v", b, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var writers []string
	rows, _ := pool.Query(context.Background(), `SELECT written_by FROM edgeauthz_tuple_changelog ORDER BY seq`)
	writers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "ci-bot (https://writers.test)", "ci-bot (https://writers.test)"}; !slices.Equal(writers, want) {
		t.Fatalf("changelog writers %q, want %q", writers, want)
	}

	if code, _, _ := run(t, "relay", "--store", dsn, "stray"); code != exitUsage {
		t.Fatalf("relay with a positional argument: %d, want %d", code, exitUsage)
	}
}
