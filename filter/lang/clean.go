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
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most limit runes, at the last space before the
// limit when there is one in its second half, so that no half word reaches
// the models. limit <= 0 means no limit.
func truncate(s string, limit int) string {
	if limit <= 0 {
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
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

// trigramPieces splits long text into pieces for scoreLong, the way
// lingua's trigram models see it: lower case, words of three letters or
// more, each distinct trigram once. Words are cut where a trigram repeats,
// so no trigram occurs in two pieces and the pieces' log probabilities add
// up to lingua's score of the whole text. The fragments are dealt
// round-robin, so that every piece, the first above all, samples the
// whole text rather than its opening words (often a brand name or a
// dateline). The first piece holds about first trigrams, the others about
// size.
func trigramPieces(s string, first, size int) []string {
	type fragment struct {
		text     string
		trigrams int
	}
	var frags []fragment
	total := 0
	seen := make(map[string]bool)
	var word []rune
	flush := func() {
		start := -1
		for i := 0; i+3 <= len(word); i++ {
			tri := string(word[i : i+3])
			if !seen[tri] {
				seen[tri] = true
				if start < 0 {
					start = i
				}
				continue
			}
			if start >= 0 {
				frags = append(frags, fragment{string(word[start : i+2]), i - start})
				total += i - start
				start = -1
			}
		}
		if start >= 0 {
			n := len(word) - 2 - start
			frags = append(frags, fragment{string(word[start:]), n})
			total += n
		}
		word = word[:0]
	}
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) {
			word = append(word, r)
			continue
		}
		flush()
	}
	flush()
	if len(frags) == 0 {
		return nil
	}
	n := max(1, (total+first/2)/first) // deal into small pieces first
	small := make([][]string, n)
	for i, f := range frags {
		small[i%n] = append(small[i%n], f.text)
	}
	out := []string{strings.Join(small[0], " ")}
	per := max(1, size/first)
	for i := 1; i < n; i += per {
		var b []string
		for _, p := range small[i:min(i+per, n)] {
			b = append(b, p...)
		}
		out = append(out, strings.Join(b, " "))
	}
	return out
}
