// Package wire is the xDS resource format the relay serves and the edge's
// xds:// source reads: the type URLs, the resource names and the payloads.
//
// Every resource is a google.protobuf.BytesValue whose bytes are a JSON
// document defined here, carried under an edgeauthz type URL (go-control-plane
// keys its caches by type URL and treats the payload as opaque). Three types:
//
//   - PolicyType: one resource, "policy", the newest policy revision that
//     compiled on the relay (Policy).
//   - TuplesType: the base, subscribed to by name: "manifest" (Manifest: the
//     base's changelog seq and the content hash of each of its n chunks) and
//     "chunk/0" … "chunk/n-1" (Chunk: the base tuples whose key hashes to
//     that bucket, sorted).
//   - DeltasType: "delta/FROM-TO" (Delta: the changelog rows after FROM up to
//     and including TO), sent to an edge subscribed to "after/SEQ" (AfterName)
//     for the deltas after SEQ. The relay removing that subscription name
//     tells the edge it holds no deltas after SEQ any more.
//
// A base plus the deltas after its seq is the store's tuple set. Chunk
// hashes let an edge that must take a newer base fetch only the chunks whose
// content differs from what it holds.
//
// The package holds no state; its functions are safe for concurrent use.
package wire
