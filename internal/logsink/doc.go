// Package logsink holds the decision log's destinations beyond a plain
// writer. File appends to a file rotated by size at line boundaries. HTTP batches
// newline-terminated lines, gzips each batch and POSTs it, retrying with
// backoff; its buffer is bounded, and lines that do not fit are dropped and
// counted rather than ever blocking the writer (a decision).
//
// An HTTP sink is an io.WriteCloser: it receives the decision log's bytes in
// any chunking and ships whole lines only. HTTP ships decision-log lines off
// the process. One goroutine, started by
// NewHTTP and ended by Close, does the sending; Write only copies bytes
// under a mutex. Both are safe for concurrent use.
package logsink
