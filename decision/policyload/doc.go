// Package policyload is the one way from policy bytes to a compiled
// snapshot: parse (config), resolve a modular model's files, compile
// (decision). Every caller that turns a policy into a snapshot goes
// through it: the server's loader, validate, check, test, publish, bundle
// and the relay, so they accept and refuse exactly the same policies with
// the same file:line errors.
//
// What it reads:
//
//   - a policy document (YAML or JSON). A model_file's modules are read
//     from Options.Dir (a policy loaded from a file), taken from
//     Options.Modules (a source that read them with the policy), or, for a
//     policy that travelled without them, refused with the model_file line;
//   - a policy set's encoding (a base and packages, config.PolicySet),
//     compiled whole by Load and LoadSet: any failing part refuses the set
//     (validate, test, publish). LoadSetIsolated compiles a set the way an
//     edge serves it: a failing package is refused alone and keeps its
//     last good revision (sync.PackageCompiler remembers those);
//   - on disk (File): a policy file, a set bundle, a policy directory, or a
//     package checked against one base.
//
// Errors keep their types: config's file:line errors, decision's
// *PackageError and the compile errors callers branch on are wrapped with
// %w, never flattened.
//
// # Concurrency
//
// The package holds no state; every function is safe for concurrent use.
package policyload
