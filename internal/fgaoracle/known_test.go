package fgaoracle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// knownClass is a class of disagreement that has been reported and is not
// fixed in edgeauthz yet. The random run counts a disagreement of a known
// class instead of failing; any other disagreement fails. Each class has a
// minimal case in testdata/known/NAME.policy.yaml (and NAME.test.yaml for a
// check), and TestKnownCases fails as soon as edgeauthz agrees with OpenFGA
// on it: then delete the class, and the random run guards it from then on.
type knownClass struct {
	name  string
	match func(d *Disagreement) bool
}

var knownClasses = []knownClass{
	{
		// "define r: [user] but not r from parent": OpenFGA requires every
		// operand of an exclusion (and intersection) to have an entrypoint
		// of its own, without going through the relation being defined.
		name: "model_subtract_without_entrypoint",
		match: func(d *Disagreement) bool {
			return d.Kind == KindModel && d.EdgeErr == nil && strings.Contains(d.OracleErr.Error(), "no entrypoints defined")
		},
	},
	{
		// "define r: [user:*] and m and m" with m a userset relation, and
		// another relation computed from r: OpenFGA's weighted graph reports
		// a potential loop and refuses the model.
		name: "model_intersection_potential_loop",
		match: func(d *Disagreement) bool {
			return d.Kind == KindModel && d.EdgeErr == nil && strings.Contains(d.OracleErr.Error(), "potential loop")
		},
	},
	{
		// "a but not b" where b is a recursive tuple-to-userset
		// ("b: ... or b from parent") that meets a cycle in the tuples:
		// OpenFGA's recursive strategy answers b as plain false, so a grants;
		// edgeauthz lets the cycle deny the whole exclusion.
		name: "exclusion_subtract_recursive_ttu_cycle",
		match: func(d *Disagreement) bool {
			return d.Kind == KindCheck && d.Oracle.Verdict == Allow && d.Edge.Verdict == Deny &&
				hasOp(d.Model, OpExcl) && hasRecursiveTTU(d.Model)
		},
	},
}

// known returns the class d belongs to, or "".
func known(d *Disagreement) string {
	for _, k := range knownClasses {
		if k.match(d) {
			return k.name
		}
	}
	return ""
}

func hasOp(m *Model, op Op) bool {
	found := false
	for _, t := range m.Types {
		for _, r := range t.Relations {
			walk(r.Expr, func(e *Expr) { found = found || e.Op == op })
		}
	}
	return found
}

// hasRecursiveTTU reports whether a relation refers to itself through a
// tuple-to-userset whose tupleset allows the relation's own type.
func hasRecursiveTTU(m *Model) bool {
	found := false
	for _, t := range m.Types {
		for _, r := range t.Relations {
			walk(r.Expr, func(e *Expr) {
				if e.Op != OpTTU || e.Rel != r.Name {
					return
				}
				if ts := relationOf(m, t.Name, e.Tupleset); ts != nil {
					for _, res := range directOf(ts.Expr) {
						found = found || res.Type == t.Name
					}
				}
			})
		}
	}
	return found
}

// TestKnownCases holds every known class to its minimal case: OpenFGA must
// still answer as recorded and edgeauthz must still differ. When edgeauthz
// is fixed this fails, so that the class is deleted and its disagreements
// fail the random run from then on.
func TestKnownCases(t *testing.T) {
	ctx := context.Background()
	df := newDiffer(t)
	for _, k := range knownClasses {
		t.Run(k.name, func(t *testing.T) {
			d := loadKnown(t, filepath.Join("testdata", "known", k.name))
			got, ok := df.reproduces(ctx, d)
			if !ok {
				t.Fatalf("edgeauthz now agrees with OpenFGA: delete the class %q and its testdata", k.name)
			}
			if d.Kind == KindCheck && got.Oracle.Verdict != d.Oracle.Verdict {
				t.Fatalf("OpenFGA answers %s, the case records %s", got.Oracle, d.Oracle)
			}
			if known(got) != k.name {
				t.Fatalf("the case is no longer matched by its class: %s", got)
			}
		})
	}
}

// loadKnown reads a known case: stem.policy.yaml, and stem.test.yaml with
// one check case when it is a check disagreement. A case without a test
// file is a model that OpenFGA refuses and edgeauthz accepts.
func loadKnown(t *testing.T, stem string) *Disagreement {
	t.Helper()
	var p policyFile
	readYAML(t, stem+".policy.yaml", &p)
	m, err := ParseModel(p.Model)
	if err != nil {
		t.Fatalf("%s.policy.yaml: %v", stem, err)
	}
	d := &Disagreement{Kind: KindModel, Model: m, OracleErr: ErrModelRefused}
	for _, s := range p.Tuples {
		d.Tuples = append(d.Tuples, mustTuple(t, s))
	}
	if _, err := os.Stat(stem + ".test.yaml"); err != nil {
		return d
	}
	var tf testFile
	readYAML(t, stem+".test.yaml", &tf)
	if len(tf.Cases) != 1 {
		t.Fatalf("%s.test.yaml: want one case, got %d", stem, len(tf.Cases))
	}
	c := tf.Cases[0]
	d.Kind, d.OracleErr = KindCheck, nil
	d.Check = Check{Object: c.Check["object"], Relation: c.Check["relation"], User: c.Check["user"]}
	for _, s := range c.Tuples {
		d.Check.Contextual = append(d.Check.Contextual, mustTuple(t, s))
	}
	d.Oracle = Answer{Verdict: Deny}
	if c.Expect["allow"] {
		d.Oracle = Answer{Verdict: Allow}
	}
	return d
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func mustTuple(t *testing.T, s string) Tuple {
	t.Helper()
	tu, err := ParseTuple(s)
	if err != nil {
		t.Fatal(err)
	}
	return tu
}
