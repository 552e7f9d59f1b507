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
// The tuples are a base plus a log of deltas. The base (TuplesType) is
// hash-bucketed chunks, each under Options.MaxChunkBytes, and a manifest
// naming the base's changelog seq and every chunk's content hash; a new
// edge subscribes to the manifest and then to a few chunks at a time, and
// asks for the next ones when it ACKs those, so a bootstrap is many small
// responses. The deltas (DeltasType) are served by deltaLog, not a linear
// cache: an edge subscribes to the one name "after/SEQ" for the position it
// holds and is answered with the deltas after it, in order, one store
// transaction never split between two responses; its ACK subscribes to the
// next position. The changelog sequence is the version: there is no gap
// and no reordering to get wrong.
//
// When the deltas add up to FoldAfter changes (or FoldAfterBytes), the
// relay folds them into the base: it replaces the chunks whose content
// changed and the manifest in one cache update, then forgets the deltas the
// previous base already held. Edges that follow the deltas never fetch
// chunks; one the log no longer reaches is told so (its subscription is
// removed) and fetches only the chunks whose hash differs from its own
// state. A new policy revision touches only the policy resource.
//
// # Concurrency
//
// Run owns the only goroutine that reads the store and updates the caches;
// the caches and Fleet are safe for concurrent use by the gRPC server's
// streams. Run returns when its context ends.
package relay
