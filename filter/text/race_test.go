//go:build race

package text

// raceEnabled: under the race detector sync.Pool drops objects on purpose,
// so allocation counts are meaningless.
const raceEnabled = true
