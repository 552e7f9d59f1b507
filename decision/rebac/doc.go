// Package rebac is edgeauthz's relationship engine: an in-memory
// Zanzibar/OpenFGA check over a model written in the OpenFGA modeling
// language (schema 1.1) and a set of relationship tuples.
//
// ParseModel parses and cross-checks a model; Build indexes tuples into a
// Graph (ids interned to integers, one sorted adjacency list per object and
// relation, split into plain users, usersets and wildcards). A Graph is
// immutable: Check may be called from any number of goroutines without
// locks, and Apply returns a new Graph that shares the base and carries the
// changes in a small overlay, leaving the old Graph valid. Compact folds the
// overlay into a fresh base.
//
// Check follows OpenFGA's semantics: direct type restrictions, usersets,
// wildcards, computed relations, tuple-to-userset, union, intersection and
// exclusion. A cycle evaluates to false; exceeding the depth limit is
// ErrDepth; a check that does not fit the model is ErrInvalidCheck.
// Tuples that do not fit the model's type restrictions are ignored, as
// OpenFGA ignores them after a model change.
package rebac
