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

// chunks deals the distinct words of s round-robin into pieces of about
// size letters each. Dealing spreads every part of the text over all pieces,
// so that the first piece, which picks the candidates, is a sample of the
// whole text rather than its opening words (often a brand name or a
// dateline). Repeated words are kept once: lingua counts each distinct
// n-gram of a text once, and so, roughly, does the sum over the pieces.
// A word longer than twice size is cut into pieces of size runes.
func chunks(s string, size int) []string {
	seen := make(map[string]bool)
	var words []string
	letters := 0
	for _, w := range strings.Fields(s) {
		key := strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }))
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		n := countLetters(w)
		for n > 2*size {
			r := []rune(w)
			words = append(words, string(r[:size]))
			w = string(r[size:])
			n = countLetters(w)
			letters += size
		}
		words = append(words, w)
		letters += n
	}
	if len(words) == 0 {
		return nil
	}
	n := max(1, (letters+size/2)/size)
	pieces := make([]strings.Builder, n)
	for i, w := range words {
		p := &pieces[i%n]
		if p.Len() > 0 {
			p.WriteByte(' ')
		}
		p.WriteString(w)
	}
	out := make([]string, n)
	for i := range pieces {
		out[i] = pieces[i].String()
	}
	return out
}
