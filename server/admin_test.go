package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/server"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "")
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestAdminListener: pprof, the log level and the snapshot summary are on
// the admin port, and pprof is not on the HTTP port.
func TestAdminListener(t *testing.T) {
	r := startServer(t, []byte(policyOpen), "admin: {listen: \"127.0.0.1:0\"}\n")
	admin := "http://" + r.srv.AdminAddr()

	if code, _ := get(t, admin+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("admin /debug/pprof/: %d", code)
	}
	if code, body := get(t, admin+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("admin goroutine profile: %d", code)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/profile", "/loglevel", "/snapshot"} {
		if code, _ := get(t, r.base+p); code != http.StatusNotFound {
			t.Errorf("HTTP port %s: %d, want 404", p, code)
		}
	}

	var sum server.SnapshotSummary
	code, body := get(t, admin+"/snapshot")
	if code != http.StatusOK {
		t.Fatalf("/snapshot: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Loaded || sum.Revision == "" || sum.Routes != 2 || !strings.HasPrefix(sum.Source, "file://") || sum.ConfirmedAt.IsZero() {
		t.Errorf("/snapshot = %+v", sum)
	}

	// No LevelVar handed over: the level cannot be changed.
	if code, _ := get(t, admin+"/loglevel"); code != http.StatusNotFound {
		t.Errorf("/loglevel without a LevelVar: %d", code)
	}
}

func TestAdminLogLevel(t *testing.T) {
	cfg := config.DefaultServer()
	cfg.Listen.GRPC, cfg.Listen.HTTP = "", ""
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Policy.Source = "file://" + t.TempDir() + "/policy.yaml"
	lvl := new(slog.LevelVar)
	srv, err := server.New(t.Context(), &cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetLevelVar(lvl)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	admin := "http://" + srv.AdminAddr()

	for _, tc := range []struct {
		method, body string
		code         int
		want         slog.Level
	}{
		{"GET", "", 200, slog.LevelInfo},
		{"PUT", "debug", 200, slog.LevelDebug},
		{"PUT", "WARN\n", 200, slog.LevelWarn},
		{"PUT", "loud", 400, slog.LevelWarn},
		{"POST", "error", 405, slog.LevelWarn},
	} {
		code, body := do(t, tc.method, admin+"/loglevel", tc.body)
		if code != tc.code || lvl.Level() != tc.want {
			t.Errorf("%s %q: %d %q, level %v; want %d, %v", tc.method, tc.body, code, body, lvl.Level(), tc.code, tc.want)
		}
	}
}

func TestAdminAddr(t *testing.T) {
	for in, want := range map[string]string{"": "", "9901": "127.0.0.1:9901", ":9901": "127.0.0.1:9901",
		"0.0.0.0:9901": "0.0.0.0:9901", "[::1]:9901": "[::1]:9901"} {
		if got := (config.Admin{Listen: in}).Addr(); got != want {
			t.Errorf("Addr(%q) = %q, want %q", in, got, want)
		}
		if want != "" {
			if _, _, err := net.SplitHostPort(want); err != nil {
				t.Fatal(err)
			}
		}
	}
}
