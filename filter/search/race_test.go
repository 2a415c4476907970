//go:build race

package search

// raceEnabled shrinks the property tests under the race detector, which
// makes them several times slower.
const raceEnabled = true
