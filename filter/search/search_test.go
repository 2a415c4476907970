package search

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/store"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Words per language, inflected forms side by side, stopwords among them,
// so that queries hit stems, whole-word stopwords and misses.
var vocab = map[string][]string{
	"it": {"informazione", "informazioni", "città", "università", "l'università", "dell'anno", "governo", "governi",
		"nuovo", "nuova", "telefono", "prezzo", "prezzi", "il", "la", "di", "e", "Roma", "romanzo", "piazza", "piazze"},
	"de": {"Universität", "Universitäten", "Haus", "Häuser", "Straße", "Strassen", "Regierung", "neue", "die", "und", "der", "Berlin"},
	"en": {"running", "runs", "run", "university", "universities", "the", "and", "news", "phone", "phones", "price", "Rome"},
	"ja": {"東京タワー", "東京", "に行った", "大阪", "ニュース", "京都大学", "大学"},
	"zh": {"东京大学", "研究人员", "大学", "新闻", "北京"},
	"fr": {"l'université", "universités", "qu'il", "informations", "été", "Paris", "la", "le"},
}

var langs = []string{"it", "de", "en", "ja", "zh", "fr", "und"}

func randText(r *rand.Rand, lang string, n int) string {
	pool := vocab[lang]
	if pool == nil {
		pool = vocab[[]string{"it", "en"}[r.IntN(2)]]
	}
	var w []string
	for range n {
		// A few words from another language too.
		p := pool
		if r.IntN(8) == 0 {
			p = vocab[langs[r.IntN(len(langs)-1)]]
		}
		w = append(w, p[r.IntN(len(p))])
	}
	sep := " "
	if lang == "ja" || lang == "zh" {
		sep = []string{"", "、", " "}[r.IntN(3)]
	}
	return strings.Join(w, sep)
}

// world is a store and what the test did to it.
type world struct {
	t     *testing.T
	r     *rand.Rand
	s     *store.DB
	feeds []babelfeed.Feed
	n     int
}

func newWorld(t *testing.T, seed uint64, opts store.Options) *world {
	s, err := store.Open(filepath.Join(t.TempDir(), "s.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &world{t: t, r: rand.New(rand.NewPCG(seed, 99)), s: s}
	w.addFeeds(4)
	return w
}

func (w *world) addFeeds(n int) {
	cats := [][]string{{"Italiano"}, {"Italiano", "Tech"}, {"Deutsch"}, nil, {"Asia"}}
	var in []babelfeed.Feed
	for range n {
		in = append(in, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", w.r.Int()), Category: cats[w.r.IntN(len(cats))]})
	}
	added, _, err := w.s.AddFeeds(in, false)
	if err != nil {
		w.t.Fatal(err)
	}
	w.feeds = append(w.feeds, added...)
}

func (w *world) item(key string) babelfeed.Item {
	r := w.r
	w.n++
	lang := langs[r.IntN(len(langs))]
	// URLs and titles are unique: the store's cross-feed duplicate
	// detection is not what this test is about.
	it := babelfeed.Item{
		Key: key, URL: fmt.Sprintf("https://example.org/%s/%s/%d", strings.ToLower(randText(r, "en", 1)), key, w.n),
		Title:   fmt.Sprint(randText(r, lang, 1+r.IntN(3)), " ", w.n),
		Summary: randText(r, lang, r.IntN(10)),
		Lang:    lang, ContentHash: fmt.Sprint(w.n),
		// Narrow times: equal timestamps (ID tie-breaks) are common.
		Published: testNow.Add(-time.Duration(r.IntN(300)) * time.Hour),
	}
	if r.IntN(4) == 0 {
		it.Content = it.Summary + " " + randText(r, lang, 5)
	}
	if r.IntN(5) == 0 {
		it.Author = randText(r, lang, 1)
	}
	if r.IntN(10) == 0 {
		it.Published, it.FirstSeen = time.Time{}, testNow.Add(-time.Duration(r.IntN(300))*time.Hour)
	}
	return it
}

// step applies one random operation: a fetch (new and revised items), a
// retag, or a feed removal.
func (w *world) step() {
	r := w.r
	switch k := r.IntN(25); {
	case k == 0 && len(w.feeds) > 2:
		i := r.IntN(len(w.feeds))
		if err := w.s.RemoveFeed(w.feeds[i].ID); err != nil {
			w.t.Fatal(err)
		}
		w.feeds = slices.Delete(w.feeds, i, i+1)
		w.addFeeds(1)
	case k == 1:
		d, to := uint64(2+r.IntN(5)), langs[r.IntN(len(langs))]
		err := w.s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
			if it.ID%d != 0 {
				return false
			}
			it.Lang = to
			return true
		}, nil)
		if err != nil {
			w.t.Fatal(err)
		}
	default:
		f := w.feeds[r.IntN(len(w.feeds))]
		var batch []babelfeed.Item
		seen := map[string]bool{}
		for range 1 + r.IntN(25) {
			key := fmt.Sprint("k", r.IntN(80))
			if !seen[key] {
				seen[key] = true
				batch = append(batch, w.item(key))
			}
		}
		if _, err := w.s.SaveFetch(f, batch); err != nil {
			w.t.Fatal(err)
		}
	}
}

// randQuery builds a random query of the query language.
func (w *world) randQuery() string {
	r := w.r
	word := func() string {
		l := langs[r.IntN(len(langs)-1)]
		p := vocab[l]
		s := p[r.IntN(len(p))]
		if l == "ja" || l == "zh" {
			// A piece of a CJK word: one, two or more characters.
			rs := []rune(s)
			i := r.IntN(len(rs))
			j := min(len(rs), i+1+r.IntN(3))
			s = string(rs[i:j])
		}
		return s
	}
	var term func(depth int) string
	term = func(depth int) string {
		switch k := r.IntN(24); {
		case k < 8:
			return word()
		case k == 8:
			return `"` + word() + " " + word() + `"`
		case k == 9:
			return "intitle:" + word()
		case k == 10:
			return "author:" + word()
		case k == 11:
			return "inurl:" + strings.ToLower(randText(r, "en", 1))
		case k == 12:
			return "lang:" + langs[r.IntN(len(langs))]
		case k == 13:
			return "-lang:" + langs[r.IntN(len(langs))]
		case k == 14:
			return "/" + []string{"Uni", "^[A-Z]", "東京", "(?i)rome"}[r.IntN(4)] + "/"
		case k == 15:
			return fmt.Sprint("feed:", w.feeds[r.IntN(len(w.feeds))].ID)
		case k == 16:
			return "cat:" + []string{"Italiano", "Italiano/Tech", "Deutsch", "Asia"}[r.IntN(4)]
		case k == 17:
			return fmt.Sprintf("since:%dh", r.IntN(400))
		case k == 18:
			return fmt.Sprintf("until:%dh", r.IntN(400))
		case k == 19 && depth < 2:
			return "(" + term(depth+1) + " OR " + term(depth+1) + ")"
		case k == 20 && depth < 2:
			return "-" + term(depth+1)
		case k == 21 && depth < 2:
			return "(" + term(depth+1) + " " + term(depth+1) + ")"
		}
		return word() + " OR " + word()
	}
	var parts []string
	for range 1 + r.IntN(3) {
		parts = append(parts, term(0))
	}
	return strings.Join(parts, " ")
}

// reference answers q by matching every stored item, newest first.
func reference(t *testing.T, s *store.DB, n query.Node) []uint64 {
	t.Helper()
	feeds, err := s.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uint64]babelfeed.Feed{}
	for _, f := range feeds {
		byID[f.ID] = f
	}
	var items []babelfeed.Item
	err = s.Items(context.Background(), babelfeed.Query{}, nil, func(it babelfeed.Item) bool {
		f := byID[it.FeedID]
		if n == nil || n.Match(&it, &f) {
			items = append(items, it)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, len(items))
	for i := range items {
		ids[i] = items[i].ID
	}
	return ids
}

// all pages through a query with the given page size.
func all(t *testing.T, s *store.DB, n query.Node, sort Sort, pageSize int) ([]uint64, []float64, Page) {
	t.Helper()
	var ids []uint64
	var scores []float64
	// Half the time, candidates are read lazily even when they are few.
	req := Request{Query: n, Sort: sort, Limit: pageSize, AllDuplicates: true, lazyFrom: []int{0, 1}[pageSize%2]}
	var first Page
	for pages := 0; ; pages++ {
		p, err := Search(context.Background(), s, req)
		if err != nil {
			t.Fatalf("%q: %v", queryString(n), err)
		}
		if pages == 0 {
			first = p
		}
		for _, h := range p.Hits {
			ids = append(ids, h.Item.ID)
			scores = append(scores, h.Score)
		}
		if p.Next == "" {
			break
		}
		if pageSize == 0 || pages > 1000 {
			t.Fatalf("%q: a next page without a limit, or endless paging", queryString(n))
		}
		req.Cursor = p.Next
	}
	return ids, scores, first
}

// TestSearchAgreesWithScan: after random saves, revisions, retags and
// feed removals, every random query returns through the index exactly what
// matching every item with the reference Node.Match returns, newest first,
// across pages of random size; ranked by relevance, the same items.
func TestSearchAgreesWithScan(t *testing.T) {
	seeds, queries := uint64(3), 60
	if raceEnabled {
		seeds, queries = 1, 25
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(t, seed, store.Options{Indexer: Indexer(), NoSync: true})
			for range 4 {
				for range 25 {
					w.step()
				}
				if ok, err := IndexUsable(w.s); err != nil || !ok {
					t.Fatalf("index not usable after writes with the Indexer: %v", err)
				}
				for range queries {
					checkQuery(t, w, w.randQuery(), true)
				}
			}
		})
	}
}

func checkQuery(t *testing.T, w *world, q string, wantIndexed bool) {
	t.Helper()
	n, err := query.Parse(q, testNow)
	if err != nil {
		t.Fatalf("Parse(%q): %v", q, err)
	}
	want := reference(t, w.s, n)
	size := []int{0, 1, 3, 20}[w.r.IntN(4)]
	got, _, first := all(t, w.s, n, Newest, size)
	if !slices.Equal(got, want) {
		t.Fatalf("%q (page size %d):\n got %v\nwant %v", q, size, got, want)
	}
	if wantIndexed && len(want) > 0 && !first.Indexed && hasWords(n) {
		t.Errorf("%q: not answered from the index", q)
	}
	if !wantIndexed {
		return
	}
	ranked, scores, _ := all(t, w.s, n, Relevance, size)
	if !slices.Equal(slices.Sorted(slices.Values(ranked)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("%q by relevance (page size %d):\n got %v\nwant %v", q, size, ranked, want)
	}
	for i := 1; i < len(scores); i++ {
		if scores[i] > scores[i-1] {
			t.Fatalf("%q by relevance: score %v after %v", q, scores[i], scores[i-1])
		}
	}
}

func hasWords(n query.Node) bool {
	switch n := n.(type) {
	case *query.And:
		return slices.ContainsFunc(n.Nodes, hasWords)
	case *query.Or:
		return slices.ContainsFunc(n.Nodes, hasWords)
	case *query.Not:
		return hasWords(n.Node)
	case *query.Word, *query.Phrase, *query.Regex:
		return true
	}
	return false
}

func TestStaleIndexScansWithSameAnswers(t *testing.T) {
	w := newWorld(t, 5, store.Options{Indexer: Indexer(), NoSync: true})
	for range 20 {
		w.step()
	}
	// Writes without the Indexer leave the index stale.
	path := w.s.Path()
	w.s.Close()
	s, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w.s = s
	for range 5 {
		w.step()
	}
	if ok, _ := IndexUsable(s); ok {
		t.Fatal("index usable after writes without the Indexer")
	}
	queries := 40
	if raceEnabled {
		queries = 10
	}
	for range queries {
		checkQuery(t, w, w.randQuery(), false)
	}
	n, _ := query.Parse("universita", testNow)
	if _, err := Search(context.Background(), s, Request{Query: n, Sort: Relevance}); !errors.Is(err, ErrNoIndex) {
		t.Errorf("relevance without an index: %v, want ErrNoIndex", err)
	}
	s.Close()

	// Reindex, and the index answers again.
	s, err = store.Open(path, store.Options{Indexer: Indexer(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w.s = s
	if err := s.Reindex(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for range queries {
		checkQuery(t, w, w.randQuery(), true)
	}
}

// TestPagesStayStableWhileItemsArrive: newer items arriving between pages
// do not shift a newest-first listing; any new items do not shift a
// relevance listing.
func TestPagesStayStableWhileItemsArrive(t *testing.T) {
	w := newWorld(t, 9, store.Options{Indexer: Indexer(), NoSync: true})
	for range 30 {
		w.step()
	}
	for _, q := range []string{"università", "universita OR run", "大学", "-lang:de"} {
		n, err := query.Parse(q, testNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, sort := range []Sort{Newest, Relevance} {
			want, _, _ := all(t, w.s, n, sort, 0)
			var got []uint64
			req := Request{Query: n, Sort: sort, Limit: 2}
			for {
				p, err := Search(context.Background(), w.s, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range p.Hits {
					got = append(got, h.Item.ID)
				}
				if p.Next == "" {
					break
				}
				req.Cursor = p.Next
				// New items, newer than anything, matching the query.
				f := w.feeds[0]
				it := w.item(fmt.Sprint("new", w.n))
				it.Title, it.Lang = "università run 大学", "it"
				it.Published = testNow.AddDate(10, 0, 0).Add(time.Duration(w.n) * time.Second)
				if _, err := w.s.SaveFetch(f, []babelfeed.Item{it}); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q by %s while items arrive:\n got %v\nwant %v", q, sort, got, want)
			}
		}
	}
}

func TestCursorErrors(t *testing.T) {
	w := newWorld(t, 3, store.Options{Indexer: Indexer(), NoSync: true})
	for range 10 {
		w.step()
	}
	n, _ := query.Parse("universita OR news OR 大学 OR run", testNow)
	p, err := Search(context.Background(), w.s, Request{Query: n, Limit: 1})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v, next %q", err, p.Next)
	}
	other, _ := query.Parse("roma", testNow)
	for _, req := range []Request{
		{Query: other, Limit: 1, Cursor: p.Next},
		{Query: n, Sort: Relevance, Limit: 1, Cursor: p.Next},
		{Query: n, Limit: 1, Cursor: "garbage!"},
		{Query: n, Limit: 1, Cursor: p.Next[:len(p.Next)-2]},
	} {
		if _, err := Search(context.Background(), w.s, req); !errors.Is(err, ErrCursor) {
			t.Errorf("cursor %q with %q/%s: %v, want ErrCursor", req.Cursor, queryString(req.Query), req.Sort, err)
		}
	}
}

func TestRelevanceRanksTitleAndFrequency(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Indexer: Indexer(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://a.example/rss"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	items := []babelfeed.Item{
		{Key: "body", Lang: "it", Title: "Notizie dal mondo", Summary: "Si parla anche di università e di molto altro ancora in questo lungo testo.", Published: testNow},
		{Key: "title", Lang: "it", Title: "Le università italiane", Summary: "Un testo.", Published: testNow.Add(-48 * time.Hour)},
		{Key: "none", Lang: "it", Title: "Calcio", Summary: "Partita.", Published: testNow.Add(time.Hour)},
		{Key: "twice", Lang: "it", Title: "Varie", Summary: "Università, università: due volte.", Published: testNow.Add(-time.Hour)},
	}
	for i := range items {
		items[i].ContentHash = items[i].Key
	}
	if _, err := s.SaveFetch(added[0], items); err != nil {
		t.Fatal(err)
	}
	n, _ := query.Parse("universita", testNow)
	p, err := Search(context.Background(), s, Request{Query: n, Sort: Relevance})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range p.Hits {
		keys = append(keys, h.Item.Key)
	}
	if strings.Join(keys, " ") != "title twice body" {
		t.Errorf("ranked %v, want title, twice, body", keys)
	}
	p, _ = Search(context.Background(), s, Request{Query: n})
	keys = keys[:0]
	for _, h := range p.Hits {
		keys = append(keys, h.Item.Key)
	}
	if strings.Join(keys, " ") != "body twice title" {
		t.Errorf("newest first %v, want body, twice, title", keys)
	}
}

func TestDuplicatesHiddenWhenTheOriginalMatches(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Indexer: Indexer(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://a.example/rss"}, {URL: "https://b.example/rss"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	orig := babelfeed.Item{Key: "o", Lang: "it", URL: "https://news.example/storia", Title: "Una notizia", Published: testNow, ContentHash: "o"}
	dup := babelfeed.Item{Key: "d", Lang: "it", URL: "https://news.example/storia?utm_source=x", Title: "Una notizia, con la parola gatto", Published: testNow, ContentHash: "d"}
	if _, err := s.SaveFetch(added[0], []babelfeed.Item{orig}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveFetch(added[1], []babelfeed.Item{dup}); err != nil {
		t.Fatal(err)
	}
	count := func(q string, all bool) int {
		n, err := query.Parse(q, testNow)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Search(context.Background(), s, Request{Query: n, AllDuplicates: all})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Hits)
	}
	for _, c := range []struct {
		q    string
		all  bool
		want int
	}{
		{"notizia", false, 1}, // the original stands for the story
		{"notizia", true, 2},
		{"gatto", false, 1}, // only the copy has the word
		{fmt.Sprint("feed:", added[1].ID), false, 1},
		{"", false, 1},
		{"lang:it", true, 2},
	} {
		if got := count(c.q, c.all); got != c.want {
			t.Errorf("%q (all duplicates %v): %d items, want %d", c.q, c.all, got, c.want)
		}
	}
}
