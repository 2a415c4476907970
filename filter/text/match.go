package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Matcher matches query words as whole words, case- and
// accent-insensitively: "citta" matches "Città", "roma" does not match
// "romanzo", "università" matches "dell'Università". Build it once per query
// and call Match for many texts; it is safe for concurrent use.
//
// Each query word is split like a text (see Words), so "l'anno" looks for
// "anno" and "new-york" for both "new" and "york" (anywhere, not as a
// phrase). Words in scripts written without spaces between words (Chinese,
// Japanese, Korean, Thai, Lao, Khmer, Burmese) are matched as folded
// substrings instead, since their word boundaries are not in the text:
// "東京" matches "東京タワーに行った".
type Matcher struct {
	words map[string]int // folded whole word -> term index
	subs  []string       // folded substrings; term index len(words)+i
	n     int            // number of distinct terms
}

// NewMatcher builds a Matcher that requires every word of words. Words that
// fold to nothing (punctuation only) are ignored; with no words left, Match
// is always true.
func NewMatcher(words []string) *Matcher {
	m := &Matcher{words: make(map[string]int)}
	var subs []string
	seenSub := make(map[string]bool)
	for _, q := range words {
		if spacelessScript(q) {
			if sub := wordStream(q); sub != "" && !seenSub[sub] {
				seenSub[sub] = true
				subs = append(subs, sub)
			}
			continue
		}
		for _, w := range Words(q) {
			if _, ok := m.words[w]; !ok {
				m.words[w] = len(m.words)
			}
		}
	}
	m.subs = subs
	m.n = len(m.words) + len(subs)
	return m
}

// Match reports whether every query word occurs in at least one of texts.
func (m *Matcher) Match(texts ...string) bool {
	if m.n == 0 {
		return true
	}
	var stack [64]bool
	found := stack[:]
	if m.n > len(stack) {
		found = make([]bool, m.n)
	}
	left := m.n
	wordsLeft := len(m.words)
	for _, t := range texts {
		if len(m.subs) > 0 && left > wordsLeft {
			ft := wordStream(t)
			for i, sub := range m.subs {
				if j := len(m.words) + i; !found[j] && strings.Contains(ft, sub) {
					found[j] = true
					left--
				}
			}
		}
		if wordsLeft > 0 {
			sc := getScratch()
			walkWords(t, sc, func(w []byte) bool {
				var idx int
				var hit bool
				if f, ok := foldInto(sc.fold[:0], w); ok {
					sc.fold = f
					idx, hit = m.words[string(f)] // no allocation: map index by converted bytes
				} else {
					idx, hit = m.words[Fold(string(w))]
				}
				if hit && !found[idx] {
					found[idx] = true
					left--
					wordsLeft--
				}
				return wordsLeft > 0
			})
			putScratch(sc)
		}
		if left == 0 {
			return true
		}
	}
	return false
}

// wordStream returns the words of s (see Words) as one string: words of
// scripts written without spaces are joined directly, others by a space.
// Substring terms are looked up in it, so that they see the same folding,
// elision and punctuation rules as whole words.
func wordStream(s string) string {
	var b strings.Builder
	sc := getScratch()
	defer putScratch(sc)
	lastSpaceless := false
	walkWords(s, sc, func(w []byte) bool {
		f := foldWord(w, sc)
		first, _ := utf8.DecodeRuneInString(f)
		if b.Len() > 0 && !(lastSpaceless && spacelessRune(first)) {
			b.WriteByte(' ')
		}
		b.WriteString(f)
		last, _ := utf8.DecodeLastRuneInString(f)
		lastSpaceless = spacelessRune(last)
		return true
	})
	return b.String()
}

// spacelessScript reports whether s has a letter of a script written
// without spaces between words.
func spacelessScript(s string) bool {
	for _, r := range s {
		if spacelessRune(r) {
			return true
		}
	}
	return false
}

func spacelessRune(r rune) bool {
	return r >= 0x0e00 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana,
		unicode.Hangul, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}
