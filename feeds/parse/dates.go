package parse

import (
	"strings"
	"time"
	"unicode"

	"babelfeed/filter/text"
)

// gofeed knows about 150 date layouts, all with English names: a feed that
// writes "Lun, 12 Gen 2026 10:00:00 +0100" gets no date at all. Such items
// would all be stamped with the time they were first seen, so parseLocalDate
// tries again with month and day names of Italian, French, German, Spanish,
// Portuguese and Dutch translated to English.

// monthNames maps folded localised month names and abbreviations to English.
var monthNames = map[string]string{}

// dayNames and fillers are dropped before the first digit (day names) or
// anywhere (fillers such as the Spanish "12 de marzo de 2026").
var dayNames, fillers = map[string]bool{}, map[string]bool{}

func init() {
	months := [12]string{
		"january jan gennaio gen janvier janv jänner januar enero ene janeiro januari",
		"february feb febbraio fevrier fevr fév februar febrero fevereiro fev februari",
		"march mar marzo mars märz marz mrz marco maart mrt",
		"april apr aprile avril abril abr",
		"may maggio mag mai mayo maio mei",
		"june jun giugno giu juin juni junio junho",
		"july jul luglio lug juillet juil juli julio julho",
		"august aug agosto ago aout août augustus",
		"september sep sept settembre set septembre septiembre setiembre setembro",
		"october oct ottobre ott octobre oktober okt octubre outubro out",
		"november nov novembre noviembre novembro",
		"december dec dicembre dic decembre décembre dezember dez diciembre dezembro",
	}
	english := [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	for i, names := range months {
		for _, n := range strings.Fields(names) {
			monthNames[text.Fold(n)] = english[i]
		}
	}
	for _, n := range strings.Fields(`monday mon tuesday tue tues wednesday wed thursday thu thur thurs friday fri saturday sat sunday sun
		lunedi lun martedi mar mercoledi mer giovedi gio venerdi ven sabato sab domenica dom
		lundi mardi mercredi jeudi jeu vendredi samedi sam dimanche dim
		montag mo dienstag di mittwoch mi donnerstag do freitag fr samstag sa sonnabend sonntag so
		lunes martes miercoles mie jueves jue viernes vie sabado domingo
		segunda seg terca ter quarta qua quinta qui sexta sex feira
		maandag ma dinsdag woensdag wo donderdag vrijdag vr zaterdag za zondag zo`) {
		dayNames[text.Fold(n)] = true
	}
	for _, n := range strings.Fields("de del di du le el la of the as às am at um uhr h") {
		fillers[text.Fold(n)] = true
	}
}

var localLayouts = []string{
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05",
	"2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04 MST",
	"2 Jan 2006 15:04",
	"2 Jan 2006",
	"Jan 2 2006 15:04:05 -0700",
	"Jan 2 2006 15:04:05 MST",
	"Jan 2 2006 15:04:05",
	"Jan 2 2006 15:04",
	"Jan 2 2006",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2/1/2006 15:04:05",
	"2/1/2006 15:04",
	"2/1/2006",
	"2.1.2006 15:04:05",
	"2.1.2006 15:04",
	"2.1.2006",
}

// parseLocalDate parses a date with localised names or a day-first numeric
// date, in UTC when it names no zone.
func parseLocalDate(s string) (time.Time, bool) {
	if len(s) > 100 {
		return time.Time{}, false
	}
	var b strings.Builder
	seenDigit := false
	for _, tok := range splitDate(s) {
		first, _ := firstRune(tok)
		switch {
		case unicode.IsLetter(first):
			f := strings.TrimSuffix(text.Fold(tok), ".")
			if m, ok := monthNames[f]; ok && (seenDigit || !dayNames[f]) {
				tok = m
			} else if !seenDigit && dayNames[f] || fillers[f] {
				continue
			}
		case unicode.IsDigit(first):
			seenDigit = true
			tok = strings.TrimSuffix(tok, ".") // German "12. März"
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(tok)
	}
	norm := b.String()
	for _, layout := range localLayouts {
		if t, err := time.Parse(layout, norm); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// splitDate splits at spaces and commas; other punctuation stays inside the
// tokens.
func splitDate(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == ','
	})
}

func firstRune(s string) (rune, bool) {
	for _, r := range s {
		return r, true
	}
	return 0, false
}
