package policytest

import (
	"fmt"
	"os"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// LoadSnapshot loads and compiles what a test, check or validate names: a
// policy file; a set bundle; a policy directory (a base and packages, compiled whole); or,
// with base set, one package file against that base alone, which is what a
// team checks before publishing its package.
func LoadSnapshot(policy, base string, opts decision.Options) (*decision.Snapshot, error) {
	if base != "" {
		b, err := config.LoadPolicy(base)
		if err != nil {
			return nil, err
		}
		p, err := config.LoadPackage(policy)
		if err != nil {
			return nil, err
		}
		return decision.CompileSet(b, []*config.Package{p}, opts)
	}
	if fi, err := os.Stat(policy); err == nil && fi.IsDir() {
		set, err := config.LoadPolicyDir(policy)
		if err != nil {
			return nil, err
		}
		return decision.CompilePolicySet(set, opts)
	}
	// A set bundle (edgeauthz bundle DIR) is a policy file too.
	if data, err := os.ReadFile(policy); err == nil && config.IsPolicySet(data) {
		set, err := config.DecodePolicySet(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", policy, err)
		}
		return decision.CompilePolicySet(set, opts)
	}
	p, err := config.LoadPolicy(policy)
	if err != nil {
		return nil, err
	}
	return decision.Compile(p, opts)
}
