package opml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// Parse reads an OPML 1.0, 1.1 or 2.0 document.
//
// It returns an error, and no Document, when the input is larger than
// [MaxSize], nests deeper than [MaxDepth], is not well-formed XML, has no
// <opml> root or has no <body>; the error names the problem and its line.
// Two documents concatenated in one file are not well-formed and are
// rejected too.
//
// Outlines without a usable xmlUrl (missing, empty, not an absolute http or
// https URL with a host) are listed in Skipped with the reason and do not
// stop the import. An outline without xmlUrl that has child outlines is a
// folder: its title becomes part of its descendants' Category. An outline
// that has an xmlUrl is never a folder; outlines nested inside it are read
// as if they were its siblings. A URL seen a second time is listed in
// Skipped as "duplicate of line N"; URLs are compared with scheme and host
// lower-cased, default port and fragment dropped. Attribute names are
// matched case-insensitively (xmlUrl, xmlurl, XMLURL).
//
// Encodings: an encoding declared in the XML prolog is honoured (through
// golang.org/x/net/html/charset); a byte order mark (UTF-8, UTF-16) wins
// over the prolog; a document that declares no encoding and is not valid
// UTF-8 is read as windows-1252, the usual encoding of such files.
//
// Ampersands: two mistakes of exporters that paste HTML into attributes are
// forgiven, as an HTML parser would. HTML named entities (&nbsp;, &eacute;),
// undefined in XML, are read with their HTML meaning; an "&" that starts no
// reference at all ("News & Views", "?a=1&b=2") is read as a literal "&".
// An undefined entity that is not HTML (&bogus;) is still an error, and
// everything else about XML stays strict: an unescaped quote or "<" inside
// an attribute value, a missing end tag and so on reject the document.
func Parse(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("parse OPML: read: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("parse OPML: input larger than %d MiB", MaxSize>>20)
	}
	doc, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse OPML: %w", err)
	}
	return doc, nil
}

// toUTF8 returns the document as UTF-8. A byte order mark decides first
// (UTF-8 or UTF-16), then the encoding declared in the XML prolog, looked up
// with golang.org/x/net/html/charset (WHATWG labels, so "iso-8859-1" reads
// as windows-1252, a superset). A document that declares no encoding and is
// not valid UTF-8 is read as windows-1252, the usual encoding of such
// files. Decoding up front, rather than through xml.Decoder.CharsetReader,
// lets fixAmpersands work on UTF-8 whatever the original encoding.
func toUTF8(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		out, err := unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("decode UTF-16: %w", err)
		}
		return out, nil
	}
	label := declaredEncoding(data)
	if label == "" {
		if utf8.Valid(data) {
			return data, nil
		}
		out, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("decode undeclared encoding as windows-1252: %w", err)
		}
		return out, nil
	}
	enc, name := charset.Lookup(label)
	if enc == nil {
		return nil, fmt.Errorf("unsupported encoding %q declared in the XML prolog", label)
	}
	if name == "utf-8" {
		return data, nil // invalid bytes, if any, are reported by the decoder with their line
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return nil, fmt.Errorf("decode declared encoding %q: %w", label, err)
	}
	return out, nil
}

// declaredEncoding returns the encoding named in the XML declaration, or ""
// when there is no declaration or it names none.
func declaredEncoding(data []byte) string {
	data = bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(data, []byte("?>"))
	if end < 0 {
		return ""
	}
	decl := string(data[len("<?xml"):end])
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return ""
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	rest = rest[1:]
	j := strings.IndexByte(rest, q)
	if j < 0 {
		return ""
	}
	return strings.TrimSpace(rest[:j])
}

// elemKind says what an open element is, as far as the parser cares.
type elemKind int

const (
	kindOther elemKind = iota
	kindRoot
	kindHead
	kindHeadTitle
	kindBody
	kindOutline
)

// frame is one open element.
type frame struct {
	kind elemKind
	// For outlines without an xmlUrl: a folder candidate. It becomes a
	// folder when an outline child shows up, else it is skipped at its end.
	folder      bool
	name        string // folder title, cleaned; "" adds no path level
	hasChildren bool
	hasRules    bool    // a folder candidate that holds babelfeed rules is no empty folder
	skip        Skipped // what to report if a folder candidate stays empty
}

// parser holds the state of one Parse call.
type parser struct {
	dec   *xml.Decoder
	doc   Document
	stack []frame
	seen  map[string]int // dedup key → line of the first outline with it

	headTitle   strings.Builder
	headTitleOK bool // a head title was read; later ones are ignored
	bodies      int
}

func parse(data []byte) (*Document, error) {
	data, err := toUTF8(data)
	if err != nil {
		return nil, err
	}
	data = fixAmpersands(data)
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	// Only HTML's named entities are added; Strict stays on, so every
	// other XML error (and any other undefined entity) is still reported.
	dec.Entity = xml.HTMLEntity
	// toUTF8 has already decoded the bytes: the prolog's label is stale.
	dec.CharsetReader = func(_ string, input io.Reader) (io.Reader, error) { return input, nil }
	p := &parser{dec: dec, seen: make(map[string]int)}
	if err := p.run(); err != nil {
		return nil, err
	}
	return &p.doc, nil
}

func (p *parser) run() error {
	rootLine := 0
	rootDone := false
	for {
		line, _ := p.dec.InputPos()
		tok, err := p.dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fmt.Errorf("not well-formed XML: line %d: %s%s", se.Line, se.Msg, syntaxHint(se.Msg))
			}
			return fmt.Errorf("read XML near line %d: %w", line, err)
		}
		// The position before Token is the token's first byte: the
		// whitespace before a tag is a token of its own.
		switch t := tok.(type) {
		case xml.StartElement:
			if rootDone {
				return fmt.Errorf("line %d: element <%s> after the end of <opml>: only one root element is allowed (concatenated documents?)", line, t.Name.Local)
			}
			if len(p.stack) == 0 {
				if !strings.EqualFold(t.Name.Local, "opml") {
					return fmt.Errorf("line %d: root element is <%s>, not <opml>: not an OPML document", line, t.Name.Local)
				}
				rootLine = line
			}
			if len(p.stack)+1 > MaxDepth {
				return fmt.Errorf("line %d: elements nested deeper than %d levels", line, MaxDepth)
			}
			p.start(t, line)
		case xml.EndElement:
			p.end()
			if len(p.stack) == 0 {
				rootDone = true
			}
		case xml.CharData:
			if len(p.stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					where := "before"
					if rootDone {
						where = "after"
					}
					return fmt.Errorf("line %d: text %s the root element", line, where)
				}
				continue
			}
			if top := p.stack[len(p.stack)-1]; top.kind == kindHeadTitle && !p.headTitleOK {
				p.headTitle.Write(t)
			}
		}
	}
	if rootLine == 0 {
		return errors.New("no <opml> root element (empty document?)")
	}
	if p.bodies == 0 {
		return fmt.Errorf("<opml> at line %d has no <body>", rootLine)
	}
	return nil
}

// parentKind is the kind of the innermost open element.
func (p *parser) parentKind() elemKind {
	if len(p.stack) == 0 {
		return kindOther
	}
	return p.stack[len(p.stack)-1].kind
}

func (p *parser) start(t xml.StartElement, line int) {
	name := strings.ToLower(t.Name.Local)
	parent := p.parentKind()
	f := frame{kind: kindOther}
	switch {
	case len(p.stack) == 0:
		f.kind = kindRoot
		p.doc.Version = attr(t, "version")
	case parent == kindRoot && name == "head":
		f.kind = kindHead
	case parent == kindHead && name == "title" && !p.headTitleOK:
		f.kind = kindHeadTitle
	case parent == kindRoot && name == "body":
		f.kind = kindBody
		p.bodies++
		if p.bodies == 1 {
			p.readRules(t, line, nil, "")
		}
	case (parent == kindBody || parent == kindOutline) && name == "outline":
		f = p.outline(t, line)
	}
	p.stack = append(p.stack, f)
}

func (p *parser) end() {
	f := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	switch f.kind {
	case kindHeadTitle:
		p.doc.Title = clean(p.headTitle.String())
		p.headTitleOK = true
	case kindOutline:
		if f.folder && !f.hasChildren && !f.hasRules {
			p.doc.Skipped = append(p.doc.Skipped, f.skip)
		}
	}
}

// outline handles the start of an <outline> element and returns its frame.
func (p *parser) outline(t xml.StartElement, line int) frame {
	// A child outline turns the enclosing folder candidate into a folder.
	if top := &p.stack[len(p.stack)-1]; top.kind == kindOutline && top.folder {
		top.hasChildren = true
	}
	title := clean(attr(t, "title"))
	if title == "" {
		title = clean(attr(t, "text"))
	}
	rawURL, hasURL := attrOK(t, "xmlurl")
	rawURL = strings.TrimSpace(rawURL)
	f := frame{kind: kindOutline}
	if rawURL == "" {
		reason := "no xmlUrl"
		if hasURL {
			reason = "empty xmlUrl"
		}
		reason += notFeedHint(t)
		f.folder = true
		f.name = title
		f.skip = Skipped{Title: title, URL: rawURL, Line: line, Reason: reason}
		path := p.folderPath()
		if title != "" {
			path = append(path, title)
		}
		f.hasRules = p.readRules(t, line, path, "")
		return f
	}
	u, reason := checkURL(rawURL)
	if reason != "" {
		p.doc.Skipped = append(p.doc.Skipped, Skipped{Title: title, URL: rawURL, Line: line, Reason: reason})
		p.lostRules(t, line, rawURL)
		return f
	}
	key := dedupKey(u)
	if first, dup := p.seen[key]; dup {
		p.doc.Skipped = append(p.doc.Skipped, Skipped{Title: title, URL: rawURL, Line: line, Reason: fmt.Sprintf("duplicate of line %d", first)})
		p.lostRules(t, line, rawURL)
		return f
	}
	p.seen[key] = line
	if title == "" {
		title = clean(u.Host)
	}
	if title == "" { // a host of percent-encoded spaces
		title = clean(rawURL)
	}
	o := Outline{Title: title, XMLURL: rawURL, Category: p.folderPath(), Line: line}
	if html := strings.TrimSpace(attr(t, "htmlurl")); html != "" {
		if _, bad := checkURL(html); bad == "" {
			o.HTMLURL = html
		}
	}
	if len(o.Category) == 0 {
		o.Category = categoryAttr(attr(t, "category"))
	}
	p.doc.Outlines = append(p.doc.Outlines, o)
	p.readRules(t, line, nil, rawURL)
	return f
}

// folderPath returns the titles of the enclosing folders, outermost first,
// or nil outside any titled folder.
func (p *parser) folderPath() []string {
	var path []string
	for _, f := range p.stack {
		if f.kind == kindOutline && f.folder && f.name != "" {
			path = append(path, f.name)
		}
	}
	if len(path) > MaxCategoryDepth {
		path = path[:MaxCategoryDepth]
	}
	return path
}

// notFeedHint explains an outline without xmlUrl in the user's terms.
func notFeedHint(t xml.StartElement) string {
	typ := strings.TrimSpace(attr(t, "type"))
	switch {
	case strings.EqualFold(typ, "include"):
		return ` (type="include": a link to another OPML file, not followed)`
	case strings.EqualFold(typ, "link") && strings.TrimSpace(attr(t, "url")) != "":
		return ` (type="link": a web page, not a feed)`
	case strings.TrimSpace(attr(t, "htmlurl")) != "":
		return " (only an htmlUrl: a web site, not a feed)"
	case typ != "" && !strings.EqualFold(typ, "rss"):
		return fmt.Sprintf(" (type=%q)", typ)
	}
	return ""
}

// checkURL returns the parsed URL, or a reason why it cannot be polled.
func checkURL(raw string) (*url.URL, string) {
	for _, r := range raw {
		if !isXMLChar(r) {
			return nil, fmt.Sprintf("xmlUrl contains the character %U, not allowed in XML", r)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Sprintf("unparsable xmlUrl: %v", err)
	}
	switch u.Scheme {
	case "http", "https":
	case "":
		return nil, "xmlUrl is not an absolute http(s) URL"
	default:
		return nil, fmt.Sprintf("xmlUrl scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, "xmlUrl has no host"
	}
	return u, ""
}

// dedupKey is the form in which two URLs count as the same feed.
func dedupKey(u *url.URL) string {
	k := *u
	k.Host = strings.ToLower(k.Host)
	if port := k.Port(); (k.Scheme == "http" && port == "80") || (k.Scheme == "https" && port == "443") {
		k.Host = strings.TrimSuffix(k.Host, ":"+port)
	}
	k.Fragment, k.RawFragment = "", ""
	if k.Path == "" && k.RawPath == "" {
		k.Path = "/"
	}
	return k.String()
}

// categoryAttr reads the category attribute ("/Tech/Go,/News") into one
// folder path: its first comma-separated entry that has a non-blank
// "/"-separated segment. A plain tag ("news") is a one-level path.
func categoryAttr(v string) []string {
	for _, entry := range strings.Split(v, ",") {
		var segs []string
		for _, s := range strings.Split(entry, "/") {
			if s = clean(s); s != "" {
				segs = append(segs, s)
			}
		}
		if len(segs) > MaxCategoryDepth {
			segs = segs[:MaxCategoryDepth]
		}
		if len(segs) > 0 {
			return segs
		}
	}
	return nil
}

// attr returns the first non-blank value of the unqualified attribute
// whose name matches lowerName case-insensitively.
func attr(t xml.StartElement, lowerName string) string {
	v, _ := attrOK(t, lowerName)
	return v
}

// attrOK is attr that also reports whether the attribute was present at
// all, even if blank.
func attrOK(t xml.StartElement, lowerName string) (string, bool) {
	found := false
	for _, a := range t.Attr {
		if a.Name.Space != "" || !strings.EqualFold(a.Name.Local, lowerName) {
			continue
		}
		found = true
		if strings.TrimSpace(a.Value) != "" {
			return a.Value, true
		}
	}
	return "", found
}

// syntaxHint adds what usually causes an encoding/xml syntax error in an
// exported subscription list.
func syntaxHint(msg string) string {
	switch {
	case strings.HasPrefix(msg, "invalid character entity"):
		return " (not an XML or HTML entity: escape the & as &amp;)"
	case strings.Contains(msg, "unescaped < inside quoted string"):
		return ` (markup inside an attribute value: "<" must be written &lt;)`
	case strings.HasPrefix(msg, "attribute name without = in element"),
		strings.HasPrefix(msg, "unquoted or missing attribute value"):
		return ` (an unescaped " inside an attribute value?)`
	case strings.HasPrefix(msg, "invalid UTF-8"):
		return " (the bytes do not match the declared encoding)"
	}
	return ""
}

// fixAmpersands escapes each "&" that starts no character or entity
// reference, which no well-formed document contains, so that it reads as a
// literal "&" (HTML's rule) instead of failing the import. Comments, CDATA
// sections and processing instructions, where a bare "&" is legal, are left
// alone. Line numbers do not change. The input is returned as is when it
// needs no change.
func fixAmpersands(data []byte) []byte {
	var out []byte // nil until the first change
	last := 0      // data[last:i] is not yet copied to out
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '<':
			// Skip the constructs in which "&" is literal.
			for _, sk := range [...]struct{ open, close string }{
				{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"},
			} {
				if bytes.HasPrefix(data[i:], []byte(sk.open)) {
					j := bytes.Index(data[i+len(sk.open):], []byte(sk.close))
					if j < 0 {
						i = len(data) // unterminated: the decoder reports it
					} else {
						i += len(sk.open) + j + len(sk.close) - 1
					}
					break
				}
			}
		case '&':
			if isReference(data[i+1:]) {
				continue
			}
			out = append(out, data[last:i]...)
			out = append(out, "&amp;"...)
			last = i + 1
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// isReference reports whether b, the bytes after an "&", start a character
// reference (#123; or #x1F;) or an entity reference (name;).
func isReference(b []byte) bool {
	semi := bytes.IndexByte(b, ';')
	if semi <= 0 || semi > 64 {
		return false
	}
	ref := b[:semi]
	if ref[0] == '#' {
		digits, isDigit := ref[1:], func(c byte) bool { return '0' <= c && c <= '9' }
		if len(digits) > 0 && (digits[0] == 'x') {
			digits = digits[1:]
			isDigit = func(c byte) bool {
				return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
			}
		}
		if len(digits) == 0 {
			return false
		}
		for _, c := range digits {
			if !isDigit(c) {
				return false
			}
		}
		return true
	}
	for i, r := range string(ref) {
		letter := r == '_' || r == ':' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r >= 0x80
		if i == 0 && !letter || !letter && !('0' <= r && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
