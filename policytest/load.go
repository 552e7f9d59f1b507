package policytest

import (
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
)

// LoadSnapshot loads and compiles what a test, check or validate names: a
// policy file; a set bundle; a policy directory (a base and packages, compiled whole); or,
// with base set, one package file against that base alone, which is what a
// team checks before publishing its package. It is policyload.File.
func LoadSnapshot(policy, base string, opts decision.Options) (*decision.Snapshot, error) {
	return policyload.File(policy, base, opts)
}
