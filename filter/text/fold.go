package text

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Fold returns s prepared for matching: Unicode case folding, accents
// removed, NFC-normalised. "Città" and "CITTA" both fold to "citta",
// "Straße" to "strasse", "Œuvre" to "oeuvre".
//
// Accents are removed by decomposing (NFD) and dropping nonspacing marks
// (Mn) that follow a Latin or Greek letter. Marks on other scripts are kept
// on purpose, because there they tell letters apart rather than decorate
// them: Japanese "が" must not fold to "か", Russian "й" not to "и". Cyrillic
// loses only the diaeresis and stress accent ("ё" folds to "е", as Russian
// readers expect). Letters that do not decompose are spelled out: ß->ss,
// œ->oe, æ->ae, ø->o, ł->l, đ->d, ð->d, þ->th, ı->i.
func Fold(s string) string {
	ascii, lower := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	if ascii {
		if lower {
			return s
		}
		return strings.ToLower(s)
	}
	return foldUnicode(s)
}

func foldUnicode(s string) string {
	s = norm.NFD.String(cases.Fold().String(s))
	var b strings.Builder
	b.Grow(len(s))
	stripMarks, cyrillic := false, false
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) {
			if stripMarks || (cyrillic && (r == 0x308 || r == 0x301)) {
				continue
			}
			b.WriteRune(r)
			continue
		}
		// cases.Fold swaps the case of Cherokee (its folding target is the
		// upper case) instead of settling it; ToLower makes Fold idempotent.
		r = unicode.ToLower(r)
		stripMarks = r < 0x250 || unicode.Is(unicode.Latin, r) || unicode.Is(unicode.Greek, r)
		cyrillic = !stripMarks && unicode.Is(unicode.Cyrillic, r)
		if sp := spelledOut(r); sp != "" {
			b.WriteString(sp)
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// spelledOut returns the ASCII spelling of a folded letter that has no
// decomposition, or "".
func spelledOut(r rune) string {
	switch r {
	case 'ß', 'ẞ':
		return "ss"
	case 'œ':
		return "oe"
	case 'æ':
		return "ae"
	case 'ø':
		return "o"
	case 'ł':
		return "l"
	case 'đ', 'ð':
		return "d"
	case 'þ':
		return "th"
	case 'ı':
		return "i"
	}
	return ""
}
