package lang

import (
	"unicode"

	"github.com/pemistahl/lingua-go"
)

// script is a writing system as far as language tagging cares: either one
// shared by several lingua languages (the models must decide) or one that
// names its language by itself.
type script uint8

const (
	scNone script = iota
	// Scripts shared by several languages: lingua's n-gram models decide.
	scLatin
	scCyrillic
	scArabic
	scDevanagari
	// Han and Kana together tell Chinese from Japanese.
	scHan
	scKana
	// Scripts written by exactly one lingua language.
	scGreek
	scHebrew
	scHangul
	scThai
	scArmenian
	scGeorgian
	scBengali
	scGujarati
	scGurmukhi
	scTamil
	scTelugu
	numScripts
)

// scriptTables maps the Unicode script tables to ours, most common first.
var scriptTables = []struct {
	table *unicode.RangeTable
	sc    script
}{
	{unicode.Latin, scLatin},
	{unicode.Cyrillic, scCyrillic},
	{unicode.Han, scHan},
	{unicode.Hiragana, scKana},
	{unicode.Katakana, scKana},
	{unicode.Arabic, scArabic},
	{unicode.Hangul, scHangul},
	{unicode.Greek, scGreek},
	{unicode.Hebrew, scHebrew},
	{unicode.Devanagari, scDevanagari},
	{unicode.Thai, scThai},
	{unicode.Bengali, scBengali},
	{unicode.Tamil, scTamil},
	{unicode.Telugu, scTelugu},
	{unicode.Gujarati, scGujarati},
	{unicode.Gurmukhi, scGurmukhi},
	{unicode.Armenian, scArmenian},
	{unicode.Georgian, scGeorgian},
}

// scriptOf returns the script of letter r, scNone for letters of scripts
// no lingua language is written in.
func scriptOf(r rune) script {
	if r < 0x80 {
		return scLatin // callers pass letters only
	}
	for _, t := range scriptTables {
		if unicode.Is(t.table, r) {
			return t.sc
		}
	}
	return scNone
}

// soleLanguage is the only lingua language written in each single-language
// script.
var soleLanguage = map[script]lingua.Language{
	scGreek:    lingua.Greek,
	scHebrew:   lingua.Hebrew,
	scHangul:   lingua.Korean,
	scThai:     lingua.Thai,
	scArmenian: lingua.Armenian,
	scGeorgian: lingua.Georgian,
	scBengali:  lingua.Bengali,
	scGujarati: lingua.Gujarati,
	scGurmukhi: lingua.Punjabi,
	scTamil:    lingua.Tamil,
	scTelugu:   lingua.Telugu,
}

// groupLanguages lists lingua's languages per shared script.
func groupLanguages(sc script) []lingua.Language {
	switch sc {
	case scLatin:
		return lingua.AllLanguagesWithLatinScript()
	case scCyrillic:
		return lingua.AllLanguagesWithCyrillicScript()
	case scArabic:
		return lingua.AllLanguagesWithArabicScript()
	case scDevanagari:
		return lingua.AllLanguagesWithDevanagariScript()
	}
	return nil
}

// textStats counts the letters of a text per script.
type textStats struct {
	letters  int
	byScript [numScripts]int
}

func statsOf(s string) textStats {
	var st textStats
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		st.letters++
		st.byScript[scriptOf(r)]++
	}
	return st
}

// dominant returns the script most letters are written in, counting Han
// and Kana together as one (returned as scHan).
func (st *textStats) dominant() script {
	best, n := scNone, 0
	for sc := scLatin; sc < numScripts; sc++ {
		c := st.byScript[sc]
		if sc == scKana {
			continue
		}
		if sc == scHan {
			c += st.byScript[scKana]
		}
		if c > n {
			best, n = sc, c
		}
	}
	return best
}

// usable reports whether the text has enough letters to say anything:
// three letters, or one ideograph, kana or Hangul syllable (each carries a
// syllable or a word, and kana and Hangul name their language).
func (st *textStats) usable() bool {
	if st.letters >= minLetters {
		return true
	}
	return st.byScript[scHan]+st.byScript[scKana]+st.byScript[scHangul] > 0
}

// kazakhLetters are Cyrillic letters written in Kazakh but not in Russian
// or Ukrainian. lingua's character filter can force "Kazakh" on Ukrainian
// text that has words with щ and with і and none of these (see guardKazakh).
const kazakhLetters = "ӘәҒғҚқҢңҰұҮүӨөҺһ"
