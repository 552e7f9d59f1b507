//go:build race

package authzen_test

// raceEnabled: the race detector drops sync.Pool items, which changes
// allocation counts.
const raceEnabled = true
