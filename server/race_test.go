//go:build race

package server_test

// raceEnabled: the race detector's shadow memory makes resident memory
// figures meaningless.
const raceEnabled = true
