package fgaoracle

import (
	"encoding/json"
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
	Name   string          `yaml:"name"`
	Tuples []string        `yaml:"tuples,omitempty"`
	Check  testCheck       `yaml:"check"`
	Expect map[string]bool `yaml:"expect"`
}

type testCheck struct {
	Object   string         `yaml:"object"`
	Relation string         `yaml:"relation"`
	User     string         `yaml:"user"`
	Context  map[string]any `yaml:"context,omitempty"`
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
		Check:  testCheck{Object: d.Check.Object, Relation: d.Check.Relation, User: d.Check.User, Context: d.Check.Context},
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

// storeTuple, storeFile and friends are OpenFGA's store file format (the
// one `fga model test` and `edgeauthz test` run), for list queries, which
// policy tests cannot express.
type storeTuple struct {
	User      string          `yaml:"user"`
	Relation  string          `yaml:"relation"`
	Object    string          `yaml:"object"`
	Condition *storeCondition `yaml:"condition,omitempty"`
}

type storeCondition struct {
	Name    string         `yaml:"name"`
	Context map[string]any `yaml:"context,omitempty"`
}

type storeFile struct {
	Name   string       `yaml:"name"`
	Model  string       `yaml:"model"`
	Tuples []storeTuple `yaml:"tuples,omitempty"`
	Tests  []storeTest  `yaml:"tests"`
}

type storeTest struct {
	Name        string            `yaml:"name"`
	Tuples      []storeTuple      `yaml:"tuples,omitempty"`
	ListObjects []storeListObject `yaml:"list_objects,omitempty"`
	ListUsers   []storeListUsers  `yaml:"list_users,omitempty"`
}

type storeListObject struct {
	User       string              `yaml:"user"`
	Type       string              `yaml:"type"`
	Context    map[string]any      `yaml:"context,omitempty"`
	Assertions map[string][]string `yaml:"assertions"`
}

type storeListUsers struct {
	Object     string                         `yaml:"object"`
	UserFilter []map[string]string            `yaml:"user_filter"`
	Context    map[string]any                 `yaml:"context,omitempty"`
	Assertions map[string]map[string][]string `yaml:"assertions"`
}

func storeTuples(ts []Tuple) []storeTuple {
	out := make([]storeTuple, len(ts))
	for i, t := range ts {
		out[i] = storeTuple{User: t.User, Relation: t.Relation, Object: t.Object}
		if t.Condition != "" {
			out[i].Condition = &storeCondition{Name: t.Condition}
			if t.Context != "" {
				_ = json.Unmarshal([]byte(t.Context), &out[i].Condition.Context)
			}
		}
	}
	return out
}

// fromStoreTuples reads tuples back, their contexts in canonical JSON.
func fromStoreTuples(sts []storeTuple) []Tuple {
	out := make([]Tuple, len(sts))
	for i, st := range sts {
		out[i] = Tuple{Object: st.Object, Relation: st.Relation, User: st.User}
		if st.Condition != nil {
			out[i].Condition = st.Condition.Name
			if len(st.Condition.Context) > 0 {
				b, _ := json.Marshal(st.Condition.Context)
				out[i].Context = string(b)
			}
		}
	}
	return out
}

// StoreReproducer renders a list disagreement as an OpenFGA store file
// (NAME.fga.yaml) whose assertion is OpenFGA's answer. The query's
// contextual tuples become the test's tuples.
func StoreReproducer(name string, d *Disagreement) ([]byte, error) {
	q := d.List
	items := q.Items(d.OracleList)
	test := storeTest{
		Name:   fmt.Sprintf("%s: OpenFGA %s, edgeauthz %s", q, d.OracleList, d.EdgeList),
		Tuples: storeTuples(q.Contextual),
	}
	if q.Users {
		f := map[string]string{"type": q.Filter.Type}
		if q.Filter.Relation != "" {
			f["relation"] = q.Filter.Relation
		}
		test.ListUsers = []storeListUsers{{Object: q.Object, UserFilter: []map[string]string{f}, Context: q.Context,
			Assertions: map[string]map[string][]string{q.Relation: {"users": items}}}}
	} else {
		test.ListObjects = []storeListObject{{User: q.User, Type: q.Type, Context: q.Context, Assertions: map[string][]string{q.Relation: items}}}
	}
	out, err := yaml.Marshal(storeFile{Name: name, Model: d.Model.DSL(), Tuples: storeTuples(d.Tuples), Tests: []storeTest{test}})
	if err != nil {
		return nil, fmt.Errorf("reproducer: %w", err)
	}
	return out, nil
}

// Items is a's items, never nil (an empty list is an assertion too).
func (ListQuery) Items(a ListAnswer) []string {
	if a.Items == nil {
		return []string{}
	}
	return a.Items
}
