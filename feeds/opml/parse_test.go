package opml

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) *Document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	checkInvariants(t, name, doc)
	return doc
}

func TestParseNested(t *testing.T) {
	doc := parseFile(t, "nested.opml")
	if doc.Title != "Le mie iscrizioni" || doc.Version != "2.0" {
		t.Errorf("head: title %q version %q", doc.Title, doc.Version)
	}
	want := []Outline{
		{Title: "Senza cartella", XMLURL: "https://example.org/top.xml", Line: 9},
		{Title: "Il blog di Go", XMLURL: "https://example.org/go/feed.atom", HTMLURL: "https://example.org/go/",
			Category: []string{"Tech", "Go"}, Line: 12},
		{Title: "deep.example.net:8080", XMLURL: "http://deep.example.net:8080/rss",
			Category: []string{"Tech", "Go", "Deep", "Deeper"}, Line: 16},
		{Title: "Hardware News", XMLURL: "https://example.org/hw", Category: []string{"Tech"}, Line: 20},
		{Title: "Cronaca", XMLURL: "https://example.it/cronaca/rss", Category: []string{"Notizie"}, Line: 24},
	}
	if !reflect.DeepEqual(doc.Outlines, want) {
		t.Errorf("outlines:\n got %+v\nwant %+v", doc.Outlines, want)
	}
	if len(doc.Skipped) != 0 {
		t.Errorf("skipped: %+v", doc.Skipped)
	}
}

func TestParseVersions(t *testing.T) {
	for _, tc := range []struct {
		file, version string
		urls          []string
		cat           [][]string
	}{
		{"v1.opml", "1.0", []string{"http://one.example.com/rss.xml", "http://two.example.com/atom.xml"}, [][]string{nil, nil}},
		{"v11.opml", "1.1", []string{"http://inside.example.com/feed"}, [][]string{{"Folder with a type but no URL"}}},
	} {
		doc := parseFile(t, tc.file)
		if doc.Version != tc.version {
			t.Errorf("%s: version %q, want %q", tc.file, doc.Version, tc.version)
		}
		var urls []string
		var cats [][]string
		for _, o := range doc.Outlines {
			urls = append(urls, o.XMLURL)
			cats = append(cats, o.Category)
		}
		if !reflect.DeepEqual(urls, tc.urls) || !reflect.DeepEqual(cats, tc.cat) {
			t.Errorf("%s: urls %q cats %q, want %q %q", tc.file, urls, cats, tc.urls, tc.cat)
		}
	}
}

func TestParseSkipped(t *testing.T) {
	doc := parseFile(t, "skipped.opml")
	var urls []string
	for _, o := range doc.Outlines {
		urls = append(urls, o.XMLURL)
	}
	wantURLs := []string{"https://ok.example.com/feed", "https://lower.example.com/feed", "https://upper.example.com/feed"}
	if !reflect.DeepEqual(urls, wantURLs) {
		t.Errorf("imported %q, want %q", urls, wantURLs)
	}
	if got := doc.Outlines[2].HTMLURL; got != "https://upper.example.com/" {
		t.Errorf("HTMLURL via HTMLURL attribute: %q", got)
	}
	want := []Skipped{
		{Title: "missing", Line: 6, Reason: "no xmlUrl"},
		{Title: "empty", Line: 7, Reason: "empty xmlUrl"},
		{Title: "blank", Line: 8, Reason: "empty xmlUrl"},
		{Title: "script", URL: "|~/script.py", Line: 9, Reason: "xmlUrl is not an absolute http(s) URL"},
		{Title: "Search folder", URL: "vfolder", Line: 10, Reason: "xmlUrl is not an absolute http(s) URL"},
		{Title: "Read status", Line: 11, Reason: `no xmlUrl (type="rule")`},
		{Title: "spaces in host", URL: "http://bad host.example.com/feed", Line: 13, Reason: `unparsable xmlUrl: invalid character " " in host name`},
		{Title: "no host", URL: "http:///feed.xml", Line: 14, Reason: "xmlUrl has no host"},
		{Title: "ftp", URL: "ftp://ftp.example.com/feed.xml", Line: 15, Reason: `xmlUrl scheme "ftp" is not http or https`},
		{Title: "feed scheme", URL: "feed://example.com/feed.xml", Line: 16, Reason: `xmlUrl scheme "feed" is not http or https`},
		{Title: "site only", Line: 17, Reason: "no xmlUrl (only an htmlUrl: a web site, not a feed)"},
		{Title: "a link", Line: 18, Reason: `no xmlUrl (type="link": a web page, not a feed)`},
		{Title: "another list", Line: 19, Reason: `no xmlUrl (type="include": a link to another OPML file, not followed)`},
		{Title: "Empty folder", Line: 20, Reason: "no xmlUrl"},
		{Title: "again", URL: "HTTPS://OK.example.com:443/feed#frag", Line: 21, Reason: "duplicate of line 5"},
	}
	if !reflect.DeepEqual(doc.Skipped, want) {
		t.Errorf("skipped:")
		for i := range max(len(want), len(doc.Skipped)) {
			var g, w Skipped
			if i < len(doc.Skipped) {
				g = doc.Skipped[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("  [%d]\n   got %+v\n  want %+v", i, g, w)
			}
		}
	}
}

func TestParseCategoryAttribute(t *testing.T) {
	doc := parseFile(t, "category-attr.opml")
	want := map[string][]string{
		"http://a.example.com/": {"Tech", "Go"},
		"http://b.example.com/": {"news"},
		"http://c.example.com/": {"root2", "node 2"},
		"http://d.example.com/": nil,
		"http://e.example.com/": {"Folder"},
	}
	if len(doc.Outlines) != len(want) {
		t.Fatalf("%d outlines, want %d", len(doc.Outlines), len(want))
	}
	for _, o := range doc.Outlines {
		if !reflect.DeepEqual(o.Category, want[o.XMLURL]) {
			t.Errorf("%s: category %q, want %q", o.XMLURL, o.Category, want[o.XMLURL])
		}
	}
}

func TestParseEntities(t *testing.T) {
	doc := parseFile(t, "entities.opml")
	if doc.Title != "Café & té" {
		t.Errorf("title %q", doc.Title)
	}
	want := []struct{ title, url string }{
		{"Archæology Today", "http://example.com/feed?a=1&b=2"},
		{"Gossip & more", "http://example.com/feed?a=1&b=2&c"},
		{"Numeric é é", "http://example.com/x"},
	}
	if len(doc.Outlines) != len(want) {
		t.Fatalf("outlines %+v", doc.Outlines)
	}
	for i, w := range want {
		if o := doc.Outlines[i]; o.Title != w.title || o.XMLURL != w.url {
			t.Errorf("[%d] got %q %q, want %q %q", i, o.Title, o.XMLURL, w.title, w.url)
		}
	}
}

func TestParseUnicode(t *testing.T) {
	doc := parseFile(t, "unicode.opml")
	want := []Outline{
		{Title: "Perché è così", XMLURL: "https://notizie.example.it/rss?città=Forlì", Category: []string{"Notizie dall'Italia 🇮🇹"}, Line: 6},
		{Title: "ニュース速報", XMLURL: "https://例え.jp/フィード.xml", Category: []string{"日本語"}, Line: 9},
		{Title: "עברית", XMLURL: "https://he.example.com/rss", Line: 11},
	}
	if doc.Title != "Lingue 🌍" || !reflect.DeepEqual(doc.Outlines, want) {
		t.Errorf("got %q %+v", doc.Title, doc.Outlines)
	}
}

func TestParseDuplicates(t *testing.T) {
	doc := parseFile(t, "duplicates.opml")
	if len(doc.Outlines) != 2 || doc.Outlines[0].Title != "first" || !reflect.DeepEqual(doc.Outlines[0].Category, []string{"A"}) ||
		doc.Outlines[1].XMLURL != "https://dup.example.com/feed?page=2" {
		t.Errorf("outlines %+v", doc.Outlines)
	}
	want := []Skipped{
		{Title: "second", URL: "https://dup.example.com/feed", Line: 9, Reason: "duplicate of line 6"},
		{Title: "third", URL: "HTTPS://Dup.Example.com/feed", Line: 10, Reason: "duplicate of line 6"},
	}
	if !reflect.DeepEqual(doc.Skipped, want) {
		t.Errorf("skipped %+v", doc.Skipped)
	}
}

func TestParseFeedWithChildren(t *testing.T) {
	doc := parseFile(t, "feed-with-children.opml")
	want := []Outline{
		{Title: "Parent feed", XMLURL: "https://parent.example.com/feed", Category: []string{"Folder"}, Line: 6},
		{Title: "Child feed", XMLURL: "https://child.example.com/feed", Category: []string{"Folder"}, Line: 7},
	}
	if !reflect.DeepEqual(doc.Outlines, want) {
		t.Errorf("got %+v", doc.Outlines)
	}
}

func TestParseNamespaced(t *testing.T) {
	doc := parseFile(t, "namespaced.opml")
	want := []Outline{{Title: "Feed", XMLURL: "https://right.example.com/feed", Category: []string{"Cartella"}, Line: 6}}
	if !reflect.DeepEqual(doc.Outlines, want) || len(doc.Skipped) != 0 {
		t.Errorf("got %+v skipped %+v", doc.Outlines, doc.Skipped)
	}
}

func TestParseEncodings(t *testing.T) {
	it := []Outline{{Title: "Caffè e più", XMLURL: "https://caffe.example.it/feed?q=perché", Category: []string{"Attualità"}, Line: 6}}
	for _, tc := range []struct {
		file, title string
		want        []Outline
	}{
		{"latin1.opml", "Città", it},
		{"cp1252-undeclared.opml", "Città – “quote”", it},
		{"utf8-bom.opml", "Città", it},
		{"utf16le-bom.opml", "Città", it},
		{"utf16be-bom.opml", "Città", it},
		{"koi8r.opml", "Ленты", []Outline{{Title: "Главное", XMLURL: "https://ru.example.com/rss", Category: []string{"Новости"}, Line: 6}}},
		{"shift_jis.opml", "購読", []Outline{{Title: "速報", XMLURL: "https://ja.example.com/rss", Category: []string{"ニュース"}, Line: 6}}},
	} {
		doc := parseFile(t, filepath.Join("encoding", tc.file))
		if doc.Title != tc.title || !reflect.DeepEqual(doc.Outlines, tc.want) {
			t.Errorf("%s: got %q %+v, want %q %+v", tc.file, doc.Title, doc.Outlines, tc.title, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // substrings of the error
	}{
		{"unclosed.opml", []string{"not well-formed XML", "line 7", "unexpected EOF"}},
		{"mismatched.opml", []string{"not well-formed XML", "line 7", "closed by </body>"}},
		{"not-opml.xml", []string{"line 2", "root element is <rss>, not <opml>"}},
		{"html-page.opml", []string{"line 2", "root element is <html>"}},
		{"no-body.opml", []string{"<opml> at line 2 has no <body>"}},
		{"empty.opml", []string{"no <opml> root element"}},
		{"prolog-only.opml", []string{"no <opml> root element"}},
		{"undefined-entity.opml", []string{"line 5", "invalid character entity &bogusentity;", "escape the & as &amp;"}},
		{"concatenated.opml", []string{"line 6", "only one root element"}},
		{"quote-in-attr.opml", []string{"line 6", `unescaped " inside an attribute value`}},
		{"lt-in-attr.opml", []string{"line 6", `"<" must be written &lt;`}},
		{"text-before-root.opml", []string{"line 1", "text before the root element"}},
		{"unsupported-encoding.opml", []string{`unsupported encoding "x-no-such-charset"`}},
		{"bad-utf8-declared.opml", []string{"line 3", "invalid UTF-8", "declared encoding"}},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "malformed", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(bytes.NewReader(data))
		if err == nil || doc != nil {
			t.Errorf("%s: got doc %v, err %v; want only an error", tc.file, doc, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "parse OPML: ") {
			t.Errorf("%s: error %q lacks the parse OPML prefix", tc.file, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not contain %q", tc.file, msg, w)
			}
		}
	}
}

func TestParseDepthLimit(t *testing.T) {
	build := func(folders int) string {
		var b strings.Builder
		b.WriteString("<opml version=\"2.0\"><body>\n")
		for i := range folders {
			b.WriteString("<outline text=\"f" + string(rune('a'+i%26)) + "\">\n")
		}
		b.WriteString("<outline text=\"leaf\" xmlUrl=\"https://deep.example.com/\"/>\n")
		b.WriteString(strings.Repeat("</outline>", folders))
		b.WriteString("</body></opml>")
		return b.String()
	}
	// opml + body + 61 folders + the feed = 64 levels: accepted.
	doc, err := Parse(strings.NewReader(build(MaxDepth - 3)))
	if err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if got := len(doc.Outlines[0].Category); got != MaxCategoryDepth {
		t.Errorf("category depth %d, want %d", got, MaxCategoryDepth)
	}
	checkInvariants(t, "deep", doc)
	_, err = Parse(strings.NewReader(build(MaxDepth - 2)))
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 64 levels") || !strings.Contains(err.Error(), "line 64") {
		t.Errorf("depth %d: err %v", MaxDepth+1, err)
	}
}

func TestParseCategoryAttributeCapped(t *testing.T) {
	in := `<opml><body><outline xmlUrl="https://x.example.com/" category="` + strings.Repeat("/a", 100) + `"/></body></opml>`
	doc, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(doc.Outlines[0].Category); got != MaxCategoryDepth {
		t.Errorf("category depth %d, want %d", got, MaxCategoryDepth)
	}
	checkInvariants(t, "category cap", doc)
}

// repeatReader yields n copies of b without holding them in memory.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = r.b
	}
	r.n -= int64(len(p))
	return len(p), nil
}

func TestParseSizeLimit(t *testing.T) {
	head := "<opml><body>"
	in := io.MultiReader(strings.NewReader(head), &repeatReader{' ', MaxSize - int64(len(head)) + 1})
	_, err := Parse(in)
	if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("err %v, want size error", err)
	}
	// Exactly MaxSize is still read.
	tail := "</body></opml>"
	in = io.MultiReader(strings.NewReader(head), &repeatReader{' ', MaxSize - int64(len(head)+len(tail))}, strings.NewReader(tail))
	if _, err := Parse(in); err != nil {
		t.Errorf("MaxSize input: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	_, err := Parse(failingReader{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("err %v", err)
	}
}

func TestFixAmpersands(t *testing.T) {
	for in, want := range map[string]string{
		"a & b":                        "a &amp; b",
		"&amp; &lt; &#233; &#xE9;":     "&amp; &lt; &#233; &#xE9;",
		"?a=1&b=2":                     "?a=1&amp;b=2",
		"&nbsp;&bogus;":                "&nbsp;&bogus;",
		"&#; &#x; &#12a; &;":           "&amp;#; &amp;#x; &amp;#12a; &amp;;",
		"<!-- & --> &":                 "<!-- & --> &amp;",
		"<![CDATA[ & ]]>&":             "<![CDATA[ & ]]>&amp;",
		"<?pi & ?>&":                   "<?pi & ?>&amp;",
		"<!-- unterminated & ":         "<!-- unterminated & ",
		"&":                            "&amp;",
		"&été;":                        "&été;",
		"no ampersand <b>here</b>":     "no ampersand <b>here</b>",
		"& " + strings.Repeat("x", 70): "&amp; " + strings.Repeat("x", 70),
	} {
		if got := string(fixAmpersands([]byte(in))); got != want {
			t.Errorf("fixAmpersands(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTitleFallback(t *testing.T) {
	in := `<opml><body>
<outline xmlUrl="https://host.example.com:8443/feed"/>
<outline text=" " title="" xmlUrl="http://%C2%A0/feed"/>
</body></opml>`
	doc, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, "fallback", doc)
	if len(doc.Outlines) != 2 || doc.Outlines[0].Title != "host.example.com:8443" || doc.Outlines[1].Title != "http://%C2%A0/feed" {
		t.Errorf("outlines %+v", doc.Outlines)
	}
}

// TestRepoDefaultList parses the project's own default subscription list,
// which must import whole: no skipped outline.
func TestRepoDefaultList(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "feeds.opml"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("feeds.opml not found at the repository root")
	}
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, "feeds.opml", doc)
	if len(doc.Outlines) == 0 || len(doc.Skipped) != 0 {
		t.Errorf("%d outlines, skipped %+v", len(doc.Outlines), doc.Skipped)
	}
	t.Logf("feeds.opml: %d feeds", len(doc.Outlines))
}
