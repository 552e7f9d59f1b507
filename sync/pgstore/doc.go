// Package pgstore is edgeauthz's only PostgreSQL client code: the schema
// and the versioned migrations that create and upgrade it, the writes
// (publish a policy revision or package, write and delete tuples, scoped
// writers, changelog pruning) and the reads (ReadState: the newest policy
// with every tuple; Changes: the changelog after a position;
// PolicyRevision and NewestCompiling: the newest revision that compiles;
// Listen: LISTEN/NOTIFY with reconnects). The CLI and the relay call it;
// edges read it through sync.PostgresSource, which turns its Positions
// into opaque revisions, so the generic loader never parses one.
//
// # Reads and writes
//
// ReadState reads in one REPEATABLE READ snapshot, so the tuples match the
// Position it reports. ChangeTuplesAs stores a batch of writes and deletes
// in one transaction: all of it or none.
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
