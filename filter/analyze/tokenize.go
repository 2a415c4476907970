// Package analyze turns text into the terms babelfeed's keyword index
// stores and searches, in the language of each item: Unicode word
// segmentation, case and accent folding, elision stripping, stopwords,
// Snowball stemming where a stemmer exists, and character bigrams for
// scripts written without spaces (Chinese, Japanese, Korean, Thai, ...).
//
// The same functions analyse the items at index time and the query words at
// search time, so the two always agree; filter/query's reference matcher is
// built on them too.
package analyze

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/segment"

	"babelfeed/filter/text"
)

// Token is one word of a text as the analyser sees it.
//
// Words of scripts written with spaces come out whole, folded (see
// text.Fold) and with elisions stripped. Text in scripts written without
// spaces between words comes out one unit at a time (a character with its
// combining marks), and Joined says whether a unit directly follows another
// one, with nothing in between: the units of one run.
type Token struct {
	Text      string
	Spaceless bool
	Joined    bool
}

// chunkSize is how much text is segmented at once. Chunks end at white
// space when there is some, so no word is cut in two; bounded chunks keep
// the segmenter's buffers small.
const chunkSize = 4096

// MaxTermLen bounds a term in bytes; longer words are cut (at a rune
// boundary) the same way in texts and queries.
const MaxTermLen = 64

// scratch holds the buffers one walk over a text needs.
type scratch struct {
	chunk []byte
	toks  [][]byte
	types []int
	word  []byte
	fold  []byte
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		chunk: make([]byte, 0, chunkSize+4),
		toks:  make([][]byte, 0, 512),
		types: make([]int, 0, 512),
		word:  make([]byte, 0, 64),
		fold:  make([]byte, 0, 64),
	}
}}

// Tokenize appends the tokens of s to dst.
func Tokenize(dst []Token, s string) []Token {
	walk(s, func(w []byte, spaceless, joined bool, sc *scratch) bool {
		dst = append(dst, Token{Text: foldString(w, sc), Spaceless: spaceless, Joined: joined})
		return true
	})
	return dst
}

// walk calls fn with every token of s, not yet folded (fn folds it with
// foldString if it wants the text), until fn returns false. The slice is only
// valid during the call.
//
// Text in spaceless scripts is split into units here; the rest goes
// through UAX #29 word segmentation, whose rules for those scripts (one
// ideograph at a time, Thai left untyped with its marks apart) would lose
// what belongs together.
func walk(s string, fn func(w []byte, spaceless, joined bool, sc *scratch) bool) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	for len(s) > 0 {
		n := len(s)
		if n > chunkSize {
			n = chunkSize
			if sp := strings.LastIndexAny(s[chunkSize/2:chunkSize], " \n\t"); sp >= 0 {
				n = chunkSize/2 + sp + 1
			}
			for n < len(s) && (!utf8.RuneStart(s[n]) || startsWithMark(s[n:])) {
				n++
			}
		}
		sc.chunk = append(sc.chunk[:0], s[:n]...)
		s = s[n:]
		if !utf8.Valid(sc.chunk) {
			sc.chunk = []byte(strings.ToValidUTF8(string(sc.chunk), "\uFFFD"))
		}
		// A chunk boundary ends a run: it falls on white space, or inside
		// one huge token where nothing better exists.
		chunk := sc.chunk
		for len(chunk) > 0 {
			i := spacelessStart(chunk)
			if i > 0 && !segmentWords(chunk[:i], sc, fn) {
				return
			}
			chunk = chunk[i:]
			if len(chunk) == 0 {
				break
			}
			// A run of spaceless units, each a rune and its marks.
			joined := false
			for len(chunk) > 0 {
				r, size := utf8.DecodeRune(chunk)
				if !spacelessRune(r) {
					break
				}
				for size < len(chunk) {
					m, msize := utf8.DecodeRune(chunk[size:])
					if !unicode.IsMark(m) {
						break
					}
					size += msize
				}
				if !fn(chunk[:size], true, joined, sc) {
					return
				}
				joined = true
				chunk = chunk[size:]
			}
		}
	}
}

// spacelessStart returns the index of the first rune of b in a spaceless
// script, or len(b).
func spacelessStart(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if spacelessRune(r) {
			return i
		}
		i += size
	}
	return len(b)
}

func startsWithMark(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsMark(r)
}

// segmentWords runs UAX #29 word segmentation over b (which has no
// spaceless runes) and passes the words on; false means fn said stop.
func segmentWords(b []byte, sc *scratch, fn func(w []byte, spaceless, joined bool, sc *scratch) bool) bool {
	var err error
	sc.toks, sc.types, _, err = segment.SegmentWordsDirect(b, sc.toks[:0], sc.types[:0])
	_ = err // a parse error still returns the tokens segmented so far
	for i, tok := range sc.toks {
		if sc.types[i] == segment.None && !hasWordRune(tok) {
			continue // space and punctuation
		}
		if !splitToken(tok, sc, fn) {
			return false
		}
	}
	return true
}

// splitToken turns one UAX #29 word into tokens: elision prefixes dropped,
// other apostrophes removed, other inner punctuation splitting.
func splitToken(tok []byte, sc *scratch, fn func(w []byte, spaceless, joined bool, sc *scratch) bool) bool {
	w := sc.word[:0]
	first := true // w is the first run of the token: it may be an elision
	for i := 0; i < len(tok); {
		r, size := utf8.DecodeRune(tok[i:])
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			w = append(w, tok[i:i+size]...)
		case unicode.IsMark(r):
			if len(w) > 0 { // a mark belongs to the letter before it
				w = append(w, tok[i:i+size]...)
			}
		case r == '\'' || r == '’' || r == 'ʼ':
			if first && isElision(w) {
				w = w[:0]
			}
			first = false
		default:
			if len(w) > 0 && !fn(w, false, false, sc) {
				sc.word = w
				return false
			}
			w, first = w[:0], true
		}
		i += size
	}
	sc.word = w
	if len(w) > 0 {
		return fn(w, false, false, sc)
	}
	return true
}

// hasWordRune reports whether tok has a letter or a number.
func hasWordRune(tok []byte) bool {
	for i := 0; i < len(tok); {
		c := tok[i]
		if c < utf8.RuneSelf {
			if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(tok[i:])
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return true
		}
		i += size
	}
	return false
}

// elisions are the elided forms (lower-case, without the apostrophe) of
// Italian, French and Catalan articles, prepositions and pronouns that are
// written joined to the next word: "l'università" is "università".
var elisions = map[string]bool{
	"l": true, "d": true, "s": true, "m": true, "t": true, "n": true,
	"c": true, "j": true, "qu": true, "gl": true, "un": true,
	"dell": true, "nell": true, "all": true, "dall": true, "sull": true,
	"coll": true, "pell": true, "quell": true, "quest": true, "bell": true,
	"sant": true, "nessun": true, "ciascun": true, "alcun": true, "tutt": true,
	"lorsqu": true, "puisqu": true, "jusqu": true, "quoiqu": true,
	"presqu": true, "quelqu": true,
}

func isElision(w []byte) bool {
	if len(w) == 0 || len(w) > 7 {
		return false
	}
	var buf [8]byte
	for i, c := range w {
		if c >= utf8.RuneSelf {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return elisions[string(buf[:len(w)])]
}

// spacelessRune reports whether r belongs to a script written without
// spaces between words, or is a mark of length or iteration used inside
// such words (ー, 々, 〆).
func spacelessRune(r rune) bool {
	if r < 0x0e00 {
		return false
	}
	switch r {
	case 0x30fc, 0xff70, 0x3005, 0x3006, 0x303b:
		return true
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana,
		unicode.Hangul, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

// Spaceless reports whether s has a letter of a script written without
// spaces between words.
func Spaceless(s string) bool {
	for _, r := range s {
		if spacelessRune(r) {
			return true
		}
	}
	return false
}

// foldTable holds text.Fold of each single rune below foldTableSize, so
// that words in Latin, Greek and Cyrillic scripts fold without allocating.
// Combining marks have no entry ("" means: take the slow path), since they
// fold together with the letter before them. Immutable after init.
var foldTable = func() []string {
	t := make([]string, foldTableSize)
	for r := rune(0); r < foldTableSize; r++ {
		if unicode.IsMark(r) || !unicode.IsPrint(r) {
			continue
		}
		t[r] = text.Fold(string(r))
	}
	return t
}()

const foldTableSize = 0x530

// foldString returns the folded form of w (see text.Fold), cut to
// MaxTermLen bytes.
func foldString(w []byte, sc *scratch) string {
	f, ok := foldInto(sc.fold[:0], w)
	if ok {
		sc.fold = f
		return cut(string(f))
	}
	return cut(text.Fold(string(w)))
}

// foldInto appends the folded form of w to dst. ok is false when w holds a
// rune the table does not cover; dst is then unusable. Spaceless units
// without marks fold to themselves.
func foldInto(dst, w []byte) ([]byte, bool) {
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(w[i:])
		if r >= foldTableSize {
			if spacelessRune(r) && (i+size == len(w) || !nextIsMark(w[i+size:])) && r < 0xff00 {
				// Han, kana, Hangul syllables and Thai letters have no case
				// and, without marks, nothing to normalise.
				dst = append(dst, w[i:i+size]...)
				i += size
				continue
			}
			return dst, false
		}
		if foldTable[r] == "" {
			return dst, false
		}
		dst = append(dst, foldTable[r]...)
		i += size
	}
	return dst, true
}

func nextIsMark(b []byte) bool {
	r, _ := utf8.DecodeRune(b)
	return unicode.IsMark(r)
}

// cut shortens s to at most MaxTermLen bytes at a rune boundary.
func cut(s string) string {
	if len(s) <= MaxTermLen {
		return s
	}
	n := MaxTermLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
