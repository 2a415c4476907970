package opml

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"babelfeed"
)

func roundTripFeeds() []babelfeed.Feed {
	return []babelfeed.Feed{
		{URL: "https://www.ansa.it/sito/ansait_rss.xml", Title: "ANSA.it", SiteURL: "https://www.ansa.it/", Category: []string{"Italiano", "Notizie"}},
		{URL: "https://example.com/search?q=go&lang=it&sort=new", Title: `Tom & Jerry's <"quoted"> feed`, Category: []string{"Tech", "Go"}},
		{URL: "https://blog.example.jp/フィード?tag=日本&page=1", Title: "日本語のブログ 🗾", Category: []string{"日本語", "技術"}},
		{URL: "https://example.org/top", Title: "No folder"},
		{URL: "https://example.it/perche", Title: "Perché sì — davvero 🎉", Category: []string{"Italiano", "Notizie"}},
		{URL: "https://example.com/go-weekly", Title: "Go Weekly", Category: []string{"Tech"}},
		{URL: "https://example.com/untitled"},
		{URL: "https://example.com/ws", Title: "tab\tand\nnewline", Category: []string{" Tech ", "", "Go"}},
		{URL: "https://example.com/amp", Title: "A &amp; B &nbsp; literal", Category: []string{"R&D <lab>", "a/b"}},
	}
}

func TestWriteRoundTrip(t *testing.T) {
	feeds := roundTripFeeds()
	var buf bytes.Buffer
	if err := Write(&buf, "Le mie iscrizioni 🇮🇹 & altro", feeds); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	doc, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("Parse(Write): %v\n%s", err, out)
	}
	if doc.Title != "Le mie iscrizioni 🇮🇹 & altro" || doc.Version != "2.0" || len(doc.Skipped) != 0 {
		t.Errorf("head %q %q, skipped %+v", doc.Title, doc.Version, doc.Skipped)
	}
	type got struct {
		title, site string
		cat         []string
	}
	want := map[string]got{
		"https://www.ansa.it/sito/ansait_rss.xml":          {"ANSA.it", "https://www.ansa.it/", []string{"Italiano", "Notizie"}},
		"https://example.com/search?q=go&lang=it&sort=new": {`Tom & Jerry's <"quoted"> feed`, "", []string{"Tech", "Go"}},
		"https://blog.example.jp/フィード?tag=日本&page=1":       {"日本語のブログ 🗾", "", []string{"日本語", "技術"}},
		"https://example.org/top":                          {"No folder", "", nil},
		"https://example.it/perche":                        {"Perché sì — davvero 🎉", "", []string{"Italiano", "Notizie"}},
		"https://example.com/go-weekly":                    {"Go Weekly", "", []string{"Tech"}},
		"https://example.com/untitled":                     {"https://example.com/untitled", "", nil},
		"https://example.com/ws":                           {"tab and newline", "", []string{"Tech", "Go"}},
		"https://example.com/amp":                          {"A &amp; B &nbsp; literal", "", []string{"R&D <lab>", "a/b"}},
	}
	if len(doc.Outlines) != len(want) {
		t.Fatalf("%d outlines, want %d\n%s", len(doc.Outlines), len(want), out)
	}
	for _, o := range doc.Outlines {
		w, ok := want[o.XMLURL]
		if !ok {
			t.Errorf("unexpected URL %q", o.XMLURL)
			continue
		}
		if o.Title != w.title || o.HTMLURL != w.site || !reflect.DeepEqual(o.Category, w.cat) {
			t.Errorf("%s: got %q %q %q, want %q %q %q", o.XMLURL, o.Title, o.HTMLURL, o.Category, w.title, w.site, w.cat)
		}
	}
	// Feeds in the same category share one folder, at every level.
	for _, folder := range []string{`<outline text="Tech" title="Tech">`, `<outline text="Go" title="Go">`,
		`<outline text="Italiano" title="Italiano">`, `<outline text="Notizie" title="Notizie">`} {
		if n := strings.Count(out, folder); n != 1 {
			t.Errorf("%s written %d times, want once\n%s", folder, n, out)
		}
	}
	// And the round trip settles: writing what was parsed, parsing and
	// writing again gives the same document (apart from the date).
	second := rewrite(t, doc)
	doc2, err := Parse(strings.NewReader(second))
	if err != nil {
		t.Fatal(err)
	}
	if third := rewrite(t, doc2); stripDate(third) != stripDate(second) {
		t.Errorf("third write differs:\n%s\n---\n%s", second, third)
	}
}

func rewrite(t *testing.T, doc *Document) string {
	t.Helper()
	var feeds []babelfeed.Feed
	for _, o := range doc.Outlines {
		feeds = append(feeds, o.Feed())
	}
	var buf bytes.Buffer
	if err := Write(&buf, doc.Title, feeds); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func stripDate(s string) string {
	i := strings.Index(s, "<dateCreated>")
	j := strings.Index(s, "</dateCreated>")
	if i < 0 || j < i {
		return s
	}
	return s[:i] + s[j:]
}

func TestWriteFormat(t *testing.T) {
	var buf bytes.Buffer
	feeds := []babelfeed.Feed{
		{URL: "https://a.example.com/feed", Title: "A", SiteURL: "https://a.example.com/", Category: []string{"Tech"}},
		{URL: "https://b.example.com/feed", Title: "B"},
	}
	before := time.Now().UTC().Truncate(time.Second)
	if err := Write(&buf, "T", feeds); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`<opml version="2.0">`,
		"<title>T</title>",
		`    <outline text="Tech" title="Tech">` + "\n" +
			`      <outline type="rss" text="A" title="A" xmlUrl="https://a.example.com/feed" htmlUrl="https://a.example.com/"/>` + "\n" +
			"    </outline>\n",
		`    <outline type="rss" text="B" title="B" xmlUrl="https://b.example.com/feed"/>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	i, j := strings.Index(out, "<dateCreated>"), strings.Index(out, "</dateCreated>")
	created, err := time.Parse(time.RFC1123, out[i+len("<dateCreated>"):j])
	if err != nil || created.Before(before) || !strings.HasSuffix(out[:j], " GMT") {
		t.Errorf("dateCreated %q: %v", out[i:j], err)
	}
}

func TestWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "", nil); err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(&buf)
	if err != nil || len(doc.Outlines) != 0 || len(doc.Skipped) != 0 {
		t.Errorf("doc %+v err %v", doc, err)
	}
}

func TestWriteTooDeep(t *testing.T) {
	cat := make([]string, MaxCategoryDepth+1)
	for i := range cat {
		cat[i] = "c"
	}
	err := Write(&bytes.Buffer{}, "", []babelfeed.Feed{{URL: "https://x.example.com/", Category: cat}})
	if err == nil || !strings.Contains(err.Error(), "deeper than 61 levels") {
		t.Errorf("err %v", err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, "", []babelfeed.Feed{{URL: "https://x.example.com/", Category: cat[1:]}}); err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(&buf)
	if err != nil || len(doc.Outlines) != 1 || len(doc.Outlines[0].Category) != MaxCategoryDepth {
		t.Errorf("deepest allowed path: %v", err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	var feeds []babelfeed.Feed
	for range 1000 {
		feeds = append(feeds, babelfeed.Feed{URL: "https://x.example.com/feed", Title: strings.Repeat("x", 100)})
	}
	err := Write(&failWriter{n: 10000}, "t", feeds)
	if err == nil || !strings.Contains(err.Error(), "write OPML: disk full") {
		t.Errorf("err %v", err)
	}
}

func TestOutlineFeed(t *testing.T) {
	o := Outline{Title: "T", XMLURL: "https://x/", HTMLURL: "https://y/", Category: []string{"a", "b"}, Line: 3}
	f := o.Feed()
	if f.URL != o.XMLURL || f.Title != o.Title || f.SiteURL != o.HTMLURL || f.CategoryPath() != "a/b" {
		t.Errorf("Feed() = %+v", f)
	}
	f.Category[0] = "changed"
	if o.Category[0] != "a" {
		t.Error("Feed shares the Category slice with the Outline")
	}
}
