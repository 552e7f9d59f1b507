// Package rebac is edgeauthz's relationship engine: an in-memory
// Zanzibar/OpenFGA check over a model written in the OpenFGA modeling
// language (schema 1.1) and a set of relationship tuples.
//
// ParseModel parses a model with github.com/openfga/language and checks it
// as OpenFGA's model validation does (undefined types and relations,
// tuple-to-userset rules, relations without an entrypoint, computed-relation
// cycles); errors are *ModelError with the DSL line. Conditions are not
// supported yet and are refused.
//
// Build indexes tuples into a Graph: type, relation and object names are
// interned to integers, and each (object, relation) has sorted lists of
// plain subjects, usersets and wildcard types. Tuples that do not fit the
// model's type restrictions are ignored and counted in Stats, as OpenFGA
// ignores them after a model change.
//
// Check follows OpenFGA's check API: direct type restrictions, usersets,
// wildcards, computed relations, tuple-to-userset, union, intersection and
// exclusion. A cycle evaluates to false (never to true, also under "but
// not"); exceeding the depth limit (default 25) is ErrDepth; a check or a
// contextual tuple that does not fit the model is ErrInvalidCheck. Answers
// are memoized within one check only. With Explain, Result.Path lists the
// tuples that granted access, from the object to the user.
//
// Build also records which type restrictions the tuples use and a reverse
// index (subject → the lists it is in). From the first, each relation gets
// the set of user kinds that can ever hold it, and a check skips every
// branch (and answers false at once for a relation) that cannot reach the
// user; relations defined by direct assignment alone are answered from the
// user's side through the reverse index (prune.go). Neither changes an
// allow or a deny.
//
// ListObjects walks from the user up the reverse index and ListUsers from
// the object down its relations; both decide every candidate with Check,
// so they return exactly the objects or users Check would allow, with
// OpenFGA's wildcard and userset rules, bounded by a context deadline and a
// result limit (list.go).
//
// Concurrency: a Graph is immutable. Check may be called from any number of
// goroutines without locks (per-check state comes from a sync.Pool). Apply
// returns a new Graph that shares the base and carries the changes in a
// small two-layer overlay (deletes are applied before writes); the old
// Graph stays valid and unchanged. A change costs the size of the adjacency
// lists it touches plus O(√OverlaySize) amortized, never a rebuild; Compact
// folds the overlay into a fresh base (a full Build) and is meant to run off
// the request path when OverlaySize grows large.
package rebac
