package analyze

import (
	snowball "github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/arabic"
	"github.com/blevesearch/snowballstem/danish"
	"github.com/blevesearch/snowballstem/dutch"
	"github.com/blevesearch/snowballstem/english"
	"github.com/blevesearch/snowballstem/finnish"
	"github.com/blevesearch/snowballstem/french"
	"github.com/blevesearch/snowballstem/german"
	"github.com/blevesearch/snowballstem/hungarian"
	"github.com/blevesearch/snowballstem/irish"
	"github.com/blevesearch/snowballstem/italian"
	"github.com/blevesearch/snowballstem/norwegian"
	"github.com/blevesearch/snowballstem/portuguese"
	"github.com/blevesearch/snowballstem/romanian"
	"github.com/blevesearch/snowballstem/russian"
	"github.com/blevesearch/snowballstem/spanish"
	"github.com/blevesearch/snowballstem/swedish"
	"github.com/blevesearch/snowballstem/turkish"
)

// stemmers maps ISO 639-1 codes to their Snowball stemmer.
var stemmers = map[string]func(*snowball.Env) bool{
	"ar": arabic.Stem,
	"da": danish.Stem,
	"de": german.Stem,
	"en": english.Stem,
	"es": spanish.Stem,
	"fi": finnish.Stem,
	"fr": french.Stem,
	"ga": irish.Stem,
	"hu": hungarian.Stem,
	"it": italian.Stem,
	"nb": norwegian.Stem,
	"nl": dutch.Stem,
	"nn": norwegian.Stem,
	"no": norwegian.Stem,
	"pt": portuguese.Stem,
	"ro": romanian.Stem,
	"ru": russian.Stem,
	"sv": swedish.Stem,
	"tr": turkish.Stem,
}

// HasStemmer reports whether words of lang are stemmed.
func HasStemmer(lang string) bool { return stemmers[lang] != nil }

// stemCacheMax bounds an Analyzer's stem cache; it is emptied when full.
// Word frequencies follow Zipf's law, so even a cache that is emptied now
// and then answers most look-ups.
const stemCacheMax = 1 << 16

// Analyzer stems words and caches the results. It is not safe for
// concurrent use: give each goroutine its own (Get and Put pool them).
type Analyzer struct {
	env   *snowball.Env
	cache map[string]map[string]string // lang -> word -> stem
	size  int
	stops map[string]string // folded stopword -> its term
}

// New returns an Analyzer.
func New() *Analyzer {
	return &Analyzer{env: snowball.NewEnv(""), cache: map[string]map[string]string{}}
}

// Stem returns the stem of the folded word w in lang, or w itself when lang
// has no stemmer. Digits and spaceless units are never stemmed.
func (a *Analyzer) Stem(lang, w string) string {
	stem := stemmers[lang]
	if stem == nil || w == "" || !stemmable(w) {
		return w
	}
	byLang := a.cache[lang]
	if s, ok := byLang[w]; ok {
		return s
	}
	s := a.stem(stem, prestem(lang, w))
	if a.size >= stemCacheMax {
		clear(a.cache)
		a.size = 0
	}
	if byLang = a.cache[lang]; byLang == nil {
		byLang = map[string]string{}
		a.cache[lang] = byLang
	}
	byLang[w] = s
	a.size++
	return s
}

// stem runs a Snowball stemmer. The generated code indexes strings by
// hand; should some input make it panic, the word is kept as it is.
func (a *Analyzer) stem(fn func(*snowball.Env) bool, w string) (out string) {
	defer func() {
		if recover() != nil {
			a.env = snowball.NewEnv("")
			out = w
		}
	}()
	a.env.SetCurrent(w)
	fn(a.env)
	s := a.env.Current()
	if s == "" {
		return w
	}
	return s
}

// prestem undoes what folding takes from a stemmer. Stems are taken from
// folded words, so that a query typed without accents finds the accented
// text; for most languages the Snowball rules still apply, but the
// Portuguese plural -ções/-ões of -ção/-ão is spelled with the marks the
// stemmer looks for: folded "informacoes" is turned into "informacao", so
// singular and plural meet again.
func prestem(lang, w string) string {
	if lang == "pt" && len(w) > 4 && w[len(w)-3:] == "oes" {
		return w[:len(w)-3] + "ao"
	}
	return w
}

// stemmable says whether w has a letter: numbers and codes like "2026" or
// "1080p" are kept as they are, so "1080p" never loses its "p".
func stemmable(w string) bool {
	letters := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= '0' && c <= '9' {
			return false
		}
		if c >= 0x80 || (c >= 'a' && c <= 'z') {
			letters = true
		}
	}
	return letters
}
