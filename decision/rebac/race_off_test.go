//go:build !race

package rebac

const raceEnabled = false
