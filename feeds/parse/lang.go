package parse

import (
	"strings"

	"golang.org/x/text/language"

	"babelfeed/filter/text"
)

// languageNames maps language names that feeds write instead of codes.
var languageNames = map[string]string{
	"english": "en", "italian": "it", "italiano": "it", "french": "fr",
	"francais": "fr", "german": "de", "deutsch": "de", "spanish": "es",
	"espanol": "es", "castellano": "es", "portuguese": "pt", "portugues": "pt",
	"dutch": "nl", "nederlands": "nl", "russian": "ru", "japanese": "ja",
	"chinese": "zh", "polish": "pl", "polski": "pl", "swedish": "sv",
	"svenska": "sv", "catalan": "ca", "catala": "ca",
}

// NormaliseLanguage turns a declared feed language into a lower-case ISO
// 639-1 code: "IT-it" gives "it", "en-US" "en", "pt_BR" "pt", "eng" "en",
// "Italiano" "it". Only the first of a list ("it, en") counts. It returns ""
// for an empty value, "und", or anything that is no language with a
// two-letter code.
func NormaliseLanguage(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, ",; "); i >= 0 {
		s = s[:i]
	}
	if s == "" || len(s) > 35 {
		return ""
	}
	if code, ok := languageNames[text.Fold(s)]; ok {
		return code
	}
	tag, err := language.Parse(strings.ReplaceAll(s, "_", "-"))
	if err != nil {
		return ""
	}
	base, conf := tag.Base()
	code := base.String()
	if conf != language.Exact || len(code) != 2 {
		return ""
	}
	return code
}
