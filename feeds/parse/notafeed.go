package parse

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Kinds of documents that are not feeds (NotAFeedError.Kind).
const (
	KindHTML  = "html"  // a web page
	KindOPML  = "opml"  // a subscription list
	KindXML   = "xml"   // some other XML document; Root names its root element
	KindJSON  = "json"  // JSON that is not a JSON Feed
	KindEmpty = "empty" // nothing but white space
	KindText  = "text"  // neither markup nor JSON
)

// NotAFeedError says that the body is no feed at all, as opposed to a feed
// that is broken. For an HTML page, Alternates lists the feeds the page
// advertises with <link rel="alternate" type="application/rss+xml"> (or
// atom+xml, feed+json, rdf+xml), resolved against the page's <base> and the
// URL given to ParseURL; a caller can subscribe to one of them instead.
type NotAFeedError struct {
	Kind       string
	Root       string // root element name, for KindXML
	Alternates []string
}

func (e *NotAFeedError) Error() string {
	var what string
	switch e.Kind {
	case KindHTML:
		what = "an HTML page"
	case KindOPML:
		what = "an OPML subscription list"
	case KindXML:
		what = fmt.Sprintf("an XML document with root <%s>", e.Root)
	case KindJSON:
		what = "JSON that is not a JSON Feed"
	case KindEmpty:
		what = "an empty document"
	default:
		what = "plain text"
	}
	msg := "not a feed (" + what + ")"
	if len(e.Alternates) > 0 {
		msg += "; it advertises a feed at " + e.Alternates[0]
		if n := len(e.Alternates) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more)", n)
		}
	}
	return msg
}

// root describes how a document starts.
type root struct {
	name   string // lower-case local name of the root element, "" if none
	offset int    // byte offset of the root element's "<"
	html   bool   // an HTML doctype was seen
	first  byte   // first non-blank byte
	empty  bool   // nothing but white space
}

// sniffRoot finds the root element of an XML or HTML document by skipping
// the prolog, processing instructions, comments and the doctype. It reads
// any ASCII-compatible encoding.
func sniffRoot(b []byte) root {
	var r root
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i < len(b) {
		r.first = b[i]
	} else {
		r.empty = true
	}
	for i < len(b) {
		switch c := b[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c != '<':
			return r
		case bytes.HasPrefix(b[i:], []byte("<?")):
			end := bytes.Index(b[i:], []byte("?>"))
			if end < 0 {
				return r
			}
			i += end + 2
		case bytes.HasPrefix(b[i:], []byte("<!--")):
			end := bytes.Index(b[i:], []byte("-->"))
			if end < 0 {
				return r
			}
			i += end + 3
		case bytes.HasPrefix(b[i:], []byte("<!")):
			// <!DOCTYPE ...>, possibly with an internal subset in [ ].
			j := i + 2
			depth := 0
			for j < len(b) && (b[j] != '>' || depth > 0) {
				switch b[j] {
				case '[':
					depth++
				case ']':
					depth--
				}
				j++
			}
			if bytes.Contains(bytes.ToLower(b[i:min(j, i+64)]), []byte("html")) {
				r.html = true
			}
			i = j + 1
		default:
			j := i + 1
			for j < len(b) && !strings.ContainsRune(" \t\r\n/>", rune(b[j])) {
				j++
			}
			name := strings.ToLower(string(b[i+1 : j]))
			if k := strings.LastIndexByte(name, ':'); k >= 0 {
				name = name[k+1:]
			}
			r.name, r.offset = name, i
			return r
		}
	}
	return r
}

// notAFeed classifies a body that gofeed could not detect as a feed. It
// returns nil when the body looks like a feed after all (a broken one).
func notAFeed(b []byte, contentType string, base *url.URL) *NotAFeedError {
	r := sniffRoot(b)
	isHTML := strings.Contains(strings.ToLower(contentType), "html")
	switch {
	case r.empty:
		return &NotAFeedError{Kind: KindEmpty}
	case r.first == '{' || r.first == '[':
		return &NotAFeedError{Kind: KindJSON}
	case r.name == "rss" || r.name == "rdf" || r.name == "feed":
		return nil
	case isHTML || r.html || htmlRoots[r.name]:
		return &NotAFeedError{Kind: KindHTML, Alternates: alternates(b, base)}
	case r.name == "opml":
		return &NotAFeedError{Kind: KindOPML}
	case r.name != "":
		return &NotAFeedError{Kind: KindXML, Root: printableName(r.name)}
	}
	return &NotAFeedError{Kind: KindText}
}

// htmlRoots are root elements that make a document an HTML page or an
// HTML fragment.
var htmlRoots = map[string]bool{
	"html": true, "head": true, "body": true, "p": true, "div": true, "img": true,
	"a": true, "span": true, "table": true, "h1": true, "h2": true, "br": true,
	"title": true, "meta": true, "script": true,
}

// feedTypes are the link types that advertise a feed.
var feedTypes = map[string]bool{
	"application/rss+xml":   true,
	"application/atom+xml":  true,
	"application/feed+json": true,
	"application/rdf+xml":   true,
}

// alternates returns the feed URLs an HTML page advertises, in page order,
// without duplicates.
func alternates(b []byte, base *url.URL) []string {
	z := html.NewTokenizer(bytes.NewReader(b))
	var out []string
	seen := map[string]bool{}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
		default:
			continue
		}
		name, hasAttr := z.TagName()
		a := atom.Lookup(name)
		if a != atom.Link && a != atom.Base || !hasAttr {
			continue
		}
		var rel, typ, href string
		for more := true; more; {
			var k, v []byte
			k, v, more = z.TagAttr()
			switch string(k) {
			case "rel":
				rel = strings.ToLower(string(v))
			case "type":
				typ = strings.ToLower(strings.TrimSpace(string(v)))
			case "href":
				href = strings.TrimSpace(string(v))
			}
		}
		if href == "" {
			continue
		}
		if a == atom.Base {
			if u, err := url.Parse(href); err == nil {
				if base != nil {
					u = base.ResolveReference(u)
				}
				base = u
			}
			continue
		}
		if i := strings.IndexByte(typ, ';'); i >= 0 {
			typ = strings.TrimSpace(typ[:i])
		}
		if !feedTypes[typ] || !hasToken(rel, "alternate") {
			continue
		}
		u, err := url.Parse(href)
		if err != nil {
			continue
		}
		if base != nil {
			u = base.ResolveReference(u)
		}
		if s := u.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
}

// hasToken reports whether the space-separated list has tok.
func hasToken(list, tok string) bool {
	for _, f := range strings.Fields(list) {
		if f == tok {
			return true
		}
	}
	return false
}

// printableName returns a root element name fit for an error message that
// ends up in a terminal: control and format characters (an escape
// sequence that retitles the terminal or clears it) are dropped, invalid
// UTF-8 becomes U+FFFD, and the name is cut to 64 characters.
func printableName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64]) + "…"
	}
	return s
}
