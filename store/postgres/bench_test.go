package postgres

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

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
)

// The benchmarks of store/bench_test.go, on PostgreSQL: the same items
// (real news benchCorpus from the corpora when found), the same queries.

var benchLangs = []string{"it", "de", "es", "en", "fr", "pt"}

var (
	benchCorpusOnce sync.Once
	benchCorpus     map[string][]string
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

func benchSentences(b *testing.B) map[string][]string {
	benchCorpusOnce.Do(func() {
		benchCorpus = map[string][]string{}
		if dir, err := findCorpora(); err == nil {
			for _, l := range benchLangs {
				f, err := os.Open(filepath.Join(dir, "lingua-language-testdata", "cmd", "language-testdata", "sentences", l+".txt"))
				if err != nil {
					continue
				}
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					if line := strings.TrimSpace(sc.Text()); line != "" {
						benchCorpus[l] = append(benchCorpus[l], line)
					}
				}
				f.Close()
			}
		}
		for _, l := range benchLangs {
			if len(benchCorpus[l]) == 0 {
				r := rand.New(rand.NewPCG(1, 2))
				for range 200 {
					var words []string
					for range 8 + r.IntN(20) {
						words = append(words, fmt.Sprintf("%s%d", l, r.IntN(5000)))
					}
					benchCorpus[l] = append(benchCorpus[l], strings.Join(words, " ")+".")
				}
			}
		}
	})
	if len(benchCorpus["it"]) < 500 {
		b.Log("corpora not found: item text is generated, byte counts are not realistic")
	}
	return benchCorpus
}

// benchItem makes a news-like item as store's benchmarks do.
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

func benchFeeds(b testing.TB, s *DB, n int, category func(i int) []string) []babelfeed.Feed {
	var feeds []babelfeed.Feed
	for i := range n {
		f := babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i)}
		if category != nil {
			f.Category = category(i)
		}
		feeds = append(feeds, f)
	}
	feeds, _, err := s.AddFeeds(feeds, false)
	if err != nil {
		b.Fatal(err)
	}
	return feeds
}

// BenchmarkSaveFetch measures SaveFetch as the poller calls it: a fetch
// of 50 new items (rotating over 100 feeds, as store's benchmark), and the
// commonest poll, a 30-item document that has not changed.
func BenchmarkSaveFetch(b *testing.B) {
	sents := benchSentences(b)
	s := openTest(b, pgtest.DSN(b), testIndexer("bench"))
	feeds := benchFeeds(b, s, 100, nil)
	r := rand.New(rand.NewPCG(7, 7))
	b.Run("new50", func(b *testing.B) {
		const perFetch = 50
		batches := make([][]babelfeed.Item, 64)
		for i := range batches {
			for j := range perFetch {
				batches[i] = append(batches[i], benchItem(r, sents, benchLangs[(i+j)%len(benchLangs)], i*perFetch+j, base.Add(time.Duration(r.IntN(1e6))*time.Second)))
			}
		}
		total, n := 0, 0
		run := time.Now().UnixNano() // -count runs on the same store
		start := time.Now()
		for b.Loop() {
			items := batches[n%len(batches)]
			// Fresh keys every call so every item is new.
			for j := range items {
				link := fmt.Sprintf("https://www.example-news.it/notizia-%d-%d-%d.html", run, n, j)
				items[j].Key, items[j].GUID, items[j].URL = link, link, link
			}
			res, err := s.SaveFetch(feeds[n%len(feeds)], items)
			if err != nil {
				b.Fatal(err)
			}
			total += res.Added
			n++
		}
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "items/s")
		st, err := s.Stats()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.FileBytes)/float64(max(st.Items, 1)), "bytes/item")
	})
	b.Run("unchanged30", func(b *testing.B) {
		f := feeds[0]
		var items []babelfeed.Item
		for j := range 30 {
			items = append(items, benchItem(r, sents, "it", 1e6+j, base.Add(time.Duration(j)*time.Hour)))
		}
		if _, err := s.SaveFetch(f, items); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := s.SaveFetch(f, items)
			if err != nil {
				b.Fatal(err)
			}
			if res.Unchanged != 30 {
				b.Fatalf("%+v", res)
			}
		}
	})
}

// BenchmarkItemsByLang asks for the newest 20 items of one language out of
// 100k items in 6 languages and 100 feeds, and a few neighbouring queries,
// as store's benchmark.
func BenchmarkItemsByLang(b *testing.B) {
	sents := benchSentences(b)
	s := openTest(b, pgtest.DSN(b), testIndexer("bench"))
	feeds := benchFeeds(b, s, 100, func(i int) []string {
		if i%4 != 0 {
			return []string{"Other"}
		}
		return []string{"Italiano", "Tech"}
	})
	const total = 100_000
	setup := time.Now()
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
	setupTime := time.Since(setup)
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d items, languages %v, %.0f bytes/item in tables and indexes; setup in 1000-item fetches: %.0f items/s",
		st.Items, st.ByLang, float64(st.FileBytes)/total, total/setupTime.Seconds())

	// Where the bytes go: each relation with its indexes and TOAST.
	sizes, err := s.pool.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') AND pg_total_relation_size(c.oid) > 1e6
		ORDER BY 2 DESC`)
	if err != nil {
		b.Fatal(err)
	}
	var name string
	var size int64
	var lines []string
	if _, err := pgx.ForEachRow(sizes, []any{&name, &size}, func() error {
		lines = append(lines, fmt.Sprintf("%-20s %7.1f MB %5.0f bytes/item", name, float64(size)/1e6, float64(size)/total))
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Logf("relations (tables with their indexes, and indexes):\n%s", strings.Join(lines, "\n"))

	run := func(name string, q babelfeed.Query, match func(*babelfeed.Item) bool) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				got := 0
				if err := s.Items(ctx, q, match, func(babelfeed.Item) bool { got++; return true }); err != nil {
					b.Fatal(err)
				}
				if got == 0 {
					b.Fatal("no items")
				}
			}
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

	// The plans: each branch an index scan that stops at the limit.
	p, err := s.planItems(ctx, babelfeed.Query{Langs: []string{"it", "de"}})
	if err != nil {
		b.Fatal(err)
	}
	p.started, p.curNS, p.curID = true, 1<<62, 1<<62
	sql, args := p.sql(20)
	rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	b.Logf("plan of a page of langs=it,de:\n%s", strings.Join(plan, "\n"))
}

// BenchmarkImport measures the PostgreSQL side of `babelfeed migrate`:
// Import of 1000-record batches (10 feeds, 20,000 items) with the keyword
// terms computed by the benchmark's Indexer, then FinishImport.
func BenchmarkImport(b *testing.B) {
	sents := benchSentences(b)
	r := rand.New(rand.NewPCG(5, 5))
	var recs []store.Record
	const feeds, items = 10, 20_000
	for i := range feeds {
		f := babelfeed.Feed{ID: uint64(i + 1), URL: fmt.Sprintf("https://feed%d.example/rss", i), State: babelfeed.StateOK, Added: base}
		recs = append(recs, store.Record{Feed: &f})
	}
	for n := range items {
		it := benchItem(r, sents, benchLangs[n%len(benchLangs)], n, base.Add(-time.Duration(r.IntN(365*24*3600))*time.Second))
		it.ID, it.FeedID = uint64(n+1), uint64(n%feeds+1)
		recs = append(recs, store.Record{Item: &it})
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		s := openTest(b, pgtest.DSN(b), testIndexer("bench"))
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(recs); i += 1000 {
			if err := s.Import(ctx, recs[i:min(i+1000, len(recs))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.FinishImport(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(items/time.Since(start).Seconds(), "items/s")
	}
}

// BenchmarkFeeds lists 20,000 feeds (the farm), as the poller does
// at start and the server on every metrics scrape.
func BenchmarkFeeds(b *testing.B) {
	s := openTest(b, pgtest.DSN(b), nil)
	start := time.Now()
	feeds := benchFeeds(b, s, 20_000, func(i int) []string { return []string{"Folder", fmt.Sprint(i % 50)} })
	b.Logf("AddFeeds of %d feeds in one call: %s", len(feeds), time.Since(start).Round(time.Millisecond))
	for b.Loop() {
		got, err := s.Feeds()
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != len(feeds) {
			b.Fatalf("%d feeds", len(got))
		}
	}
}
