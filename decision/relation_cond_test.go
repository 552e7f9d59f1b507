package decision_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var modularFiles = map[string]string{
	"policy.yaml":     "# modular\nmodel_file: m/fga.mod\ntuples:\n  - org:o#admin@user:a\n  - doc:d#org@org:o\n",
	"m/fga.mod":       "schema: '1.2'\ncontents:\n  - core.fga\n  - docs/docs.fga\n",
	"m/core.fga":      "module core\n\ntype user\n\ntype org\n  relations\n    define admin: [user]\n",
	"m/docs/docs.fga": "module docs\n\nextend type org\n  relations\n    define can_write: admin\n\ntype doc\n  relations\n    define org: [org]\n    define editor: can_write from org\n",
}

func TestModelFile(t *testing.T) {
	dir := writeFiles(t, modularFiles)
	p, err := config.LoadPolicy(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decision.Compile(p, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.CheckRelation("doc:d", "editor", "user:a", nil); !r.Allowed {
		t.Fatalf("%+v", r)
	}
	// The document that travels carries the modules inline and compiles alike.
	data, _ := os.ReadFile(filepath.Join(dir, "policy.yaml"))
	inlined, err := config.InlineModules(data, p)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := config.ParsePolicy("inlined.yaml", inlined)
	if err != nil {
		t.Fatalf("%v\n%s", err, inlined)
	}
	s2, err := decision.Compile(p2, decision.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, inlined)
	}
	if r := s2.CheckRelation("doc:d", "editor", "user:a", nil); !r.Allowed || strings.Contains(string(inlined), "model_file") {
		t.Fatalf("%+v\n%s", r, inlined)
	}
	// Read from bytes, a model_file cannot be followed.
	p3, err := config.ParsePolicy("policy.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decision.Compile(p3, decision.Options{}); err == nil || !strings.Contains(err.Error(), "policy.yaml:2: model_file") {
		t.Fatalf("got %v", err)
	}
}

func TestModelFileErrors(t *testing.T) {
	for _, c := range []struct {
		name, file, text, want string
	}{
		{"error in a module", "m/docs/docs.fga", strings.Replace(modularFiles["m/docs/docs.fga"], "can_write from org", "can_write from nope", 1), "docs/docs.fga:10: doc#editor"},
		{"missing module", "m/fga.mod", "schema: '1.2'\ncontents:\n  - core.fga\n  - gone.fga\n", `module file "gone.fga"`},
		{"escaping module", "m/fga.mod", "schema: '1.2'\ncontents:\n  - ../policy.yaml\n", "invalid contents item"},
		{"bad fga.mod", "m/fga.mod", "schema: '1.1'\ncontents:\n  - core.fga\n", "fga.mod:1: unsupported schema"},
		{"model and model_file", "policy.yaml", "model: |\n  model\n    schema 1.1\n  type user\nmodel_file: m/fga.mod\n", "not both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range modularFiles {
				files[k] = v
			}
			files[c.file] = c.text
			dir := writeFiles(t, files)
			p, err := config.LoadPolicy(filepath.Join(dir, "policy.yaml"))
			if err == nil {
				_, err = decision.Compile(p, decision.Options{})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

const condPolicy = `
model: |
  model
    schema 1.1
  type user
  type doc
    relations
      define viewer: [user with office]
  condition office(ip: ipaddress, at: timestamp, cidr: string, until: timestamp, level: int) {
    ip.in_cidr(cidr) && at < until && level >= 2
  }
tuples:
  - 'doc:1#viewer@user:anne with office {"cidr": "10.0.0.0/8", "until": "2030-01-01T00:00:00Z"}'
routes:
  - name: read
    match: GET /docs/{id}
    relation:
      object: "doc:{params.id}"
      relation: viewer
      context: {ip: "{request.source_ip}", at: "{request.time}", level: "{headers.x-level}"}
  - name: literal
    match: GET /lit/{id}
    relation:
      object: "doc:{params.id}"
      relation: viewer
      context: {ip: 10.0.0.1, at: "2029-01-01T00:00:00Z", level: 3}
`

func TestRouteConditionContext(t *testing.T) {
	p, err := config.ParsePolicy("policy.yaml", []byte(condPolicy))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decision.Compile(p, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2029, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, path, ip, level string
		now                   time.Time
		reason                string
		cacheable             bool
	}{
		{"all bound and true", "/docs/1", "10.1.1.1", "2", at, "allowed", false},
		{"outside the network", "/docs/1", "192.0.2.1", "2", at, "relation_denied", false},
		{"too late", "/docs/1", "10.1.1.1", "2", at.AddDate(2, 0, 0), "relation_denied", false},
		{"no source address", "/docs/1", "", "2", at, "template_unbound", false},
		{"no header", "/docs/1", "10.1.1.1", "", at, "template_unbound", false},
		{"level not a number", "/docs/1", "10.1.1.1", "high", at, "relation_error", false},
		{"literals", "/lit/1", "", "", at, "allowed", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := &call{&decision.Request{Method: "GET", Target: c.path, Headers: map[string]string{}, Now: c.now, SourceIP: c.ip},
				decision.Authenticated(principal(map[string]any{"sub": "anne"}))}
			if c.level != "" {
				req.Headers["x-level"] = c.level
			}
			res := explain(s, req)
			if res.Reason.String() != c.reason || res.Cacheable != c.cacheable {
				t.Fatalf("got %s cacheable %v (%s), want %s cacheable %v", res.Reason, res.Cacheable, res.Detail, c.reason, c.cacheable)
			}
			if c.reason == "relation_error" && !strings.Contains(res.Detail, "level") {
				t.Fatalf("detail %q does not name the parameter", res.Detail)
			}
		})
	}
}

func TestRouteContextKeysAreParameters(t *testing.T) {
	bad := strings.Replace(condPolicy, `context: {ip: 10.0.0.1,`, `context: {ipp: 10.0.0.1,`, 1)
	if err := compileErr(bad); err == nil || !strings.Contains(err.Error(), `policy.yaml:23: route "literal": relation: context "ipp" is a parameter of no condition`) {
		t.Fatalf("got %v", err)
	}
}

func TestCheckRelationshipMissingParameters(t *testing.T) {
	p, _ := config.ParsePolicy("policy.yaml", []byte(condPolicy))
	s, err := decision.Compile(p, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := s.CheckRelationship(decision.RelationCheck{Object: "doc:1", Relation: "viewer", User: "user:anne", Context: map[string]any{"ip": "10.0.0.1"}})
	if r.Allowed || r.Reason != decision.ReasonRelationError || r.Status != 403 || !strings.Contains(r.Detail, "missing context parameters at, level") {
		t.Fatalf("%+v", r)
	}
	r = s.CheckRelationship(decision.RelationCheck{Object: "doc:1", Relation: "viewer", User: "user:bob",
		Contextual: []string{`doc:1#viewer@user:bob with office {"cidr": "10.0.0.0/8", "until": "2030-01-01T00:00:00Z", "level": 5}`},
		Context:    map[string]any{"ip": "10.0.0.1", "at": "2029-01-01T00:00:00Z"}})
	if !r.Allowed {
		t.Fatalf("contextual conditional tuple: %+v", r)
	}
	if err := s.FitsModel(`doc:1#viewer@user:bob`); err == nil || !strings.Contains(err.Error(), "needs a condition") {
		t.Fatalf("FitsModel: %v", err)
	}
	if err := s.FitsModel(`doc:1#viewer@user:bob with office {"nope": 1}`); err == nil {
		t.Fatal("FitsModel accepted a context key that is not a parameter")
	}
}

func TestInlineModulesErrorLine(t *testing.T) {
	err := compileErr(`
modules:
  core.fga: |
    module core
    type user
  docs.fga: |
    module docs
    type doc
      relations
        define viewer: [group]
`)
	if err == nil || !strings.Contains(err.Error(), "policy.yaml:10: modules: docs.fga: doc#viewer") {
		t.Fatalf("got %v", err)
	}
	if err := compileErr("model: |\n  model\n    schema 1.1\n  type user\nmodules:\n  a.fga: |\n    module a\n    type doc\n"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("model and modules: %v", err)
	}
}
