package authzen_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	rick  = "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"
	morty = "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"
	beth  = "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"
)

func evalBody(subject, action, owner string) string {
	return `{"subject":{"type":"user","id":"` + subject + `"},"action":{"name":"` + action +
		`"},"resource":{"type":"todo","id":"t1","properties":{"ownerID":"` + owner + `"}}}`
}

// TestEvaluationProtocol holds the request and response rules of the
// evaluation endpoint: 200 for denies, 400 with a JSON error for bad
// requests, unknown fields ignored, reasons only when asked for.
func TestEvaluationProtocol(t *testing.T) {
	ex := serveExample(t, "todo")
	cases := []struct {
		name        string
		body        string
		header      []string
		status      int
		want        string // exact body, or a substring of an error
		errContains bool
	}{
		{name: "allow", body: evalBody(morty, "can_update_todo", "morty@the-citadel.com"), status: 200, want: `{"decision":true}`},
		{name: "deny is 200 with decision false and no context", body: evalBody(morty, "can_update_todo", "rick@the-citadel.com"), status: 200, want: `{"decision":false}`},
		{name: "unknown fields are ignored", body: `{"subject":{"type":"user","_note":"x","id":"` + morty + `","extra":1},"action":{"name":"can_read_todos","x":[]},"resource":{"type":"todo","id":"t1"},"context":{},"future":{"a":1}}`, status: 200, want: `{"decision":true}`},
		{name: "unknown subject is denied", body: evalBody("nobody", "can_read_todos", ""), status: 200, want: `{"decision":false}`},
		{name: "unknown action is denied", body: evalBody(rick, "can_launch_rockets", ""), status: 200, want: `{"decision":false}`},
		{name: "reasons when asked", body: `{"subject":{"type":"user","id":"` + beth + `"},"action":{"name":"can_create_todo"},"resource":{"type":"todo","id":"t1"},"options":{"include_reasons":true}}`, status: 200, want: `"reason":"missing_role"`, errContains: true},
		{name: "malformed JSON", body: `{"subject":`, status: 400, want: "malformed JSON", errContains: true},
		{name: "empty body", body: ``, status: 400, want: "empty", errContains: true},
		{name: "not an object", body: `[1,2]`, status: 400, want: "JSON object", errContains: true},
		{name: "trailing data", body: evalBody(morty, "can_read_todos", "") + `{}`, status: 400, want: "trailing", errContains: true},
		{name: "wrong type of id", body: `{"subject":{"type":"user","id":42},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"}}`, status: 400, want: "subject.id", errContains: true},
		{name: "wrong type of properties", body: `{"subject":{"type":"user","id":"a","properties":"x"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"}}`, status: 400, want: "properties", errContains: true},
		{name: "missing subject", body: `{"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"}}`, status: 400, want: "subject is required", errContains: true},
		{name: "missing subject id", body: `{"subject":{"type":"user"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"}}`, status: 400, want: "subject.id is required", errContains: true},
		{name: "missing action name", body: `{"subject":{"type":"user","id":"a"},"action":{},"resource":{"type":"todo","id":"t1"}}`, status: 400, want: "action.name is required", errContains: true},
		{name: "missing resource type", body: `{"subject":{"type":"user","id":"a"},"action":{"name":"x"},"resource":{"id":"t1"}}`, status: 400, want: "resource.type is required", errContains: true},
		{name: "non-JSON content type", body: evalBody(morty, "can_read_todos", ""), header: []string{"Content-Type", "text/plain"}, status: 400, want: "Content-Type", errContains: true},
		{name: "a +json content type", body: evalBody(morty, "can_read_todos", ""), header: []string{"Content-Type", "application/vnd.example+json; charset=utf-8"}, status: 200, want: `{"decision":true}`},
		{name: "json with parameters", body: evalBody(morty, "can_read_todos", ""), header: []string{"Content-Type", "Application/JSON; charset=utf-8"}, status: 200, want: `{"decision":true}`},
		{name: "a +json type outside application", body: evalBody(morty, "can_read_todos", ""), header: []string{"Content-Type", "text/x+json"}, status: 400, want: "Content-Type", errContains: true},
		{name: "a bare +json", body: evalBody(morty, "can_read_todos", ""), header: []string{"Content-Type", "application/+json"}, status: 400, want: "Content-Type", errContains: true},
		{name: "no content type", body: evalBody(morty, "can_read_todos", ""), header: []string{"Content-Type", ""}, status: 400, want: "Content-Type", errContains: true},
		{name: "no credentials", body: evalBody(morty, "can_read_todos", ""), header: []string{"Authorization", ""}, status: 401, want: "Authorization", errContains: true},
		{name: "wrong key", body: evalBody(morty, "can_read_todos", ""), header: []string{"Authorization", "Bearer not-the-key"}, status: 401, want: "unauthenticated", errContains: true},
		{name: "a malformed request without credentials is 401, not 400", body: `{`, header: []string{"Authorization", ""}, status: 401, want: "unauthenticated", errContains: true},
		{name: "the key alone, as interop clients send it", body: evalBody(morty, "can_read_todos", ""), header: []string{"Authorization", ex.key}, status: 200, want: `{"decision":true}`},
		{name: "body too large", body: `{"subject":{"type":"user","id":"` + strings.Repeat("a", 2<<20) + `"}}`, status: 413, want: "larger", errContains: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, h, got := ex.post("/access/v1/evaluation", c.body, c.header...)
			if status != c.status {
				t.Fatalf("status %d, want %d (%s)", status, c.status, got)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if !json.Valid(got) {
				t.Fatalf("not JSON: %s", got)
			}
			if c.errContains {
				if !bytes.Contains(got, []byte(c.want)) {
					t.Errorf("body %s does not contain %q", got, c.want)
				}
				if status >= 400 && !bytes.Contains(got, []byte(`"error":`)) {
					t.Errorf("error body %s has no error", got)
				}
				if bytes.Contains(got, []byte(`"decision":true`)) {
					t.Errorf("a refused request answered true: %s", got)
				}
				return
			}
			if string(bytes.TrimSpace(got)) != c.want {
				t.Errorf("body %s, want %s", got, c.want)
			}
		})
	}
}

func TestRequestIDEchoed(t *testing.T) {
	ex := serveExample(t, "todo")
	for _, body := range []string{evalBody(morty, "can_read_todos", ""), `{`} {
		_, h, _ := ex.post("/access/v1/evaluation", body, "X-Request-ID", "req-42")
		if got := h.Get("X-Request-ID"); got != "req-42" {
			t.Errorf("X-Request-ID %q, want req-42", got)
		}
	}
}

func TestMethodsAndPaths(t *testing.T) {
	ex := serveExample(t, "todo")
	resp, err := http.Get(ex.base + "/access/v1/evaluation")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET evaluation: %d", resp.StatusCode)
	}
	if status, _, _ := ex.post("/access/v1/nothing", "{}"); status != 404 {
		t.Errorf("unknown endpoint: %d", status)
	}
}

// TestEvaluations holds the batch rules: defaults overridden key by key,
// results in request order, a missing or empty array as one evaluation,
// the three semantics, and a bad item answered in place.
func TestEvaluations(t *testing.T) {
	ex := serveExample(t, "todo")
	todo := func(owner string) string {
		return `{"resource":{"type":"todo","id":"t","properties":{"ownerID":"` + owner + `"}}}`
	}
	def := `"subject":{"type":"user","id":"` + morty + `"},"action":{"name":"can_update_todo"},"resource":{"type":"todo","id":"t","properties":{"ownerID":"morty@the-citadel.com"}}`
	cases := []struct{ name, body, want string }{
		{"order and defaults", `{` + def + `,"evaluations":[` + todo("rick@the-citadel.com") + `,` + todo("morty@the-citadel.com") + `,{"action":{"name":"can_read_todos"}},{"subject":{"type":"user","id":"` + beth + `"}}]}`,
			`{"evaluations":[{"decision":false},{"decision":true},{"decision":true},{"decision":false}]}`},
		{"missing array is one evaluation", `{` + def + `}`, `{"evaluations":[{"decision":true}]}`},
		{"empty array is one evaluation", `{` + def + `,"evaluations":[]}`, `{"evaluations":[{"decision":true}]}`},
		{"execute_all answers a bad item in place", `{` + def + `,"evaluations":[{"subject":{"type":"user"}},` + todo("morty@the-citadel.com") + `]}`,
			`{"evaluations":[{"decision":false,"context":{"error":{"message":"subject.id is required","status":400}}},{"decision":true}]}`},
		{"deny_on_first_deny stops at the first deny", `{` + def + `,"options":{"evaluations_semantic":"deny_on_first_deny"},"evaluations":[` + todo("morty@the-citadel.com") + `,` + todo("rick@the-citadel.com") + `,` + todo("morty@the-citadel.com") + `]}`,
			`{"evaluations":[{"decision":true},{"decision":false,"context":{"code":"200","reason":"deny_on_first_deny"}}]}`},
		{"permit_on_first_permit stops at the first permit", `{` + def + `,"options":{"evaluations_semantic":"permit_on_first_permit"},"evaluations":[` + todo("rick@the-citadel.com") + `,` + todo("morty@the-citadel.com") + `,` + todo("rick@the-citadel.com") + `]}`,
			`{"evaluations":[{"decision":false},{"decision":true,"context":{"code":"200","reason":"permit_on_first_permit"}}]}`},
		{"execute_all runs every item", `{` + def + `,"options":{"evaluations_semantic":"execute_all"},"evaluations":[` + todo("rick@the-citadel.com") + `,` + todo("morty@the-citadel.com") + `]}`,
			`{"evaluations":[{"decision":false},{"decision":true}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, got := ex.post("/access/v1/evaluations", c.body)
			if status != 200 || string(bytes.TrimSpace(got)) != c.want {
				t.Errorf("%d %s\nwant %s", status, got, c.want)
			}
		})
	}
	if status, _, got := ex.post("/access/v1/evaluations", `{`+def+`,"options":{"evaluations_semantic":"first"}}`); status != 400 {
		t.Errorf("unknown semantic: %d %s", status, got)
	}
	if status, _, got := ex.post("/access/v1/evaluations", `{`+def+`,"evaluations":{}}`); status != 400 {
		t.Errorf("evaluations as an object: %d %s", status, got)
	}
}

// TestDecisionsLogged checks that AuthZEN decisions reach the decision log.
func TestDecisionsLogged(t *testing.T) {
	ex := serveExample(t, "todo")
	ex.post("/access/v1/evaluation", evalBody(beth, "can_delete_todo", "beth@the-smiths.com"), "X-Request-ID", "log-1")
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(ex.logPath)
		if bytes.Contains(b, []byte(`"request_id":"log-1"`)) {
			for _, want := range []string{`"api":"authzen"`, `"decision":"deny"`, `"rule":"todo/can_delete_todo"`, `"subject":"user:` + beth} {
				if !bytes.Contains(b, []byte(want)) {
					t.Errorf("log %s lacks %s", b, want)
				}
			}
			if !regexp.MustCompile(`"decision_id":"[0-9a-f]{12}-[0-9a-f]{16}"`).Match(b) {
				t.Errorf("log %s lacks a decision_id", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
