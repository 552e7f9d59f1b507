package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

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
	dsn := pgtest.Start(t)
	if code, _, errOut := run(t, "publish", "--store", dsn, "../../examples/policy.yaml"); code != exitOK {
		t.Fatalf("publish: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, "tuples", "write", "--store", dsn, "team:eng#member@user:bob"); code != exitOK {
		t.Fatalf("tuples: %d %s", code, errOut)
	}
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var relayErr strings.Builder
	go func() {
		done <- Run(ctx, []string{"relay", "--store", dsn, "--listen", grpcAddr, "--http", httpAddr, "--log-level", "error"}, &strings.Builder{}, &relayErr)
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
	if code, _, _ := run(t, "relay", "--store", dsn, "stray"); code != exitUsage {
		t.Fatalf("relay with a positional argument: %d, want %d", code, exitUsage)
	}
}
