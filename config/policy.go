package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// Policy is one policy document as written: roles, groups, members,
// attributes, revocations, the relationship model and tuples, and routes.
// Line fields point back into File for error messages.
type Policy struct {
	File string `yaml:"-"`
	// Digest is a hash of the document's bytes, a revision for policies
	// whose store names none.
	Digest     string                         `yaml:"-"`
	Roles      map[string]Role                `yaml:"roles"`
	Groups     map[string][]string            `yaml:"groups"`
	Members    map[string]map[string][]string `yaml:"members"`
	Attributes map[string]map[string]any      `yaml:"attributes"`
	Revoked    Revoked                        `yaml:"revoked"`
	Model      string                         `yaml:"model"`
	// ModelFile names an fga.mod (schema 1.2), relative to the policy file,
	// whose module files make a modular model. LoadPolicy reads them into
	// Modules; a policy that travels (a bundle, the store) carries Modules
	// inline instead (edgeauthz publish inlines them).
	ModelFile string `yaml:"model_file"`
	// Modules are a modular model's files, by the names fga.mod lists.
	Modules map[string]string `yaml:"modules"`
	// ModulePaths maps a module name to the file it was read from, for
	// error messages; set by LoadPolicy.
	ModulePaths map[string]string `yaml:"-"`
	Tuples      []string          `yaml:"tuples"`
	// TupleLines holds the line of each of Tuples when the list was read
	// on its own (a long plain list, see ParsePolicy); Lines then holds no
	// "tuples.N". TupleLine reads either.
	TupleLines []int   `yaml:"-"`
	Routes     []Route `yaml:"routes"`
	AuthZEN    Access  `yaml:"authzen"`

	// Lines maps a key path ("roles.viewer", "groups.Eng", "members.org_1.usr_1",
	// "tuples.3" unless TupleLines holds them, "model", "revoked") to its line.
	Lines map[string]int `yaml:"-"`
}

// Role groups permissions; Inherits is transitive.
type Role struct {
	Inherits    []string `yaml:"inherits"`
	Permissions []string `yaml:"permissions"`
}

// Revoked lists subjects and token ids refused at the next sync.
type Revoked struct {
	Subjects []string `yaml:"subjects"`
	TokenIDs []string `yaml:"token_ids"`
}

// Route is one rule: a pattern and the requirements a request must meet.
type Route struct {
	Name      string    `yaml:"name"`
	Match     string    `yaml:"match"`
	Public    bool      `yaml:"public"`
	Org       string    `yaml:"org"`
	Scopes    []string  `yaml:"scopes"`
	AllScopes AllScopes `yaml:"all_scopes"`
	Roles     []string  `yaml:"roles"`
	Relation  *Relation `yaml:"relation"`
	When      string    `yaml:"when"`
	// AnyOf lists alternatives of which one must hold, in place of the
	// requirements above.
	AnyOf []RouteAlternative `yaml:"any_of"`
	// Monitor logs what the route's requirements decide but allows the
	// request (for introducing rules on a live service); identity is still
	// enforced. README "Monitor mode".
	Monitor bool `yaml:"monitor"`

	// Line is the line of the route's list item; Lines has the line of each key.
	Line  int            `yaml:"-"`
	Lines map[string]int `yaml:"-"`
}

// RouteAlternative is one of a route's any_of alternatives: requirements
// that must all hold, in the route's vocabulary.
type RouteAlternative struct {
	Org       string    `yaml:"org"`
	Scopes    []string  `yaml:"scopes"`
	AllScopes AllScopes `yaml:"all_scopes"`
	Roles     []string  `yaml:"roles"`
	Relation  *Relation `yaml:"relation"`
	When      string    `yaml:"when"`
}

// TupleLine returns the line of Tuples[i], 0 when unknown.
func (p *Policy) TupleLine(i int) int {
	if i >= 0 && i < len(p.TupleLines) {
		return p.TupleLines[i]
	}
	return p.Lines["tuples."+strconv.Itoa(i)]
}

// LineOf returns the line of one of the route's keys, or the route's own line.
func (r *Route) LineOf(key string) int {
	if l, ok := r.Lines[key]; ok {
		return l
	}
	return r.Line
}

// Relation asks the relationship engine whether User has Relation on Object.
// All three may be templates; User defaults to "user:{principal.sub}".
// Context is the request's part of the condition context: string values are
// templates (and "{request.time}" or "{request.source_ip}" alone give the
// request's time or source address); other values are passed as written.
type Relation struct {
	Object   string         `yaml:"object"`
	Relation string         `yaml:"relation"`
	User     string         `yaml:"user"`
	Context  map[string]any `yaml:"context"`
}

// AllScopes is either a list of scopes that are all required, or `true`,
// which makes every entry of the route's `scopes` required.
type AllScopes struct {
	Every  bool     // all_scopes: true
	Scopes []string // all_scopes: [a, b]
}

// UnmarshalYAML accepts a boolean or a list of strings.
func (a *AllScopes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return n.Decode(&a.Every)
	}
	if n.Kind == yaml.SequenceNode {
		return n.Decode(&a.Scopes)
	}
	// A TypeError lets yaml.v3 go on decoding, so the file's other problems
	// are reported with this one.
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: all_scopes must be true, false or a list of scopes", n.Line)}}
}

// LoadPolicy reads and parses a policy file, and the module files of the
// fga.mod its model_file names.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := ParsePolicy(path, data)
	if err != nil || p.ModelFile == "" {
		return p, err
	}
	if err := p.ReadModules(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return p, nil
}

// ModFilePath is where the fga.mod named by ModelFile lies, for a policy
// file in dir.
func (p *Policy) ModFilePath(dir string) string {
	if filepath.IsAbs(p.ModelFile) {
		return p.ModelFile
	}
	return filepath.Join(dir, p.ModelFile)
}

// ReadModules reads the fga.mod named by ModelFile, relative to dir (the
// policy file's folder), and the files it lists, which must lie in its
// folder or below, into Modules and ModulePaths.
func (p *Policy) ReadModules(dir string) error {
	errs := &List{File: p.File}
	line := p.Lines["model_file"]
	mod := p.ModFilePath(dir)
	data, err := os.ReadFile(mod)
	if err != nil {
		errs.Add(line, "model_file: %v", err)
		return errs.Err()
	}
	// The model parser reads the first document and skips null items
	// without a word; refuse both here, as in every other YAML file.
	modErrs := &List{File: mod}
	checkDocument(data, &modFile{}, modErrs)
	if modErrs.Err() != nil {
		return modErrs.Err()
	}
	names, err := rebac.ReadModFile(string(data))
	if err != nil {
		var me *rebac.ModelError
		if errors.As(err, &me) {
			return &Error{File: mod, Line: me.Line, Msg: me.Msg}
		}
		return &Error{File: mod, Msg: err.Error()}
	}
	p.Modules = make(map[string]string, len(names))
	p.ModulePaths = make(map[string]string, len(names))
	for _, n := range names {
		if !filepath.IsLocal(filepath.FromSlash(n)) {
			return &Error{File: mod, Msg: fmt.Sprintf("module file %q must lie in the folder of fga.mod", n)}
		}
		path := filepath.Join(filepath.Dir(mod), filepath.FromSlash(n))
		b, err := os.ReadFile(path)
		if err != nil {
			return &Error{File: mod, Msg: fmt.Sprintf("module file %q: %v", n, err)}
		}
		p.Modules[n] = string(b)
		p.ModulePaths[n] = path
	}
	return nil
}

// InlineModules rewrites a policy document that names a model_file so that
// it carries the modules inline (under modules:) instead, keeping the rest
// of the document. A policy without model_file is returned unchanged.
func InlineModules(data []byte, p *Policy) ([]byte, error) {
	if p.ModelFile == "" {
		return data, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: cannot rewrite the policy document", p.File)
	}
	m := root.Content[0]
	mods := &yaml.Node{Kind: yaml.MappingNode}
	names := make([]string, 0, len(p.Modules))
	for n := range p.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mods.Content = append(mods.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: n},
			&yaml.Node{Kind: yaml.ScalarNode, Value: p.Modules[n], Style: yaml.LiteralStyle})
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "model_file" {
			m.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Value: "modules"}
			m.Content[i+1] = mods
		}
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	return out, nil
}

// ParsePolicy parses a policy document in YAML or JSON (JSON is read as YAML,
// which keeps line numbers). It checks the shape only; decision.Compile checks
// the meaning.
func ParsePolicy(name string, data []byte) (*Policy, error) {
	errs := &List{File: name}
	sum := sha256.Sum256(data)
	p := &Policy{File: name, Digest: "sha256:" + hex.EncodeToString(sum[:8])}
	// A long top-level tuples list is read without yaml.v3 when it is plain
	// (tuplelist.go); the rest of the document, with every line where it
	// was, goes through yaml.v3 as usual.
	src := data
	cut, fast := cutTuples(data)
	var root yaml.Node
	if fast {
		if yaml.Unmarshal(cut.rest, &root) == nil && len(root.Content) > 0 && cut.isCutKey(root.Content[0]) {
			src = cut.rest
		} else {
			fast, root = false, yaml.Node{}
		}
	}
	if !fast {
		if err := yaml.Unmarshal(data, &root); err != nil {
			errs.addYAMLError(err.Error())
			return nil, errs.Err()
		}
	}
	if len(root.Content) == 0 {
		errs.Add(1, "empty policy")
		return nil, errs.Err()
	}
	if root.Content[0].Kind != yaml.MappingNode {
		errs.Add(root.Content[0].Line, "a policy is a mapping with keys such as roles and routes")
		return nil, errs.Err()
	}
	p.Lines, _ = decodeStrict(src, p, errs)
	if fast {
		// A million "tuples.N" keys would cost more than the tuples.
		p.Tuples, p.TupleLines = cut.tuples, cut.lines
	}
	for i := range p.Routes {
		prefix := "routes." + strconv.Itoa(i)
		p.Routes[i].Line = p.Lines[prefix]
		p.Routes[i].Lines = map[string]int{}
		for _, k := range []string{"name", "match", "public", "org", "scopes", "all_scopes", "roles", "relation", "when", "any_of", "monitor"} {
			if l, ok := p.Lines[prefix+"."+k]; ok {
				p.Routes[i].Lines[k] = l
			}
		}
	}
	if p.Model != "" && (p.ModelFile != "" || len(p.Modules) > 0) {
		errs.Add(p.Lines["model"], "give model: or a modular model (model_file: or modules:), not both")
	}
	if p.ModelFile != "" && len(p.Modules) > 0 {
		errs.Add(p.Lines["modules"], "give model_file: or modules:, not both")
	}
	for n := range p.Modules {
		// A block scalar's text starts on the line after its key.
		if l, ok := p.Lines["modules."+n]; ok {
			p.Lines["modules."+n+".text"] = l + 1
		}
	}
	if l, ok := p.Lines["model"]; ok {
		// A block scalar's text starts on the line after its key.
		if n := findValue(root.Content[0], "model"); n != nil && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
			p.Lines["model.text"] = l + 1
		} else {
			p.Lines["model.text"] = l
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// recordLines stores the line of every mapping key and sequence item under a
// dotted path, so validation can point at the exact line.
func recordLines(n *yaml.Node, prefix string, out map[string]int) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := join(k.Value)
			out[path] = k.Line
			// Attribute values and tuple bodies need no deeper lines.
			if prefix != "attributes" {
				recordLines(v, path, out)
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := join(strconv.Itoa(i))
			out[path] = item.Line
			recordLines(item, path, out)
		}
	}
}

func findValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
