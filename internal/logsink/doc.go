// Package logsink holds the decision log's destinations beyond a plain
// writer. File appends to a file rotated by size at line boundaries, and
// creates it again when its path was removed. HTTP batches
// newline-terminated lines, gzips each batch and POSTs it, retrying with
// backoff; its buffer is bounded, and lines that do not fit are dropped and
// counted rather than ever blocking the writer (a decision). Output stands
// in front of any destination so that a failed write is counted and logged,
// never returned to the decision log.
//
// Every lost line is counted in one family,
// edgeauthz_decision_log_dropped_lines_total, by reason.
//
// An HTTP sink is an io.WriteCloser: it receives the decision log's bytes in
// any chunking and ships whole lines only. One goroutine, started by
// NewHTTP and ended by Close, does the sending; Write only copies bytes
// under a mutex. File, HTTP and Output are safe for concurrent use.
package logsink
