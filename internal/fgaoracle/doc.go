// Package fgaoracle is a differential test of edgeauthz's relationship engine
// (decision/rebac) against OpenFGA itself.
//
// OpenFGA runs embedded, in-process, on its in-memory datastore (Oracle). A
// seeded generator (Generate) produces random schema 1.1 models with
// conditions, tuples that fit them (and some that do not), and Check,
// ListObjects and ListUsers queries with contextual tuples and condition
// context over the objects and users involved; Differ asks both engines and
// compares the answers. A disagreement is shrunk to a minimal case and
// printed as an edgeauthz policy test (a policy file and a test file) or, for
// a list query, an OpenFGA store file, ready for a testdata folder.
//
// The package is a nested Go module so that OpenFGA and its dependencies
// never enter the product's go.mod; `make test` runs it.
//
// Concurrency: an Oracle may be used from several goroutines (OpenFGA's
// server is); a Model or Case is plain data and is not mutated once built.
package fgaoracle
