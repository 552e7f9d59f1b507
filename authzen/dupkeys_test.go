package authzen_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestDuplicateKeys: a body with the same key twice in an object, at any
// level and in any case, is a 400 naming the key, so that no reader of the
// body (the PEP, a proxy, this API) can pick another value than the others.
func TestDuplicateKeys(t *testing.T) {
	ex := serveExample(t, "todo")
	action := `"action":{"name":"can_read_todos"}`
	resource := `"resource":{"type":"todo","id":"t1"}`
	cases := []struct {
		name, path, body string
		status           int
		want             []string // substrings of the answer
	}{
		{"a distinct subject is answered", "/access/v1/evaluation", `{"subject":{"type":"user","id":"` + rick + `"},` + action + `,` + resource + `}`, 200, []string{`{"decision":true}`}},
		{"id twice", "/access/v1/evaluation", `{"subject":{"type":"user","id":"JERRY","id":"` + rick + `"},` + action + `,` + resource + `}`, 400, []string{`duplicate key \"id\" in subject`}},
		{"subject twice", "/access/v1/evaluation", `{"subject":{"type":"user","id":"JERRY"},"subject":{"type":"user","id":"` + rick + `"},` + action + `,` + resource + `}`, 400, []string{`duplicate key \"subject\" in the request`}},
		{"keys differing only in case", "/access/v1/evaluation", `{"subject":{"type":"user","id":"JERRY","ID":"` + rick + `"},` + action + `,` + resource + `}`, 400, []string{`duplicate key \"ID\" in subject`}},
		{"top-level keys differing only in case", "/access/v1/evaluation", `{"subject":{"type":"user","id":"JERRY"},"Subject":{"type":"user","id":"` + rick + `"},` + action + `,` + resource + `}`, 400, []string{`duplicate key \"Subject\"`}},
		{"the Kelvin sign folds to k", "/access/v1/evaluation", `{"subject":{"type":"user","id":"` + rick + `","properties":{"kind":1,"\u212aind":2}},` + action + `,` + resource + `}`, 400, []string{"duplicate key", "subject.properties"}},
		{"an escaped key is the same key", "/access/v1/evaluation", `{"subject":{"type":"user","id":"JERRY","\u0069d":"` + rick + `"},` + action + `,` + resource + `}`, 400, []string{`duplicate key \"id\" in subject`}},
		{"deep in properties", "/access/v1/evaluation", `{"subject":{"type":"user","id":"` + rick + `"},` + action + `,"resource":{"type":"todo","id":"t1","properties":{"a":[{"ownerID":"x","ownerID":"y"}]}}}`, 400, []string{`duplicate key \"ownerID\" in resource.properties.a[0]`}},
		{"in context", "/access/v1/evaluation", `{"subject":{"type":"user","id":"` + rick + `"},` + action + `,` + resource + `,"context":{"ip":"a","ip":"b"}}`, 400, []string{`duplicate key \"ip\" in context`}},
		{"in a batch item", "/access/v1/evaluations", `{` + action + `,` + resource + `,"evaluations":[{"subject":{"type":"user","id":"JERRY"}},{"subject":{"type":"user","id":"JERRY","id":"` + rick + `"}}]}`, 400, []string{`duplicate key \"id\" in evaluations[1].subject`}},
		{"in a search", "/access/v1/search/resource", `{"subject":{"type":"user","id":"` + rick + `"},` + action + `,"resource":{"type":"todo","type":"x"}}`, 400, []string{`duplicate key \"type\" in resource`}},
		{"the same key in sibling objects is fine", "/access/v1/evaluation", `{"subject":{"type":"user","id":"` + rick + `","properties":{"id":1}},` + action + `,` + resource + `}`, 200, []string{`{"decision":true}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, got := ex.post(c.path, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d (%s)", status, c.status, got)
			}
			if !json.Valid(got) {
				t.Fatalf("not JSON: %s", got)
			}
			for _, w := range c.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("answer %s does not contain %s", got, w)
				}
			}
			if status == 400 && !bytes.Contains(got, []byte(`"error":`)) {
				t.Errorf("no error in %s", got)
			}
		})
	}
}

// TestNullBatchItemFields: in an evaluations item an explicit null subject,
// action or resource is an error for that item, never the top-level default,
// and so is an item that is itself null.
func TestNullBatchItemFields(t *testing.T) {
	ex := serveExample(t, "todo")
	def := `"subject":{"type":"user","id":"` + rick + `"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"}`
	nullErr := func(i int, field string) string {
		return `{"decision":false,"context":{"error":{"message":"evaluations[` + string(rune('0'+i)) + `].` + field + ` is null: leave it out to use the top-level ` + field + `","status":400}}}`
	}
	cases := []struct{ name, body, want string }{
		{"null subject", `{` + def + `,"evaluations":[{"subject":null},{}]}`,
			`{"evaluations":[` + nullErr(0, "subject") + `,{"decision":true}]}`},
		{"null action", `{` + def + `,"evaluations":[{},{"action":null}]}`,
			`{"evaluations":[{"decision":true},` + nullErr(1, "action") + `]}`},
		{"null resource, key in another case", `{` + def + `,"evaluations":[{"Resource":null}]}`,
			`{"evaluations":[` + nullErr(0, "resource") + `]}`},
		{"deny_on_first_deny stops at the null item", `{` + def + `,"options":{"evaluations_semantic":"deny_on_first_deny"},"evaluations":[{},{"subject":null},{}]}`,
			`{"evaluations":[{"decision":true},` + nullErr(1, "subject") + `]}`},
		{"a null item is no item of defaults", `{` + def + `,"evaluations":[null,{}]}`,
			`{"evaluations":[{"decision":false,"context":{"error":{"message":"evaluations[0] is null: send an object ({} takes every top-level default)","status":400}}},{"decision":true}]}`},
		{"null context still takes the default", `{` + def + `,"evaluations":[{"context":null}]}`,
			`{"evaluations":[{"decision":true}]}`},
		{"null properties are no properties", `{` + def + `,"evaluations":[{"subject":{"type":"user","id":"` + rick + `","properties":null}}]}`,
			`{"evaluations":[{"decision":true}]}`},
		{"a top-level null is no default", `{"subject":null,"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"},"evaluations":[{"subject":{"type":"user","id":"` + rick + `"}}]}`,
			`{"evaluations":[{"decision":true}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, got := ex.post("/access/v1/evaluations", c.body)
			if status != 200 || string(bytes.TrimSpace(got)) != c.want {
				t.Errorf("%d %s\nwant %s", status, got, c.want)
			}
		})
	}
}

// TestNonUnicodeStrings: a string that is not Unicode text (invalid UTF-8,
// a lone surrogate escape), anywhere in the body, is a 400 with a JSON
// error: read leniently, each becomes U+FFFD and different byte strings
// would name the same subject. Surrogate pairs and U+FFFD itself are text.
func TestNonUnicodeStrings(t *testing.T) {
	ex := serveExample(t, "todo")
	body := func(id string) string {
		return `{"subject":{"type":"user","id":"` + id + `"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"},"context":{"k":"v"}}`
	}
	cases := []struct {
		name, body string
		status     int
	}{
		{"invalid UTF-8 in an id", body("a\xffb"), 400},
		{"a truncated sequence", body("a\xe2\x84"), 400},
		{"a lone high surrogate", body(`a\ud800b`), 400},
		{"a lone low surrogate", body(`\udc00`), 400},
		{"a high surrogate then another escape", body(`\ud800\u0041`), 400},
		{"two high surrogates", body(`\ud83d\ud83d\ude00`), 400},
		{"in a context key", `{"subject":{"type":"user","id":"x"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"},"context":{"\ud800":1}}`, 400},
		{"in properties", `{"subject":{"type":"user","id":"x","properties":{"r":["\xff"]}},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"}}`, 400},
		{"in an unknown field", `{"subject":{"type":"user","id":"x"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t1"},"x":"\udfff"}`, 400},
		{"a surrogate pair", body(`\ud83d\ude00`), 200},
		{"U+FFFD itself", body("\xef\xbf\xbd"), 200},
		{"an escaped U+FFFD", body(`\ufffd`), 200},
		{"non-ASCII text", body("jos\xc3\xa9"), 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, got := ex.post("/access/v1/evaluation", c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, got)
			}
			if c.status == 400 {
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(got, &e); err != nil {
					t.Fatalf("not a JSON error: %s", got)
				}
			}
		})
	}
}
