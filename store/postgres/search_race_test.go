//go:build race

package postgres

// searchScale shrinks the equality test under the race detector, which
// makes every search several times slower.
const searchScale = 3
