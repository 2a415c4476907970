package text

import (
	"testing"
	"unicode/utf8"
)

// FuzzHTMLToText: no panic, valid UTF-8, the cap holds.
func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{
		"<p>La città &egrave; <b>bella</b></p>", "&amp;lt;p&amp;gt;x", "<script>x", "<iframe/>a</p>",
		"a<!-- b", "&#x1F600;&#0;&#xD800;", "caf\xe9", "<table><tr><td>1<td>2</table>",
	} {
		f.Add(s, 10)
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max > 1000 || max < -1 {
			max = 1000
		}
		out := HTMLToText(s, max)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 %q", out)
		}
		if max > 0 && utf8.RuneCountInString(out) > max {
			t.Fatalf("%d runes, cap %d", utf8.RuneCountInString(out), max)
		}
	})
}

// FuzzWordsMatch: every word Words finds in a text is matched in that text
// by a Matcher built from it, so indexing and matching agree.
func FuzzWordsMatch(f *testing.F) {
	for _, s := range []string{
		"L'università dell'anno", "Straße ŒUVRE", "Ёлка", "東京タワー", "don't e.g. 3.14", "citta\u0300",
		"İstanbul ǅ ﬁ", "a\u00adb", "x'y'z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := Words(s)
		for _, w := range words {
			if w == "" || !utf8.ValidString(w) {
				t.Fatalf("bad word %q from %q", w, s)
			}
		}
		if len(words) > 20 {
			words = words[:20]
		}
		if !NewMatcher(words).Match(s) {
			t.Fatalf("Words(%q) = %q, but the Matcher does not find them in it", s, words)
		}
	})
}
