package fgaoracle

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// policyFile is the part of an edgeauthz policy a reproducer needs.
type policyFile struct {
	Model  string   `yaml:"model"`
	Tuples []string `yaml:"tuples,omitempty"`
}

type testFile struct {
	Policy string     `yaml:"policy"`
	Cases  []testCase `yaml:"cases"`
}

type testCase struct {
	Name   string            `yaml:"name"`
	Tuples []string          `yaml:"tuples,omitempty"`
	Check  map[string]string `yaml:"check"`
	Expect map[string]bool   `yaml:"expect"`
}

// Reproducer renders a check disagreement as an edgeauthz policy file
// (NAME.policy.yaml: the model and tuples) and a policy test file
// (NAME.test.yaml: the check, expecting OpenFGA's answer), ready for a
// testdata folder and for `edgeauthz test`.
func Reproducer(name string, d *Disagreement) (policy, test []byte, err error) {
	p := policyFile{Model: d.Model.DSL()}
	for _, t := range d.Tuples {
		p.Tuples = append(p.Tuples, t.String())
	}
	if policy, err = yaml.Marshal(p); err != nil {
		return nil, nil, fmt.Errorf("reproducer: %w", err)
	}
	c := testCase{
		Name:   fmt.Sprintf("%s: OpenFGA %s, edgeauthz %s", d.Check, d.Oracle, d.Edge),
		Check:  map[string]string{"object": d.Check.Object, "relation": d.Check.Relation, "user": d.Check.User},
		Expect: map[string]bool{"allow": d.Oracle.Verdict == Allow},
	}
	for _, t := range d.Check.Contextual {
		c.Tuples = append(c.Tuples, t.String())
	}
	if test, err = yaml.Marshal(testFile{Policy: name + ".policy.yaml", Cases: []testCase{c}}); err != nil {
		return nil, nil, fmt.Errorf("reproducer: %w", err)
	}
	return policy, test, nil
}
