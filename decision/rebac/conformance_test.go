package rebac

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const conformanceDir = "../../../shared/conformance/openfga"

type confPolicy struct {
	Model  string   `yaml:"model"`
	Tuples []string `yaml:"tuples"`
}

type confTests struct {
	Policy string `yaml:"policy"`
	Cases  []struct {
		Name   string   `yaml:"name"`
		Tuples []string `yaml:"tuples"`
		Check  struct {
			Object, Relation, User string
		} `yaml:"check"`
		Expect struct {
			Allow bool `yaml:"allow"`
		} `yaml:"expect"`
	} `yaml:"cases"`
}

// TestConformance runs OpenFGA's consolidated check matrix (converted into
// policy-test files under shared/conformance/openfga). A check that errors
// counts as a deny, as OpenFGA answers those with an error.
func TestConformance(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "*.test.yaml"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no conformance data in %s", conformanceDir)
		}
		t.Skipf("no conformance data in %s", conformanceDir)
	}
	total := 0
	for _, f := range files {
		var tf confTests
		readYAML(t, f, &tf)
		var pol confPolicy
		readYAML(t, filepath.Join(filepath.Dir(f), tf.Policy), &pol)
		t.Run(strings.TrimSuffix(filepath.Base(f), ".test.yaml"), func(t *testing.T) {
			m, err := ParseModel(pol.Model)
			if err != nil {
				t.Fatalf("model: %v", err)
			}
			tuples := make([]Tuple, 0, len(pol.Tuples))
			for _, s := range pol.Tuples {
				tu, err := ParseTuple(s)
				if err != nil {
					t.Fatalf("tuple %q: %v", s, err)
				}
				tuples = append(tuples, tu)
			}
			g, _ := Build(m, tuples)
			for _, tc := range tf.Cases {
				total++
				t.Run(tc.Name, func(t *testing.T) {
					var ctx []Tuple
					for _, s := range tc.Tuples {
						tu, err := ParseTuple(s)
						if err != nil {
							// OpenFGA rejects the request: a deny here.
							if tc.Expect.Allow {
								t.Fatalf("contextual tuple %q: %v", s, err)
							}
							return
						}
						ctx = append(ctx, tu)
					}
					res := g.Check(tc.Check.Object, tc.Check.Relation, tc.Check.User, CheckOptions{Contextual: ctx, Explain: true})
					if res.Allowed != tc.Expect.Allow {
						t.Errorf("Check(%s#%s@%s) = %v (err %v), want %v", tc.Check.Object, tc.Check.Relation, tc.Check.User, res.Allowed, res.Err, tc.Expect.Allow)
					}
					if res.Err != nil && res.Allowed {
						t.Errorf("allowed with error %v", res.Err)
					}
					// The same answer without explanation (memoization differs).
					if r2 := g.Check(tc.Check.Object, tc.Check.Relation, tc.Check.User, CheckOptions{Contextual: ctx}); r2.Allowed != res.Allowed {
						t.Errorf("Explain changed the answer: %v vs %v", res.Allowed, r2.Allowed)
					}
				})
			}
		})
	}
	t.Logf("%d conformance cases", total)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
