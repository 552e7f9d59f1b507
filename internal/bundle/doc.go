// Package bundle produces what edgeauthz's HTTP policy source consumes: the
// bundle document, and a detached compact JWS over its bytes (RFC 7515
// appendix F) next to it at the same name plus ".sig", signed with a key from
// `edgeauthz keygen`. The edge verifies it with sync.VerifyDetached against the
// configured policy.signing_key.
//
// A bundle is one policy document for now. Bundle is a struct rather than a
// byte slice so that more parts (packages) can be added without changing
// Write's callers.
//
// Write is what a static file server, object store or CDN needs:
//   - the document's bytes are exactly the policy file's, so the ETag a server
//     derives from content (or the content hash the edge falls back to) only
//     changes when the policy does;
//   - an unchanged document is not rewritten, so servers that derive ETags from
//     the file's size and modification time (nginx, Apache) keep answering
//     304 Not Modified, and its signature is kept while it still verifies
//     with the signing key;
//   - each file is replaced by a rename, so a server never reads half a file.
//
// A Signer is immutable and safe for concurrent use.
package bundle
