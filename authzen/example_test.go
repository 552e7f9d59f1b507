package authzen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/server"
)

// example is a shipped example served by a real server on loopback.
type example struct {
	t       *testing.T
	base    string
	key     string
	logPath string
}

// serveExample runs examples/authzen/NAME/config.yaml as shipped, except
// for its ports (any free one) and its decision log (a temporary file).
func serveExample(t *testing.T, name string) *example {
	t.Helper()
	cfg, err := config.LoadServer(filepath.Join("..", "examples", "authzen", name, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen.GRPC, cfg.Listen.HTTP = "127.0.0.1:0", "127.0.0.1:0"
	logPath := filepath.Join(t.TempDir(), "decisions.log")
	cfg.DecisionLog.Output = logPath
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if s, _ := srv.Engine().Snapshot(); s != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	key, err := os.ReadFile(filepath.Join("..", "examples", "authzen", "dev-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	return &example{t: t, base: "http://" + srv.HTTPAddr(), key: strings.TrimSpace(string(key)), logPath: logPath}
}

// post sends body with the development key and returns status and body.
func (e *example) post(path, body string, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// scenario is an interop scenario's facts (authzen/testdata/*.yaml).
type scenario struct {
	SubjectType string            `yaml:"subject_type"`
	Subjects    map[string]string `yaml:"subjects"`
	Evaluations []struct {
		Who   string `yaml:"who"`
		Allow string `yaml:"allow"`
		Deny  string `yaml:"deny"`
		On    string `yaml:"on"`
		Owner string `yaml:"owner"`
	} `yaml:"evaluations"`
	Batches []struct {
		Who    string `yaml:"who"`
		Action string `yaml:"action"`
		Items  []struct {
			On     string `yaml:"on"`
			Owner  string `yaml:"owner"`
			Expect bool   `yaml:"expect"`
		} `yaml:"items"`
	} `yaml:"batches"`
}

func loadScenario(t *testing.T, name string) *scenario {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s scenario
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// resource renders "type:id" (and an owner) as an AuthZEN resource.
func resource(t *testing.T, on, owner string) map[string]any {
	typ, id, ok := strings.Cut(on, ":")
	if !ok {
		t.Fatalf("resource %q is not type:id", on)
	}
	r := map[string]any{"type": typ, "id": id}
	if owner != "" {
		r["properties"] = map[string]any{"ownerID": owner}
	}
	return r
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInteropScenarios runs every case of both interop scenarios against
// the shipped examples over HTTP, comparing the answers byte for byte as the
// interop runners compare them.
func TestInteropScenarios(t *testing.T) {
	for _, name := range []string{"todo", "gateway"} {
		t.Run(name, func(t *testing.T) {
			sc := loadScenario(t, name)
			ex := serveExample(t, name)
			if len(sc.Evaluations) == 0 {
				t.Fatal("no cases")
			}
			for _, c := range sc.Evaluations {
				action, want := c.Allow, true
				if action == "" {
					action, want = c.Deny, false
				}
				body := mustJSON(t, map[string]any{
					"subject":  map[string]any{"type": sc.SubjectType, "id": sc.Subjects[c.Who]},
					"action":   map[string]any{"name": action},
					"resource": resource(t, c.On, c.Owner),
				})
				status, _, got := ex.post("/access/v1/evaluation", body)
				wantBody := `{"decision":false}`
				if want {
					wantBody = `{"decision":true}`
				}
				if status != 200 || string(bytes.TrimSpace(got)) != wantBody {
					t.Errorf("%s %s %s (owner %q): %d %s, want %s", c.Who, action, c.On, c.Owner, status, got, wantBody)
				}
			}
			for _, b := range sc.Batches {
				var items []any
				var want []map[string]bool
				for _, it := range b.Items {
					items = append(items, map[string]any{"resource": resource(t, it.On, it.Owner)})
					want = append(want, map[string]bool{"decision": it.Expect})
				}
				body := mustJSON(t, map[string]any{
					"subject":     map[string]any{"type": sc.SubjectType, "id": sc.Subjects[b.Who]},
					"action":      map[string]any{"name": b.Action},
					"evaluations": items,
				})
				status, _, got := ex.post("/access/v1/evaluations", body)
				wantBody := mustJSON(t, map[string]any{"evaluations": want})
				if status != 200 || string(bytes.TrimSpace(got)) != wantBody {
					t.Errorf("batch %s %s: %d %s, want %s", b.Who, b.Action, status, got, wantBody)
				}
			}
		})
	}
}
