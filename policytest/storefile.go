package policytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// runAny runs a policy test file or an OpenFGA store file, whichever file is.
func runAny(ctx context.Context, file string, opts Options) []Outcome {
	if data, err := os.ReadFile(file); err == nil && config.IsStoreFile(file, data) {
		return runStoreFile(ctx, file, opts.AllowExternalFiles)
	}
	return runFile(ctx, file, opts)
}

// StoreModel parses a store file's model (one text, or the modules of an
// fga.mod). Errors carry the file and line.
func StoreModel(sf *config.StoreFile) (*rebac.Model, error) {
	if len(sf.Modules) > 0 {
		files := make([]rebac.ModuleFile, len(sf.Modules))
		for i, mf := range sf.Modules {
			files[i] = rebac.ModuleFile{Name: mf.Name, Contents: mf.Contents}
		}
		m, err := rebac.ParseModules(files)
		if err != nil {
			return nil, fmt.Errorf("%s: model_file %s: %w", sf.File, sf.ModelFile, err)
		}
		return m, nil
	}
	m, err := rebac.ParseModel(sf.Model)
	if err == nil {
		return m, nil
	}
	var me *rebac.ModelError
	if errors.As(err, &me) && me.Line > 0 {
		where := sf.File
		line := sf.ModelLine + me.Line - 1
		if sf.ModelLine == 0 {
			where, line = sf.ModelFile, me.Line
		}
		return nil, fmt.Errorf("%s:%d: model: %s", where, line, me.Msg)
	}
	return nil, fmt.Errorf("%s: model: %w", sf.File, err)
}

// StoreGraph builds the relationship graph of a store file's model and
// tuples plus extra ones (a test's), as the OpenFGA CLI writes them into a
// fresh store: a tuple that does not fit the model is an error.
func StoreGraph(m *rebac.Model, tuples ...[]config.StoreTuple) (*rebac.Graph, error) {
	var all []rebac.Tuple
	var errs []error
	for _, ts := range tuples {
		for _, st := range ts {
			t, err := rebac.ParseTuple(st.String())
			if err == nil {
				err = m.Fits(t)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			all = append(all, t)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	g, _ := rebac.Build(m, all)
	return g, nil
}

// runStoreFile runs an OpenFGA store file as `fga model test` does: each
// test gets a store of the file's tuples and its own, and every assertion
// (one relation of one check, list_objects or list_users entry, for each
// user and object it names) is one case.
func runStoreFile(ctx context.Context, file string, allowExternal bool) []Outcome {
	sf, err := config.LoadStoreFile(file, allowExternal)
	if err != nil {
		return []Outcome{{File: file, Name: "load", Err: err}}
	}
	m, err := StoreModel(sf)
	if err != nil {
		return []Outcome{{File: file, Name: "model", Err: err}}
	}
	var out []Outcome
	for i := range sf.Tests {
		out = append(out, runStoreTest(ctx, sf, m, &sf.Tests[i])...)
	}
	return out
}

func runStoreTest(ctx context.Context, sf *config.StoreFile, m *rebac.Model, tc *config.StoreTest) []Outcome {
	g, gerr := StoreGraph(m, sf.Tuples, tc.Tuples)
	var out []Outcome
	add := func(line int, name string, err error) {
		if gerr != nil {
			err = fmt.Errorf("tuples: %w", gerr)
		}
		out = append(out, Outcome{File: sf.File, Line: line, Name: tc.Name + ": " + name, Err: err})
	}
	for _, c := range tc.Check {
		users, objects := c.Users, c.Objects
		if c.User != "" {
			users = []string{c.User}
		}
		if c.Object != "" {
			objects = []string{c.Object}
		}
		for _, u := range users {
			for _, o := range objects {
				for _, rel := range config.SortedKeys(c.Assertions) {
					want := c.Assertions[rel]
					name := fmt.Sprintf("check %s %s#%s", u, o, rel)
					if gerr != nil {
						add(c.Line, name, nil)
						continue
					}
					res := g.Check(o, rel, u, rebac.CheckOptions{Context: c.Context})
					var err error
					switch {
					case res.Err != nil:
						err = fmt.Errorf("want %v, got error: %w", want, res.Err)
					case res.Allowed != want:
						err = fmt.Errorf("want %v, got %v", want, res.Allowed)
					}
					add(c.Line, name, err)
				}
			}
		}
	}
	for _, lo := range tc.ListObjects {
		for _, rel := range config.SortedKeys(lo.Assertions) {
			name := fmt.Sprintf("list_objects %s %s#%s", lo.User, lo.Type, rel)
			if gerr != nil {
				add(lo.Line, name, nil)
				continue
			}
			res, err := g.ListObjects(ctx, lo.Type, rel, lo.User, rebac.ListOptions{CheckOptions: rebac.CheckOptions{Context: lo.Context}})
			add(lo.Line, name, compareList(lo.Assertions[rel], res, err))
		}
	}
	for _, lu := range tc.ListUsers {
		// The OpenFGA CLI sends the first filter only; so does this runner,
		// so that a file passes or fails the same way under both.
		f := lu.UserFilter[0]
		filter := f.Type
		if f.Relation != "" {
			filter += "#" + f.Relation
		}
		for _, rel := range config.SortedKeys(lu.Assertions) {
			name := fmt.Sprintf("list_users %s#%s %s", lu.Object, rel, filter)
			if gerr != nil {
				add(lu.Line, name, nil)
				continue
			}
			res, err := g.ListUsers(ctx, lu.Object, rel, []rebac.UserFilter{{Type: f.Type, Relation: f.Relation}}, rebac.ListOptions{CheckOptions: rebac.CheckOptions{Context: lu.Context}})
			add(lu.Line, name, compareList(lu.Assertions[rel].Users, res, err))
		}
	}
	return out
}

// compareList compares as sets, in any order, as the OpenFGA CLI does.
func compareList(want []string, got rebac.ListResult, err error) error {
	if err != nil {
		return fmt.Errorf("want %v, got error: %w", sortedCopy(want), err)
	}
	w := slices.Compact(sortedCopy(want))
	if slices.Equal(w, got.Items) {
		return nil
	}
	msg := fmt.Sprintf("want [%s], got [%s]", strings.Join(w, " "), strings.Join(got.Items, " "))
	if got.Truncated {
		msg += fmt.Sprintf(" (cut short: %v)", got.Cause)
	}
	return errors.New(msg)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
