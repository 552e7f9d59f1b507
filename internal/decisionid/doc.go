// Package decisionid names decisions. A Source hands out ids that are
// unique within a process (a counter) and across processes (a random prefix
// drawn once), at the cost of one atomic add: no randomness per decision and
// no allocation until an id is written out. Every id has the same length, so
// it can be written into pre-sized buffers. A Source is safe for concurrent
// use.
package decisionid
