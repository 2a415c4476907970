package parse

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func parseWith(t *testing.T, opts Options, body string) (*Result, error) {
	t.Helper()
	if opts.Now == nil {
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		opts.Now = func() time.Time { return now }
	}
	return New(opts).ParseURL(context.Background(), []byte(body), "", "https://caps.example/feed")
}

// manyItems builds a document of n items in one of the formats, item i
// titled "Titolo i" with its own link.
func manyItems(format string, n int) string {
	var b strings.Builder
	switch format {
	case "rss":
		b.WriteString(`<rss version="2.0"><channel><title>Molte</title>`)
		for i := range n {
			fmt.Fprintf(&b, `<item><title>Titolo %d</title><link>https://caps.example/%d</link></item>`, i, i)
		}
		b.WriteString(`</channel></rss>`)
	case "rdf":
		b.WriteString(`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel><title>Molte</title></channel>`)
		for i := range n {
			fmt.Fprintf(&b, `<item rdf:about="https://caps.example/%d"><title>Titolo %d</title><link>https://caps.example/%d</link></item>`, i, i, i)
		}
		b.WriteString(`</rdf:RDF>`)
	case "atom":
		b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom"><title>Molte</title>`)
		for i := range n {
			fmt.Fprintf(&b, `<entry><id>urn:x:%d</id><title>Titolo %d</title><link href="https://caps.example/%d"/></entry>`, i, i, i)
		}
		b.WriteString(`</feed>`)
	case "json":
		b.WriteString(`{"version":"https://jsonfeed.org/version/1.1","items":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%d","title":"Titolo %d","url":"https://caps.example/%d"}`, i, i, i)
		}
		// A member after the items must survive the cut.
		b.WriteString(`],"title":"Molte","language":"it"}`)
	}
	return b.String()
}

// A document with far more items than MaxItems reaches gofeed cut short, so
// the cost of parsing stays bounded, and the first MaxItems items are kept
// with Truncated set.
func TestManyItemsAreCapped(t *testing.T) {
	for _, format := range []string{"rss", "rdf", "atom", "json"} {
		t.Run(format, func(t *testing.T) {
			res, err := parseWith(t, Options{MaxItems: 10}, manyItems(format, 100000))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Truncated || len(res.Items) != 10 {
				t.Fatalf("truncated %v, %d items; want true, 10", res.Truncated, len(res.Items))
			}
			for i, it := range res.Items {
				if want := fmt.Sprintf("Titolo %d", i); it.Title != want {
					t.Errorf("item %d: title %q, want %q", i, it.Title, want)
				}
			}
			if res.Title != "Molte" {
				t.Errorf("feed title %q", res.Title)
			}
		})
	}
}

// The cut keeps room for items that are dropped after parsing: repeated
// and empty items do not make a document with enough real ones come short.
func TestCapCountsKeptItems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<rss version="2.0"><channel><title>x</title>`)
	for i := range 30 {
		b.WriteString(`<item></item><item><guid>same</guid><title>uguale</title></item>`)
		fmt.Fprintf(&b, `<item><title>Titolo %d</title></item>`, i)
	}
	b.WriteString(`</channel></rss>`)
	res, err := parseWith(t, Options{MaxItems: 10}, b.String())
	if err != nil {
		t.Fatal(err)
	}
	// 20 items reach gofeed: 7 empty, 7 "same" (one kept), 6 real.
	if !res.Truncated || len(res.Items) != 7 {
		t.Fatalf("truncated %v, %d items; want true, 7", res.Truncated, len(res.Items))
	}
}

func TestBoundLeavesSmallDocumentsAlone(t *testing.T) {
	for _, format := range []string{"rss", "rdf", "atom", "json"} {
		doc := manyItems(format, 20)
		out, cut, err := bound([]byte(doc), DefaultMaxDepth, 20)
		if err != nil || cut || string(out) != doc {
			t.Errorf("%s: cut %v, err %v, changed %v", format, cut, err, string(out) != doc)
		}
		out, cut, err = bound([]byte(doc), DefaultMaxDepth, 19)
		if err != nil || !cut || len(out) >= len(doc) {
			t.Errorf("%s at 19: cut %v, err %v", format, cut, err)
		}
	}
}

func nested(prefix string, depth int) string {
	return strings.Repeat("<"+prefix+">", depth) + "x" + strings.Repeat("</"+prefix+">", depth)
}

// Deep nesting fails fast with ErrTooDeep wherever it hides from a naive
// scan; what is not markup (comments, CDATA, quoted attribute values) does
// not count, nor do tags left open in sloppy HTML.
func TestDepthCap(t *testing.T) {
	const deep = 5000
	rss := func(inner string) string {
		return `<rss version="2.0" xmlns:x="urn:x"><channel><title>t</title><item><title>a</title>` + inner + `</item></channel></rss>`
	}
	tooDeep := map[string]string{
		"extension":        rss(nested("x:a", deep)),
		"plain":            rss(nested("a", deep)),
		"atom":             `<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id>` + nested("b", deep) + `</entry></feed>`,
		"after doctype":    `<!DOCTYPE rss [<!ENTITY e "[>"> <!-- ] > -->]>` + rss(nested("a", deep)),
		"after attribute":  rss(`<a href="x>y" t='">'>` + nested("a", deep) + `</a>`),
		"after comment":    rss(`<!-- <a> -->` + nested("a", deep)),
		"unclosed at root": `<rss version="2.0"><channel>` + strings.Repeat("<a>", deep),
		"just over":        rss(nested("a", DefaultMaxDepth)),
	}
	for name, doc := range tooDeep {
		_, err := parseWith(t, Options{}, doc)
		if !errors.Is(err, ErrTooDeep) {
			t.Errorf("%s: err %v, want ErrTooDeep", name, err)
		}
	}
	fine := map[string]string{
		"in comment": rss(`<!--` + nested("a", deep) + `-->`),
		"in CDATA":   rss(`<description><![CDATA[` + nested("a", deep) + `]]></description>`),
		"in attr":    rss(`<x:a v="` + strings.Repeat("&lt;a&gt;", deep) + `"/>`),
		"escaped":    rss(`<description>` + strings.Repeat("&lt;div&gt;", deep) + `</description>`),
		"at limit":   rss(nested("a", DefaultMaxDepth-4)),
		"sloppy br":  `<rss version="2.0"><channel><title>t</title>` + strings.Repeat(`<item><title>a</title><description>uno<br>due</description></item>`, 500) + `</channel></rss>`,
	}
	for name, doc := range fine {
		if _, err := parseWith(t, Options{}, doc); errors.Is(err, ErrTooDeep) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An HTML page's void elements never close; it is still reported as
	// a page, with the feed it advertises.
	page := `<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/rss"></head><body>` +
		strings.Repeat(`<p>riga<br><img src="x.png">`, 500) + `</body></html>`
	_, err := parseWith(t, Options{}, page)
	var naf *NotAFeedError
	if !errors.As(err, &naf) || naf.Kind != KindHTML || len(naf.Alternates) != 1 {
		t.Errorf("HTML page: %v", err)
	}
}

// Fields are capped: an over-long GUID becomes its hash (the item keeps a
// stable identity the store can index), an over-long link or one with a
// scheme other than http(s) is dropped, and categories are capped in
// number and length.
func TestFieldCaps(t *testing.T) {
	longGUID := strings.Repeat("g", 100000)
	longLink := "https://caps.example/" + strings.Repeat("p", 20000)
	var cats strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&cats, "<category>cat%d %s</category>", i, strings.Repeat("c", 300))
	}
	doc := `<rss version="2.0"><channel><title>` + strings.Repeat("T", 1<<20) + `</title><link>javascript:alert(1)</link>` +
		`<item><guid>` + longGUID + `</guid><title>` + strings.Repeat("titolo ", 1<<17) + `</title><link>` + longLink + `</link>` + cats.String() + `</item>` +
		`<item><title>js</title><link>JavaScript:alert(1)</link></item>` +
		`<item><title>js2</title><link>java&#10;script:alert(1)</link></item>` +
		`<item><title>data</title><link> data:text/html,&lt;script&gt;x&lt;/script&gt;</link></item>` +
		`<item><title>rel</title><link>/a/b?c=d:e</link></item>` +
		`</channel></rss>`
	res, err := parseWith(t, Options{MaxTitle: 100}, doc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(res.Title)); n > 100 {
		t.Errorf("feed title: %d characters", n)
	}
	if res.SiteURL != "" {
		t.Errorf("site URL %q kept", res.SiteURL)
	}
	if len(res.Items) != 5 {
		t.Fatalf("%d items", len(res.Items))
	}
	it := res.Items[0]
	if !strings.HasPrefix(it.GUID, "sha256:") || it.Key != it.GUID || len(it.GUID) != 7+64 {
		t.Errorf("long GUID: guid %.80q key %.80q", it.GUID, it.Key)
	}
	if it.URL != "" || len([]rune(it.Title)) > 100 {
		t.Errorf("long link %d bytes kept; title %d characters", len(it.URL), len([]rune(it.Title)))
	}
	if len(it.Categories) != maxCategories || len([]rune(it.Categories[0])) > maxName {
		t.Errorf("%d categories, first %d characters", len(it.Categories), len([]rune(it.Categories[0])))
	}
	for _, it := range res.Items[1:4] {
		if it.URL != "" {
			t.Errorf("%s: link %q kept", it.Title, it.URL)
		}
	}
	if got := res.Items[4].URL; got != "https://caps.example/a/b?c=d:e" {
		t.Errorf("relative link resolved to %q", got)
	}
	// The same document again gives the same identities.
	res2, err := parseWith(t, Options{MaxTitle: 100}, doc)
	if err != nil || res2.Items[0].Key != it.Key {
		t.Errorf("second parse: %v, key %q", err, res2.Items[0].Key)
	}
}

func TestGunzipCap(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`<rss version="2.0"><channel><title>z</title>`))
	zw.Write(bytes.Repeat([]byte(" "), 1<<20))
	zw.Write([]byte(`<item><title>Ciao</title></item></channel></rss>`))
	zw.Close()
	if _, err := New(Options{MaxGunzip: 64 << 10}).Parse(context.Background(), buf.Bytes(), ""); err == nil || !strings.Contains(err.Error(), "inflates to more than") {
		t.Errorf("over the cap: %v", err)
	}
	res, err := New(Options{}).Parse(context.Background(), buf.Bytes(), "")
	if err != nil || len(res.Items) != 1 {
		t.Errorf("under the cap: %v", err)
	}
}

// The root name a NotAFeedError reports comes from the document and ends
// up in terminals (a feed's last error): no escape sequence survives.
func TestNotAFeedRootIsPrintable(t *testing.T) {
	_, err := New(Options{}).Parse(context.Background(), []byte("<\x1b]0;pwned\x07\u202e"+strings.Repeat("r", 100)+" a='b'>x</x>"), "")
	var naf *NotAFeedError
	if !errors.As(err, &naf) || naf.Kind != KindXML {
		t.Fatalf("err %v", err)
	}
	if strings.ContainsAny(err.Error(), "\x1b\x07\u202e") || len([]rune(naf.Root)) > 65 {
		t.Errorf("error %q", err)
	}
}
