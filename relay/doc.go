// Package relay is the xDS relay: the one reader of the PostgreSQL store for
// a fleet of edges. It loads the newest policy revision that compiles and the
// tuples once, follows the tuple changelog (LISTEN, with polling as the
// fallback), and serves both to edges over incremental (delta) xDS with
// go-control-plane's delta server and linear caches, in the resources package
// wire defines. It records which edge holds which revision (Fleet), takes
// authenticated writes and stores them with their writer (WriteAPI), and
// prunes the changelog it has read beyond a retention window.
//
// # Resources
//
// A tuple write becomes one small delta resource, named by the changelog
// range it covers; the changelog sequence is the version an edge reports. A
// new edge receives the base (hash-bucketed chunks and a manifest) plus the
// deltas after it in one response. When the deltas add up to FoldAfter
// changes, the relay folds them into the base: only the chunks whose content
// changed are replaced, and the deltas are removed, in one cache update, so
// that every response is a consistent state. A new policy revision touches
// only the policy resource; the tuples are not resent.
//
// # Concurrency
//
// Run owns the only goroutine that reads the store and updates the caches;
// the caches and Fleet are safe for concurrent use by the gRPC server's
// streams. Run returns when its context ends.
package relay
