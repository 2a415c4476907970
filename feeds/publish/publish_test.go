package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/feeds/parse"
	"babelfeed/internal/feedcheck"
)

var t0 = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

var (
	srcIT = babelfeed.Feed{ID: 1, URL: "https://notizie.example.it/rss", Title: "Notizie & Commenti", SiteURL: "https://notizie.example.it/"}
	srcES = babelfeed.Feed{ID: 2, URL: "https://noticias.example.es/feed", Title: "", PrevURLs: []string{"http://old.example.es/feed"}}
)

// sampleEntries are items in four languages, with ordinary text and with
// the characters that break careless writers.
func sampleEntries() []Entry {
	return []Entry{
		{Feed: srcIT, Item: babelfeed.Item{ID: 10, FeedID: 1, Key: "https://notizie.example.it/piazza", URL: "https://notizie.example.it/piazza?a=1&b=2",
			Title: "Il sindaco inaugura la piazza \"del mercato\" & il parcheggio", Summary: "I commercianti della città aspettavano da dieci anni questo momento.",
			Author: "Redazione Città", Categories: []string{"Cronaca", "Città"}, Published: t0, Updated: t0.Add(time.Hour), FirstSeen: t0.Add(2 * time.Hour),
			Lang: "it", LangConfidence: 0.98765, LangMethod: babelfeed.LangDetected}},
		{Feed: srcES, Item: babelfeed.Item{ID: 11, FeedID: 2, Key: "es-1", URL: "https://noticias.example.es/ciencia/planeta",
			Title: "Descubren un planeta con dos soles", Summary: "El telescopio observó la órbita durante tres años.",
			Content:   "El telescopio observó la órbita durante tres años. Los astrónomos de la universidad publicaron los resultados ayer.",
			Published: t0.Add(-time.Hour), FirstSeen: t0, Lang: "es", LangConfidence: 0.9, LangMethod: babelfeed.LangPrior}},
		{Feed: srcIT, Item: babelfeed.Item{ID: 12, FeedID: 1, Key: "de-1", URL: "https://notizie.example.it/de",
			Title: "Der Stadtrat beschließt neue Radwege", Summary: "Die Straßen der Altstadt werden ab März für Autos gesperrt.",
			Published: t0.Add(-2 * time.Hour), FirstSeen: t0, Lang: "de", LangConfidence: 0.99, LangMethod: babelfeed.LangDetected}},
		{Feed: srcES, Item: babelfeed.Item{ID: 13, FeedID: 2, Key: "hostile", URL: "https://noticias.example.es/x?q=<script>",
			Title: "<script>alert('x')</script> ]]> &amp; \x01\x0b bell \uFFFE end", Summary: "<b>not bold</b> &lt;escaped&gt; \"quotes\" 'single' \u202Eright-to-left",
			Author: "<img src=x onerror=alert(1)>", Categories: []string{"<tag>", "a&b"},
			Published: t0.Add(-3 * time.Hour), FirstSeen: t0, Lang: "und", LangMethod: babelfeed.LangUndetermined}},
		{Feed: srcIT, Item: babelfeed.Item{ID: 14, FeedID: 1, Key: "en-1", URL: "",
			Title: "", Summary: "An item with no title and no link, in English, as some feeds have.",
			Published: time.Time{}, FirstSeen: t0.Add(-4 * time.Hour), Lang: "en", LangConfidence: 0.7, LangMethod: babelfeed.LangDetected}},
	}
}

func atomDoc(t *testing.T, entries []Entry, m Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteAtom(&buf, m, entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAtomReadByFeedparser(t *testing.T) {
	entries := sampleEntries()
	m := Meta{ID: SavedID("test"), Title: "Italian & <Spanish>", SelfURL: "http://127.0.0.1/feeds/test.atom", NextURL: "http://127.0.0.1/feeds/test.atom?cursor=abc&limit=5"}
	doc := atomDoc(t, entries, m)
	feedcheck.XMLLint(t, doc)
	got := feedcheck.Feedparser(t, doc)
	if got.Bozo {
		t.Fatalf("feedparser: bozo: %s\n%s", got.BozoText, doc)
	}
	if got.Version != "atom10" || got.Title != m.Title || got.Next != m.NextURL {
		t.Errorf("feed: version %q title %q next %q", got.Version, got.Title, got.Next)
	}
	if len(got.Entries) != len(entries) {
		t.Fatalf("%d entries, want %d", len(got.Entries), len(entries))
	}
	ids := map[string]bool{}
	for i, e := range got.Entries {
		it, f := entries[i].Item, entries[i].Feed
		if e.Lang != it.Lang {
			t.Errorf("entry %d: language %q, want %q", i, e.Lang, it.Lang)
		}
		if e.ID != EntryID(&it, &f) || ids[e.ID] || !strings.HasPrefix(e.ID, "tag:") {
			t.Errorf("entry %d: id %q", i, e.ID)
		}
		ids[e.ID] = true
		if it.URL != "" && e.Link != it.URL {
			t.Errorf("entry %d: link %q, want %q", i, e.Link, it.URL)
		}
		if want := published(&it).UTC().Format(time.RFC3339); e.Published != want {
			t.Errorf("entry %d: published %q, want %q", i, e.Published, want)
		}
		if wantSrc := feedTitle(&f); e.Source != wantSrc {
			t.Errorf("entry %d: source %q, want %q", i, e.Source, wantSrc)
		}
	}
	// Ordinary text comes back exactly.
	if e := got.Entries[0]; e.Title != entries[0].Item.Title || e.Author != "Redazione Città" || e.Summary != entries[0].Item.Summary || e.Updated != "2026-11-20T10:30:00Z" {
		t.Errorf("entry 0: %+v", e)
	}
	if e := got.Entries[1]; e.Content != entries[1].Item.Content || e.Summary != entries[1].Item.Summary {
		t.Errorf("entry 1 (summary and content): %+v", e)
	}
	// Hostile text is text: the markup comes back as characters, never as
	// elements, and characters XML cannot carry became U+FFFD.
	h := got.Entries[3]
	if !strings.Contains(h.Title, "<script>alert('x')</script> ]]> &amp;") || !strings.Contains(h.Title, "\uFFFD") {
		t.Errorf("hostile title: %q", h.Title)
	}
	if !strings.Contains(h.Summary, "<b>not bold</b>") || h.Author != "<img src=x onerror=alert(1)>" {
		t.Errorf("hostile summary/author: %q / %q", h.Summary, h.Author)
	}
	if bytes.Contains(doc, []byte("<script>")) || bytes.Contains(doc, []byte("<b>")) || bytes.Contains(doc, []byte("\x01")) {
		t.Errorf("unescaped feed text in the document:\n%s", doc)
	}
}

func TestJSONFeedReadByPython(t *testing.T) {
	entries := sampleEntries()
	var buf bytes.Buffer
	m := Meta{ID: QueryID("lang:it"), Title: "q", SelfURL: "http://h/feed.json?q=x", NextURL: "http://h/feed.json?q=x&cursor=c"}
	entries[2].Item.DuplicateOf = 10
	if err := WriteJSONFeed(&buf, m, entries, map[uint64]string{10: "tag:orig"}); err != nil {
		t.Fatal(err)
	}
	doc := buf.Bytes()
	got := feedcheck.CheckJSONFeed(t, doc)
	if got.Next != m.NextURL || len(got.Items) != len(entries) {
		t.Fatalf("next %q, %d items", got.Next, len(got.Items))
	}
	for i, it := range got.Items {
		want := entries[i].Item
		if it.Language != want.Lang || it.Title != want.Title || it.URL != want.URL || it.ID != EntryID(&want, &entries[i].Feed) {
			t.Errorf("item %d: %+v, want lang %q title %q", i, it, want.Lang, want.Title)
		}
	}
	if got.Items[1].Text != entries[1].Item.Content || got.Items[0].Text != entries[0].Item.Summary {
		t.Errorf("content_text: %q / %q", got.Items[0].Text, got.Items[1].Text)
	}
	// Markup characters are escaped in the bytes too.
	if bytes.Contains(doc, []byte("<script>")) {
		t.Errorf("unescaped < in the JSON")
	}
	var raw struct {
		Items []struct {
			Ext jsonExt `json:"_babelfeed"`
		} `json:"items"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	if x := raw.Items[2].Ext; x.DuplicateOf != "tag:orig" || raw.Items[0].Ext.LangConfidence != 0.988 || raw.Items[0].Ext.FeedTitle != srcIT.Title {
		t.Errorf("extension: %+v / %+v", raw.Items[0].Ext, x)
	}
}

func TestEmptyFeedsAreValid(t *testing.T) {
	doc := atomDoc(t, nil, Meta{ID: SavedID("empty"), Title: "nothing yet"})
	feedcheck.XMLLint(t, doc)
	if got := feedcheck.Feedparser(t, doc); got.Bozo || len(got.Entries) != 0 {
		t.Errorf("empty Atom: %+v", got)
	}
	var buf bytes.Buffer
	if err := WriteJSONFeed(&buf, Meta{Title: "nothing"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"items": []`) {
		t.Errorf("empty JSON Feed must still have an items array:\n%s", buf.String())
	}
	feedcheck.CheckJSONFeed(t, buf.Bytes())
}

// TestBabelfeedReadsItsOwnFeeds parses the published documents with
// babelfeed's own parser (gofeed underneath): the same items come back.
func TestBabelfeedReadsItsOwnFeeds(t *testing.T) {
	entries := sampleEntries()[:3] // ordinary text: the parser turns "<...>" in text into nothing, as it should for HTML
	p := parse.New(parse.Options{Now: func() time.Time { return t0.Add(24 * time.Hour) }})
	var js bytes.Buffer
	if err := WriteJSONFeed(&js, Meta{Title: "t"}, entries, nil); err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{
		"atom": atomDoc(t, entries, Meta{ID: SavedID("x"), Title: "t"}),
		"json": js.Bytes(),
	} {
		res, err := p.Parse(context.Background(), doc, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Items) != len(entries) {
			t.Fatalf("%s: %d items, want %d", name, len(res.Items), len(entries))
		}
		for i, got := range res.Items {
			want := entries[i].Item
			if got.Title != want.Title || got.URL != want.URL || !got.Published.Equal(want.Published) {
				t.Errorf("%s item %d: %q %q %v, want %q %q %v", name, i, got.Title, got.URL, got.Published, want.Title, want.URL, want.Published)
			}
			if got.GUID != EntryID(&want, &entries[i].Feed) {
				t.Errorf("%s item %d: guid %q", name, i, got.GUID)
			}
			text := got.Summary + " " + got.Content
			if !strings.Contains(text, want.Summary) {
				t.Errorf("%s item %d: text %q lacks %q", name, i, text, want.Summary)
			}
		}
	}
}

func TestEntryIDStable(t *testing.T) {
	it := babelfeed.Item{Key: "k"}
	a := EntryID(&it, &babelfeed.Feed{URL: "https://A.example/rss"})
	b := EntryID(&it, &babelfeed.Feed{URL: "https://b.example/new", PrevURLs: []string{"https://a.example:443/rss"}})
	c := EntryID(&it, &babelfeed.Feed{URL: "https://c.example/rss"})
	if a != b {
		t.Errorf("a redirected feed changed the id: %s vs %s", a, b)
	}
	if a == c {
		t.Error("the same key in two feeds gave one id")
	}
	// The ids are valid in XML and as JSON strings.
	if err := xml.Unmarshal([]byte("<id>"+a+"</id>"), new(string)); err != nil {
		t.Error(err)
	}
}
