package authzen_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeauthz/edgeauthz/authzen"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// newHandler serves the Todo example's policy in process, with key "k".
func newHandler(tb testing.TB, policy string) *authzen.Handler {
	tb.Helper()
	p, err := config.LoadPolicy(filepath.Join("..", "examples", "authzen", policy, "policy.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := decision.Compile(p, decision.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	eng := decision.NewEngine(0)
	eng.Swap(snap)
	auth, err := authzen.NewAuthenticator(authzen.AuthOptions{APIKeys: []string{"k"}})
	if err != nil {
		tb.Fatal(err)
	}
	return authzen.NewHandler(authzen.Options{Engine: eng, Auth: auth})
}

// FuzzEvaluation holds the decoder's properties: it never panics, a body
// that is not one JSON object is a 400 with a JSON error, and no request
// that lacks a required field is ever answered with decision true.
func FuzzEvaluation(f *testing.F) {
	f.Add([]byte(evalBody(morty, "can_update_todo", "morty@the-citadel.com")))
	f.Add([]byte(`{"subject":{"type":"user","id":"` + rick + `"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"1"}}`))
	f.Add([]byte(`{"subject":{"type":"user"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"1"}}`))
	f.Add([]byte(`{"subject":{"type":"user","id":1}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"subject":null,"action":null}`))
	f.Add([]byte(``))
	if seeds, err := os.ReadFile(filepath.Join("testdata", "todo.yaml")); err == nil {
		f.Add(seeds[:min(len(seeds), 200)])
	}
	h := newHandler(f, "todo")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{authzen.PathEvaluation, authzen.PathEvaluations} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			out := rec.Body.Bytes()
			if !json.Valid(out) {
				t.Fatalf("%s: the answer is not JSON: %q", path, out)
			}
			var obj map[string]json.RawMessage
			isObject := json.Unmarshal(body, &obj) == nil && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
			if !isObject && rec.Code != http.StatusBadRequest {
				t.Fatalf("%s: %q is not a JSON object but got %d %s", path, body, rec.Code, out)
			}
			if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
				t.Fatalf("%s: status %d", path, rec.Code)
			}
			if path == authzen.PathEvaluation && bytes.Contains(out, []byte(`"decision":true`)) && !complete(body) {
				t.Fatalf("an incomplete request was allowed: %q", body)
			}
		}
	})
}

// complete reports whether a body carries every field an evaluation needs,
// as non-empty strings.
func complete(body []byte) bool {
	var r struct {
		Subject  *struct{ Type, ID string } `json:"subject"`
		Action   *struct{ Name string }     `json:"action"`
		Resource *struct{ Type, ID string } `json:"resource"`
	}
	if json.Unmarshal(body, &r) != nil {
		return false
	}
	return r.Subject != nil && r.Subject.Type != "" && r.Subject.ID != "" && r.Action != nil && r.Action.Name != "" &&
		r.Resource != nil && r.Resource.Type != "" && r.Resource.ID != ""
}
