package text

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/segment"
)

// Words splits s into folded words (see Fold) using Unicode word
// segmentation (UAX #29). Only letters and numbers count: punctuation, space
// and symbols are dropped.
//
// Elisions are stripped: when a word starts with an elided article or
// preposition followed by an apostrophe (' or ’), the prefix is dropped:
// "l'università" gives "universita", "dell'anno" "anno", "qu'il" "il",
// "D'Italia" "italia". Other apostrophes are removed and the parts joined
// ("aujourd'hui" gives "aujourdhui", "don't" "dont"). Other punctuation that
// Unicode keeps inside a word splits it ("e.g." gives "e", "g"; "3.14" gives
// "3", "14"), so a query and a text always split the same way.
//
// Chinese and Japanese ideographs come out one per word, katakana runs as
// one word, as UAX #29 defines them; Matcher matches such scripts by
// substring instead.
func Words(s string) []string {
	var out []string
	sc := getScratch()
	defer putScratch(sc)
	walkWords(s, sc, func(w []byte) bool {
		out = append(out, foldWord(w, sc))
		return true
	})
	return out
}

// elisions are the elided forms (lower-case, without the apostrophe) of
// Italian, French and Catalan articles, prepositions and pronouns that are
// written joined to the next word.
var elisions = map[string]bool{
	"l": true, "d": true, "s": true, "m": true, "t": true, "n": true,
	"c": true, "j": true, "qu": true, "gl": true, "un": true,
	"dell": true, "nell": true, "all": true, "dall": true, "sull": true,
	"coll": true, "pell": true, "quell": true, "quest": true, "bell": true,
	"sant": true, "nessun": true, "ciascun": true, "alcun": true, "tutt": true,
	"lorsqu": true, "puisqu": true, "jusqu": true, "quoiqu": true,
	"presqu": true, "quelqu": true,
}

// scratch holds the buffers one walk over a text needs, so that matching
// many texts does not allocate per text or per word.
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

func getScratch() *scratch   { return scratchPool.Get().(*scratch) }
func putScratch(sc *scratch) { scratchPool.Put(sc) }

// chunkSize is how much text is segmented at once. Chunks end at white
// space, where UAX #29 always breaks, so no word is cut in two; bounded
// chunks keep the token buffers small and let a match stop early.
const chunkSize = 4096

// walkWords calls fn with every word of s (not folded, elisions stripped,
// only letters, marks and numbers), until fn returns false. The slice passed
// to fn is only valid during the call.
func walkWords(s string, sc *scratch, fn func(w []byte) bool) bool {
	for len(s) > 0 {
		n := len(s)
		if n > chunkSize {
			// Cut after the last white space of the chunk; a text with none
			// in the second half (CJK, or one huge token) is cut at a rune
			// boundary.
			n = chunkSize
			if sp := strings.LastIndexAny(s[chunkSize/2:chunkSize], " \n\t"); sp >= 0 {
				n = chunkSize/2 + sp + 1
			}
			for n < len(s) && !utf8.RuneStart(s[n]) {
				n++
			}
		}
		sc.chunk = append(sc.chunk[:0], s[:n]...)
		s = s[n:]
		if !utf8.Valid(sc.chunk) {
			sc.chunk = []byte(strings.ToValidUTF8(string(sc.chunk), "\uFFFD"))
		}
		var err error
		sc.toks, sc.types, _, err = segment.SegmentWordsDirect(sc.chunk, sc.toks[:0], sc.types[:0])
		_ = err // a parse error still returns the tokens segmented so far
		for i, tok := range sc.toks {
			if sc.types[i] == segment.None {
				continue
			}
			if !splitToken(tok, sc, fn) {
				return false
			}
		}
	}
	return true
}

// splitToken turns one UAX #29 word into our words: elision prefixes
// dropped, other apostrophes removed, other inner punctuation splitting.
func splitToken(tok []byte, sc *scratch, fn func(w []byte) bool) bool {
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
			if len(w) > 0 && !fn(w) {
				sc.word = w
				return false
			}
			w, first = w[:0], true
		}
		i += size
	}
	sc.word = w
	if len(w) > 0 {
		return fn(w)
	}
	return true
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

// foldTable holds Fold of each single rune below foldTableSize, so that
// words in Latin, Greek and Cyrillic scripts fold without allocating.
// Combining marks have no entry ("" means: take the slow path), since they
// fold together with the letter before them. Immutable after init.
var foldTable = func() []string {
	t := make([]string, foldTableSize)
	for r := rune(0); r < foldTableSize; r++ {
		if unicode.IsMark(r) || !unicode.IsPrint(r) {
			continue
		}
		t[r] = Fold(string(r))
	}
	return t
}()

const foldTableSize = 0x530

// foldInto appends the folded form of w to dst. ok is false when w holds a
// rune the table does not cover; dst is then unusable.
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
		if r >= foldTableSize || foldTable[r] == "" {
			return dst, false
		}
		dst = append(dst, foldTable[r]...)
		i += size
	}
	return dst, true
}

// foldWord returns Fold(w) as a new string.
func foldWord(w []byte, sc *scratch) string {
	if f, ok := foldInto(sc.fold[:0], w); ok {
		sc.fold = f
		return string(f)
	}
	return Fold(string(w))
}
