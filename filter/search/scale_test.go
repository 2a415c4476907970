package search

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/analyze"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// The keyword search benchmark of docs/BENCHMARKS.md: a generated store of
// a million items in twenty languages, the index build rate, the space of
// items and index, and the latency of the query shapes of issue 5 against a
// scan of the same data. It takes tens of minutes and gigabytes of disk, so
// it runs only when asked:
//
//	BABELFEED_BENCH_STORE=/tmp/bench1m.db go test ./filter/search \
//	    -run TestKeywordSearchAtScale -v -timeout 4h
//
// BABELFEED_BENCH_ITEMS sets the size (default 1,000,000). An existing
// store at that path (with its .json sidecar) is reused: only the queries
// run again, after a new Reindex with BABELFEED_BENCH_REINDEX=1.

var scaleLangs = []string{"it", "de", "es", "en", "fr", "pt", "nl", "ru", "sv", "tr",
	"da", "fi", "hu", "ro", "pl", "cs", "el", "ja", "zh", "ko"}

// scaleMeta is what the build measured, kept beside the store.
type scaleMeta struct {
	Items int `json:"items"`
	// SaveNoIndex is the median time of a fetch of 20 new items, fsync
	// included, into the store before it had an index.
	SaveNoIndex  time.Duration `json:"save_no_index"`
	Feeds        int           `json:"feeds"`
	TextBytes    int64         `json:"text_bytes"`
	InsertSecs   float64       `json:"insert_seconds"`
	ReindexSecs  float64       `json:"reindex_seconds"`
	ReindexCPU   float64       `json:"reindex_cpu_seconds"`
	ReindexPeakM uint64        `json:"reindex_peak_heap_mb"`
}

func TestKeywordSearchAtScale(t *testing.T) {
	path := os.Getenv("BABELFEED_BENCH_STORE")
	if path == "" {
		t.Skip("set BABELFEED_BENCH_STORE=/path/of/store.db to run the keyword search benchmark")
	}
	n := 1_000_000
	if v := os.Getenv("BABELFEED_BENCH_ITEMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	meta := scaleMeta{}
	metaPath := path + ".json"
	if b, err := os.ReadFile(metaPath); err == nil {
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		t.Logf("reusing %s (%d items)", path, meta.Items)
		if os.Getenv("BABELFEED_BENCH_REINDEX") != "" {
			reindexScaleStore(t, path, &meta)
			b, _ := json.Marshal(meta)
			if err := os.WriteFile(metaPath, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		meta = buildScaleStore(t, path, n)
		b, _ := json.Marshal(meta)
		if err := os.WriteFile(metaPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.Open(path, store.Options{Indexer: Indexer()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	t.Logf("items: %d in %d feeds, %.1f MB of text (%.0f bytes/item)", meta.Items, meta.Feeds, float64(meta.TextBytes)/1e6, float64(meta.TextBytes)/float64(meta.Items))
	t.Logf("insert without index: %.0f items/s (%.1f s)", float64(meta.Items)/meta.InsertSecs, meta.InsertSecs)
	t.Logf("reindex: %.0f items/s (%.1f s wall, %.1f s CPU, peak heap %d MB)", float64(meta.Items)/meta.ReindexSecs, meta.ReindexSecs, meta.ReindexCPU, meta.ReindexPeakM)
	space, err := s.SpaceByBucket()
	if err != nil {
		t.Fatal(err)
	}
	report := func(label string, names ...string) {
		var sp store.Space
		for _, name := range names {
			b := space[name]
			sp.Keys += b.Keys
			sp.Alloc += b.Alloc
			sp.InUse += b.InUse
		}
		t.Logf("%-22s %8.1f MB allocated (%6.1f bytes/item), %8.1f MB in use, %d keys", label,
			float64(sp.Alloc)/1e6, float64(sp.Alloc)/float64(meta.Items), float64(sp.InUse)/1e6, sp.Keys)
	}
	report("items (records)", "items")
	report("items + key/time/lang/feed indexes", "items", "item_keys", "idx_time", "idx_lang", "idx_feed")
	report("keyword postings", "postings")
	report("keyword index (all)", "postings", "post_rows", "post_langs")
	if st, err := os.Stat(path); err == nil {
		t.Logf("file: %.1f MB (%.0f bytes/item)", float64(st.Size())/1e6, float64(st.Size())/float64(meta.Items))
	}

	t.Logf("SaveFetch of 20 new items without an index (measured before the build): p50 %s per fetch", meta.SaveNoIndex.Round(10*time.Microsecond))
	incrementalSaves(t, s, "index kept")
	queryLatencies(t, s)
}

// corpusSentences reads lingua's test sentences of each language.
func corpusSentences(t *testing.T) map[string][]string {
	dir := findCorpora(t)
	out := map[string][]string{}
	for _, l := range scaleLangs {
		f, err := os.Open(filepath.Join(dir, "lingua-language-testdata", "cmd", "language-testdata", "sentences", l+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				out[l] = append(out[l], s)
			}
		}
		f.Close()
	}
	return out
}

func findCorpora(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := filepath.Join(dir, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("corpora not found above %s", dir)
		}
		dir = parent
	}
}

// names makes the long tail real feeds have and a thousand sentences per
// language do not: proper names, brands and codes, drawn from a Zipf
// distribution over a couple of million made-up words.
type names struct {
	z    *rand.Zipf
	syl  []string
	memo map[uint64]string
}

func newNames(r *rand.Rand) *names {
	var syl []string
	for _, c := range strings.Split("b c d f g h k l m n p r s t v z ch sh tr", " ") {
		for _, v := range []string{"a", "e", "i", "o", "u", "ai", "ou"} {
			syl = append(syl, c+v)
		}
	}
	return &names{z: rand.NewZipf(r, 1.07, 2, 1<<21), syl: syl, memo: map[uint64]string{}}
}

func (n *names) next() string {
	k := n.z.Uint64()
	if s, ok := n.memo[k]; ok {
		return s
	}
	var b strings.Builder
	x := k + 7
	for i := 0; i < 2 || x > 0; i++ {
		b.WriteString(n.syl[x%uint64(len(n.syl))])
		x /= uint64(len(n.syl))
	}
	s := b.String()
	s = strings.ToUpper(s[:1]) + s[1:]
	n.memo[k] = s
	return s
}

// scaleItem makes item i: a sentence as the title, two to four as the
// summary, names sprinkled in, sometimes an author.
func scaleItem(r *rand.Rand, nm *names, sent map[string][]string, i, total int, start time.Time) babelfeed.Item {
	lang := scaleLangs[r.IntN(len(scaleLangs))]
	pool := sent[lang]
	pick := func() string { return pool[r.IntN(len(pool))] }
	title := pick()
	if w := strings.Fields(title); len(w) > 12 {
		title = strings.Join(w[:12], " ")
	}
	var sum []string
	for range 2 + r.IntN(3) {
		sum = append(sum, pick())
	}
	for range r.IntN(4) {
		j := r.IntN(len(sum))
		sum[j] = nm.next() + " " + sum[j]
	}
	if r.IntN(3) == 0 {
		title = nm.next() + ": " + title
	}
	it := babelfeed.Item{
		Key: fmt.Sprint("i", i), GUID: fmt.Sprint("i", i),
		URL:     fmt.Sprintf("https://news%d.example/%s/%d", i%97, lang, i),
		Title:   title,
		Summary: strings.Join(sum, " "),
		Lang:    lang, LangMethod: babelfeed.LangDetected, LangConfidence: 0.99,
		ContentHash: fmt.Sprint(i),
	}
	if r.IntN(5) == 0 {
		it.Author = nm.next() + " " + nm.next()
	}
	// A year of items, mostly in the order they arrive; one in ten is
	// a backfill with an older date.
	span := 365 * 24 * time.Hour
	at := start.Add(time.Duration(float64(span) * float64(i) / float64(total)))
	at = at.Add(-time.Duration(r.Int64N(int64(6 * time.Hour))))
	if r.IntN(10) == 0 {
		at = start.Add(time.Duration(r.Int64N(int64(span))))
	}
	it.Published = at
	return it
}

const scaleFeeds = 2000

func buildScaleStore(t *testing.T, path string, n int) scaleMeta {
	sent := corpusSentences(t)
	r := rand.New(rand.NewPCG(2026, 5))
	nm := newNames(r)
	meta := scaleMeta{Items: n, Feeds: scaleFeeds}
	s, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var fs []babelfeed.Feed
	for i := range scaleFeeds {
		fs = append(fs, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i), Title: fmt.Sprint("Feed ", i),
			Category: []string{scaleLangs[i%len(scaleLangs)]}})
	}
	feeds, _, err := s.AddFeeds(fs, false)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	const batch = 1000
	began := time.Now()
	for i := 0; i < n; i += batch {
		items := make([]babelfeed.Item, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			it := scaleItem(r, nm, sent, j, n, start)
			meta.TextBytes += int64(len(it.Title) + len(it.Summary) + len(it.Content) + len(it.Author))
			items = append(items, it)
		}
		if _, err := s.SaveFetch(feeds[(i/batch)%len(feeds)], items); err != nil {
			t.Fatal(err)
		}
		if i%100_000 == 0 {
			t.Logf("inserted %d items (%s)", i, time.Since(began).Round(time.Second))
		}
	}
	meta.InsertSecs = time.Since(began).Seconds()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	meta.SaveNoIndex = incrementalSaves(t, s, "no index")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	reindexScaleStore(t, path, &meta)
	return meta
}

func reindexScaleStore(t *testing.T, path string, meta *scaleMeta) {
	s, err := store.Open(path, store.Options{NoSync: true, Indexer: Indexer()})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	cpu0 := cpuSeconds()
	var peak uint64
	err = s.Reindex(context.Background(), func(done, total int) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		if done%100_000 < 2000 {
			t.Logf("indexed %d of %d (%s, heap %d MB)", done, total, time.Since(began).Round(time.Second), ms.HeapInuse>>20)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	meta.ReindexSecs = time.Since(began).Seconds()
	meta.ReindexCPU = cpuSeconds() - cpu0
	meta.ReindexPeakM = peak >> 20
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// incrementalSaves measures what the poller pays for the index: fetches
// of 20 new items each into the big store, with fsync, with and without
// keeping the index.
func incrementalSaves(t *testing.T, s *store.DB, label string) time.Duration {
	sent := corpusSentences(t)
	r := rand.New(rand.NewPCG(7, 7))
	nm := newNames(r)
	feeds, err := s.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	const fetches, per = 50, 20
	var took []time.Duration
	for f := range fetches {
		var items []babelfeed.Item
		for j := range per {
			it := scaleItem(r, nm, sent, 10_000_000+f*per+j, 1, time.Now())
			it.Key = fmt.Sprintf("inc-%d-%d-%d", time.Now().UnixNano(), f, j)
			items = append(items, it)
		}
		t0 := time.Now()
		if _, err := s.SaveFetch(feeds[r.IntN(len(feeds))], items); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	t.Logf("SaveFetch of %d new items, %s: p50 %s, p90 %s per fetch (%.0f items/s at p50)", per, label,
		took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond), per/took[len(took)/2].Seconds())
	return took[len(took)/2]
}

// shape is one kind of query of the benchmark.
type shape struct {
	name    string
	sort    Sort
	queries []string
}

// queryLatencies times the query shapes of issue 5, newest 20, against
// the index, and a few of each against a scan of the same store. Wall time
// and the CPU time of the querying thread are both reported: the machine
// is shared, and wall time includes waiting for the other processes.
func queryLatencies(t *testing.T, s *store.DB) {
	shapes := pickQueries(t, s, 200)
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run := func(sh shape, q string, scan bool) (wall, cpu time.Duration, p Page) {
		n, err := query.Parse(q, time.Now())
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		c0, t0 := threadCPU(), time.Now()
		p, err = Search(ctx, s, Request{Query: n, Sort: sh.sort, Limit: 20, scan: scan})
		wall, cpu = time.Since(t0), threadCPU()-c0
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		return wall, cpu, p
	}
	pct := func(d []time.Duration, p int) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, len(d)*p/100)].Round(10 * time.Microsecond)
	}
	t.Logf("%-28s %9s %9s %9s %9s %9s %6s", "shape (20 items)", "p50", "p99", "max", "cpu p50", "cpu p99", "hits")
	p50s := map[string]time.Duration{}
	for _, sh := range shapes {
		for _, q := range sh.queries[:min(10, len(sh.queries))] {
			run(sh, q, false) // warm the page cache the way a running daemon has it
		}
		runtime.GC()
		var wall, cpu []time.Duration
		hits := 0
		slowest, slowQ := time.Duration(0), ""
		for _, q := range sh.queries {
			w, c, p := run(sh, q, false)
			wall, cpu = append(wall, w), append(cpu, c)
			hits += len(p.Hits)
			if !p.Indexed && !strings.HasPrefix(q, "lang:") {
				t.Errorf("%q: not answered from the index", q)
			}
			if c > slowest {
				slowest, slowQ = c, q
			}
		}
		p50s[sh.name] = pct(wall, 50)
		t.Logf("%-28s %9s %9s %9s %9s %9s %6.1f", sh.name, pct(wall, 50), pct(wall, 99), pct(wall, 100),
			pct(cpu, 50), pct(cpu, 99), float64(hits)/float64(len(sh.queries)))
		t.Logf("    e.g. %q; most CPU: %q (%s)", sh.queries[0], slowQ, slowest.Round(10*time.Microsecond))
	}
	// The scan cannot rank; three queries of each other shape, the median
	// of them.
	t.Logf("%-28s %9s %9s", "scan baseline (20 items)", "p50", "ratio")
	for _, sh := range shapes {
		if sh.sort != Newest {
			continue
		}
		var scan []time.Duration
		for _, q := range sh.queries[:3] {
			w, _, _ := run(sh, q, true)
			scan = append(scan, w)
		}
		slices.Sort(scan)
		t.Logf("%-28s %9s %8.0fx", sh.name, scan[1].Round(time.Millisecond), float64(scan[1])/float64(p50s[sh.name]))
	}
}

// pickQueries draws queries of each shape from the stored items, so that
// they find something: words of random items, with their document
// frequencies in the index deciding "common" and "rare".
func pickQueries(t *testing.T, s *store.DB, per int) []shape {
	r := rand.New(rand.NewPCG(11, 13))
	a := analyze.New()
	type word struct {
		lang, text string
		df         int
	}
	var words []word
	var phrases []string
	twoInLang := []string{}
	err := s.ReadIndex(func(rd *store.IndexReader) error {
		max := rd.MaxItemID()
		for len(words) < 40*per || len(phrases) < per || len(twoInLang) < per {
			it, err := rd.Item(1 + r.Uint64N(max))
			if err != nil {
				continue
			}
			toks := analyze.Tokenize(nil, it.Summary)
			var content []word
			for _, tk := range toks {
				if tk.Spaceless || analyze.Stopword(it.Lang, tk.Text) || len(tk.Text) < 3 {
					continue
				}
				if _, err := strconv.Atoi(tk.Text); err == nil {
					continue
				}
				df, err := rd.Count(it.Lang, a.Stem(it.Lang, tk.Text))
				if err != nil {
					return err
				}
				content = append(content, word{it.Lang, tk.Text, df})
			}
			words = append(words, content...)
			if len(toks) > 3 && len(phrases) < per {
				i := r.IntN(len(toks) - 1)
				if !toks[i].Spaceless && !toks[i+1].Spaceless {
					phrases = append(phrases, `"`+toks[i].Text+" "+toks[i+1].Text+`"`)
				}
			}
			if len(content) >= 2 && len(twoInLang) < per {
				i, j := r.IntN(len(content)), r.IntN(len(content))
				if i != j && content[i].df > 100 && content[j].df > 100 {
					twoInLang = append(twoInLang, fmt.Sprintf("lang:%s %s %s", it.Lang, content[i].text, content[j].text))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var common, rare []word
	commonByLang := map[string][]word{}
	for _, w := range words {
		switch {
		case w.df >= 1000:
			common = append(common, w)
			commonByLang[w.lang] = append(commonByLang[w.lang], w)
		case w.df <= 20:
			rare = append(rare, w)
		}
	}
	if len(common) == 0 || len(rare) == 0 {
		t.Fatalf("no common or rare words among %d", len(words))
	}
	var langOnly, one, rareCommon, or []string
	for range per {
		langOnly = append(langOnly, "lang:"+scaleLangs[r.IntN(len(scaleLangs))])
		one = append(one, common[r.IntN(len(common))].text)
		rw := rare[r.IntN(len(rare))]
		cw := common[r.IntN(len(common))]
		if c := commonByLang[rw.lang]; len(c) > 0 {
			cw = c[r.IntN(len(c))]
		}
		rareCommon = append(rareCommon, rw.text+" "+cw.text)
		or = append(or, common[r.IntN(len(common))].text+" OR "+common[r.IntN(len(common))].text)
	}
	return []shape{
		{"lang only", Newest, langOnly},
		{"one common word", Newest, one},
		{"two words + lang", Newest, twoInLang},
		{"two words + lang, relevance", Relevance, twoInLang},
		{"a phrase", Newest, phrases},
		{"rare AND common word", Newest, rareCommon},
		{"common OR common", Newest, or},
	}
}
