package config_test

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

// plainItem matches a list item written as a plain one-line string, and
// singleItem one written single-quoted.
var (
	plainItem  = regexp.MustCompile(`(?m)^( *)- ([A-Za-z][^ \n]*)$`)
	singleItem = regexp.MustCompile(`(?m)^( *)- '((?:[^'\n]|'')*)' *$`)
)

// doubleQuoted rewrites the plain and single-quoted items of doc as
// double-quoted ones, which only yaml.v3 reads.
func doubleQuoted(doc string) string {
	doc = plainItem.ReplaceAllString(doc, `$1- "$2"`)
	return singleItem.ReplaceAllStringFunc(doc, func(m string) string {
		sub := singleItem.FindStringSubmatch(m)
		v := strings.ReplaceAll(sub[2], "''", "'")
		return sub[1] + "- " + strconv.Quote(v)
	})
}

// TestTupleList: a long tuples list of plain or single-quoted strings is
// read without building a YAML tree for it, and that must change nothing.
// Each document is parsed as written and with its items double-quoted
// (which yaml.v3 reads in full); the policies, lines and errors must be the
// same, and the errors must point where want says.
func TestTupleList(t *testing.T) {
	const model = "model: |\n  model\n    schema 1.1\n  type user\n  type doc\n    relations\n      define viewer: [user]\n"
	for _, c := range []struct {
		name, doc string
		tuples    int
		lines     map[int]int // tuple index to line
		errs      []string    // "line: text" fragments, in order
		first     string      // the first tuple, when it matters
		plainOnly bool        // quoting the items changes the document
	}{
		{name: "indented", doc: model + "tuples:\n  - doc:1#viewer@user:a\n  # a comment\n\n  - doc:2#viewer@user:b   \nroutes: []\n",
			tuples: 2, lines: map[int]int{0: 9, 1: 12}},
		{name: "column0", doc: "tuples:\n- doc:1#viewer@user:a\n- doc:2#viewer@user:b\n" + model,
			tuples: 2, lines: map[int]int{0: 2, 1: 3}},
		{name: "at the end", doc: model + "tuples:\n  - doc:1#viewer@user:a",
			tuples: 1, lines: map[int]int{0: 9}},
		{name: "duplicate key", doc: model + "tuples:\n  - doc:1#viewer@user:a\ntuples:\n  - doc:2#viewer@user:b\n",
			errs: []string{`10: mapping key "tuples" already defined at line 8`}},
		{name: "null item", doc: model + "tuples:\n  - doc:1#viewer@user:a\n  -\n  - doc:2#viewer@user:b\n",
			errs: []string{"10: tuples: an empty (null) list item"}},
		{name: "second document", doc: model + "tuples:\n  - doc:1#viewer@user:a\n---\nroutes: []\n",
			errs: []string{"10: a second YAML document starts here"}},
		{name: "unknown key after", doc: model + "tuples:\n  - doc:1#viewer@user:a\nroute: []\n",
			errs: []string{`10: unknown key "route"`}},
		{name: "mapping item", doc: model + "tuples:\n  - doc:1#viewer@user:a\n  - a: b\n",
			errs: []string{"10: expected a string, found a mapping"}},
		// A plain scalar may go on over lines; quoted, it may not.
		{name: "continuation line", doc: model + "tuples:\n  - doc:1#viewer@user:a\n    more\n",
			tuples: 1, lines: map[int]int{0: 9}, first: "doc:1#viewer@user:a more", plainOnly: true},
		// Lines that only look like the list: read by yaml.v3 as written.
		{name: "inside a quoted string", doc: "x: \"a\ntuples:\n  - doc:1#viewer@user:a\n  \"\n" + model,
			errs: []string{`1: unknown key "x"`}, plainOnly: true},
		{name: "flow mapping", doc: "{\ntuples:\n  - doc:1#viewer@user:a\n}\n",
			errs: []string{"2: did not find expected node content"}},
		{name: "second document's key", doc: "routes: []\n---\ntuples:\n  - doc:1#viewer@user:a\n",
			errs: []string{"2: a second YAML document starts here"}},
		{name: "bad tuple keeps its line", doc: model + "tuples:\n  - doc:1#viewer@user:a\n  - doc:2#viewer\n",
			tuples: 2, lines: map[int]int{1: 10}},
		// Conditional tuples are single-quoted: their context holds ": ".
		{name: "single-quoted", doc: model + "tuples:\n  - 'doc:1#viewer@user:a with c {\"x\": 1, \"y\": \"it''s # not a comment\"}'\n" +
			"  - doc:2#viewer@user:b\n  - 'doc:3#viewer@user:c'   \nroutes: []\n",
			tuples: 3, lines: map[int]int{0: 9, 1: 10, 2: 11}, first: `doc:1#viewer@user:a with c {"x": 1, "y": "it's # not a comment"}`},
		{name: "single-quoted with a comment after", doc: model + "tuples:\n  - 'doc:1#viewer@user:a' # a\n  - doc:2#viewer@user:b\n",
			tuples: 2, lines: map[int]int{0: 9, 1: 10}, first: "doc:1#viewer@user:a", plainOnly: true},
		// Left to yaml.v3, which reads the rest of the line as a comment.
		{name: "single quote closed early", doc: model + "tuples:\n  - doc:1#viewer@user:a\n  - 'doc:2'#viewer'\n",
			tuples: 2, lines: map[int]int{1: 10}, plainOnly: true},
		{name: "single-quoted over two lines", doc: model + "tuples:\n  - doc:1#viewer@user:a\n  - 'doc:2#viewer\n    @user:b'\n",
			tuples: 2, lines: map[int]int{1: 10}, plainOnly: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := config.ParsePolicy("p.yaml", []byte(c.doc))
			quoted := doubleQuoted(c.doc)
			if quoted == c.doc {
				t.Fatal("the document has no item to rewrite")
			}
			q, qerr := config.ParsePolicy("p.yaml", []byte(quoted))
			if got, want := errString(err), errString(qerr); got != want && !c.plainOnly {
				t.Errorf("errors differ from the quoted document's:\ngot:  %s\nwant: %s", got, want)
			}
			if len(c.errs) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", c.errs)
				}
				for _, e := range c.errs {
					line, text, _ := strings.Cut(e, ": ")
					if !strings.Contains(err.Error(), "p.yaml:"+line+":") || !strings.Contains(err.Error(), text) {
						t.Errorf("error %q: want %q at line %s", err, text, line)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Tuples) != c.tuples {
				t.Errorf("%d tuples, want %d: %q", len(p.Tuples), c.tuples, p.Tuples)
			}
			for i, l := range c.lines {
				if got := p.TupleLine(i); got != l {
					t.Errorf("tuple %d on line %d, want %d", i, got, l)
				}
			}
			if c.first != "" && p.Tuples[0] != c.first {
				t.Errorf("first tuple %q, want %q", p.Tuples[0], c.first)
			}
			if c.plainOnly {
				return
			}
			for i := range q.Tuples {
				if p.TupleLine(i) != q.TupleLine(i) {
					t.Errorf("tuple %d on line %d, quoted on line %d", i, p.TupleLine(i), q.TupleLine(i))
				}
				delete(q.Lines, "tuples."+strconv.Itoa(i))
			}
			if !reflect.DeepEqual(p.Tuples, q.Tuples) || !reflect.DeepEqual(p.Lines, q.Lines) || !reflect.DeepEqual(p.Routes, q.Routes) || p.Model != q.Model {
				t.Errorf("policy differs from the quoted document's:\n%+v\n%+v", p, q)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
