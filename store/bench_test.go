package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

var benchLangs = []string{"it", "de", "es", "en", "fr", "pt"}

var (
	sentencesOnce sync.Once
	sentences     map[string][]string
)

// findCorpora walks up from the working directory to a directory that has
// shared/corpora.
func findCorpora() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		c := filepath.Join(dir, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no shared/corpora above %s", dir)
		}
		dir = parent
	}
}

// benchSentences returns real news sentences per language (lingua's test
// set) so item sizes and byte counts are those of real multilingual text;
// without the corpora it falls back to generated words.
func benchSentences(b *testing.B) map[string][]string {
	sentencesOnce.Do(func() {
		sentences = map[string][]string{}
		dir, err := findCorpora()
		if err == nil {
			for _, l := range benchLangs {
				f, err := os.Open(filepath.Join(dir, "lingua-language-testdata", "cmd", "language-testdata", "sentences", l+".txt"))
				if err != nil {
					continue
				}
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					if line := strings.TrimSpace(sc.Text()); line != "" {
						sentences[l] = append(sentences[l], line)
					}
				}
				f.Close()
			}
		}
		for _, l := range benchLangs {
			if len(sentences[l]) == 0 {
				r := rand.New(rand.NewPCG(1, 2))
				for range 200 {
					var words []string
					for range 8 + r.IntN(20) {
						words = append(words, fmt.Sprintf("%s%d", l, r.IntN(5000)))
					}
					sentences[l] = append(sentences[l], strings.Join(words, " ")+".")
				}
			}
		}
	})
	if len(sentences["it"]) < 500 {
		b.Log("corpora not found: item text is generated, byte counts are not realistic")
	}
	return sentences
}

// benchItem makes a news-like item: an 80-character-ish title, a three
// sentence summary, full content on every other item, a permalink used as
// GUID and key.
func benchItem(r *rand.Rand, sents map[string][]string, lang string, n int, published time.Time) babelfeed.Item {
	pick := func() string { s := sents[lang]; return s[r.IntN(len(s))] }
	title := pick()
	if len(title) > 90 {
		title = title[:strings.LastIndexByte(title[:90], ' ')+1]
	}
	summary := pick() + " " + pick() + " " + pick()
	var content string
	if n%2 == 0 {
		var sb strings.Builder
		sb.WriteString(summary)
		for range 6 {
			sb.WriteString(" ")
			sb.WriteString(pick())
		}
		content = sb.String()
	}
	link := fmt.Sprintf("https://www.example-news.%s/%d/%02d/%02d/notizia-%d.html", lang, published.Year(), published.Month(), published.Day(), n)
	sum := sha256.Sum256([]byte(title + summary + content))
	return babelfeed.Item{
		Key: link, GUID: link, URL: link,
		Title: title, Summary: summary, Content: content,
		Author:     "Redazione",
		Categories: []string{"Cronaca", "Politica"},
		Published:  published, FirstSeen: published.Add(7 * time.Minute),
		Lang: lang, LangConfidence: 0.97, LangMethod: babelfeed.LangDetected, DeclaredLang: lang,
		ContentHash: hex.EncodeToString(sum[:16]),
	}
}

// dataBytes is the part of the file bbolt has used (the file itself grows
// in 16 MB steps).
func dataBytes(b *testing.B, s *DB) int64 {
	var n int64
	if err := s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkSaveFetch measures SaveFetch of 50 new items per call (one
// fetched feed per transaction, rotating over 100 feeds), as the poller
// writes them.
func BenchmarkSaveFetch(b *testing.B) {
	sents := benchSentences(b)
	s := openTemp(b)
	var feeds []babelfeed.Feed
	for i := range 100 {
		feeds = append(feeds, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i)})
	}
	feeds, _, err := s.AddFeeds(feeds, false)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	const perFetch = 50
	// Prepare the items outside the timed loop.
	batches := make([][]babelfeed.Item, 64)
	for i := range batches {
		for j := range perFetch {
			batches[i] = append(batches[i], benchItem(r, sents, benchLangs[(i+j)%len(benchLangs)], i*perFetch+j, base.Add(time.Duration(r.IntN(1e6))*time.Second)))
		}
	}
	raw := 0
	for _, it := range batches[0] {
		raw += len(encodeItem(nil, &it))
	}
	total, n := 0, 0
	start, cpuStart := time.Now(), cpuTime()
	for b.Loop() {
		items := batches[n%len(batches)]
		// Fresh keys every call so every item is new.
		for j := range items {
			link := fmt.Sprintf("https://www.example-news.it/notizia-%d-%d.html", n, j)
			items[j].Key, items[j].GUID, items[j].URL = link, link, link
		}
		res, err := s.SaveFetch(feeds[n%len(feeds)], items)
		if err != nil {
			b.Fatal(err)
		}
		total += res.Added
		n++
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	b.ReportMetric(float64(total)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/item")
	b.ReportMetric(float64(dataBytes(b, s))/float64(total), "bytes/item")
	b.ReportMetric(float64(raw)/perFetch, "record-bytes/item")
}

// BenchmarkItemsByLang asks for the newest 20 items of one language out of
// 100k items in 6 languages and 100 feeds, and a few neighbouring queries.
func BenchmarkItemsByLang(b *testing.B) {
	sents := benchSentences(b)
	s := openTemp(b)
	var feeds []babelfeed.Feed
	for i := range 100 {
		cat := []string{"Italiano", "Tech"}
		if i%4 != 0 {
			cat = []string{"Other"}
		}
		feeds = append(feeds, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i), Category: cat})
	}
	feeds, _, err := s.AddFeeds(feeds, false)
	if err != nil {
		b.Fatal(err)
	}
	const total = 100_000
	setup, setupCPU := time.Now(), cpuTime()
	r := rand.New(rand.NewPCG(3, 3))
	n := 0
	for n < total {
		f := feeds[(n/1000)%len(feeds)]
		var items []babelfeed.Item
		for range 1000 {
			// Languages are skewed like a real subscription list.
			lang := benchLangs[min(r.IntN(10), len(benchLangs)-1)]
			items = append(items, benchItem(r, sents, lang, n, base.Add(-time.Duration(r.IntN(365*24*3600))*time.Second)))
			n++
		}
		if _, err := s.SaveFetch(f, items); err != nil {
			b.Fatal(err)
		}
	}
	st, err := s.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d items, languages %v, %.0f bytes/item used, file %d bytes; setup in 1000-item fetches: %.0f items/s, %.1f CPU-µs/item",
		st.Items, st.ByLang, float64(dataBytes(b, s))/total, st.FileBytes, total/time.Since(setup).Seconds(),
		float64((cpuTime()-setupCPU).Microseconds())/total)
	logBucketStats(b, s)

	ctx := context.Background()
	run := func(name string, q babelfeed.Query, match func(*babelfeed.Item) bool) {
		b.Run(name, func(b *testing.B) {
			cpuStart, ops := cpuTime(), 0
			for b.Loop() {
				ops++
				got := 0
				if err := s.Items(ctx, q, match, func(babelfeed.Item) bool { got++; return true }); err != nil {
					b.Fatal(err)
				}
				if got == 0 {
					b.Fatal("no items")
				}
			}
			b.ReportMetric(float64((cpuTime()-cpuStart).Microseconds())/float64(ops), "cpu-µs/op")
		})
	}
	run("lang=pt/newest20", babelfeed.Query{Langs: []string{"pt"}, Limit: 20}, nil)
	run("lang=it/newest20", babelfeed.Query{Langs: []string{"it"}, Limit: 20}, nil)
	run("langs=it,de,es/newest20", babelfeed.Query{Langs: []string{"it", "de", "es"}, Limit: 20}, nil)
	run("lang=pt/since30d/newest20", babelfeed.Query{Langs: []string{"pt"}, Since: base.Add(-30 * 24 * time.Hour), Limit: 20}, nil)
	run("all/newest20", babelfeed.Query{Limit: 20}, nil)
	run("category=Italiano,lang=fr/newest20", babelfeed.Query{Category: "Italiano", Langs: []string{"fr"}, Limit: 20}, nil)
	run("lang=pt/match-rare/newest20", babelfeed.Query{Langs: []string{"pt"}, Limit: 20},
		func(it *babelfeed.Item) bool { return it.ID%97 == 0 })
}

// logBucketStats shows where the bytes go: per bucket, bytes in use and
// allocated in leaf and branch pages.
func logBucketStats(b *testing.B, s *DB) {
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			st := tx.Bucket(name).Stats()
			alloc := st.LeafAlloc + st.BranchAlloc
			if alloc == 0 {
				continue
			}
			b.Logf("%-9s %7d keys  %6.1f MB allocated  %3.0f%% used  depth %d",
				name, st.KeyN, float64(alloc)/1e6, 100*float64(st.LeafInuse+st.BranchInuse)/float64(alloc), st.Depth)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
