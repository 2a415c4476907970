// Package publish writes babelfeed's items as feeds again, Atom 1.0 (RFC
// 4287) and JSON Feed 1.1, so that a feed reader can subscribe to any query
// ("only the Italian and Spanish items, minus the sport"). Each entry keeps
// its own language (Atom xml:lang, JSON Feed language), its original link,
// author and dates, and a stable id. Everything that came from a feed is
// escaped by encoding/xml or encoding/json: nothing is rendered as markup.
// It also selects the items of a query page by page (see Select).
package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"babelfeed"
	"babelfeed/store"
)

// TagAuthority is the tagging entity of the tag: URIs (RFC 4151) that
// identify published feeds and entries. Like the OPML namespace it is an
// identifier that must never change: readers recognise entries by it.
const TagAuthority = "babelfeed.example,2026"

// Entry is one item to publish, with the feed it came from.
type Entry struct {
	Item babelfeed.Item
	Feed babelfeed.Feed
}

// Meta describes a published feed.
type Meta struct {
	ID       string // tag: URI; see QueryID and SavedID
	Title    string
	Subtitle string
	SelfURL  string // this page, absolute; "" to leave out
	NextURL  string // the next (older) page; "" on the last page
}

// EntryID is the stable id of an item: a tag: URI over the address the
// feed was first subscribed at (before any redirect) and the item's key in
// it, so it survives a redirect of the feed, a rebuilt store and a changed
// item, and differs for the same story in two feeds.
func EntryID(it *babelfeed.Item, f *babelfeed.Feed) string {
	feedURL := f.URL
	if len(f.PrevURLs) > 0 {
		feedURL = f.PrevURLs[0]
	}
	if n, err := store.NormalizeURL(feedURL); err == nil {
		feedURL = n
	}
	sum := sha256.Sum256([]byte(feedURL + "\n" + it.Key))
	return "tag:" + TagAuthority + ":item:" + hex.EncodeToString(sum[:16])
}

// SavedID is the id of a saved query's feed.
func SavedID(name string) string { return "tag:" + TagAuthority + ":saved:" + name }

// QueryID is the id of an ad-hoc query's feed.
func QueryID(q string) string {
	sum := sha256.Sum256([]byte(q))
	return "tag:" + TagAuthority + ":query:" + hex.EncodeToString(sum[:12])
}

// rfc3339 formats t in UTC; published feeds need a date even when an item
// has none, so the zero time gives the Unix epoch.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format(time.RFC3339)
}

// published is an item's publication date, or when it was first seen.
func published(it *babelfeed.Item) time.Time { return store.SortTime(it) }

// updated is an item's last-change date as Atom wants it: the feed's
// updated date, else its publication date.
func updated(it *babelfeed.Item) time.Time {
	if it.Updated.After(published(it)) {
		return it.Updated
	}
	return published(it)
}

// Updated is the newest updated date of the entries: the feed's own
// updated date, and what its Last-Modified says. The zero time when there
// are no entries.
func Updated(entries []Entry) time.Time {
	var t time.Time
	for i := range entries {
		if u := updated(&entries[i].Item); u.After(t) {
			t = u
		}
	}
	return t
}

// lang is the item's language as a BCP 47 tag: "und" stays "und", a tag
// BCP 47 knows for "undetermined".
func lang(it *babelfeed.Item) string {
	if it.Lang == "" {
		return babelfeed.Undetermined
	}
	return it.Lang
}

func feedTitle(f *babelfeed.Feed) string {
	if strings.TrimSpace(f.Title) != "" {
		return f.Title
	}
	return f.URL
}

// Atom document shapes. encoding/xml escapes text and attributes and
// replaces characters XML cannot carry with U+FFFD.
type atomFeed struct {
	XMLName   xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID        string      `xml:"id"`
	Title     atomText    `xml:"title"`
	Subtitle  *atomText   `xml:"subtitle,omitempty"`
	Updated   string      `xml:"updated"`
	Author    atomPerson  `xml:"author"`
	Generator string      `xml:"generator"`
	Links     []atomLink  `xml:"link"`
	Entries   []atomEntry `xml:"entry"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel      string `xml:"rel,attr,omitempty"`
	Href     string `xml:"href,attr"`
	Type     string `xml:"type,attr,omitempty"`
	HrefLang string `xml:"hreflang,attr,omitempty"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomSource struct {
	ID    string     `xml:"id"`
	Title atomText   `xml:"title"`
	Links []atomLink `xml:"link"`
}

type atomEntry struct {
	Lang       string         `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
	ID         string         `xml:"id"`
	Title      atomText       `xml:"title"`
	Links      []atomLink     `xml:"link"`
	Published  string         `xml:"published"`
	Updated    string         `xml:"updated"`
	Author     *atomPerson    `xml:"author,omitempty"`
	Categories []atomCategory `xml:"category"`
	Summary    *atomText      `xml:"summary,omitempty"`
	Content    *atomText      `xml:"content,omitempty"`
	Source     atomSource     `xml:"source"`
}

// WriteAtom writes entries as an Atom 1.0 feed: per entry its language in
// xml:lang, its link (rel="alternate", hreflang), author, published and
// updated dates, categories, plain-text summary and content, and an
// atom:source naming the feed it came from. The feed's own author is
// "babelfeed", which entries without an author inherit. NextURL becomes a
// rel="next" link (RFC 5005 paging).
func WriteAtom(w io.Writer, m Meta, entries []Entry) error {
	doc := atomFeed{
		ID:        m.ID,
		Title:     atomText{Type: "text", Text: m.Title},
		Updated:   rfc3339(Updated(entries)),
		Author:    atomPerson{Name: "babelfeed"},
		Generator: "babelfeed",
	}
	if m.Subtitle != "" {
		doc.Subtitle = &atomText{Type: "text", Text: m.Subtitle}
	}
	if m.SelfURL != "" {
		doc.Links = append(doc.Links, atomLink{Rel: "self", Href: m.SelfURL, Type: "application/atom+xml"})
	}
	if m.NextURL != "" {
		doc.Links = append(doc.Links, atomLink{Rel: "next", Href: m.NextURL, Type: "application/atom+xml"})
	}
	for i := range entries {
		it, f := &entries[i].Item, &entries[i].Feed
		e := atomEntry{
			Lang:      lang(it),
			ID:        EntryID(it, f),
			Title:     atomText{Type: "text", Text: it.Title},
			Published: rfc3339(published(it)),
			Updated:   rfc3339(updated(it)),
			Source: atomSource{
				ID:    f.URL,
				Title: atomText{Type: "text", Text: feedTitle(f)},
				Links: []atomLink{{Rel: "self", Href: f.URL}},
			},
		}
		if it.URL != "" {
			e.Links = append(e.Links, atomLink{Rel: "alternate", Href: it.URL, Type: "text/html", HrefLang: hrefLang(it)})
		}
		if f.SiteURL != "" {
			e.Source.Links = append(e.Source.Links, atomLink{Rel: "alternate", Href: f.SiteURL, Type: "text/html"})
		}
		if it.Author != "" {
			e.Author = &atomPerson{Name: it.Author}
		}
		for _, c := range it.Categories {
			if strings.TrimSpace(c) != "" {
				e.Categories = append(e.Categories, atomCategory{Term: c})
			}
		}
		if it.Summary != "" {
			e.Summary = &atomText{Type: "text", Text: it.Summary}
		}
		if it.Content != "" {
			e.Content = &atomText{Type: "text", Text: it.Content}
		}
		doc.Entries = append(doc.Entries, e)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write Atom feed: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write Atom feed: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write Atom feed: %w", err)
	}
	return nil
}

// hrefLang is the language of the linked page, when the item's language is
// known.
func hrefLang(it *babelfeed.Item) string {
	if l := lang(it); l != babelfeed.Undetermined {
		return l
	}
	return ""
}

// JSON Feed 1.1 shapes (https://jsonfeed.org/version/1.1).
type jsonFeed struct {
	Version     string       `json:"version"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	FeedURL     string       `json:"feed_url,omitempty"`
	NextURL     string       `json:"next_url,omitempty"`
	Authors     []jsonAuthor `json:"authors"`
	Items       []jsonItem   `json:"items"`
}

type jsonAuthor struct {
	Name string `json:"name"`
}

type jsonItem struct {
	ID            string       `json:"id"`
	URL           string       `json:"url,omitempty"`
	Title         string       `json:"title"`
	ContentText   string       `json:"content_text"`
	Summary       string       `json:"summary,omitempty"`
	DatePublished string       `json:"date_published"`
	DateModified  string       `json:"date_modified"`
	Authors       []jsonAuthor `json:"authors,omitempty"`
	Tags          []string     `json:"tags,omitempty"`
	Language      string       `json:"language"`
	Babelfeed     jsonExt      `json:"_babelfeed"`
}

// jsonExt is babelfeed's extension object on each item (JSON Feed lets
// publishers add keys that start with an underscore).
type jsonExt struct {
	FeedURL        string  `json:"feed_url"`
	FeedTitle      string  `json:"feed_title"`
	LangConfidence float64 `json:"lang_confidence"`
	LangMethod     string  `json:"lang_method"`
	DuplicateOf    string  `json:"duplicate_of,omitempty"` // the original's entry id
}

// WriteJSONFeed writes entries as a JSON Feed 1.1 document: per item its
// language, link, title, plain text (content_text: the content, else the
// summary), summary, dates, author, tags, and a "_babelfeed" object with
// the source feed and the language tagger's confidence. NextURL becomes
// next_url. originals, if not nil, gives the entry id of each duplicate's
// original (see Entry.Item.DuplicateOf).
func WriteJSONFeed(w io.Writer, m Meta, entries []Entry, originals map[uint64]string) error {
	doc := jsonFeed{
		Version:     "https://jsonfeed.org/version/1.1",
		Title:       m.Title,
		Description: m.Subtitle,
		FeedURL:     m.SelfURL,
		NextURL:     m.NextURL,
		Authors:     []jsonAuthor{{Name: "babelfeed"}},
		Items:       []jsonItem{},
	}
	for i := range entries {
		it, f := &entries[i].Item, &entries[i].Feed
		text := it.Content
		if text == "" {
			text = it.Summary
		}
		ji := jsonItem{
			ID:            EntryID(it, f),
			URL:           it.URL,
			Title:         it.Title,
			ContentText:   text,
			DatePublished: rfc3339(published(it)),
			DateModified:  rfc3339(updated(it)),
			Language:      lang(it),
			Babelfeed: jsonExt{
				FeedURL: f.URL, FeedTitle: feedTitle(f),
				LangConfidence: float64(int(it.LangConfidence*1000+0.5)) / 1000,
				LangMethod:     string(it.LangMethod),
			},
		}
		if it.Content != "" && it.Summary != "" {
			ji.Summary = it.Summary
		}
		if it.Author != "" {
			ji.Authors = []jsonAuthor{{Name: it.Author}}
		}
		for _, c := range it.Categories {
			if strings.TrimSpace(c) != "" {
				ji.Tags = append(ji.Tags, c)
			}
		}
		if it.DuplicateOf != 0 && originals != nil {
			ji.Babelfeed.DuplicateOf = originals[it.DuplicateOf]
		}
		doc.Items = append(doc.Items, ji)
	}
	// The default HTML escaping of <, > and & stays on: a reader that
	// pastes a string into a page unescaped still gets no markup.
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JSON Feed: %w", err)
	}
	return nil
}
