// Package opml reads subscription lists in OPML 1.0, 1.1 and 2.0 into
// feeds with their folder paths, and writes them back as OPML 2.0.
//
// Reading is forgiving about what lists contain and strict about what XML
// is: an outline that cannot be imported (no feed URL, a script instead of
// a URL, a duplicate) is reported in [Document.Skipped] and the import goes
// on, while a document that is not well-formed XML is rejected as a whole
// with the line of the problem, so that a half-read list is never mistaken
// for the whole list.
package opml

import (
	"strings"
	"unicode"

	"babelfeed"
)

// Limits applied by [Parse].
const (
	// MaxSize is the largest document Parse reads, in bytes. Real lists
	// are kilobytes; the cap keeps a wrong file from exhausting memory.
	MaxSize = 16 << 20
	// MaxDepth is the deepest element nesting Parse accepts, counting
	// <opml> and <body>: enough for 61 folder levels.
	MaxDepth = 64
	// MaxCategoryDepth is the longest folder path kept, so that anything
	// Parse returns can be written by [Write] and read back within MaxDepth.
	MaxCategoryDepth = MaxDepth - 3
)

// Outline is one subscription found in an OPML file.
type Outline struct {
	// Title is the outline's title or text attribute (title preferred
	// when both are set), whitespace collapsed; the URL's host when both
	// are empty.
	Title string
	// XMLURL is the feed URL as written in the file, trimmed. It is
	// always an absolute http or https URL with a host.
	XMLURL string
	// HTMLURL is the site URL when the file gives a usable http(s) one.
	HTMLURL string
	// Category holds the enclosing folder titles, outermost first. For
	// an outline outside any folder it comes from the first path of the
	// outline's category attribute ("/Tech/Go,/News" gives Tech, Go).
	Category []string
	// Line is the outline's line in the file, for messages.
	Line int
}

// Feed returns the subscription as a babelfeed.Feed ready to be stored:
// URL, Title, SiteURL and Category set, everything else zero.
func (o Outline) Feed() babelfeed.Feed {
	return babelfeed.Feed{
		URL:      o.XMLURL,
		Title:    o.Title,
		SiteURL:  o.HTMLURL,
		Category: append([]string(nil), o.Category...),
	}
}

// Skipped is an outline that could not be imported, with why.
type Skipped struct {
	Title  string
	URL    string // the xmlUrl as found, trimmed; empty when there was none
	Line   int
	Reason string
}

// Document is a parsed OPML subscription list.
type Document struct {
	Title    string // head/title, whitespace collapsed
	Version  string // the version attribute of <opml>, as written
	Outlines []Outline
	Skipped  []Skipped
	// Rules are the babelfeed rules the document carries (see Namespace);
	// RuleErrors the rules attributes that could not be read (the outline
	// itself is still imported).
	Rules      []RuleRef
	RuleErrors []Skipped
}

// clean collapses runs of whitespace into one space, trims the ends and
// replaces characters XML cannot carry (which character references such as
// &#1; can smuggle in) with U+FFFD, exactly as the writer would. Applying it
// twice gives the same result, which keeps Write/Parse round trips stable.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if !isXMLChar(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
