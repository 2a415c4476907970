package parse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes and content types to Parse: it must not
// panic, and whatever it returns must keep the item invariants.
func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "text/xml; charset=windows-1251")
	}
	f.Add([]byte(latin1Feed), "application/rss+xml")
	f.Add([]byte(`<rss version="2.0"><channel><item><title>&amp;lt;p&amp;gt;x</title><guid>a</guid></item><item><guid>a</guid></item></channel></rss>`), "")
	f.Add([]byte("\xff\xfe<\x00?\x00x\x00m\x00l\x00"), "")
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","date_published":"2999-01-01T00:00:00Z","title":"x"}]}`), "")
	f.Add([]byte("<html><link rel=alternate type=application/rss+xml href=/f></html>"), "text/html")

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := New(Options{Now: func() time.Time { return now }, MaxItems: 50})
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		res, err := p.ParseURL(context.Background(), body, contentType, "https://fuzz.example/feed")
		if err != nil {
			if res != nil {
				t.Fatalf("result with error %v", err)
			}
			return
		}
		if len(res.Items) > 50 {
			t.Fatalf("%d items, MaxItems 50", len(res.Items))
		}
		checkFuzzInvariants(t, res, now)
	})
}

// checkFuzzInvariants is checkInvariants without the markup checks, which
// hold for real feeds but not for arbitrary bytes (a text may well read
// "&lt;" after two decodings of "&amp;amp;lt;").
func checkFuzzInvariants(t *testing.T, res *Result, now time.Time) {
	keys := map[string]bool{}
	for i, it := range res.Items {
		where := fmt.Sprintf("item %d", i)
		for _, s := range []string{it.Title, it.Summary, it.Content, it.Author} {
			if !validUTF8(s) {
				t.Fatalf("%s: invalid UTF-8 %q", where, s)
			}
		}
		if strings.Contains(it.Title, "\n") {
			t.Fatalf("%s: line break in title %q", where, it.Title)
		}
		if it.Key == "" || keys[it.Key] {
			t.Fatalf("%s: empty or duplicate key %q", where, it.Key)
		}
		keys[it.Key] = true
		if it.Published.IsZero() || it.Published.After(now.Add(futureSlack)) {
			t.Fatalf("%s: published %v", where, it.Published)
		}
		if !it.Updated.IsZero() && it.Updated.After(now.Add(futureSlack)) {
			t.Fatalf("%s: updated %v", where, it.Updated)
		}
		if it.Title == "" && it.Summary == "" && it.URL == "" {
			t.Fatalf("%s: empty item kept", where)
		}
	}
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// BenchmarkParse parses a realistic Italian news feed of 50 items with
// HTML descriptions and content, and reports items per second.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Notizie</title><link>https://notizie.example.it/</link><language>it</language>`)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&sb, `<item><title>Il consiglio comunale approva il bilancio n. %d: pi&amp;ugrave; fondi per scuole e trasporti</title>`+
			`<link>https://notizie.example.it/articolo/%d</link><guid isPermaLink="true">https://notizie.example.it/articolo/%d</guid>`+
			`<pubDate>Sat, 28 Feb 2026 %02d:%02d:00 +0100</pubDate><dc:creator>Redazione</dc:creator><category>Politica</category>`+
			`<description><![CDATA[<p>Dopo una lunga discussione il consiglio ha approvato il documento con ventidue voti favorevoli.</p>]]></description>`+
			`<content:encoded><![CDATA[%s]]></content:encoded></item>`, i, i, i, i%24, i%60,
			strings.Repeat(`<p>La seduta è durata fino a tarda sera. L'assessore al bilancio ha illustrato le novità: <strong>più risorse</strong> per la manutenzione delle scuole, nuove corse degli autobus e un fondo per le associazioni di quartiere. <a href="/x">Leggi anche</a></p>`, 6))
	}
	sb.WriteString(`</channel></rss>`)
	body := []byte(sb.String())
	p := New(Options{})
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	items := 0
	for b.Loop() {
		res, err := p.Parse(ctx, body, "application/rss+xml")
		if err != nil {
			b.Fatal(err)
		}
		items += len(res.Items)
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}
