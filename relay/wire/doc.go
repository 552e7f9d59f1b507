// Package wire is the xDS resource format the relay serves and the edge's
// xds:// source reads: the type URLs, the resource names and the payloads.
//
// Every resource is a google.protobuf.BytesValue whose bytes are a JSON
// document defined here, carried under an edgeauthz type URL (go-control-plane
// keys its caches by type URL and treats the payload as opaque). Two types:
//
//   - PolicyType: one resource, "policy", the newest policy revision that
//     compiled on the relay (Policy).
//   - TuplesType: the tuple store as of a changelog position, in three kinds
//     of resources that always arrive together in one response:
//     "manifest" (Manifest: the base's changelog seq and the content hash of
//     every chunk), "chunk/N" (Chunk: the base tuples whose key hashes to
//     bucket N) and "delta/FROM-TO" (Delta: the changelog rows after FROM up
//     to and including TO).
//
// A base plus the deltas after it is the store's tuple set. The relay folds
// deltas into the base now and then; only the chunks whose content changed
// get a new version, so an edge that follows along receives those chunks,
// the manifest and the deltas' removal, never the whole store. Resource
// versions are content hashes (go-control-plane's stable versions), so an edge
// that reconnects to any relay names what it holds in
// initial_resource_versions and receives only what differs.
//
// The package holds no state; its functions are safe for concurrent use.
package wire
