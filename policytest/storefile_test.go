package policytest_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/policytest"
)

// TestStoreFiles runs the OpenFGA store files under testdata/fga: check,
// list_objects and list_users assertions, model and tuple files (YAML and
// CSV), a modular model (fga.mod), a test's own tuples, conditions with
// per-assertion context.
func TestStoreFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/fga/*.fga.yaml")
	if len(files) < 3 {
		t.Fatalf("store files: %v", files)
	}
	sum := policytest.RunFiles(context.Background(), files, policytest.Options{})
	for _, f := range sum.Failures {
		t.Errorf("%s:%d: %s: %v", f.File, f.Line, f.Name, f.Err)
	}
	if sum.Passed < 50 {
		t.Errorf("only %d assertions passed", sum.Passed)
	}
	t.Log(sum.Line())
}

func TestStoreFileFailures(t *testing.T) {
	cases := []struct {
		file   string
		passed int
		fails  []string // substrings of "line: name: error", one per failure
	}{
		{"failing_store.yaml", 2, []string{
			"20: right and wrong: check user:bob doc:1#viewer: want true, got false",
			"24: right and wrong: list_objects user:anne doc#viewer: want [doc:1], got [doc:1 doc:pub]",
		}},
		{"unfit_tuple.fga.yaml", 0, []string{`does not fit the model`}},
		{"both_users.fga.yaml", 0, []string{"user or users, not both", "needs assertions"}},
		{"bad_model.fga.yaml", 0, []string{"bad_model.fga.yaml:7: model: doc#viewer:"}},
		{"escape.fga.yaml", 0, []string{"path escapes"}},
		{"badmod.fga.yaml", 0, []string{"model_file badmod/fga.mod: a.fga:7: doc#viewer:"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			sum := policytest.RunFiles(context.Background(), []string{filepath.Join("testdata/fga/bad", c.file)}, policytest.Options{})
			if sum.Passed != c.passed || sum.Failed == 0 {
				t.Errorf("%s", sum.Line())
			}
			var all []string
			for _, f := range sum.Failures {
				all = append(all, strings.Join([]string{strconv.Itoa(f.Line), f.Name, f.Err.Error()}, ": "))
			}
			text := strings.Join(all, "\n")
			for _, want := range c.fails {
				if !strings.Contains(text, want) {
					t.Errorf("failures do not mention %q:\n%s", want, text)
				}
			}
		})
	}
}
