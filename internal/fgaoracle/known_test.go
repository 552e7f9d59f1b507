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
		// "a but not b" where resolving b meets a cycle (here a recursive
		// "b: [group] or b from viewer" over group:2#viewer@group:2; also
		// seen through usersets and an intersection): OpenFGA answers b
		// false and grants; edgeauthz lets the cycle deny the exclusion.
		name: "exclusion_subtract_cycle",
		match: func(d *Disagreement) bool {
			return d.Kind == KindCheck && d.Oracle.Verdict == Allow && d.Edge.Verdict == Deny &&
				hasOp(d.Model, OpExcl) && hasRelationCycle(d.Model)
		},
	},
	{
		// A check that needs exactly one more resolution step than
		// edgeauthz allows: OpenFGA (resolve depth 25) still answers it,
		// edgeauthz (MaxDepth 25) reports ErrDepth. Seen on userset chains
		// of 26 hops, and of 25 under an exclusion.
		name: "depth_limit_one_step_early",
		match: func(d *Disagreement) bool {
			return d.Kind == KindCheck && d.Oracle.Verdict == Allow && d.Edge.Verdict == Depth
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

// hasRelationCycle reports whether some relation can reach itself through
// computed relations, tuple-to-usersets or userset restrictions.
func hasRelationCycle(m *Model) bool {
	next := map[string][]string{}
	for _, t := range m.Types {
		for _, r := range t.Relations {
			from := t.Name + "#" + r.Name
			walk(r.Expr, func(e *Expr) {
				switch e.Op {
				case OpComputed:
					next[from] = append(next[from], t.Name+"#"+e.Rel)
				case OpTTU:
					if ts := relationOf(m, t.Name, e.Tupleset); ts != nil {
						for _, res := range directOf(ts.Expr) {
							next[from] = append(next[from], res.Type+"#"+e.Rel)
						}
					}
				case OpDirect:
					for _, res := range e.Direct {
						if res.Relation != "" {
							next[from] = append(next[from], res.Type+"#"+res.Relation)
						}
					}
				}
			})
		}
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var cyclic func(n string) bool
	cyclic = func(n string) bool {
		switch state[n] {
		case visiting:
			return true
		case done:
			return false
		}
		state[n] = visiting
		for _, x := range next[n] {
			if cyclic(x) {
				return true
			}
		}
		state[n] = done
		return false
	}
	for n := range next {
		if cyclic(n) {
			return true
		}
	}
	return false
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
