package authzen

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/edgeauthz/edgeauthz/decision"
)

// hasDuplicateKey is the reference: encoding/json's tokenizer, which
// unescapes keys itself.
func hasDuplicateKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		keys  map[string]bool
		isObj bool
		key   bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.isObj && top.key
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.isObj {
					top.key = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, isObj: v == '{', key: true})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].isObj {
					stack[len(stack)-1].key = true
				}
			}
			continue
		case string:
			if isKey {
				k := decision.FoldKey(v)
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.isObj {
			top.key = true
		}
	}
}

// FuzzDuplicateKeys: on any valid JSON object the decoder never panics and
// finds a duplicate key exactly when the reference does.
func FuzzDuplicateKeys(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":{"a":2}}`, `{"a":1,"A":2}`, `{"a":[{"x":1},{"x":1,"x":2}]}`,
		`{"\u0061":1,"a":2}`, `{"kind":1,"\u212aind":2}`, `{"evaluations":[{"subject":null}]}`,
		`{"a":"\"}","b":{}}`, `{"s":"\\","s2":[1,2,[3]]}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"K3":17}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.TrimSpace(body)
		if !json.Valid(body) || len(body) == 0 || body[0] != '{' {
			return
		}
		var p parser
		var r requestIn
		err := p.decodeRequest(string(body), fieldEvaluations|fieldOptions|fieldPage, &r)
		if got, want := p.dupErr != nil, hasDuplicateKey(body); got != want {
			t.Fatalf("%q: duplicate %v (%v), reference %v", body, got, err, want)
		}
	})
}
