package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"gopkg.in/yaml.v3"
)

// FuzzParsePolicy: any bytes either parse into a policy or fail with
// config errors that carry this file's name and a line ≥ 0; a parsed policy
// compiles or fails the same way, and never panics.
func FuzzParsePolicy(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/document/policy_*", "../examples/policy.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("routes:\n  - {name: r, match: 'GET /a/{x}', scopes: ['{params.x}'], when: 'true'}\n"))
	f.Add([]byte("{\"routes\": [{\"name\": \"r\", \"match\": \"/\", \"all_scopes\": true}]}"))
	f.Add([]byte("tuples:\n  - doc:1#viewer@user:a\n  # c\n\n  - doc:2#viewer@user:b\nroutes: []\n"))
	f.Add([]byte("tuples:\n- doc:1#viewer@user:a\n- doc:2#viewer@user:b\n"))
	f.Add([]byte("tuples:\n  - 'doc:1#viewer@user:a with c {\"x\": 1}'\n  - 'it''s'  \n  - doc:2#viewer@user:b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang is a finding too: crash the worker so the input is kept.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("hung on %q", data)) })
		defer watchdog.Stop()
		p, err := config.ParsePolicy("f.yaml", data)
		if err != nil {
			checkFuzzErr(t, err)
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			return
		}
		if p == nil || p.File != "f.yaml" || p.Lines == nil {
			t.Fatalf("bad policy %+v", p)
		}
		if n := countDocuments(data); n != 1 {
			t.Fatalf("a policy parsed from %d documents", n)
		}
		checkTuples(t, data, p)
		for i := range p.Routes {
			if p.Routes[i].Line < 0 {
				t.Fatalf("route %d line %d", i, p.Routes[i].Line)
			}
		}
		if _, err := decision.Compile(p, decision.Options{}); err != nil {
			checkFuzzErr(t, err)
		}
	})
}

// countDocuments is how many YAML documents data holds, as yaml.v3 reads
// them.
func countDocuments(data []byte) int {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			return n
		}
		n++
	}
}

func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	var es config.Errors
	var e *config.Error
	switch {
	case errors.As(err, &es):
		if len(es) == 0 {
			t.Fatal("empty Errors")
		}
		for _, e := range es {
			if e.Line < 0 || e.File != "f.yaml" || e.Msg == "" {
				t.Fatalf("bad error %#v", e)
			}
		}
	case errors.As(err, &e):
		if e.Line < 0 || e.File != "f.yaml" {
			t.Fatalf("bad error %#v", e)
		}
	default:
		t.Fatalf("error %T is not a config error: %v", err, err)
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("error does not wrap ErrInvalid: %v", err)
	}
}

// checkTuples: the tuples of a parsed policy and their lines are what
// yaml.v3 reads from the document's top-level tuples list.
func checkTuples(t *testing.T, data []byte, p *config.Policy) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		t.Fatalf("a parsed policy yaml.v3 cannot read: %v", err)
	}
	var want []string
	var lines []int
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k, v := root.Content[i], root.Content[i+1]; {
		case k.Value == "<<":
			return // merged keys: not this check's business
		case k.Value == "tuples":
			if err := v.Decode(&want); err != nil {
				t.Fatalf("tuples yaml.v3 cannot read: %v", err)
			}
			for _, item := range v.Content {
				lines = append(lines, item.Line)
			}
			if v.Kind != yaml.SequenceNode {
				lines = nil // an alias: its items' lines are not recorded
			}
		}
	}
	if len(p.Tuples) != len(want) {
		t.Fatalf("tuples %q, yaml.v3 reads %q", p.Tuples, want)
	}
	for i := range want {
		if p.Tuples[i] != want[i] || lines != nil && p.TupleLine(i) != lines[i] {
			t.Fatalf("tuple %d %q on line %d, yaml.v3 reads %q on line %d", i, p.Tuples[i], p.TupleLine(i), want[i], lines[i])
		}
	}
}
