// Package decision is edgeauthz's pure policy core: it compiles a policy into an
// immutable Snapshot and decides requests against it.
//
// A Snapshot is built once by Compile (route table, role closures, parsed
// templates, CEL programs, relationship indexes) and never mutated afterwards,
// so any number of goroutines may call Decide on it concurrently. Decide
// takes a Request and its Caller (what authentication found, package authn)
// and changes neither; it runs an ordered list of checks (decide.go), and its
// Result is plain data that keeps no snapshot alive. CompileSet
// compiles a base and policy packages into one such snapshot, with one flat
// route table, after checking what each package owns. The package
// imports no gRPC or Envoy types; transports adapt to it.
package decision
