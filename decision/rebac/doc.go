// Package rebac is edgeauthz's relationship engine: an in-memory
// Zanzibar/OpenFGA check over a model written in the OpenFGA modeling
// language (schema 1.1, or a modular model of schema 1.2) and a set of
// relationship tuples.
//
// ParseModel parses a model with github.com/openfga/language and checks it
// as OpenFGA's model validation does (undefined types, relations and
// conditions, tuple-to-userset rules, relations without an entrypoint,
// computed-relation cycles); errors are *ModelError with the DSL line. The
// entrypoint search answers as OpenFGA's does, its bookkeeping included: an
// operand of "and" or "but not" needs an entrypoint of its own, and some
// models that repeat an operand are refused as a "potential loop".
// ParseModules does the same for the files an fga.mod lists (ReadModFile),
// combined by the language's module transformer; its errors name the file.
//
// Conditions are OpenFGA's: each `condition name(param: type, ...) { CEL }`
// is compiled and type-checked once, when the model is parsed, with
// github.com/google/cel-go; an evaluation is bounded by MaxConditionCost. A
// conditional tuple (Tuple.Condition, with part of the context in
// Tuple.Context) grants only when its condition is true with the tuple's
// context merged over the check's (CheckOptions.Context; the tuple wins on
// conflicts). Missing parameters, values that do not convert to their
// parameter types and evaluation errors are a *ConditionError (ErrCondition)
// that propagates as in OpenFGA: a true branch of a union still wins, a
// definite false of an intersection or of an exclusion's base wins over it,
// and among the tuples of one relation an error counts only when no tuple
// passed its condition. The ParseTuple form of a conditional tuple is
// "object#relation@user with name {json}".
//
// Build indexes tuples into a Graph: type, relation and object names are
// interned to integers, and each (object, relation) has sorted lists of
// plain subjects, usersets and wildcard types, and apart from them the
// conditional tuples' subjects with their compiled context, so that an
// unconditional check costs what it did. Tuples that do not fit the model's
// type restrictions (conditions included) are ignored and counted in Stats,
// as OpenFGA ignores them after a model change. A tuple's key is object,
// relation and user: of several tuples with one key the last counts, and a
// write replaces the tuple of its key.
//
// Check follows OpenFGA's check API: direct type restrictions, usersets,
// wildcards, computed relations, tuple-to-userset, union, intersection and
// exclusion. A cycle evaluates to false (never to true, also under "but
// not"); exceeding the depth limit (default 25) is ErrDepth, counted in
// userset and tuple-to-userset hops as OpenFGA counts them, including the
// one level further that its recursive strategy reaches along a relation's
// own userset or "rel from parent" (recursive.go, from the language
// library's weighted graph); a check or a
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
// result limit (list.go). Where OpenFGA's list queries read differently
// from its check, they follow OpenFGA: a condition that cannot be evaluated
// on a tuple the walk reads fails the list (ListUsers reads both sides of
// "but not" and every operand of "and"); a contextual tuple does not hide a
// stored tuple of its key (ListObjects: unless reached through "and" or
// "but not"); ListUsers answers nothing when the model gives the relation
// no way to the filter's users.
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
