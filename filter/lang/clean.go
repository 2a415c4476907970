package lang

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Patterns for the parts of feed text that carry no language signal and
// would otherwise feed Latin-letter n-grams ("https", "www", "com") to the
// models. They are deliberately loose: removing a little too much costs
// nothing, leaving a URL in can flip a short item to English.
var (
	urlRE   = regexp.MustCompile(`(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>"]+`)
	emailRE = regexp.MustCompile(`(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// clean returns text NFC-normalised, without URLs or e-mail addresses, with
// runs of white space collapsed to one space.
func clean(s string) string {
	if s == "" {
		return ""
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
	}
	s = norm.NFC.String(s)
	if strings.Contains(s, "://") || strings.Contains(s, "www.") || strings.Contains(s, "WWW.") {
		s = urlRE.ReplaceAllString(s, " ")
	}
	if strings.IndexByte(s, '@') >= 0 {
		s = emailRE.ReplaceAllString(s, " ")
	}
	s = spaceRE.ReplaceAllString(s, " ")
	return strings.TrimSpace(s)
}

// truncate cuts s to at most max runes, at the last space before the limit
// when there is one, so that no half word reaches the models. max <= 0
// means no limit.
func truncate(s string, max int) string {
	if max <= 0 {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			cut := s[:i]
			if j := strings.LastIndexByte(cut, ' '); j > len(cut)/2 {
				cut = cut[:j]
			}
			return cut
		}
		n++
	}
	return s
}

// countLetters returns how many letters s holds.
func countLetters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// chunks splits s at spaces into pieces of about max letters each (a
// single longer word is cut by runes).
func chunks(s string, max int) []string {
	var out []string
	start, letters := 0, 0
	lastSpace := -1
	for i, r := range s {
		if r == ' ' {
			lastSpace = i
			if letters >= max {
				out = append(out, s[start:i])
				start, letters, lastSpace = i+1, 0, -1
			}
			continue
		}
		if unicode.IsLetter(r) {
			letters++
		}
		if letters >= 2*max && lastSpace < start {
			out = append(out, s[start:i])
			start, letters = i, 0
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
