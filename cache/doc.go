// Package cache holds the token cache and the decision cache. Keys carry the
// snapshot revision so that a snapshot swap invalidates decisions without a flush.
package cache
