package authzen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision"
)

// The reference decoding: encoding/json into the request's shape, and
// hasDuplicateKey. The decoder must accept exactly the bodies the reference
// accepts, and decode them to the same values.

type refEntity struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Properties json.RawMessage `json:"properties"`
}

type refAction struct {
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
}

type refEval struct {
	Subject  *refEntity     `json:"subject"`
	Action   *refAction     `json:"action"`
	Resource *refEntity     `json:"resource"`
	Context  map[string]any `json:"context"`
}

type refOptions struct {
	Semantic       string `json:"evaluations_semantic"`
	IncludeReasons bool   `json:"include_reasons"`
}

type refPage struct {
	Token *string `json:"token"`
	Limit *int    `json:"limit"`
}

// The three shapes the endpoints read.
type (
	refEvaluation struct {
		refEval
		Options *refOptions `json:"options"`
	}
	refEvaluations struct {
		refEval
		Evaluations []refEval   `json:"evaluations"`
		Options     *refOptions `json:"options"`
	}
	refSearch struct {
		refEval
		Page *refPage `json:"page"`
	}
)

func sameEntity(e *entityIn, r *refEntity) error {
	if e.set != (r != nil) {
		return fmt.Errorf("present: %v, reference %v", e.set, r != nil)
	}
	if r != nil && (e.typ != r.Type || e.id != r.ID || e.props != string(r.Properties)) {
		return fmt.Errorf("%q %q %q, reference %q %q %q", e.typ, e.id, e.props, r.Type, r.ID, r.Properties)
	}
	return nil
}

func sameEval(e *evalIn, r *refEval) error {
	if err := sameEntity(&e.subject, r.Subject); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	if err := sameEntity(&e.resource, r.Resource); err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	if e.action.set != (r.Action != nil) {
		return fmt.Errorf("action present: %v, reference %v", e.action.set, r.Action != nil)
	}
	if r.Action != nil && (e.action.name != r.Action.Name || e.action.props != string(r.Action.Properties)) {
		return fmt.Errorf("action %q %q, reference %q %q", e.action.name, e.action.props, r.Action.Name, r.Action.Properties)
	}
	if !reflect.DeepEqual(e.context, r.Context) {
		return fmt.Errorf("context %#v, reference %#v", e.context, r.Context)
	}
	return nil
}

// refNulls lists, per evaluations item, the fields that are an explicit
// null under a name a case-insensitive reader takes for them ("item" for
// an item that is itself null).
func refNulls(body []byte) map[int][]string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	out := map[int][]string{}
	for k, v := range top {
		if !strings.EqualFold(k, "evaluations") {
			continue
		}
		var raws []json.RawMessage
		_ = json.Unmarshal(v, &raws)
		for i, raw := range raws {
			if string(raw) == "null" {
				out[i] = append(out[i], "item")
				continue
			}
			var it map[string]json.RawMessage
			_ = json.Unmarshal(raw, &it)
			for k, v := range it {
				for _, f := range []string{"subject", "action", "resource"} {
					if string(v) == "null" && decision.FoldEqual(k, f) {
						out[i] = append(out[i], f)
					}
				}
			}
		}
	}
	return out
}

// unicodeText reports whether every string of the valid JSON body is
// Unicode text: valid UTF-8 (escapes are ASCII, so the body's bytes tell)
// and every \u escape of a surrogate one half of a high-low pair.
func unicodeText(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	var pending rune = -1 // a high surrogate waiting for its low half
	for i, in := 0, false; i < len(body); i++ {
		switch c := body[i]; {
		case !in:
			in = c == '"'
		case c == '"':
			if pending >= 0 {
				return false
			}
			in = false
		case c == '\\' && body[i+1] == 'u':
			v, _ := strconv.ParseUint(string(body[i+2:i+6]), 16, 32)
			r := rune(v)
			switch {
			case pending >= 0:
				if utf16.DecodeRune(pending, r) == utf8.RuneError {
					return false
				}
				pending = -1
			case utf16.IsSurrogate(r) && r < 0xdc00:
				pending = r
			case utf16.IsSurrogate(r):
				return false
			}
			i += 5
		case c == '\\':
			if pending >= 0 {
				return false
			}
			i++
		default:
			if pending >= 0 {
				return false
			}
		}
	}
	return true
}

// differential decodes body as each endpoint does and compares with the
// reference.
func differential(t *testing.T, body []byte) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return
	}
	// The decoder also refuses what encoding/json accepts but cannot keep:
	// a duplicate key, and a string that is not Unicode text.
	dup := json.Valid(body) && (hasDuplicateKey(body) || !unicodeText(body))
	for _, known := range []fields{fieldOptions, fieldEvaluations | fieldOptions, fieldPage} {
		var sc scratch
		sc.body.Write(body)
		err := sc.decode(known)
		r := &sc.req
		var refErr error
		var ref refEval
		switch known {
		case fieldOptions:
			var v refEvaluation
			if refErr = json.Unmarshal(body, &v); refErr == nil && !dup {
				ref = v.refEval
				if v.Options != nil && (r.semantic != v.Options.Semantic || r.reasons != v.Options.IncludeReasons) {
					t.Fatalf("%q: options %q %v, reference %+v", body, r.semantic, r.reasons, v.Options)
				}
			}
		case fieldPage:
			var v refSearch
			if refErr = json.Unmarshal(body, &v); refErr == nil && !dup {
				ref = v.refEval
				var tok *string
				if r.hasToken {
					tok = &r.token
				}
				var lim *int
				if r.hasLimit {
					lim = &r.limit
				}
				want := v.Page
				if want == nil {
					want = &refPage{}
				}
				if !reflect.DeepEqual(tok, want.Token) || !reflect.DeepEqual(lim, want.Limit) {
					t.Fatalf("%q: page %v %v, reference %v %v", body, tok, lim, want.Token, want.Limit)
				}
			}
		default:
			var v refEvaluations
			if refErr = json.Unmarshal(body, &v); refErr == nil && !dup {
				ref = v.refEval
				if len(r.items) != len(v.Evaluations) {
					t.Fatalf("%q: %d items, reference %d", body, len(r.items), len(v.Evaluations))
				}
				nulls := refNulls(body)
				for i := range r.items {
					if err := sameEval(&r.items[i], &v.Evaluations[i]); err != nil {
						t.Fatalf("%q: evaluations[%d]: %v", body, i, err)
					}
					n := r.items[i].null
					if r.items[i].nullItem {
						n = "item"
					}
					if (n == "") != (len(nulls[i]) == 0) || n != "" && !strings.Contains(strings.Join(nulls[i], ","), n) {
						t.Fatalf("%q: evaluations[%d] null %q, reference %v", body, i, n, nulls[i])
					}
				}
				if v.Options != nil && (r.semantic != v.Options.Semantic || r.reasons != v.Options.IncludeReasons) {
					t.Fatalf("%q: options %q %v, reference %+v", body, r.semantic, r.reasons, v.Options)
				}
			}
		}
		if (err == nil) != (refErr == nil && !dup) {
			t.Fatalf("%q (fields %b): decoder error %v; reference error %v, duplicate key %v", body, known, err, refErr, dup)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), ErrBadRequest.Error()+": ") {
				t.Fatalf("%q: error %v is not a bad request", body, err)
			}
			continue
		}
		if err := sameEval(&r.evalIn, &ref); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		// Properties decode as encoding/json decodes them.
		for _, raw := range []string{r.subject.props, r.resource.props, r.action.props} {
			var want map[string]any
			wantErr := json.Unmarshal([]byte(raw), &want)
			got, gotErr := sc.p.decodeObject("properties", raw)
			if raw == "" || raw[0] != '{' {
				continue
			}
			if (gotErr == nil) != (wantErr == nil) || gotErr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: properties %s: %#v (%v), reference %#v (%v)", body, raw, got, gotErr, want, wantErr)
			}
		}
	}
}

// FuzzDecoder: the decoder accepts exactly what encoding/json accepts
// without a duplicate key, and decodes it to the same values, for every
// endpoint's fields.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		`{"subject":{"type":"user","id":"u1","properties":{"roles":["a"],"n":1.5}},"action":{"name":"read"},"resource":{"type":"doc","id":"d"},"context":{"ip":"1.2.3.4","x":[1,true,null,{"y":"z"}]}}`,
		`{"SUBJECT":{"Type":"user","ID":"u"},"ſubject":1}`,
		`{"ſubject":{"type":"user","\u0069d":"\u00e9\ud83d\ude00"},"Kind":"\ud800"}`,
		`{"evaluations":[{"subject":null},null,{"Resource":null,"context":{}},{"action":{"name":"x","properties":[]}}],"options":{"evaluations_semantic":"deny_on_first_deny","include_reasons":true}}`,
		`{"evaluations":{}}`, `{"evaluations":[1]}`, `{"options":{"include_reasons":"yes"}}`,
		`{"page":{"token":"abc","limit":10}}`, `{"page":{"token":null,"limit":1.0}}`, `{"page":{"limit":-0}}`, `{"page":{"limit":99999999999999999999}}`,
		`{"context":{"big":1e400}}`, `{"subject":{"type":"u","id":"i","properties":{"big":-1e999}}}`,
		`{"subject":{"id":42},"x":`, `{"a":1}{}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\xfe\"}",
		`{"a":[1,2,]}`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":tru}`, `{"a":nul}`, `{"a":[[[[[]]]]]}`,
		`{"subject":{"type":"user","id":"u","id":"v"}}`, `{"context":{"ip":"a","IP":"b"}}`,
	} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"todo.yaml", "gateway.yaml"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			for _, line := range bytes.Split(b, []byte("\n")) {
				if i := bytes.IndexByte(line, '{'); i >= 0 && json.Valid(bytes.Trim(line[i:], "' ")) {
					f.Add(bytes.Trim(line[i:], "' "))
				}
			}
		}
	}
	f.Fuzz(differential)
}

// TestDecoderNesting: the nesting limit is encoding/json's.
func TestDecoderNesting(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		body := `{"context":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		differential(t, []byte(body))
	}
}

// TestDecoderStrings: a byte that ends a string's plain run (a quote, an
// escape, a control character, non-ASCII or invalid UTF-8) is found at
// every place, inside and across the eight-byte steps of the scan.
func TestDecoderStrings(t *testing.T) {
	for _, special := range []string{`\"`, `\\`, `\u0041`, `\ud800`, "\x01", "\x1f", "é", "\xff", "\xe2\x84", `"`, "\x7f", " "} {
		for pos := 0; pos < 20; pos++ {
			s := strings.Repeat("a", pos) + special + strings.Repeat("b", 20-pos)
			differential(t, []byte(`{"subject":{"type":"`+s+`","id":"x"},"context":{"`+s+`":"`+s+`"}}`))
		}
	}
}
