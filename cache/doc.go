// Package cache holds the token cache and the decision cache. Both are
// ristretto caches bounded by the estimated bytes of their entries, not by
// a count, and both can admit an entry only from the second time its key
// is offered (AdmitRepeated), so keys that never repeat cannot fill them.
// Decision keys carry the snapshot revision so that a snapshot swap
// invalidates decisions without a flush. Everything here is safe for
// concurrent use; a hit does not allocate.
package cache
