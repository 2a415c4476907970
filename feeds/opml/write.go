package opml

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"babelfeed"
)

// node is a folder of the tree Write builds: its entries keep the order in
// which feeds and subfolders first appeared in the input.
type node struct {
	name    string
	entries []entry
	sub     map[string]*node
	rules   []babelfeed.Rule // rules of this folder (see WriteWithRules)
}

// entry is either a feed or a subfolder.
type entry struct {
	feed   *babelfeed.Feed
	folder *node
}

func (n *node) child(name string) *node {
	if c, ok := n.sub[name]; ok {
		return c
	}
	c := &node{name: name, sub: make(map[string]*node)}
	n.sub[name] = c
	n.entries = append(n.entries, entry{folder: c})
	return c
}

// Write writes feeds as an OPML 2.0 document: a head with title and
// dateCreated, and a body in which each category level is a folder outline
// (<outline text="Tech" title="Tech">) and each feed an
// <outline type="rss" text title xmlUrl htmlUrl>. Feeds with the same
// category path share one folder; folders and feeds keep the order in which
// they first appear in feeds. Category names are compared and written with
// whitespace collapsed, and empty ones are left out, as [Parse] reads them;
// titles are written with whitespace collapsed too. A feed with an empty
// title is written with its URL as text and no title attribute.
//
// Parse on the output gives back the same URLs and categories. Write fails
// on a category path longer than [MaxCategoryDepth], which Parse could not
// read back.
func Write(w io.Writer, title string, feeds []babelfeed.Feed) error {
	return write(w, title, feeds, nil)
}

func write(w io.Writer, title string, feeds []babelfeed.Feed, rs *ruleSet) error {
	root := &node{sub: make(map[string]*node)}
	for i := range feeds {
		f := &feeds[i]
		n := root
		depth := 0
		for _, c := range f.Category {
			if c = clean(c); c == "" {
				continue
			}
			depth++
			if depth > MaxCategoryDepth {
				return fmt.Errorf("write OPML: feed %s: category %q is deeper than %d levels", f.URL, f.CategoryPath(), MaxCategoryDepth)
			}
			n = n.child(c)
		}
		n.entries = append(n.entries, entry{feed: f})
	}
	if rs != nil {
		rs.attach(root)
	}

	bw := bufio.NewWriter(w)
	ew := &escWriter{w: bw}
	ew.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if rs.empty() {
		ew.raw(`<opml version="2.0">`)
	} else {
		ew.raw(`<opml version="2.0" xmlns:` + NamespacePrefix + `="` + Namespace + `">`)
	}
	ew.raw("\n  <head>\n    <title>")
	ew.text(title)
	ew.raw("</title>\n    <dateCreated>")
	// RFC 822 as OPML 2.0 asks, in GMT so it reads the same everywhere.
	ew.raw(time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05") + " GMT")
	ew.raw("</dateCreated>\n  </head>\n  <body")
	if rs != nil {
		writeRulesAttr(ew, rs.global)
	}
	ew.raw(">\n")
	writeEntries(ew, root.entries, 2, rs)
	ew.raw("  </body>\n</opml>\n")
	if ew.err != nil {
		return fmt.Errorf("write OPML: %w", ew.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write OPML: %w", err)
	}
	return nil
}

func writeEntries(ew *escWriter, entries []entry, level int, rs *ruleSet) {
	indent := strings.Repeat("  ", level)
	for _, e := range entries {
		if e.folder != nil {
			ew.raw(indent + `<outline text="`)
			ew.text(e.folder.name)
			ew.raw(`" title="`)
			ew.text(e.folder.name)
			ew.raw(`"`)
			writeRulesAttr(ew, e.folder.rules)
			if len(e.folder.entries) == 0 {
				ew.raw("/>\n") // a folder that holds only rules
				continue
			}
			ew.raw(">\n")
			writeEntries(ew, e.folder.entries, level+1, rs)
			ew.raw(indent + "</outline>\n")
			continue
		}
		f := e.feed
		title := clean(f.Title)
		text := title
		if text == "" {
			text = f.URL
		}
		ew.raw(indent + `<outline type="rss" text="`)
		ew.text(text)
		if title != "" {
			ew.raw(`" title="`)
			ew.text(title)
		}
		ew.raw(`" xmlUrl="`)
		ew.text(f.URL)
		if f.SiteURL != "" {
			ew.raw(`" htmlUrl="`)
			ew.text(f.SiteURL)
		}
		ew.raw(`"`)
		if rs != nil {
			writeRulesAttr(ew, rs.byFeed[f.ID])
		}
		ew.raw("/>\n")
	}
}

// escWriter writes markup and escaped text, keeping the first error.
type escWriter struct {
	w   io.Writer
	err error
}

func (e *escWriter) raw(s string) {
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

// text writes s escaped for both element content and double-quoted
// attribute values. xml.EscapeText also escapes tabs and newlines, so they
// survive attribute-value normalisation, and replaces characters XML
// cannot carry with U+FFFD.
func (e *escWriter) text(s string) {
	if e.err == nil {
		e.err = xml.EscapeText(e.w, []byte(s))
	}
}
