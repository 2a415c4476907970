package postgres

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
)

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testIndexer is a small Indexer: lower-cased words of title and summary,
// title words marked, the author as one term, frequencies counted.
func testIndexer(version string) *store.Indexer {
	return &store.Indexer{
		Version: version,
		Terms: func(it *babelfeed.Item, dst []store.Term) []store.Term {
			idx := map[string]int{}
			add := func(text string, title, author bool) {
				if i, ok := idx[text]; ok {
					dst[i].Freq++
					dst[i].Title = dst[i].Title || title
					dst[i].Author = dst[i].Author || author
					return
				}
				idx[text] = len(dst)
				dst = append(dst, store.Term{Text: text, Freq: 1, Title: title, Author: author})
			}
			for _, w := range strings.Fields(strings.ToLower(it.Title)) {
				add(w, true, false)
			}
			for _, w := range strings.Fields(strings.ToLower(it.Summary)) {
				add(w, false, false)
			}
			if it.Author != "" {
				add(strings.ToLower(it.Author), false, true)
			}
			return dst
		},
	}
}

func openTest(t testing.TB, dsn string, ix *store.Indexer) *DB {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) *DB {
	t.Helper()
	return openTest(t, pgtest.DSN(t), testIndexer("test-1"))
}

func addFeed(t testing.TB, s *DB, url string, category ...string) babelfeed.Feed {
	t.Helper()
	added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: url, Title: url, Category: category}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 {
		t.Fatalf("AddFeeds(%s) added %d feeds", url, len(added))
	}
	return added[0]
}

func item(key, lang string, published time.Time, title string) babelfeed.Item {
	return babelfeed.Item{
		Key: key, GUID: key, URL: "https://example.org/" + key,
		Title: title, Summary: "summary of " + title,
		Published: published, FirstSeen: base,
		Lang: lang, LangConfidence: 0.9, LangMethod: babelfeed.LangDetected,
		ContentHash: "h:" + title,
	}
}

func listAll(t testing.TB, s *DB, q babelfeed.Query) []babelfeed.Item {
	t.Helper()
	var out []babelfeed.Item
	if err := s.Items(context.Background(), q, nil, func(it babelfeed.Item) bool {
		out = append(out, it)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTermsVectorRoundTrips(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	terms := []store.Term{
		{Text: "l'italia", Freq: 2, Title: true},
		{Text: `back\slash`, Freq: 1},
		{Text: `it's \'both\'`, Freq: 3, Author: true},
		{Text: "città", Freq: 1, Title: true, Author: true},
		{Text: "many", Freq: 1000},
		{Text: "", Freq: 1},                     // not a term
		{Text: "nul\x00byte", Freq: 1},          // not a term
		{Text: strings.Repeat("x", 256)},        // too long
		{Text: "l'italia", Freq: 9},             // a repeat: the first wins
		{Text: "bad\xffutf8", Freq: 1},          // not text
		{Text: "with space:and colon", Freq: 1}, // one lexeme all the same
		{Text: "roma", Freq: 3, Title: true, Author: true},
	}
	vec := termsVectorOf(terms)
	rows, err := s.pool.Query(ctx, `SELECT lexeme, coalesce(array_length(positions, 1), 0), weights
		FROM unnest($1::text::tsvector) ORDER BY lexeme`, vec)
	if err != nil {
		t.Fatalf("%q does not parse as tsvector: %v", vec, err)
	}
	type lex struct {
		n       int
		weights []string
	}
	got := map[string]lex{}
	for rows.Next() {
		var l string
		var n int
		var w []string
		if err := rows.Scan(&l, &n, &w); err != nil {
			t.Fatal(err)
		}
		got[l] = lex{n, slices.Compact(w)}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]lex{
		"l'italia":             {2, []string{"A"}},
		`back\slash`:           {1, []string{"D"}},
		`it's \'both\'`:        {3, []string{"B"}},
		"città":                {1, []string{"A"}},
		"many":                 {maxTermPositions, []string{"D"}},
		"with space:and colon": {1, []string{"D"}},
		"roma":                 {3, []string{"A", "B"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lexemes of %q:\n got %v\nwant %v", vec, got, want)
	}
	if v := termsVectorOf(nil); v != "" {
		t.Errorf("no terms = %q", v)
	}

	// Stored items carry their vector.
	f := addFeed(t, s, "https://one.example/")
	it := item("a", "it", base, "Roma Città")
	it.Author = "Anna"
	if _, err := s.SaveFetch(f, []babelfeed.Item{it}); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := s.pool.QueryRow(ctx, `SELECT terms::text FROM items`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"'roma':1A,2A", "'città':3A,4A", "'anna':7B"} {
		if !strings.Contains(stored, w) {
			t.Errorf("stored terms %s lack %s", stored, w)
		}
	}
}

func TestOpenTwiceAndNewerSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s := openTest(t, dsn, nil)
	f := addFeed(t, s, "https://one.example/")
	// A second poller opens the same database: nothing is recreated.
	s2 := openTest(t, dsn, nil)
	if got, err := s2.Feed(f.ID); err != nil || got.URL != f.URL {
		t.Fatalf("second open: %+v, %v", got, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE meta SET value = '99' WHERE key = 'schema'`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, Options{}); !errors.Is(err, store.ErrNewerSchema) {
		t.Errorf("open of a newer schema: %v", err)
	}
	if strings.Contains(s.Path(), ":babelfeed@") {
		t.Errorf("Path shows the password: %q", s.Path())
	}
}

// TestConcurrentSavesOfOneFeed has several pollers (connection pools of
// their own, like processes) save overlapping documents of one feed at
// once: every key is stored once, and the counts are right.
func TestConcurrentSavesOfOneFeed(t *testing.T) {
	dsn := pgtest.DSN(t)
	first := openTest(t, dsn, testIndexer("test-1"))
	f := addFeed(t, first, "https://one.example/")
	const pollers, rounds, perDoc = 4, 6, 30
	stores := []*DB{first}
	for range pollers - 1 {
		stores = append(stores, openTest(t, dsn, testIndexer("test-1")))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := store.SaveResult{}
	for p, s := range stores {
		wg.Go(func() {
			for r := range rounds {
				// Documents of a sliding window of keys: consecutive
				// rounds and pollers overlap; some items are revised.
				var items []babelfeed.Item
				for i := range perDoc {
					k := r*10 + i
					title := fmt.Sprintf("story %d", k)
					if (p+r)%3 == 0 && i%7 == 0 {
						title += " (revised)"
					}
					lang := []string{"it", "en", "de"}[k%3]
					items = append(items, item(fmt.Sprint("k", k), lang, base.Add(time.Duration(k)*time.Minute), title))
				}
				res, err := s.SaveFetch(f, items)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total.Added += res.Added
				total.Updated += res.Updated
				total.Unchanged += res.Unchanged
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	distinct := (rounds-1)*10 + perDoc
	if total.Added != distinct {
		t.Errorf("added %d items in all, want %d distinct keys (%+v)", total.Added, distinct, total)
	}
	ctx := context.Background()
	var rows, keys int
	if err := first.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT key_id) FROM items`).Scan(&rows, &keys); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || keys != distinct {
		t.Errorf("%d rows, %d keys, want %d", rows, keys, distinct)
	}
	got, err := first.Feed(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string]int{}
	for _, it := range listAll(t, first, babelfeed.Query{}) {
		langs[it.Lang]++
	}
	if got.Items != distinct || !reflect.DeepEqual(got.Languages, langs) {
		t.Errorf("feed counts %d %v, items say %d %v", got.Items, got.Languages, distinct, langs)
	}
}

// TestConcurrentDuplicateStories has two pollers save the same stories
// from two feeds at once: each story has exactly one original.
func TestConcurrentDuplicateStories(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openTest(t, dsn, nil)
	b := openTest(t, dsn, nil)
	fa := addFeed(t, a, "https://a.example/")
	fb := addFeed(t, a, "https://b.example/")
	const stories = 40
	var wg sync.WaitGroup
	for i, s := range []*DB{a, b} {
		f := []babelfeed.Feed{fa, fb}[i]
		wg.Go(func() {
			for n := range stories {
				it := item(fmt.Sprintf("%s-%d", f.URL, n), "en", base.Add(time.Duration(n)*time.Hour), fmt.Sprintf("A story told twice, number %d", n))
				it.URL = fmt.Sprintf("https://news.example/story/%d?utm_source=%d", n, i)
				if _, err := s.SaveFetch(f, []babelfeed.Item{it}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	groups, err := a.DuplicateGroups()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for orig, dups := range groups {
		if len(dups) != 1 {
			t.Errorf("original %d has duplicates %v", orig, dups)
		}
		n += len(dups)
	}
	if n != stories {
		t.Errorf("%d duplicates of %d stories", n, stories)
	}
}

func TestItemsByKeysetPagesAndFilters(t *testing.T) {
	s := newStore(t)
	f1 := addFeed(t, s, "https://one.example/", "News", "Italia")
	f2 := addFeed(t, s, "https://two.example/", "news")
	var all []babelfeed.Item
	for i := range 700 {
		f := []babelfeed.Feed{f1, f2}[i%2]
		lang := []string{"it", "en", "fr", "de"}[i%4]
		// Many items share a time: the ID breaks the tie.
		it := item(fmt.Sprint("k", i), lang, base.Add(time.Duration(i/3)*time.Second), fmt.Sprint("t", i))
		it.FeedID = f.ID
		all = append(all, it)
	}
	for _, f := range []babelfeed.Feed{f1, f2} {
		var mine []babelfeed.Item
		for _, it := range all {
			if it.FeedID == f.ID {
				mine = append(mine, it)
			}
		}
		if _, err := s.SaveFetch(f, mine); err != nil {
			t.Fatal(err)
		}
	}
	stored := listAll(t, s, babelfeed.Query{})
	if len(stored) != len(all) {
		t.Fatalf("listed %d of %d", len(stored), len(all))
	}
	if !sort.SliceIsSorted(stored, func(i, j int) bool {
		return store.PositionOf(&stored[i]).Before(store.PositionOf(&stored[j]))
	}) {
		t.Error("not newest first")
	}
	brute := func(keep func(*babelfeed.Item) bool) []uint64 {
		var ids []uint64
		for i := range stored {
			if keep(&stored[i]) {
				ids = append(ids, stored[i].ID)
			}
		}
		return ids
	}
	ids := func(items []babelfeed.Item) []uint64 {
		var out []uint64
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	since, until := base.Add(30*time.Second), base.Add(200*time.Second)
	cases := []struct {
		q    babelfeed.Query
		keep func(*babelfeed.Item) bool
	}{
		{babelfeed.Query{Langs: []string{"it", "fr"}}, func(it *babelfeed.Item) bool { return it.Lang == "it" || it.Lang == "fr" }},
		{babelfeed.Query{Langs: []string{"de"}}, func(it *babelfeed.Item) bool { return it.Lang == "de" }},
		{babelfeed.Query{FeedIDs: []uint64{f2.ID, 99}}, func(it *babelfeed.Item) bool { return it.FeedID == f2.ID }},
		{babelfeed.Query{Category: "news/ITALIA"}, func(it *babelfeed.Item) bool { return it.FeedID == f1.ID }},
		{babelfeed.Query{Category: "news", Langs: []string{"en"}}, func(it *babelfeed.Item) bool { return it.Lang == "en" }},
		{babelfeed.Query{Since: since, Until: until, Langs: []string{"it", "en"}, FeedIDs: []uint64{f1.ID}}, func(it *babelfeed.Item) bool {
			return (it.Lang == "it" || it.Lang == "en") && it.FeedID == f1.ID && !it.Published.Before(since) && it.Published.Before(until)
		}},
		{babelfeed.Query{Since: until, Until: since}, func(*babelfeed.Item) bool { return false }},
		{babelfeed.Query{Category: "nowhere"}, func(*babelfeed.Item) bool { return false }},
	}
	for _, c := range cases {
		got := listAll(t, s, c.q)
		if want := brute(c.keep); !slices.Equal(ids(got), want) {
			t.Errorf("%+v: %d items, want %d", c.q, len(got), len(want))
		}
	}

	// A selective match and a limit: Limit counts matches, pages go on
	// past rows match refuses, fn stops the listing.
	odd := func(it *babelfeed.Item) bool { return it.ID%5 == 0 }
	var got []babelfeed.Item
	err := s.Items(context.Background(), babelfeed.Query{Langs: []string{"it", "en"}, Limit: 30}, odd, func(it babelfeed.Item) bool {
		got = append(got, it)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := brute(func(it *babelfeed.Item) bool { return (it.Lang == "it" || it.Lang == "en") && odd(it) })[:30]
	if !slices.Equal(ids(got), want) {
		t.Errorf("limited matches = %v, want %v", ids(got), want)
	}
	calls := 0
	if err := s.Items(context.Background(), babelfeed.Query{}, nil, func(babelfeed.Item) bool {
		calls++
		return calls < 300
	}); err != nil || calls != 300 {
		t.Errorf("fn stop: %d calls, %v", calls, err)
	}
}

func TestRetagMovesCountsAndTerms(t *testing.T) {
	s := newStore(t)
	f := addFeed(t, s, "https://one.example/")
	var items []babelfeed.Item
	for i := range 30 {
		items = append(items, item(fmt.Sprint(i), "en", base.Add(time.Duration(i)*time.Minute), fmt.Sprint("title ", i)))
	}
	if _, err := s.SaveFetch(f, items); err != nil {
		t.Fatal(err)
	}
	var seen []int
	err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
		if it.ID%2 == 0 {
			it.Lang = "it"
			it.Title = "titolo"
			return true
		}
		return false
	}, func(done int) { seen = append(seen, done) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{30}) {
		t.Errorf("progress %v", seen)
	}
	got, _ := s.Feed(f.ID)
	if got.Items != 30 || got.Languages["it"] != 15 || got.Languages["en"] != 15 {
		t.Errorf("counts %d %v", got.Items, got.Languages)
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM items WHERE terms @@ 'titolo'::tsquery AND lang = 'it'`).Scan(&n); err != nil || n != 15 {
		t.Errorf("retagged items with new terms: %d, %v", n, err)
	}
}

func TestIndexStateAndReindex(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s := openTest(t, dsn, testIndexer("v1"))
	if st, err := s.IndexState(); err != nil || !st.Usable("v1") {
		t.Fatalf("new store with an Indexer: %+v, %v", st, err)
	}
	f := addFeed(t, s, "https://one.example/")
	var items []babelfeed.Item
	for i := range 2500 {
		items = append(items, item(fmt.Sprint(i), "en", base.Add(time.Duration(i)*time.Second), fmt.Sprint("word", i%7)))
	}
	if _, err := s.SaveFetch(f, items[:100]); err != nil {
		t.Fatal(err)
	}
	// A poller without the Indexer writes: the terms are stale.
	plain := openTest(t, dsn, nil)
	if _, err := plain.SaveFetch(f, items); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.IndexState(); st.Version != "" || st.Ready {
		t.Errorf("after a write without the Indexer: %+v", st)
	}
	if err := plain.Reindex(ctx, nil); err == nil {
		t.Error("Reindex without an Indexer")
	}
	// Another version rebuilds everything.
	v2 := openTest(t, dsn, testIndexer("v2"))
	var calls [][2]int
	if err := v2.Reindex(ctx, func(done, total int) { calls = append(calls, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	if st, _ := v2.IndexState(); !st.Usable("v2") {
		t.Errorf("after Reindex: %+v", st)
	}
	if last := calls[len(calls)-1]; last != [2]int{2500, 2500} || len(calls) < 3 {
		t.Errorf("progress %v", calls)
	}
	var missing int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM items WHERE terms IS NULL OR NOT terms @@ 'summary'::tsquery`).Scan(&missing); err != nil || missing != 0 {
		t.Errorf("%d items without terms after Reindex (%v)", missing, err)
	}
	// A write by the old version makes it stale again; an interrupted
	// rebuild resumes.
	if _, err := s.SaveFetch(f, []babelfeed.Item{item("new", "en", base, "x")}); err != nil {
		t.Fatal(err)
	}
	if st, _ := v2.IndexState(); st.Ready {
		t.Errorf("write by v1 left v2 ready: %+v", st)
	}
	cctx, cancel := context.WithCancel(ctx)
	err := v2.Reindex(cctx, func(done, total int) {
		if done >= reindexBatch {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Reindex: %v", err)
	}
	if st, _ := v2.IndexState(); st.Ready || st.Version != "v2" || st.Upto == 0 {
		t.Errorf("interrupted: %+v", st)
	}
	calls = nil
	if err := v2.Reindex(ctx, func(done, total int) { calls = append(calls, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	if calls[0][0] < reindexBatch {
		t.Errorf("resume started at %v", calls[0])
	}
	if st, _ := v2.IndexState(); !st.Usable("v2") {
		t.Errorf("after resumed Reindex: %+v", st)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	fa := addFeed(t, src, "https://a.example/", "News")
	fb := addFeed(t, src, "https://b.example/")
	long := strings.Repeat("guid-", 100)
	var items []babelfeed.Item
	for i := range 20 {
		items = append(items, item(fmt.Sprint("a", i), "it", base.Add(time.Duration(i)*time.Hour), fmt.Sprintf("Una notizia molto importante numero %d", i)))
	}
	items = append(items, item(long, "it", base, "long key"))
	if _, err := src.SaveFetch(fa, items); err != nil {
		t.Fatal(err)
	}
	dup := item("b0", "it", base.Add(19*time.Hour), "Una notizia molto importante numero 19")
	if _, err := src.SaveFetch(fb, []babelfeed.Item{dup}); err != nil {
		t.Fatal(err)
	}
	// Keeps a5..a19; a0..a4 and the long key leave tombstones.
	if _, err := src.Prune(ctx, store.Retention{MaxPerFeed: 15}, base); err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	if err := src.Export(ctx, func(r store.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	dst := newStore(t)
	for i := 0; i < len(recs); i += 7 {
		if err := dst.Import(ctx, recs[i:min(i+7, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.FinishImport(ctx); err != nil {
		t.Fatal(err)
	}
	var again []store.Record
	if err := dst.Export(ctx, func(r store.Record) error {
		again = append(again, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs, again) {
		t.Errorf("export of the copy differs: %d records, %d", len(recs), len(again))
		for i := range min(len(recs), len(again)) {
			if !reflect.DeepEqual(recs[i], again[i]) {
				t.Errorf("first difference at %d: %+v / %+v", i, recs[i], again[i])
				break
			}
		}
	}
	for _, s := range []*DB{src, dst} {
		if g, err := s.DuplicateGroups(); err != nil || len(g) != 1 {
			t.Errorf("duplicate groups %v, %v", g, err)
		}
	}
	// The copy goes on where the source stopped: new IDs follow, the
	// tombstones keep pruned items out, a duplicate is still found.
	res, err := dst.SaveFetch(fa, items)
	if err != nil || res != (store.SaveResult{Unchanged: 15, Tombstoned: 6}) {
		t.Errorf("resave in the copy: %+v, %v", res, err)
	}
	nf := addFeed(t, dst, "https://c.example/")
	if nf.ID != 3 {
		t.Errorf("next feed ID %d", nf.ID)
	}
	res, err = dst.SaveFetch(nf, []babelfeed.Item{item("c", "it", base.Add(18*time.Hour), "Una notizia molto importante numero 18")})
	if err != nil || res.Added != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	got := listAll(t, dst, babelfeed.Query{FeedIDs: []uint64{nf.ID}})
	if len(got) != 1 || got[0].ID != 23 || got[0].DuplicateOf == 0 {
		t.Errorf("new item in the copy: %+v", got)
	}
	if n, _ := dst.ItemCount(); n != 17 {
		t.Errorf("ItemCount of the copy = %d", n)
	}
	if st, _ := dst.IndexState(); !st.Usable("test-1") {
		t.Errorf("index state of the copy: %+v", st)
	}
}

// TestConcurrentAddFeeds has pollers subscribe to overlapping lists at
// once: every URL becomes one feed, and each call's answer is complete.
func TestConcurrentAddFeeds(t *testing.T) {
	dsn := pgtest.DSN(t)
	var stores []*DB
	for range 3 {
		stores = append(stores, openTest(t, dsn, nil))
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			var feeds []babelfeed.Feed
			for n := range 40 {
				feeds = append(feeds, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", (n+i*10)%60)})
			}
			added, existing, err := s.AddFeeds(feeds, false)
			if err != nil {
				t.Error(err)
				return
			}
			if len(added)+len(existing) != 40 {
				t.Errorf("poller %d: %d added, %d existing", i, len(added), len(existing))
			}
			for _, f := range append(added, existing...) {
				if f.ID == 0 {
					t.Errorf("poller %d: feed %s without ID", i, f.URL)
				}
			}
		})
	}
	wg.Wait()
	feeds, err := stores[0].Feeds()
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]bool{}
	for _, f := range feeds {
		if urls[f.URL] {
			t.Errorf("%s subscribed twice", f.URL)
		}
		urls[f.URL] = true
	}
	if len(urls) != 60 {
		t.Errorf("%d feeds, want 60", len(urls))
	}
}

// TestRemoveFeedWhileAnotherSaves removes the feed of the originals while
// the feed of their duplicates is being saved: every surviving story ends
// with exactly one original.
func TestRemoveFeedWhileAnotherSaves(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openTest(t, dsn, nil)
	b := openTest(t, dsn, nil)
	fa := addFeed(t, a, "https://a.example/")
	fb := addFeed(t, a, "https://b.example/")
	story := func(f babelfeed.Feed, n int) babelfeed.Item {
		it := item(fmt.Sprintf("%d-%d", f.ID, n), "en", base.Add(time.Duration(n)*time.Hour), fmt.Sprintf("The same long story number %d", n))
		it.URL = fmt.Sprintf("https://news.example/%d", n)
		return it
	}
	var first []babelfeed.Item
	for n := range 20 {
		first = append(first, story(fa, n))
	}
	if _, err := a.SaveFetch(fa, first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := range 40 {
			if _, err := b.SaveFetch(fb, []babelfeed.Item{story(fb, n)}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		if err := a.RemoveFeed(fa.ID); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	got := listAll(t, a, babelfeed.Query{})
	if len(got) != 40 {
		t.Fatalf("%d items left, want 40", len(got))
	}
	for _, it := range got {
		if it.DuplicateOf != 0 {
			t.Errorf("item %s is a duplicate of %d, whose feed is gone", it.Key, it.DuplicateOf)
		}
	}
	if g, err := a.DuplicateGroups(); err != nil || len(g) != 0 {
		t.Errorf("duplicate groups %v, %v", g, err)
	}
}
