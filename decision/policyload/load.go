package policyload

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// Options configure Load, Parse and File. The zero value compiles with
// decision's defaults and reads nothing from disk.
type Options struct {
	// Compile are the compile settings: revision, store tuples, tenant
	// mismatch status.
	Compile decision.Options
	// Dir is the folder a policy's model_file is read relative to: set it
	// for a policy that was read from a file in Dir. Empty reads nothing
	// from disk.
	Dir string
	// Modules and ModulePaths are a model_file's modules the caller read
	// with the policy (keyed by the names fga.mod gives them) and the files
	// they came from, for errors. They take the place of reading Dir.
	Modules, ModulePaths map[string]string
}

// Load parses data, named name in errors, and compiles it: a policy
// document, or a policy set's encoding compiled whole.
func Load(name string, data []byte, opts Options) (*decision.Snapshot, error) {
	if config.IsPolicySet(data) {
		set, err := config.DecodePolicySet(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return LoadSet(set, opts.Compile)
	}
	_, snap, err := LoadPolicy(name, data, opts)
	return snap, err
}

// LoadSet parses every part of a policy set and compiles them whole: any
// part that fails refuses the set, naming it (*decision.PackageError).
func LoadSet(set *config.PolicySet, opts decision.Options) (*decision.Snapshot, error) {
	return decision.CompilePolicySet(set, opts)
}

// LoadPolicy is Load for a policy document, also returning what it parsed
// (for callers that report on the document, such as validate's warnings
// with line numbers).
func LoadPolicy(name string, data []byte, opts Options) (*config.Policy, *decision.Snapshot, error) {
	p, err := Parse(name, data, opts)
	if err != nil {
		return nil, nil, err
	}
	snap, err := decision.Compile(p, opts.Compile)
	if err != nil {
		return nil, nil, err
	}
	return p, snap, nil
}

// Parse parses a policy document and resolves its model_file (see
// Options). It checks the shape only; Load also compiles.
func Parse(name string, data []byte, opts Options) (*config.Policy, error) {
	p, err := config.ParsePolicy(name, data)
	if err != nil || p.ModelFile == "" {
		return p, err
	}
	switch {
	case opts.Modules != nil:
		p.Modules, p.ModulePaths = opts.Modules, opts.ModulePaths
	case opts.Dir != "":
		if err := p.ReadModules(opts.Dir); err != nil {
			return nil, err
		}
	}
	// Without either, decision.Compile refuses the model_file at its line:
	// a policy that travelled must carry its modules inline.
	return p, nil
}

// Portable returns a policy document read from a file in dir in the form
// that travels to a store or a bundle: a model_file's modules are read and
// carried inline (under modules:), since edges cannot read the files beside
// the policy. A document without model_file is returned unchanged.
func Portable(name string, data []byte, dir string) ([]byte, error) {
	p, err := Parse(name, data, Options{Dir: dir})
	if err != nil || p.ModelFile == "" {
		return data, err
	}
	return config.InlineModules(data, p)
}

// File loads what path names: a policy file (its model_file read beside
// it), a set bundle (edgeauthz bundle DIR) or a policy directory (a base
// and packages), compiled whole. With base set, path is a package file
// compiled against that base policy alone, which is what a team checks
// before publishing its package.
func File(path, base string, opts decision.Options) (*decision.Snapshot, error) {
	if base != "" {
		b, err := readPolicy(base)
		if err != nil {
			return nil, err
		}
		p, err := config.LoadPackage(path)
		if err != nil {
			return nil, err
		}
		return decision.CompileSet(b, []*config.Package{p}, opts)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		set, err := config.LoadPolicyDir(path)
		if err != nil {
			return nil, err
		}
		return LoadSet(set, opts)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Load(path, data, Options{Compile: opts, Dir: filepath.Dir(path)})
}

// readPolicy reads and parses a policy file with its model_file's modules.
func readPolicy(path string) (*config.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(path, data, Options{Dir: filepath.Dir(path)})
}
