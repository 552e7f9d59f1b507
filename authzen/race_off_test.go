//go:build !race

package authzen_test

const raceEnabled = false
