// Package sync keeps the serving policy snapshot in step with a central store:
// sources (file, HTTP bundle, PostgreSQL), the loader that parses, validates,
// compiles and swaps, and last-known-good persistence.
//
// # Sources
//
// A Source returns the store's current Bundle (policy document as opaque
// bytes, plus tuples for PostgreSQL) or ErrNotModified. Open picks one by the
// policy.source value. Optional capabilities are separate interfaces:
// Notifier (the store pushes "something changed": PostgreSQL LISTEN) and
// Changelog (incremental tuple changes). Sources do not judge the document;
// the caller validates it and keeps its last good snapshot when a Fetch fails.
// Compiling goes through package decision/policyload.
// NextDelay and Jitter are the poll schedule: jittered intervals, exponential
// backoff with a cap after failures.
//
// # Policy packages
//
// A bundle may hold a policy set (a base and packages, config.PolicySet)
// instead of one document: DirSource reads one from a directory, HTTP
// serves one as a bundle, PostgresSource builds one from the newest
// revision of each part. PackageCompiler compiles both forms; for a set it
// refuses a failing package alone and keeps its last good revision, and
// refuses a base that breaks a package. It holds that memory under a mutex.
//
// # Safety
//
// FileSource serves a file only once it has settled (see FileSource): a
// file modified moments ago, as one caught between two parts of an in-place
// write is, is waited for rather than served. The Loader skips, logs and
// counts tuples the relationship engine cannot parse (ApplyChanges) rather
// than stopping. With a persist directory the Loader keeps exactly what it
// serves (a bundle plus a journal of applied changes and a head recording
// how far the journal reaches, all authenticated by an HMAC with a key held
// outside that directory) and refuses a persisted state that fails its
// check. The PostgreSQL schema, reads and writes live
// in package pgstore; PostgresSource only adapts them. The Loader treats
// every revision as opaque: after applying changelog rows it asks the
// source (Changelog.Advance) which revision it now holds.
//
// # Concurrency
//
// FileSource and HTTPSource hold no mutable state and are safe for
// concurrent use. PostgresSource is safe for concurrent use; it owns one
// background goroutine (the LISTEN connection) that Close stops and waits
// for. A Loader's index and journal compactions run in goroutines it owns
// and waits for before Run returns. Every call takes a context and returns promptly when it is cancelled.
//
// Importers alias the package (import policysync ".../sync") so that it does
// not shadow the standard library's sync.
package sync
