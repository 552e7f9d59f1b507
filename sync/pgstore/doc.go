// Package pgstore owns edgeauthz's PostgreSQL schema: the versioned
// migrations that create and upgrade it, and the writes (publish a policy
// revision, write and delete tuples). Edges read the store through
// sync.PostgresSource; the CLI writes through this package; both call
// Migrate first.
//
// # Migrations
//
// The schema version is the highest row of edgeauthz_schema_migrations.
// Migrate applies the missing migrations of the list in migrations.go, in
// order, in one transaction under the advisory lock every writer takes, so
// concurrent edges and CLIs neither race nor see half a schema. A database
// written before versioned migrations existed (a single-row
// edgeauthz_schema table at version 1) is recognised as version 1 and
// upgraded in place. A database newer than this code is refused: an old
// binary must not read or write columns it does not know.
//
// # Concurrency
//
// The package holds no state; every function is safe for concurrent use
// from any number of processes. Writers serialise on one transaction-level
// advisory lock, so revision ids and changelog seqs are assigned in commit
// order.
package pgstore
