// Package sync keeps the serving policy snapshot in step with a central store:
// sources (file, HTTP bundle, PostgreSQL), the loader that parses, validates,
// compiles and swaps, and last-known-good persistence.
package sync
