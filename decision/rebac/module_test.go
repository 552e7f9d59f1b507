package rebac

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseModules(t *testing.T) {
	files := []ModuleFile{
		{"core.fga", "module core\n\ntype user\n\ntype org\n  relations\n    define admin: [user]\n"},
		{"docs/docs.fga", "module docs\n\nextend type org\n  relations\n    define can_write: admin\n\ntype doc\n  relations\n    define org: [org]\n    define viewer: [user with open] or can_write from org\n\ncondition open(on: bool) {\n  on\n}\n"},
	}
	m, err := ParseModules(files)
	if err != nil {
		t.Fatal(err)
	}
	if m.Schema() != "1.2" || !m.HasRelation("org", "can_write") || !slices.Equal(m.Conditions(), []string{"open"}) {
		t.Fatalf("model: schema %s, types %v, conditions %v", m.Schema(), m.Types(), m.Conditions())
	}
	g, _ := Build(m, mustTuples(t, "org:o#admin@user:a", "doc:d#org@org:o", "doc:d#viewer@user:b with open"))
	for user, want := range map[string]bool{"user:a": true, "user:c": false} {
		if r := g.Check("doc:d", "viewer", user, CheckOptions{}); r.Allowed != want || r.Err != nil {
			t.Errorf("%s: %+v", user, r)
		}
	}
	if r := g.Check("doc:d", "viewer", "user:b", CheckOptions{}); !errors.Is(r.Err, ErrCondition) {
		t.Errorf("user:b without context: %+v", r)
	}
}

func TestParseModulesErrors(t *testing.T) {
	core := ModuleFile{"core.fga", "module core\n\ntype user\n"}
	for _, c := range []struct {
		name  string
		files []ModuleFile
		file  string
		line  int
		msg   string
	}{
		{"syntax", []ModuleFile{core, {"b.fga", "module b\n\ntype doc\n  relations\n    define viewer [user]\n"}}, "b.fga", 5, "syntax error"},
		{"undefined type", []ModuleFile{core, {"b.fga", "module b\n\ntype doc\n  relations\n    define viewer: [group]\n"}}, "b.fga", 5, "group"},
		{"bad condition", []ModuleFile{core, {"b.fga", "module b\n\ntype doc\n  relations\n    define viewer: [user with c]\n\ncondition c(x: int) {\n  x == \"1\"\n}\n"}}, "b.fga", 7, "condition c"},
		{"duplicate type", []ModuleFile{core, {"b.fga", "module b\n\ntype user\n"}}, "b.fga", 3, "duplicate"},
		{"not a module", []ModuleFile{core, {"b.fga", "model\n  schema 1.1\ntype doc\n"}}, "b.fga", 0, "not a module"},
		{"no files", nil, "", 0, "at least one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseModules(c.files)
			var me *ModelError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *ModelError", err)
			}
			if me.File != c.file || (c.line > 0 && me.Line != c.line) || !strings.Contains(me.Msg, c.msg) {
				t.Fatalf("got %q (file %q line %d), want %s:%d %q", err, me.File, me.Line, c.file, c.line, c.msg)
			}
		})
	}
}

func TestReadModFile(t *testing.T) {
	files, err := ReadModFile("schema: '1.2'\ncontents:\n  - core.fga\n  - sub/b.fga\n")
	if err != nil || !slices.Equal(files, []string{"core.fga", "sub/b.fga"}) {
		t.Fatalf("%v %v", files, err)
	}
	for _, bad := range []string{"schema: '1.1'\ncontents: [a.fga]\n", "contents: [a.fga]\n", "schema: '1.2'\n", "schema: '1.2'\ncontents: []\n", ": :"} {
		if _, err := ReadModFile(bad); err == nil {
			t.Errorf("ReadModFile(%q) accepted", bad)
		}
	}
}
