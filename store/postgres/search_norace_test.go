//go:build !race

package postgres

// searchScale shrinks the equality test (see search_race_test.go).
const searchScale = 1
