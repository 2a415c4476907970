package analyze

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"babelfeed"
)

// Version names the analysis: the tokenizer, the folding, the stopword
// lists, the stemmers and the bigrams. Change it whenever any of them
// changes what terms a text gives, so that stores know their keyword index
// must be rebuilt.
const Version = "analyze/2"

// StopPrefix starts the term of a stopword: stopwords are indexed as they
// are written (folded, not stemmed), apart from the stems, so that a
// phrase or a query word that is a stopword is still answered from the
// index, and never matches a stem that happens to be spelled the same.
const StopPrefix = "\x01"

// Where says in which fields of an item a term occurs, besides anywhere.
type Where uint8

const (
	InTitle  Where = 1 << iota // the title
	InAuthor                   // the author
)

// TextTerms calls fn with the index terms of s in lang, in order and with
// repetitions:
//
//   - words of scripts written with spaces: folded, elisions stripped,
//     stemmed when lang has a stemmer; stopwords of lang are not stemmed
//     but kept whole, behind StopPrefix;
//   - runs of a script written without spaces (Chinese, Japanese, Korean,
//     Thai ...): every pair of adjacent units (bigrams), and the last unit of
//     every run on its own, so that a single character can be found through
//     the terms it starts (see PrefixMatch).
func (a *Analyzer) TextTerms(lang, s string, fn func(term string)) {
	prev := "" // the previous unit of the current run
	walk(s, func(w []byte, spaceless, joined bool, sc *scratch) bool {
		if spaceless {
			u := foldString(w, sc)
			switch {
			case joined && prev != "":
				fn(cut(prev + u))
			case prev != "":
				fn(prev)
			}
			prev = u
			return true
		}
		if prev != "" {
			fn(prev)
			prev = ""
		}
		f, ok := foldInto(sc.fold[:0], w)
		var word string
		if ok {
			sc.fold = f
			if stopwords[lang][string(f)] { // no allocation: map index by converted bytes
				fn(a.stopTerm(f))
				return true
			}
			word = cut(string(f))
		} else {
			word = cut(foldString(w, sc))
			if stopwords[lang][word] {
				fn(StopPrefix + word)
				return true
			}
		}
		fn(a.Stem(lang, word))
		return true
	})
	if prev != "" {
		fn(prev)
	}
}

// stopTerm returns the term of the folded stopword f, allocating each one
// once per Analyzer.
func (a *Analyzer) stopTerm(f []byte) string {
	if t, ok := a.stops[string(f)]; ok {
		return t
	}
	if a.stops == nil {
		a.stops = map[string]string{}
	}
	t := StopPrefix + string(f)
	a.stops[string(f)] = t
	return t
}

// TermInfo is what an item says about one of its terms.
type TermInfo struct {
	Freq  int   // occurrences in title, summary, content and author together
	Where Where // fields it occurs in, besides anywhere
}

// ItemTerms calls fn once for every distinct term of it, analysed in its
// language (it.Lang), in no particular order. The fields are the title, the
// summary, the content and the author; the URL is not indexed.
func (a *Analyzer) ItemTerms(it *babelfeed.Item, fn func(term string, info TermInfo)) {
	seen := map[string]*TermInfo{}
	infos := make([]TermInfo, 0, 64)
	add := func(where Where) func(string) {
		return func(t string) {
			if ti := seen[t]; ti != nil {
				ti.Freq++
				ti.Where |= where
				return
			}
			if len(infos) == cap(infos) {
				infos = make([]TermInfo, 0, 2*cap(infos)) // earlier pointers stay valid
			}
			infos = append(infos, TermInfo{Freq: 1, Where: where})
			seen[t] = &infos[len(infos)-1]
		}
	}
	a.TextTerms(it.Lang, it.Title, add(InTitle))
	a.TextTerms(it.Lang, it.Summary, add(0))
	a.TextTerms(it.Lang, it.Content, add(0))
	a.TextTerms(it.Lang, it.Author, add(InAuthor))
	for t, ti := range seen {
		fn(t, *ti)
	}
}

// Query is what a query word asks of an item's terms in one language.
type Query struct {
	// Terms must all be terms of the item.
	Terms []string
	// Prefix, when set, is a single unit of a spaceless script: some term
	// of the item must start with it (see PrefixMatch).
	Prefix string
	// Exact says whether having the terms is the same as matching the word.
	// When false the terms only narrow the candidates (none: every item of
	// the language is one), and each must be checked (see Matches).
	Exact bool
}

// WordQuery analyses the tokens of one query word (see Tokenize) for lang.
// A word is one token, or one run of spaceless units; anything else (more
// words, a word and units) is a phrase: see PhraseQuery.
func (a *Analyzer) WordQuery(lang string, toks []Token) Query {
	switch {
	case len(toks) == 1 && !toks[0].Spaceless:
		w := toks[0].Text
		if Stopword(lang, w) {
			return Query{Terms: []string{StopPrefix + w}, Exact: true}
		}
		return Query{Terms: []string{a.Stem(lang, w)}, Exact: true}
	case IsRun(toks):
		if len(toks) == 1 {
			return Query{Prefix: toks[0].Text, Exact: true}
		}
		q := Query{Exact: len(toks) == 2}
		for i := 1; i < len(toks); i++ {
			q.Terms = append(q.Terms, cut(toks[i-1].Text+toks[i].Text))
		}
		return q
	}
	return a.PhraseQuery(lang, toks)
}

// PhraseQuery returns the terms an item must have to contain the tokens in
// this order (see Contains): the terms of its words (stems, or stopwords
// whole) and the bigrams of units joined in the query. It is never exact.
func (a *Analyzer) PhraseQuery(lang string, toks []Token) Query {
	var q Query
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			q.Terms = append(q.Terms, t)
		}
	}
	for i, t := range toks {
		switch {
		case t.Spaceless:
			if t.Joined && i > 0 && toks[i-1].Spaceless {
				add(cut(toks[i-1].Text + t.Text))
			}
		case Stopword(lang, t.Text):
			add(StopPrefix + t.Text)
		default:
			add(a.Stem(lang, t.Text))
		}
	}
	return q
}

// IsRun reports whether toks is one run of spaceless units.
func IsRun(toks []Token) bool {
	if len(toks) == 0 || toks[0].Spaceless == false {
		return false
	}
	for i, t := range toks {
		if !t.Spaceless || (i > 0 && !t.Joined) {
			return false
		}
	}
	return true
}

// IsWord reports whether toks (a query term's tokens) make one word, to be
// matched by stem, rather than a phrase: a single word token, or a single
// run of spaceless units.
func IsWord(toks []Token) bool {
	return (len(toks) == 1 && !toks[0].Spaceless) || IsRun(toks)
}

// PrefixMatch reports whether term starts with the spaceless unit u, as a
// whole unit (a term starting with u plus a combining mark starts with
// another unit).
func PrefixMatch(term, u string) bool {
	if len(term) < len(u) || term[:len(u)] != u {
		return false
	}
	if len(term) == len(u) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(term[len(u):])
	return !unicode.IsMark(r)
}

// Contains reports whether want occurs in have as consecutive tokens; a
// token of want joined to the one before it must be joined in have too, so
// that "東京" does not match "東 京".
func Contains(have, want []Token) bool {
	if len(want) == 0 {
		return true
	}
outer:
	for i := 0; i+len(want) <= len(have); i++ {
		for j, w := range want {
			h := have[i+j]
			if h.Text != w.Text || h.Spaceless != w.Spaceless || (j > 0 && w.Joined && !h.Joined) {
				continue outer
			}
		}
		return true
	}
	return false
}

// Doc is texts analysed in one language for matching without an index: the
// reference the index must agree with.
type Doc struct {
	Lang  string
	texts []string
	a     *Analyzer
	// Made on first use: a word needs the terms, a phrase only a walk
	// over the text.
	terms map[string]bool
}

// NewDoc analyses texts in lang, as they are asked about; the Doc uses a
// until then.
func (a *Analyzer) NewDoc(lang string, texts ...string) *Doc {
	d := &Doc{Lang: lang, a: a}
	for _, t := range texts {
		if t != "" {
			d.texts = append(d.texts, t)
		}
	}
	return d
}

func (d *Doc) termSet() map[string]bool {
	if d.terms == nil {
		d.terms = map[string]bool{}
		for _, t := range d.texts {
			d.a.TextTerms(d.Lang, t, func(term string) { d.terms[term] = true })
		}
	}
	return d.terms
}

// HasWord reports whether the query word with tokens toks (see IsWord)
// occurs in the doc: a word by its stem among the stems of the doc's
// words, a stopword of the doc's language as a whole word, a run of
// spaceless units as part of a run of the doc. Tokens that are no word are
// looked for as a phrase.
func (a *Analyzer) HasWord(d *Doc, toks []Token) bool {
	if !IsWord(toks) {
		return d.HasPhrase(toks)
	}
	if q := a.WordQuery(d.Lang, toks); q.Exact && len(q.Terms) == 1 {
		return d.termSet()[q.Terms[0]]
	}
	return d.HasPhrase(toks)
}

// HasPhrase reports whether toks occur in this order in one of the doc's
// texts (see Contains).
func (d *Doc) HasPhrase(toks []Token) bool {
	for _, t := range d.texts {
		if ContainsText(t, toks) {
			return true
		}
	}
	return false
}

// HasTerm reports whether term is an index term of the doc.
func (d *Doc) HasTerm(term string) bool { return d.termSet()[term] }

// ContainsText reports whether want occurs in the tokens of s (see
// Contains), without making them: a phrase check on a candidate item costs
// one walk over its text and no allocation per word.
func ContainsText(s string, want []Token) bool {
	if len(want) == 0 {
		return true
	}
	var stack [16]int
	active := stack[:0] // prefixes of want matched up to the previous token
	found := false
	walk(s, func(w []byte, spaceless, joined bool, sc *scratch) bool {
		f, ok := foldInto(sc.fold[:0], w)
		if ok {
			sc.fold = f
			if len(f) > MaxTermLen {
				f = []byte(cut(string(f)))
			}
		} else {
			f = []byte(foldString(w, sc))
		}
		next := active[:0]
		match := func(j int) bool {
			t := &want[j]
			return t.Spaceless == spaceless && string(f) == t.Text && (j == 0 || !t.Joined || joined)
		}
		// Extend the partial matches (in place: next never outruns active).
		for _, j := range active {
			if match(j) {
				next = append(next, j+1)
			}
		}
		if match(0) {
			next = append(next, 1)
		}
		active = next
		for _, j := range active {
			if j == len(want) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

var pool = sync.Pool{New: func() any { return New() }}

// Get returns an Analyzer from a shared pool; Put gives it back.
func Get() *Analyzer { return pool.Get().(*Analyzer) }

// Put returns a to the pool Get draws from.
func Put(a *Analyzer) { pool.Put(a) }
