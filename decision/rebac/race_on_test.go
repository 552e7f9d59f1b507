//go:build race

package rebac

const raceEnabled = true
