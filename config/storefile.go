package config

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// StoreFile is an OpenFGA CLI store file (`*.fga.yaml`, as `fga model test`
// runs it): a model, tuples and tests with check, list_objects and
// list_users assertions. LoadStoreFile reads the model and tuple files it
// names, so the struct holds everything a run needs.
type StoreFile struct {
	File       string       `yaml:"-"`
	Name       string       `yaml:"name"`
	Model      string       `yaml:"model"`
	ModelFile  string       `yaml:"model_file"`
	Tuples     []StoreTuple `yaml:"tuples"`
	TupleFile  string       `yaml:"tuple_file"`
	TupleFiles []string     `yaml:"tuple_files"`
	Tests      []StoreTest  `yaml:"tests"`
	// ModelLine is the line the model's text starts on in File (0 when it
	// comes from ModelFile, whose own line 1 is then the model's first).
	ModelLine int `yaml:"-"`
	// Modules are the files of a modular model, when ModelFile is an
	// fga.mod (schema 1.2); Model is then empty.
	Modules []StoreModule `yaml:"-"`
}

// StoreModule is one file of a modular model: its path relative to the
// fga.mod, as the fga.mod lists it, and its text.
type StoreModule struct {
	Name     string
	Contents string
}

// StoreTuple is a tuple in OpenFGA's JSON/YAML shape.
type StoreTuple struct {
	User      string          `yaml:"user" json:"user"`
	Relation  string          `yaml:"relation" json:"relation"`
	Object    string          `yaml:"object" json:"object"`
	Condition *StoreCondition `yaml:"condition" json:"condition"`
}

// StoreCondition names a tuple's condition and its part of the parameters.
type StoreCondition struct {
	Name    string         `yaml:"name" json:"name"`
	Context map[string]any `yaml:"context" json:"context"`
}

// StoreTest is one named test: extra tuples and assertions.
type StoreTest struct {
	Name        string             `yaml:"name"`
	Description string             `yaml:"description"`
	Tuples      []StoreTuple       `yaml:"tuples"`
	TupleFile   string             `yaml:"tuple_file"`
	Check       []StoreCheck       `yaml:"check"`
	ListObjects []StoreListObjects `yaml:"list_objects"`
	ListUsers   []StoreListUsers   `yaml:"list_users"`
	Line        int                `yaml:"-"`
}

// StoreCheck asserts, for every user and object given, the outcome of a
// check of each relation.
type StoreCheck struct {
	User       string          `yaml:"user"`
	Users      []string        `yaml:"users"`
	Object     string          `yaml:"object"`
	Objects    []string        `yaml:"objects"`
	Context    map[string]any  `yaml:"context"`
	Assertions map[string]bool `yaml:"assertions"`
	Line       int             `yaml:"-"`
}

// StoreListObjects asserts the objects of Type on which User has each relation.
type StoreListObjects struct {
	User       string              `yaml:"user"`
	Type       string              `yaml:"type"`
	Context    map[string]any      `yaml:"context"`
	Assertions map[string][]string `yaml:"assertions"`
	Line       int                 `yaml:"-"`
}

// StoreListUsers asserts the users that have each relation on Object.
type StoreListUsers struct {
	Object     string                         `yaml:"object"`
	UserFilter []StoreUserFilter              `yaml:"user_filter"`
	Context    map[string]any                 `yaml:"context"`
	Assertions map[string]StoreUsersAssertion `yaml:"assertions"`
	Line       int                            `yaml:"-"`
}

// StoreUserFilter is a ListUsers filter: a type, and a relation for usersets.
type StoreUserFilter struct {
	Type     string `yaml:"type"`
	Relation string `yaml:"relation"`
}

// StoreUsersAssertion is the expected answer of a ListUsers assertion.
type StoreUsersAssertion struct {
	Users []string `yaml:"users"`
}

// String formats the tuple as "object#relation@user", with " with NAME
// {context}" for a conditional one (the relationship engine's tuple syntax).
func (t StoreTuple) String() string {
	s := t.Object + "#" + t.Relation + "@" + t.User
	if t.Condition == nil || t.Condition.Name == "" {
		return s
	}
	s += " with " + t.Condition.Name
	if len(t.Condition.Context) > 0 {
		b, err := json.Marshal(t.Condition.Context)
		if err == nil {
			s += " " + string(b)
		}
	}
	return s
}

// IsStoreFile tells an OpenFGA store file from a policy test file: its name
// ends in .fga.yaml (or .fga.yml), or its top level has `tests:` and no
// `cases:`.
func IsStoreFile(path string, data []byte) bool {
	base := strings.ToLower(filepath.Base(path))
	if strings.HasSuffix(base, ".fga.yaml") || strings.HasSuffix(base, ".fga.yml") {
		return true
	}
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, tests := top["tests"]
	_, cases := top["cases"]
	return tests && !cases
}

// LoadStoreFile reads and checks a store file, with the model and tuple
// files it names. Those are read inside the store file's folder unless
// allowExternal (the OpenFGA CLI's --allow-external-files) is set.
func LoadStoreFile(path string, allowExternal bool) (*StoreFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	errs := &List{File: path}
	sf := &StoreFile{File: path}
	lines, ok := decodeStrict(data, sf, errs)
	if !ok || errs.Err() != nil {
		return nil, errs.Err()
	}
	// Files the store file names are read inside its folder only, as the
	// OpenFGA CLI reads them: a store file cannot make the runner read
	// /etc/hosts or a symlink out of its tree.
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	defer root.Close()
	read := func(p string) ([]byte, error) {
		if allowExternal {
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			return os.ReadFile(p)
		}
		if filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s: must be a path relative to the store file's folder", p)
		}
		return root.ReadFile(p)
	}
	// shown names a file the store file names, in errors.
	shown := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	switch {
	case sf.Model != "" && sf.ModelFile != "":
		errs.Add(lines["model_file"], "give model or model_file, not both")
	case sf.ModelFile != "":
		b, err := read(sf.ModelFile)
		if err != nil {
			errs.Add(lines["model_file"], "model_file: %v", err)
			break
		}
		if !strings.HasSuffix(sf.ModelFile, ".mod") {
			sf.Model = string(b)
			break
		}
		mods, err := readModules(sf.ModelFile, shown(sf.ModelFile), b, read)
		if err != nil {
			errs.addFrom(lines["model_file"], "model_file: ", err)
		}
		sf.Modules = mods
	case sf.Model != "":
		sf.ModelLine = lines["model"] + 1 // a block scalar starts on the next line
	default:
		errs.Add(0, "model or model_file is required")
	}
	files := sf.TupleFiles
	if sf.TupleFile != "" {
		files = append([]string{sf.TupleFile}, files...)
	}
	for _, f := range files {
		ts, err := readTupleFile(f, shown(f), read)
		if err != nil {
			errs.addFrom(lines["tuple_file"], "", err)
			continue
		}
		sf.Tuples = append(sf.Tuples, ts...)
	}
	checkTuples := func(ts []StoreTuple, where string, line int) {
		for i, t := range ts {
			if t.User == "" || t.Relation == "" || t.Object == "" {
				errs.Add(line, "%s tuple %d: user, relation and object are required", where, i+1)
			}
		}
	}
	checkTuples(sf.Tuples, "store", lines["tuples"])
	if len(sf.Tests) == 0 {
		errs.Add(lines["tests"], "tests: at least one test is required")
	}
	for i := range sf.Tests {
		tc := &sf.Tests[i]
		p := "tests." + strconv.Itoa(i)
		tc.Line = lines[p]
		if tc.Name == "" {
			tc.Name = fmt.Sprintf("test %d", i+1)
		}
		if tc.TupleFile != "" {
			ts, err := readTupleFile(tc.TupleFile, shown(tc.TupleFile), read)
			if err != nil {
				errs.addFrom(lines[p+".tuple_file"], fmt.Sprintf("test %q: ", tc.Name), err)
			}
			tc.Tuples = append(tc.Tuples, ts...)
		}
		checkTuples(tc.Tuples, fmt.Sprintf("test %q", tc.Name), tc.Line)
		if len(tc.Check)+len(tc.ListObjects)+len(tc.ListUsers) == 0 {
			errs.Add(tc.Line, "test %q: needs check, list_objects or list_users assertions", tc.Name)
		}
		for j := range tc.Check {
			c := &tc.Check[j]
			c.Line = lines[p+".check."+strconv.Itoa(j)]
			switch {
			case c.User != "" && len(c.Users) > 0:
				errs.Add(c.Line, "test %q: a check gives user or users, not both", tc.Name)
			case c.User == "" && len(c.Users) == 0:
				errs.Add(c.Line, "test %q: a check needs user or users", tc.Name)
			}
			switch {
			case c.Object != "" && len(c.Objects) > 0:
				errs.Add(c.Line, "test %q: a check gives object or objects, not both", tc.Name)
			case c.Object == "" && len(c.Objects) == 0:
				errs.Add(c.Line, "test %q: a check needs object or objects", tc.Name)
			}
			if len(c.Assertions) == 0 {
				errs.Add(c.Line, "test %q: a check needs assertions", tc.Name)
			}
		}
		for j := range tc.ListObjects {
			lo := &tc.ListObjects[j]
			lo.Line = lines[p+".list_objects."+strconv.Itoa(j)]
			if lo.User == "" || lo.Type == "" || len(lo.Assertions) == 0 {
				errs.Add(lo.Line, "test %q: list_objects needs user, type and assertions", tc.Name)
			}
		}
		for j := range tc.ListUsers {
			lu := &tc.ListUsers[j]
			lu.Line = lines[p+".list_users."+strconv.Itoa(j)]
			if lu.Object == "" || len(lu.UserFilter) == 0 || len(lu.Assertions) == 0 {
				errs.Add(lu.Line, "test %q: list_users needs object, user_filter and assertions", tc.Name)
			}
			for _, f := range lu.UserFilter {
				if f.Type == "" {
					errs.Add(lu.Line, "test %q: a user_filter entry needs a type", tc.Name)
				}
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return sf, nil
}

// modFile is an fga.mod, the file that lists a modular model's files.
type modFile struct {
	Schema   string   `yaml:"schema"`
	Contents []string `yaml:"contents"`
}

// readModules reads the module files an fga.mod lists (YAML: schema '1.2'
// and contents, paths relative to the fga.mod's folder). shown names the
// fga.mod in errors about its YAML, which are Errors at its lines.
func readModules(modPath, shown string, data []byte, read func(string) ([]byte, error)) ([]StoreModule, error) {
	var mod modFile
	errs := &List{File: shown}
	if _, ok := decodeStrict(data, &mod, errs); !ok || errs.Err() != nil {
		return nil, errs.Err()
	}
	if mod.Schema != "1.2" {
		return nil, fmt.Errorf("%s: schema %q, want '1.2'", modPath, mod.Schema)
	}
	if len(mod.Contents) == 0 {
		return nil, fmt.Errorf("%s: contents lists no module file", modPath)
	}
	out := make([]StoreModule, 0, len(mod.Contents))
	for _, name := range mod.Contents {
		b, err := read(filepath.Join(filepath.Dir(modPath), name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", modPath, err)
		}
		out = append(out, StoreModule{Name: name, Contents: string(b)})
	}
	return out, nil
}

// SortedKeys returns a map's keys in order, so that assertions run (and
// report) in the same order every time.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readTupleFile reads tuples in the formats the OpenFGA CLI accepts: YAML or
// JSON (a list of {user, relation, object, condition}), JSON lines, or CSV
// with the CLI's headers. shown names the file in errors about its YAML,
// which are Errors at its lines.
func readTupleFile(path, shown string, read func(string) ([]byte, error)) ([]StoreTuple, error) {
	data, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("tuple file: %w", err)
	}
	var ts []StoreTuple
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		errs := &List{File: shown}
		if _, ok := decodeStrict(data, &ts, errs); !ok || errs.Err() != nil {
			return nil, errs.Err()
		}
	case ".jsonl":
		for i, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var t StoreTuple
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&t); err != nil {
				return nil, fmt.Errorf("tuple file %s:%d: %w", path, i+1, err)
			}
			ts = append(ts, t)
		}
	case ".csv":
		ts, err = readTupleCSV(data)
		if err != nil {
			return nil, fmt.Errorf("tuple file %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("tuple file %s: unsupported format %q (want .yaml, .json, .jsonl or .csv)", path, filepath.Ext(path))
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("tuple file %s: no tuples", path)
	}
	return ts, nil
}

// readTupleCSV reads the CLI's CSV: a header row naming user_type, user_id,
// user_relation (optional), relation, object_type, object_id,
// condition_name and condition_context (optional) in any order.
func readTupleCSV(data []byte) ([]StoreTuple, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		switch h {
		case "user_type", "user_id", "user_relation", "relation", "object_type", "object_id", "condition_name", "condition_context":
			col[h] = i
		default:
			return nil, fmt.Errorf("unknown header %q", h)
		}
	}
	for _, h := range []string{"user_type", "user_id", "relation", "object_type", "object_id"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("missing header %q", h)
		}
	}
	if _, ok := col["condition_context"]; ok {
		if _, ok := col["condition_name"]; !ok {
			return nil, errors.New(`header "condition_context" needs "condition_name"`)
		}
	}
	get := func(row []string, h string) string {
		if i, ok := col[h]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	var out []StoreTuple
	for line := 2; ; line++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		t := StoreTuple{
			User:     get(row, "user_type") + ":" + get(row, "user_id"),
			Relation: get(row, "relation"),
			Object:   get(row, "object_type") + ":" + get(row, "object_id"),
		}
		if ur := get(row, "user_relation"); ur != "" {
			t.User += "#" + ur
		}
		if name := get(row, "condition_name"); name != "" {
			t.Condition = &StoreCondition{Name: name}
			if raw := get(row, "condition_context"); raw != "" {
				if err := json.Unmarshal([]byte(raw), &t.Condition.Context); err != nil {
					return nil, fmt.Errorf("line %d: condition_context: %w", line, err)
				}
			}
		}
		out = append(out, t)
	}
}
