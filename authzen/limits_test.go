package authzen_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/authzen"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// TestLimits: a body over max_body_bytes is a 413 whatever length it
// announces, and a batch over max_batch items is a 400; a request within
// both is answered, also after a refused one (its memory is reused).
func TestLimits(t *testing.T) {
	p, err := config.LoadPolicy(filepath.Join("..", "examples", "authzen", "todo", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := decision.Compile(p, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := decision.NewEngine(0)
	eng.Swap(snap)
	auth, err := authzen.NewAuthenticator(authzen.AuthOptions{APIKeys: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	h := authzen.NewHandler(authzen.Options{Engine: eng, Auth: auth, MaxBodyBytes: 400, MaxBatch: 2})
	item := `{"resource":{"type":"todo","id":"t1"}}`
	body := func(items int) string {
		return `{"subject":{"type":"user","id":"` + morty + `"},"action":{"name":"can_read_todos"},"evaluations":[` +
			strings.TrimSuffix(strings.Repeat(item+",", items), ",") + `]}`
	}
	long := `{"subject":{"type":"user","id":"` + strings.Repeat("a", 500) + `"}}`
	cases := []struct {
		name          string
		body          string
		contentLength int64 // 0: the body's own length
		status        int
		want          string
	}{
		{"within the limits", body(2), 0, 200, `{"evaluations":[{"decision":true},{"decision":true}]}`},
		{"one item too many", body(3), 0, 400, "at most 2"},
		{"a body too large", long, 0, 413, "larger than 400 bytes"},
		{"a body larger than it announces", long, 100, 413, "larger than 400 bytes"},
		{"a body smaller than it announces", body(1), 300, 200, `{"evaluations":[{"decision":true}]}`},
		{"answered again after the refusals", body(2), 0, 200, `{"evaluations":[{"decision":true},{"decision":true}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, authzen.PathEvaluations, strings.NewReader(c.body))
			if c.contentLength > 0 {
				req.ContentLength = c.contentLength
			}
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := string(bytes.TrimSpace(rec.Body.Bytes()))
			if rec.Code != c.status || !strings.Contains(got, c.want) {
				t.Errorf("%d %s, want %d %s", rec.Code, got, c.status, c.want)
			}
		})
	}
}

// TestConcurrentRequestsKeepTheirOwnMemory: requests served at once, each
// with its own subject and number of items, get their own answers: pooled
// request memory is never shared.
func TestConcurrentRequestsKeepTheirOwnMemory(t *testing.T) {
	h := newHandler(t, "todo")
	const beth = "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs" // a viewer: may not create
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			defer func() { errs <- "" }()
			for i := 0; i < 40; i++ {
				who, want := morty, `{"decision":true}`
				if (g+i)%2 == 1 {
					who, want = beth, `{"decision":false}`
				}
				n := 1 + (g*7+i)%9
				body := `{"subject":{"type":"user","id":"` + who + `"},"action":{"name":"can_create_todo"},"evaluations":[` +
					strings.TrimSuffix(strings.Repeat(`{"resource":{"type":"todo","id":"t"}},`, n), ",") + `]}`
				req := httptest.NewRequest(http.MethodPost, authzen.PathEvaluations, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer k")
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				wantBody := `{"evaluations":[` + strings.TrimSuffix(strings.Repeat(want+",", n), ",") + `]}`
				if got := string(bytes.TrimSpace(rec.Body.Bytes())); got != wantBody {
					errs <- got + " want " + wantBody
					return
				}
			}
		}(g)
	}
	for done := 0; done < 8; {
		if e := <-errs; e != "" {
			t.Error(e)
		} else {
			done++
		}
	}
}
