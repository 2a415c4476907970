package main

import (
	"strings"
	"unicode"
)

// printable returns s fit for one line of a terminal: tabs and line breaks
// become spaces, other control characters and format characters go. What
// the CLI prints in tables comes from feeds and servers (titles, errors),
// and an escape sequence in a terminal can retitle, clear or rewrite it.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
}
