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
// "&eacute;"). When the decoded text contains something that is clearly an
// entity (a known named entity or a numeric reference, each with its closing
// ";"), it is decoded once more and run through the tokenizer again, which
// strips any tags the second decoding revealed ("&amp;lt;b&amp;gt;" gives no
// "<b>"). A lone "&" or "AT&T" is left alone. Never more than two passes.
// The price: in a double-escaped text, a literal "a<b" becomes a tag.
//
// Plain text without tags passes through the same way (entities decoded,
// white space collapsed).
func HTMLToText(s string, maxLen int) string {
	out := htmlToText(s, maxLen, false)
	if hasEscapedEntity(out) {
		// Decode the leftover entities, then strip what that revealed.
		// Line breaks of the first pass are kept as line breaks.
		out = htmlToText(html.UnescapeString(out), maxLen, true)
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

// void elements have no end tag, so a start tag must not open a skip.
func void(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img,
		atom.Input, atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

// htmlToText is one pass of HTMLToText. With lines, "\n" in text is a line
// break rather than white space.
func htmlToText(s string, maxLen int, lines bool) string {
	if s == "" {
		return ""
	}
	w := newTextWriter(len(s), maxLen)
	w.lines = lines
	if !strings.ContainsAny(s, "<&") {
		// Plain text: nothing to tokenize.
		w.text(s)
		return w.String()
	}
	z := nethtml.NewTokenizer(strings.NewReader(s))
	skip := 0 // depth inside skipped elements
	for !w.full() {
		tt := z.Next()
		switch tt {
		case nethtml.ErrorToken:
			return w.String()
		case nethtml.TextToken:
			if skip == 0 {
				w.textBytes(z.Text())
			}
		case nethtml.StartTagToken, nethtml.SelfClosingTagToken, nethtml.EndTagToken:
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
			case tt == nethtml.StartTagToken && void(a):
				// nothing: img, input, ... carry no text
			}
		}
	}
	return w.String()
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
	s := strings.TrimRight(w.b.String(), " \n")
	return norm.NFC.String(s)
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
