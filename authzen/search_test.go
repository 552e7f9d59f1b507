package authzen_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

type searchOut struct {
	Page struct {
		NextToken *string `json:"next_token"`
		Count     int     `json:"count"`
		Total     int     `json:"total"`
	} `json:"page"`
	Results []map[string]string `json:"results"`
}

func search(t *testing.T, ex *example, path, body string) searchOut {
	t.Helper()
	status, _, got := ex.post(path, body)
	if status != 200 {
		t.Fatalf("%s: %d %s", path, status, got)
	}
	var out searchOut
	if err := json.Unmarshal(got, &out); err != nil {
		t.Fatal(err)
	}
	if out.Page.NextToken == nil || out.Results == nil {
		t.Fatalf("page.next_token and results are required: %s", got)
	}
	return out
}

func TestSearch(t *testing.T) {
	todo := serveExample(t, "todo")
	gw := serveExample(t, "gateway")
	// Who may update Morty's todo? Rick (evil genius) and Morty (owner);
	// the searched subject's id is ignored if sent.
	got := search(t, todo, "/access/v1/search/subject", `{"subject":{"type":"user","id":"ignored"},"action":{"name":"can_update_todo"},"resource":{"type":"todo","id":"t","properties":{"ownerID":"morty@the-citadel.com"}}}`)
	if len(got.Results) != 2 || got.Results[0]["id"] != rick || got.Results[1]["id"] != morty || got.Page.Total != 2 || *got.Page.NextToken != "" {
		t.Errorf("subject search: %+v", got)
	}
	// Which routes may Beth GET?
	got = search(t, gw, "/access/v1/search/resource", `{"subject":{"type":"identity","id":"`+beth+`"},"action":{"name":"GET"},"resource":{"type":"route"}}`)
	if len(got.Results) != 2 || got.Results[0]["id"] != "/todos" || got.Results[1]["id"] != "/users/{userId}" || got.Results[0]["type"] != "route" {
		t.Errorf("resource search: %+v", got)
	}
	// What may Beth do with a todo? Only read.
	got = search(t, todo, "/access/v1/search/action", `{"subject":{"type":"user","id":"`+beth+`"},"resource":{"type":"todo","id":"t","properties":{"ownerID":"beth@the-smiths.com"}}}`)
	if len(got.Results) != 1 || got.Results[0]["name"] != "can_read_todos" {
		t.Errorf("action search: %+v", got)
	}
	// Unknown types and ids give empty results, not errors.
	for _, c := range []struct{ path, body string }{
		{"/access/v1/search/subject", `{"subject":{"type":"robot"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t"}}`},
		{"/access/v1/search/resource", `{"subject":{"type":"user","id":"nobody"},"action":{"name":"can_read_todos"},"resource":{"type":"todo"}}`},
		{"/access/v1/search/resource", `{"subject":{"type":"user","id":"` + rick + `"},"action":{"name":"can_read_todos"},"resource":{"type":"spaceship"}}`},
		{"/access/v1/search/action", `{"subject":{"type":"user","id":"` + rick + `"},"resource":{"type":"spaceship","id":"x"}}`},
	} {
		if got := search(t, todo, c.path, c.body); len(got.Results) != 0 || got.Page.Total != 0 {
			t.Errorf("%s %s: %+v", c.path, c.body, got)
		}
	}
	// Missing required fields are bad requests.
	for _, body := range []string{
		`{"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t"}}`,
		`{"subject":{"id":"x"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t"}}`,
		`{"subject":{"type":"user"},"resource":{"type":"todo","id":"t"}}`,
		`{"subject":{"type":"user"},"action":{"name":"can_read_todos"},"resource":{"type":"todo"}}`,
	} {
		if status, _, got := todo.post("/access/v1/search/subject", body); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, status, got)
		}
	}
}

// TestSearchPages walks a search one result at a time: tokens are opaque,
// stable (the same query gets the same token) and bound to their query.
func TestSearchPages(t *testing.T) {
	ex := serveExample(t, "todo")
	q := `"subject":{"type":"user"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t"}`
	var ids []string
	var tokens []string
	token := ""
	for i := 0; ; i++ {
		page := `"page":{"limit":2}`
		if token != "" {
			page = `"page":{"limit":2,"token":"` + token + `"}`
		}
		got := search(t, ex, "/access/v1/search/subject", `{`+q+`,`+page+`}`)
		if got.Page.Total != 5 || got.Page.Count != len(got.Results) {
			t.Fatalf("page %d: %+v", i, got)
		}
		for _, r := range got.Results {
			ids = append(ids, r["id"])
		}
		token = *got.Page.NextToken
		if token == "" {
			break
		}
		tokens = append(tokens, token)
		if i > 5 {
			t.Fatal("pages do not end")
		}
	}
	if len(ids) != 5 {
		t.Fatalf("ids %v", ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("results repeat or are out of order: %v", ids)
		}
	}
	again := search(t, ex, "/access/v1/search/subject", `{`+q+`,"page":{"limit":2}}`)
	if *again.Page.NextToken != tokens[0] {
		t.Errorf("the same query got another token: %s, %s", *again.Page.NextToken, tokens[0])
	}
	// A token sent with another query or limit is refused.
	for _, body := range []string{
		`{` + q + `,"page":{"limit":3,"token":"` + tokens[0] + `"}}`,
		`{"subject":{"type":"user"},"action":{"name":"can_create_todo"},"resource":{"type":"todo","id":"t"},"page":{"limit":2,"token":"` + tokens[0] + `"}}`,
		`{` + q + `,"page":{"limit":2,"token":"garbage"}}`,
		`{` + q + `,"page":{"limit":0}}`,
	} {
		if status, _, got := ex.post("/access/v1/search/subject", body); status != 400 || !bytes.Contains(got, []byte("page")) {
			t.Errorf("%s: %d %s", body, status, got)
		}
	}
}

func TestMetadata(t *testing.T) {
	ex := serveExample(t, "todo")
	resp, err := http.Get(ex.base + "/.well-known/authzen-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"policy_decision_point":       ex.base,
		"access_evaluation_endpoint":  ex.base + "/access/v1/evaluation",
		"access_evaluations_endpoint": ex.base + "/access/v1/evaluations",
		"search_subject_endpoint":     ex.base + "/access/v1/search/subject",
		"search_resource_endpoint":    ex.base + "/access/v1/search/resource",
		"search_action_endpoint":      ex.base + "/access/v1/search/action",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %v, want %s", k, md[k], v)
		}
	}
	if _, ok := md["capabilities"].([]any); !ok {
		t.Errorf("capabilities: %v", md["capabilities"])
	}
}
