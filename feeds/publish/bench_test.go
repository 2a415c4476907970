package publish

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/filter/search"
	"babelfeed/store"
)

// BenchmarkPublishPage builds a store of 20,000 items in six languages
// over 50 feeds (a tenth of them copies of another feed's story) and
// measures one page of 50 entries of a saved query, selected and written
// as Atom, as the server answers a feed reader: a language query, which
// the language index serves; the same minus a word; a rare word. The store
// keeps the keyword index (filter/search) as the daemon's does.
func BenchmarkPublishPage(b *testing.B) {
	s, err := store.Open(filepath.Join(b.TempDir(), "b.db"), store.Options{NoSync: true, Indexer: search.Indexer()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	langs := []string{"it", "es", "de", "fr", "en", "pt"}
	words := strings.Fields("consiglio comunale piano centro città scuola treno mercato biblioteca ponte strada partita governo legge porto museo teatro")
	var feeds []babelfeed.Feed
	for i := range 50 {
		feeds = append(feeds, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i), Title: fmt.Sprintf("Feed %d", i)})
	}
	feeds, _, err = s.AddFeeds(feeds, false)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sentence := func() string {
		w := make([]string, 12+r.IntN(20))
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ") + "."
	}
	for fi, f := range feeds {
		var items []babelfeed.Item
		for j := range 400 {
			n := fi*400 + j
			link := fmt.Sprintf("https://feed%d.example/%d", fi, j)
			if n%10 == 0 {
				link = fmt.Sprintf("https://wire.example/%d?utm_source=%d", n/500, fi)
			}
			title := fmt.Sprintf("Notizia %d: %s", n, sentence())
			if n%20 == 0 {
				title += " calcio" // one item in 20 is about football
			}
			items = append(items, babelfeed.Item{Key: link, URL: link, Title: title,
				Summary: sentence() + " " + sentence(), Published: t0.Add(time.Duration(r.IntN(30*24*60)) * time.Minute),
				Lang: langs[r.IntN(len(langs))], ContentHash: fmt.Sprint(n)})
		}
		if _, err := s.SaveFetch(f, items); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{"lang:it", "lang:it,es -calcio", "zanzibar"} {
		b.Run(q, func(b *testing.B) {
			node, err := query.Parse(q, t0)
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			for b.Loop() {
				p, err := Select(context.Background(), s, Request{Node: node, Limit: 50})
				if err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				if err := WriteAtom(&buf, Meta{ID: SavedID("x"), Title: q}, p.Entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "atom-bytes")
		})
	}
}
