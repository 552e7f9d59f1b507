// Package replay decides the requests of a recorded decision log again
// against a candidate policy snapshot and reports how the answers would
// change: per route and reason, with the first examples.
//
// Only what the log recorded is replayed (the decision log's inputs,
// decision_log.record_inputs): a line without inputs, with inputs left out
// (masked, over the field bound, a body that was read), or whose candidate
// reads a header that was not recorded, is reported as not replayable with
// the cause, never decided on a guess.
//
// Replay is a pure function of its inputs and safe to call concurrently.
package replay
