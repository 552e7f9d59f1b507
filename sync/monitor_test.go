package sync_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// TestLoaderWarnsOfMonitoredRoutes: every load that puts routes in monitor
// mode in service logs a warning naming them; a load without says nothing.
func TestLoaderWarnsOfMonitoredRoutes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	var logs bytes.Buffer
	engine := decision.NewEngine(0)
	l := policysync.NewLoader(policysync.LoaderOptions{
		Source: policysync.NewFileSource(path, policysync.FileOptions{Settle: testSettle}), Engine: engine, Compile: compile,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	const warning = "routes in monitor mode allow requests their rules would deny"
	for i, c := range []struct {
		policy string
		want   string // "" for no warning
	}{
		{"roles: {admin: {}}\nroutes:\n  - {name: new, match: GET /n, roles: [admin], monitor: true}\n  - {name: old, match: GET /o, roles: [admin]}\n", "routes=[new]"},
		{policyA, ""},
		{"roles: {admin: {}}\nroutes:\n  - {name: x, match: GET /x, roles: [admin], monitor: true}\n  - {name: y, match: GET /y, roles: [admin], monitor: true}\n", "routes=\"[x y]\""},
	} {
		logs.Reset()
		writePolicy(t, path, c.policy)
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if !strings.Contains(out, "policy loaded") {
			t.Fatalf("load %d: no swap logged:\n%s", i, out)
		}
		got := strings.Contains(out, "level=WARN msg=\""+warning+"\"")
		if got != (c.want != "") || (got && !strings.Contains(out, c.want)) {
			t.Errorf("load %d: want warning %q:\n%s", i, c.want, out)
		}
	}
}
