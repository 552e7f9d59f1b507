package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Package is one team's part of a policy: the routes under the hosts and
// path prefixes it owns. Roles, groups, members, attributes, revocations, the
// model and tuples stay in the base policy every package shares.
type Package struct {
	File   string `yaml:"-"`
	Digest string `yaml:"-"`
	// Name is the package's name, as publish --package and the
	// edgeauthz_package context extension spell it.
	Name   string  `yaml:"package"`
	Owns   Owns    `yaml:"owns"`
	Routes []Route `yaml:"routes"`

	Lines map[string]int `yaml:"-"`
}

// Owns is the request space a package owns: requests whose host is one of
// Hosts (any host when empty) and whose path is one of Paths or below it
// (any path when empty). At least one of the two is set.
type Owns struct {
	Hosts []string `yaml:"hosts"`
	Paths []string `yaml:"paths"`
}

// packageNameRe is what a package name may be: it appears in revisions,
// metric labels and store rows.
var packageNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidPackageName reports whether name can name a package. "base" names
// the shared part of a policy set and no package.
func ValidPackageName(name string) bool { return name != "base" && packageNameRe.MatchString(name) }

// LoadPackage reads and parses a package file.
func LoadPackage(path string) (*Package, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	return ParsePackage(path, data)
}

// ParsePackage parses a package document (YAML or JSON) and checks its
// shape: a valid name and well-formed ownership. decision.CompileSet checks
// that its routes stay inside what it owns and do not collide with others.
func ParsePackage(name string, data []byte) (*Package, error) {
	errs := &List{File: name}
	sum := sha256.Sum256(data)
	p := &Package{File: name, Digest: "sha256:" + hex.EncodeToString(sum[:8])}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		errs.addYAMLError(err.Error())
		return nil, errs.Err()
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		errs.Add(1, "a package is a mapping with the keys package, owns and routes")
		return nil, errs.Err()
	}
	p.Lines, _ = decodeStrict(data, p, errs)
	routeLines(p.Routes, p.Lines)
	switch {
	case p.Name == "":
		errs.Add(1, "package: a name is required")
	case !ValidPackageName(p.Name):
		errs.Add(p.Lines["package"], "package %q: a name is lower-case letters, digits, - and _ (at most 63), and not base", p.Name)
	}
	if len(p.Owns.Hosts) == 0 && len(p.Owns.Paths) == 0 {
		errs.Add(lineOr(p.Lines, "owns", 1), "owns: a package owns hosts, path prefixes or both")
	}
	for i, h := range p.Owns.Hosts {
		line := lineOr(p.Lines, "owns.hosts."+strconv.Itoa(i), p.Lines["owns"])
		if h == "" || h != strings.ToLower(h) || strings.ContainsAny(h, ":/{} \t*") || strings.HasSuffix(h, ".") {
			errs.Add(line, "owns: host %q: a lower-case host name without port, wildcard or trailing dot", h)
		}
	}
	for i, pp := range p.Owns.Paths {
		line := lineOr(p.Lines, "owns.paths."+strconv.Itoa(i), p.Lines["owns"])
		if msg := checkOwnedPath(pp); msg != "" {
			errs.Add(line, "owns: path %q: %s", pp, msg)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkOwnedPath says what is wrong with an owned path prefix, or "".
func checkOwnedPath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/") || p == "/":
		return "a prefix starts with / and names at least one segment (own no paths to own every path)"
	case strings.HasSuffix(p, "/"):
		return "a prefix has no trailing / (it owns itself and every path below it)"
	case strings.ContainsAny(p, "{}?#%;\\ \t") || strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.HasSuffix(p, "/."):
		return "a prefix is a canonical path of literal segments"
	}
	return ""
}

func lineOr(lines map[string]int, key string, def int) int {
	if l, ok := lines[key]; ok {
		return l
	}
	return def
}

// routeLines gives each route its line and the line of each of its keys.
func routeLines(routes []Route, lines map[string]int) {
	for i := range routes {
		prefix := "routes." + strconv.Itoa(i)
		routes[i].Line = lines[prefix]
		routes[i].Lines = map[string]int{}
		for k, l := range lines {
			if rest, ok := strings.CutPrefix(k, prefix+"."); ok && !strings.Contains(rest, ".") {
				routes[i].Lines[rest] = l
			}
		}
	}
}

// PolicySet is a policy split into a base and packages, as a store holds it:
// each part with its own revision and its own document. Sources deliver a
// set as one bundle in its JSON encoding (EncodePolicySet), so every source
// and the persisted last good policy carry it unchanged.
type PolicySet struct {
	Base     SetPart   `json:"base"`
	Packages []SetPart `json:"packages"`
}

// SetPart is one part of a policy set.
type SetPart struct {
	// Name is the package name; empty for the base.
	Name string `json:"name,omitempty"`
	// Revision is the part's store revision (a content hash for files).
	Revision string `json:"revision"`
	// File names where the document came from, for error messages.
	File     string `json:"file"`
	Document string `json:"document"`
	// PublishedBy names the credential that published the revision, when
	// the store records it.
	PublishedBy string `json:"published_by,omitempty"`
}

// policySetKey marks a bundle as a policy set. A policy document never has
// it: unknown keys are refused there.
const policySetKey = "edgeauthz_policy_set"

type encodedSet struct {
	Version int `json:"edgeauthz_policy_set"`
	PolicySet
}

// EncodePolicySet returns a set's bundle encoding. Packages are sorted by
// name, so equal sets encode to equal bytes.
func EncodePolicySet(s *PolicySet) ([]byte, error) {
	c := *s
	c.Packages = append([]SetPart(nil), s.Packages...)
	sort.Slice(c.Packages, func(i, j int) bool { return c.Packages[i].Name < c.Packages[j].Name })
	return json.Marshal(encodedSet{Version: 1, PolicySet: c})
}

// IsPolicySet reports whether a bundle holds a policy set rather than one
// policy document.
func IsPolicySet(data []byte) bool {
	d := bytes.TrimLeft(data, " \t\r\n")
	return bytes.HasPrefix(d, []byte(`{"`+policySetKey+`"`))
}

// DecodePolicySet decodes a set's bundle encoding.
func DecodePolicySet(data []byte) (*PolicySet, error) {
	var e encodedSet
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("policy set: %w", err)
	}
	if e.Version != 1 {
		return nil, fmt.Errorf("policy set: version %d, this edgeauthz reads version 1", e.Version)
	}
	seen := map[string]bool{}
	for _, p := range e.Packages {
		if !ValidPackageName(p.Name) {
			return nil, fmt.Errorf("policy set: package name %q is not valid", p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("policy set: package %q twice", p.Name)
		}
		seen[p.Name] = true
	}
	return &e.PolicySet, nil
}

// PolicyDirFile says what a file of a policy directory is: the base
// (base.yaml, base.yml, base.json), a package named after the file
// (payments.yaml is package payments), or neither (skip: other extensions,
// hidden files). A file named like no valid package is an error.
func PolicyDirFile(file string) (pkg string, isBase, skip bool, err error) {
	ext := filepath.Ext(file)
	if strings.HasPrefix(file, ".") || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
		return "", false, true, nil
	}
	name := strings.TrimSuffix(file, ext)
	if name == "base" {
		return "", true, false, nil
	}
	if !ValidPackageName(name) {
		return "", false, false, fmt.Errorf("%s: a package file is named after its package (lower-case letters, digits, - and _)", file)
	}
	return name, false, false, nil
}

// LoadPolicyDir reads a policy directory (see PolicyDirFile) into a set;
// each part's revision is a hash of its content.
func LoadPolicyDir(dir string) (*PolicySet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	set := &PolicySet{}
	haveBase := false
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		pkg, isBase, skip, err := PolicyDirFile(e.Name())
		if skip {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("policy directory %s: %w", dir, err)
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("policy directory: %w", err)
		}
		if err := set.add(SetPart{Name: pkg, File: path, Document: string(data), Revision: contentDigest(data)}, isBase, &haveBase); err != nil {
			return nil, fmt.Errorf("policy directory %s: %w", dir, err)
		}
	}
	if !haveBase {
		return nil, fmt.Errorf("policy directory %s: no base.yaml", dir)
	}
	return set, nil
}

func (s *PolicySet) add(p SetPart, base bool, haveBase *bool) error {
	if base {
		if *haveBase {
			return errors.New("more than one base file")
		}
		*haveBase, s.Base = true, p
		return nil
	}
	for _, q := range s.Packages {
		if q.Name == p.Name {
			return fmt.Errorf("package %s has more than one file", p.Name)
		}
	}
	s.Packages = append(s.Packages, p)
	return nil
}

// AddPart adds one part read from a policy directory (see PolicyDirFile):
// the base once, each package once.
func (s *PolicySet) AddPart(p SetPart, base bool, haveBase *bool) error {
	return s.add(p, base, haveBase)
}

func contentDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:6])
}
