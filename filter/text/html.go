// Package text turns feed markup into plain text and words for language
// tagging and search: HTML to visible text, case and accent folding, Unicode
// word splitting with elision stripping, and whole-word matching.
package text

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	nethtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// HTMLToText returns the visible text of an HTML fragment, capped at maxLen
// characters (runes; maxLen <= 0 means no cap).
//
// Tags are removed and entities decoded. The content of script, style,
// noscript, template, iframe, svg, math and head elements is dropped. Block
// elements (p, br, div, li, h1-h6, tr, blockquote, pre, table, ...) become a
// line break and table cells a space; inline elements add nothing, as in a
// browser ("<b>Ro</b>ma" is "Roma"). Runs of white space collapse to one
// space, runs of line breaks to one "\n", and the result is trimmed.
// Soft hyphens, zero-width characters and control characters are dropped,
// invalid UTF-8 becomes U+FFFD, and the result is NFC-normalised.
//
// Double escaping: feeds often escape an already escaped fragment, so the
// text still holds entities after one decoding ("&amp;eacute;" gives
// "&eacute;"), or holds escaped HTML in a field that should have had real
// markup ("&lt;p&gt;Ciao&lt;/p&gt;" in an RSS title gives "<p>Ciao</p>").
// A second pass decodes and strips once more when the first one left
// something that is clearly an entity (a known named entity or a numeric
// reference, with its closing ";"), or when the input had no tag at all but
// its decoded text has an HTML element tag. A lone "&" or "AT&T" is left
// alone. Never more than two passes.
//
// Finally, tags of HTML elements that are still in the text (literal
// "<title>" in an article about HTML, "<iframe ...>" in a code sample) are
// removed, so that no text holds anything a reader would take for markup.
// Angle brackets around other words stay: "<Leader>", an IRC nick "<anna>",
// "x < y".
//
// Plain text without tags passes through the same way (entities decoded,
// white space collapsed).
func HTMLToText(s string, maxLen int) string {
	out, sawTag := htmlToText(s, maxLen, false)
	if hasEscapedEntity(out) || (!sawTag && hasHTMLTag(out)) {
		// Escaped twice, or escaped HTML in a field whose markup is not
		// HTML: decode the leftover entities, then strip what that
		// revealed. Line breaks of the first pass are kept.
		out, _ = htmlToText(html.UnescapeString(out), maxLen, true)
	}
	if hasHTMLTag(out) {
		out = stripHTMLTags(out)
	}
	return out
}

// skipped elements: their content is never visible text.
func skipped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Iframe,
		atom.Svg, atom.Math, atom.Head:
		return true
	}
	return false
}

// block elements: they start and end a line.
func block(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Br, atom.Div, atom.Li, atom.H1, atom.H2, atom.H3, atom.H4,
		atom.H5, atom.H6, atom.Tr, atom.Blockquote, atom.Pre, atom.Ul, atom.Ol,
		atom.Dl, atom.Dt, atom.Dd, atom.Table, atom.Thead, atom.Tbody, atom.Tfoot,
		atom.Caption, atom.Hr, atom.Section, atom.Article, atom.Aside,
		atom.Header, atom.Footer, atom.Nav, atom.Main, atom.Figure,
		atom.Figcaption, atom.Address, atom.Details, atom.Summary, atom.Form,
		atom.Fieldset, atom.Legend, atom.Body, atom.Html:
		return true
	}
	return false
}

// htmlToText is one pass of HTMLToText. With lines, "\n" in text is a line
// break rather than white space.
// sawTag reports whether the input had any tag or comment.
func htmlToText(s string, maxLen int, lines bool) (text string, sawTag bool) {
	if s == "" {
		return "", false
	}
	w := newTextWriter(len(s), maxLen)
	w.lines = lines
	if !strings.ContainsAny(s, "<&") {
		// Plain text: nothing to tokenize.
		w.text(s)
		return w.String(), false
	}
	z := nethtml.NewTokenizer(strings.NewReader(s))
	skip := 0 // depth inside skipped elements
	for !w.full() {
		tt := z.Next()
		switch tt {
		case nethtml.ErrorToken:
			return w.String(), sawTag
		case nethtml.CommentToken, nethtml.DoctypeToken:
			sawTag = true
		case nethtml.TextToken:
			if skip == 0 {
				w.textBytes(z.Text())
			}
		case nethtml.StartTagToken, nethtml.SelfClosingTagToken, nethtml.EndTagToken:
			sawTag = true
			if tt == nethtml.SelfClosingTagToken {
				// "<iframe ... />" closes itself in feeds written as XHTML;
				// without this the rest of the text would be raw iframe
				// content.
				z.NextIsNotRawText()
			}
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case skipped(a):
				if tt == nethtml.StartTagToken {
					skip++
				} else if tt == nethtml.EndTagToken && skip > 0 {
					skip--
				}
			case skip > 0:
			case block(a):
				w.lineBreak()
			case a == atom.Td || a == atom.Th:
				w.space()
			}
		}
	}
	return w.String(), sawTag
}

// textWriter collects visible text, collapsing white space and counting
// runes against the cap.
type textWriter struct {
	b         strings.Builder
	max       int // runes; <= 0: unlimited
	n         int // runes written
	pendSpace bool
	pendLine  bool
	lines     bool // "\n" is a line break
}

func newTextWriter(srcLen, maxLen int) *textWriter {
	w := &textWriter{max: maxLen}
	grow := srcLen
	if maxLen > 0 && maxLen*2 < grow {
		grow = maxLen * 2
	}
	w.b.Grow(grow)
	return w
}

func (w *textWriter) full() bool { return w.max > 0 && w.n >= w.max }

func (w *textWriter) space()     { w.pendSpace = true }
func (w *textWriter) lineBreak() { w.pendLine = true }

func (w *textWriter) textBytes(p []byte) {
	for len(p) > 0 && !w.full() {
		r, size := utf8.DecodeRune(p)
		p = p[size:]
		w.rune(r)
	}
}

func (w *textWriter) text(s string) {
	for _, r := range s {
		if w.full() {
			return
		}
		w.rune(r)
	}
}

func (w *textWriter) rune(r rune) {
	switch {
	case r == '\n' && w.lines:
		w.pendLine = true
		return
	case r == '\n' || r == '\r' || r == '\t' || r == ' ' || unicode.IsSpace(r):
		w.pendSpace = true
		return
	case dropped(r):
		return
	}
	if w.n > 0 {
		if w.pendLine {
			w.b.WriteByte('\n')
			w.n++
		} else if w.pendSpace {
			w.b.WriteByte(' ')
			w.n++
		}
	}
	w.pendLine, w.pendSpace = false, false
	if w.full() {
		return
	}
	w.b.WriteRune(r) // utf8.RuneError for invalid bytes: U+FFFD
	w.n++
}

// dropped reports runes that are invisible or break words apart for no
// visible reason: controls, soft hyphen, zero-width characters, BOM.
func dropped(r rune) bool {
	if r < 0x20 || (r >= 0x7f && r < 0xa0) {
		return true
	}
	switch r {
	case 0xad, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff:
		return true
	}
	return false
}

func (w *textWriter) String() string {
	s := norm.NFC.String(w.b.String())
	if w.max > 0 && utf8.RuneCountInString(s) > w.max {
		// NFC may add runes (U+0344 becomes two): cut again.
		n := 0
		for i := range s {
			if n == w.max {
				s = s[:i]
				break
			}
			n++
		}
	}
	return strings.TrimRight(s, " \n")
}

// hasEscapedEntity reports whether s still holds a clearly escaped entity:
// "&name;" with a known name, "&#123;" or "&#x1F600;".
func hasEscapedEntity(s string) bool {
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			return false
		}
		s = s[i:]
		end := strings.IndexByte(s, ';')
		if end > 1 && end <= 33 && entityName(s[1:end]) {
			if html.UnescapeString(s[:end+1]) != s[:end+1] {
				return true
			}
		}
		s = s[1:]
	}
}

// entityName reports whether body (between "&" and ";") looks like an entity.
func entityName(body string) bool {
	if body[0] == '#' {
		body = body[1:]
		hex := false
		if len(body) > 0 && (body[0] == 'x' || body[0] == 'X') {
			body, hex = body[1:], true
		}
		if body == "" || len(body) > 8 {
			return false
		}
		for i := 0; i < len(body); i++ {
			c := body[i]
			if !(c >= '0' && c <= '9') && !(hex && (c|0x20) >= 'a' && (c|0x20) <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// htmlElements are the names of HTML elements, current and obsolete, whose
// tags are removed when they survive as text.
var htmlElements = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`a abbr acronym address area article aside audio b base basefont bdi bdo
		big blink blockquote body br button canvas caption center cite code col colgroup data datalist dd
		del details dfn dialog dir div dl dt em embed fieldset figcaption figure font footer form frame
		frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label legend li
		link main map mark marquee menu meta meter nav noembed noframes noscript object ol optgroup option
		output p param picture pre progress q rp rt ruby s samp script section select small source span
		strike strong style sub summary sup svg table tbody td template textarea tfoot th thead time title
		tr track tt u ul var video wbr`) {
		m[n] = true
	}
	return m
}()

// htmlTag returns the length of an HTML element tag at the start of s
// ("<p>", "</div>", "<br/>", "<a href='x'>", "<!-- ... -->"), or 0.
func htmlTag(s string) int {
	if strings.HasPrefix(s, "<!--") {
		if end := strings.Index(s, "-->"); end >= 0 {
			return end + 3
		}
		return 0
	}
	i := 1
	if i < len(s) && s[i] == '/' {
		i++
	}
	start := i
	for i < len(s) && (s[i]|0x20 >= 'a' && s[i]|0x20 <= 'z' || (i > start && s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	if i == start || i-start > 10 || !htmlElements[strings.ToLower(s[start:i])] {
		return 0
	}
	if i < len(s) && s[i] == '>' {
		return i + 1
	}
	if i >= len(s) || !(s[i] == ' ' || s[i] == '/' || s[i] == '\n' || s[i] == '\t') {
		return 0
	}
	end := strings.IndexAny(s[i:], "<>")
	if end < 0 || s[i+end] != '>' {
		return 0
	}
	return i + end + 1
}

// hasHTMLTag reports whether s holds an HTML element tag or a comment.
func hasHTMLTag(s string) bool {
	for i := strings.IndexByte(s, '<'); i >= 0; {
		if htmlTag(s[i:]) > 0 {
			return true
		}
		j := strings.IndexByte(s[i+1:], '<')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// stripHTMLTags removes HTML element tags and comments from text, leaving a
// space where one stood between words.
func stripHTMLTags(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if n := htmlTag(s); n > 0 {
			b.WriteByte(' ')
			s = s[n:]
			continue
		}
		b.WriteByte('<')
		s = s[1:]
	}
	// Collapse the spaces the removed tags left, line by line.
	lines := strings.Split(b.String(), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
