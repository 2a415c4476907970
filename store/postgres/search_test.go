package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/filter/search"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
)

var searchNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Sentences of our own per language, inflected forms and stopwords among
// them, elisions, accents, CJK runs, so that queries hit stems, folded
// forms, bigrams and misses.
var sentences = map[string][]string{
	"it": {
		"Il governo ha dato nuove informazioni sulla città di Roma",
		"L'università dell'anno prossimo apre una nuova piazza",
		"Le informazioni sui prezzi del telefono arrivano domani",
		"Una città più verde: il romanzo della piazza",
		"Il prezzo della benzina è salito di nuovo a Milano",
		"Governi europei discutono l'informazione libera",
	},
	"de": {
		"Die Universität Berlin baut neue Häuser an der Straße",
		"Die Regierung plant mehr Universitäten und neue Strassen",
		"Das Haus der Regierung steht in Berlin",
		"Neue Preise für Häuser in München",
	},
	"en": {
		"The university runs a new phone program in Rome",
		"Universities and the price of running a phone company",
		"News: the runner ran and runs again",
		"Phones, prices and the news of the day",
	},
	"fr": {
		"L'université de Paris publie des informations sur l'été",
		"Qu'il fasse beau, les universités restent ouvertes",
		"Le prix des téléphones a été annoncé à Paris",
	},
	"es": {
		"El gobierno publicó nuevas informaciones sobre la universidad",
		"Las universidades de Madrid suben los precios",
		"La ciudad y el teléfono: noticias del día",
	},
	"pt": {
		"O governo anunciou informações sobre a universidade de Lisboa",
		"As universidades e os preços dos telefones",
	},
	"ru": {
		"Правительство опубликовало новости университета в Москве",
		"Новые университеты и цены на телефоны",
	},
	"tr": {
		"Hükümet üniversite haberlerini açıkladı",
		"Üniversiteler ve telefon fiyatları İstanbul'da",
	},
	"ja": {
		"東京タワーに行った",
		"京都大学のニュースを読んだ",
		"大阪と東京の大学",
	},
	"zh": {
		"东京大学的研究人员发表了新闻",
		"北京大学新闻",
		"研究人员在北京",
	},
}

var authors = []string{"Maria Rossi", "Hans Müller", "Jane Roma", "Jean Dupont", "田中太郎", "Berlin Desk"}

// searchLangs is the languages items get; und has Italian or English text.
var searchLangs = []string{"it", "de", "en", "fr", "es", "pt", "ru", "tr", "ja", "zh", "und"}

// corpusSentences reads a few hundred of lingua's test sentences per
// language, when the corpora are there (nil otherwise).
func corpusSentences(t testing.TB, langs []string, per int) map[string][]string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := filepath.Join(dir, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			dir = c
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
	out := map[string][]string{}
	for _, l := range langs {
		f, err := os.Open(filepath.Join(dir, "lingua-language-testdata", "cmd", "language-testdata", "sentences", l+".txt"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() && len(out[l]) < per {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				out[l] = append(out[l], s)
			}
		}
		f.Close()
	}
	return out
}

// pair is the same items in a bbolt store and a PostgreSQL store.
type pair struct {
	t     testing.TB
	r     *rand.Rand
	bb    *store.DB
	pg    *DB
	feeds []babelfeed.Feed // as the bbolt store has them; same IDs in both
	sent  map[string][]string
	n     int
	// Time spent searching each store.
	tbb, tpg time.Duration
	// decorate, if set, changes each new item.
	decorate func(r *rand.Rand, it *babelfeed.Item)
}

func newPair(t testing.TB, seed uint64, corpus map[string][]string) *pair {
	t.Helper()
	bb, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Indexer: search.Indexer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bb.Close() })
	pg, err := Open(context.Background(), pgtest.DSN(t), Options{Indexer: search.Indexer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	p := &pair{t: t, r: rand.New(rand.NewPCG(seed, 7)), bb: bb, pg: pg, sent: map[string][]string{}}
	for l, ss := range sentences {
		p.sent[l] = append(p.sent[l], ss...)
	}
	for l, ss := range corpus {
		p.sent[l] = append(p.sent[l], ss...)
	}
	cats := [][]string{{"Italiano"}, {"Italiano", "Tech"}, {"Deutsch"}, nil, {"Asia"}, {"World", "News"}}
	var in []babelfeed.Feed
	for i := range 8 {
		in = append(in, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i), Category: cats[i%len(cats)]})
	}
	added, _, err := bb.AddFeeds(in, false)
	if err != nil {
		t.Fatal(err)
	}
	padded, _, err := pg.AddFeeds(in, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range added {
		if added[i].ID != padded[i].ID {
			t.Fatalf("feed %d: bbolt ID %d, PostgreSQL ID %d", i, added[i].ID, padded[i].ID)
		}
	}
	p.feeds = added
	return p
}

func (p *pair) sentence(lang string) string {
	pool := p.sent[lang]
	if lang == "und" || p.r.IntN(10) == 0 {
		// A sentence of another language now and then.
		pool = p.sent[searchLangs[p.r.IntN(len(searchLangs)-1)]]
	}
	return pool[p.r.IntN(len(pool))]
}

// item makes a random item; one in twelve repeats the URL of an earlier
// one (a cross-feed duplicate when in another feed).
func (p *pair) item(urls []string) babelfeed.Item {
	r := p.r
	p.n++
	lang := searchLangs[r.IntN(len(searchLangs))]
	it := babelfeed.Item{
		Key:     fmt.Sprint("k", p.n),
		URL:     fmt.Sprintf("https://news.example/%s/%d", lang, p.n),
		Title:   p.sentence(lang),
		Summary: p.sentence(lang),
		Lang:    lang, ContentHash: fmt.Sprint(p.n),
		// Hours: equal times (ID tie-breaks) are common.
		Published: searchNow.Add(-time.Duration(r.IntN(500)) * time.Hour),
	}
	if r.IntN(3) == 0 {
		it.Summary += " " + p.sentence(lang)
	}
	if r.IntN(4) == 0 {
		it.Content = it.Summary + " " + p.sentence(lang) + " " + p.sentence(lang)
	}
	if r.IntN(5) == 0 {
		it.Author = authors[r.IntN(len(authors))]
	}
	if r.IntN(10) == 0 {
		it.Published, it.FirstSeen = time.Time{}, searchNow.Add(-time.Duration(r.IntN(500))*time.Hour-time.Duration(r.IntN(1e9)))
	}
	if len(urls) > 0 && r.IntN(12) == 0 {
		it.URL = urls[r.IntN(len(urls))]
	}
	if p.decorate != nil {
		p.decorate(r, &it)
	}
	return it
}

// fill saves n random items into both stores, a fetch at a time.
func (p *pair) fill(n int) {
	p.t.Helper()
	var urls []string
	for n > 0 {
		f := p.feeds[p.r.IntN(len(p.feeds))]
		var batch []babelfeed.Item
		for range min(n, 1+p.r.IntN(30)) {
			it := p.item(urls)
			urls = append(urls, it.URL)
			batch = append(batch, it)
		}
		n -= len(batch)
		p.save(f, batch)
	}
}

func (p *pair) save(f babelfeed.Feed, batch []babelfeed.Item) {
	p.t.Helper()
	rb, err := p.bb.SaveFetch(f, batch)
	if err != nil {
		p.t.Fatal(err)
	}
	rp, err := p.pg.SaveFetch(f, batch)
	if err != nil {
		p.t.Fatal(err)
	}
	if fmt.Sprint(rb) != fmt.Sprint(rp) {
		p.t.Fatalf("SaveFetch: bbolt %+v, PostgreSQL %+v", rb, rp)
	}
}

// hitKeys renders a page for comparison.
func hitKeys(pg search.Page) []string {
	out := make([]string, len(pg.Hits))
	for i, h := range pg.Hits {
		out[i] = fmt.Sprintf("%d(%s)", h.Item.ID, h.Item.Lang)
	}
	return out
}

// maxPages bounds the pages compare reads of one listing.
const maxPages = 5

// compare runs req on both stores page by page (at most maxPages) and
// fails on the first difference; between pages, arrive (if not nil) adds
// items to both. It returns the number of pages and hits.
func (p *pair) compare(q string, req search.Request, arrive func()) (pages, hits int) {
	p.t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("%q sort %s limit %d all %v", q, req.Sort, req.Limit, req.AllDuplicates)
	cb, cp := "", ""
	for {
		rb, rp := req, req
		rb.Cursor, rp.Cursor = cb, cp
		t0 := time.Now()
		pb, errb := search.Search(ctx, p.bb, rb)
		t1 := time.Now()
		pp, errp := p.pg.Search(ctx, rp)
		p.tbb += t1.Sub(t0)
		p.tpg += time.Since(t1)
		if (errb != nil) != (errp != nil) || (errb != nil && !sameKind(errb, errp)) {
			p.t.Fatalf("%s page %d: bbolt error %v, PostgreSQL error %v", what, pages, errb, errp)
		}
		if errb != nil {
			return pages, hits
		}
		kb, kp := hitKeys(pb), hitKeys(pp)
		if strings.Join(kb, " ") != strings.Join(kp, " ") {
			p.t.Fatalf("%s page %d:\nbbolt      %v\nPostgreSQL %v", what, pages, kb, kp)
		}
		for i := range pb.Hits {
			if math.Abs(pb.Hits[i].Score-pp.Hits[i].Score) > 1e-9 {
				p.t.Fatalf("%s page %d hit %d: score bbolt %v, PostgreSQL %v", what, pages, i, pb.Hits[i].Score, pp.Hits[i].Score)
			}
			if pb.Hits[i].Feed.ID != pp.Hits[i].Feed.ID || pb.Hits[i].Item.Title != pp.Hits[i].Item.Title {
				p.t.Fatalf("%s page %d hit %d: item or feed differ", what, pages, i)
			}
		}
		if pb.Indexed != pp.Indexed {
			p.t.Fatalf("%s page %d: Indexed bbolt %v, PostgreSQL %v", what, pages, pb.Indexed, pp.Indexed)
		}
		pages++
		hits += len(pb.Hits)
		if (pb.Next == "") != (pp.Next == "") {
			p.t.Fatalf("%s page %d: next bbolt %q, PostgreSQL %q", what, pages, pb.Next, pp.Next)
		}
		if pb.Next == "" || pages == maxPages {
			return pages, hits
		}
		cb, cp = pb.Next, pp.Next
		if arrive != nil {
			arrive()
		}
	}
}

func sameKind(a, b error) bool {
	for _, k := range []error{search.ErrCursor, search.ErrNoIndex} {
		if errors.Is(a, k) != errors.Is(b, k) {
			return false
		}
	}
	return true
}

// handQueries are queries written by hand: stems and folding per language,
// elisions, CJK, phrases, exclusions, fields, restrictions, OR, regexes.
var handQueries = []string{
	"", "lang:it", "lang:it,es", "-lang:en", "-lang:it -lang:de", "lang:und",
	"informazione", "informazioni lang:it", "università", "universita", "l'università",
	"citta", "Città", "governo OR gobierno", "prezzi -telefono", "\"nuova piazza\"",
	"\"la città\"", "il", "la", "di lang:it", "Universität", "universitaten", "Häuser", "hauser", "strasse",
	"die lang:de", "regierung -berlin", "university", "universities lang:en", "running", "runs OR phone",
	"\"the price\"", "the", "informations", "l'université", "universite", "qu'il", "ete",
	"gobierno", "universidades", "informações", "universidade", "университет", "новости",
	"üniversite", "universite lang:tr", "İstanbul", "東京", "東", "京都", "大学", "東京タワー",
	"东京大学", "新闻", "北京", "研究", "\"東京の大学\"",
	"intitle:roma", "intitle:università", "author:rossi", "author:roma", "author:berlin", "roma",
	"inurl:news", "inurl:it", "/Uni/", "/^[A-Z]/", "/(?i)rome/", "intitle:/Berlin/",
	"feed:1", "feed:2 università", "feed:https://feed3.example/rss", "cat:Italiano", "cat:Italiano/Tech informazione",
	"cat:Asia 大学", "since:100h", "until:200h", "since:300h until:100h", "since:100h until:300h",
	"(roma OR berlin) -lang:de", "(informazione OR news) (prezzo OR price)", "-roma", "-roma -berlin lang:it",
	"roma OR -berlin", "(lang:it roma) OR (lang:de berlin)", "(feed:1 OR cat:Asia) news", "-(since:100h)",
	"(since:50h OR until:400h) phone", "-\"nuova piazza\" piazza", "intitle:\"la città\"",
	"informazione informazione", "governo governi", "zzzzz", "zzzzz OR roma", "-zzzzz",
}

// randQuery builds a random query from the sentences' words.
func (p *pair) randQuery() string {
	r := p.r
	word := func() string {
		l := searchLangs[r.IntN(len(searchLangs)-1)]
		s := sentences[l][r.IntN(len(sentences[l]))]
		if l == "ja" || l == "zh" {
			rs := []rune(s)
			i := r.IntN(len(rs))
			return string(rs[i:min(len(rs), i+1+r.IntN(3))])
		}
		w := strings.Fields(s)
		return strings.Trim(w[r.IntN(len(w))], ":,.")
	}
	var term func(depth int) string
	term = func(depth int) string {
		switch k := r.IntN(22); {
		case k < 8:
			return word()
		case k == 8:
			return `"` + word() + " " + word() + `"`
		case k == 9:
			return "intitle:" + word()
		case k == 10:
			return "author:" + word()
		case k == 11:
			return "lang:" + searchLangs[r.IntN(len(searchLangs))]
		case k == 12:
			return "-lang:" + searchLangs[r.IntN(len(searchLangs))]
		case k == 13:
			return "/" + []string{"Uni", "^[A-Z]", "東京", "(?i)rome"}[r.IntN(4)] + "/"
		case k == 14:
			return fmt.Sprint("feed:", p.feeds[r.IntN(len(p.feeds))].ID)
		case k == 15:
			return "cat:" + []string{"Italiano", "Italiano/Tech", "Deutsch", "Asia", "World"}[r.IntN(5)]
		case k == 16:
			return fmt.Sprintf("since:%dh", r.IntN(500))
		case k == 17:
			return fmt.Sprintf("until:%dh", r.IntN(500))
		case k == 18 && depth < 2:
			return "(" + term(depth+1) + " OR " + term(depth+1) + ")"
		case k == 19:
			return "-" + word()
		}
		return word()
	}
	n := 1 + r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = term(0)
	}
	return strings.Join(parts, " ")
}

func parseAt(t testing.TB, q string) query.Node {
	t.Helper()
	n, err := query.Parse(q, searchNow)
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	return n
}

// TestSearchEqualsBbolt saves the same items into a bbolt store and a
// PostgreSQL store and compares every page of many queries, both sorts,
// several page sizes, with and without duplicates.
func TestSearchEqualsBbolt(t *testing.T) {
	equalRun(t, 1, 1200/searchScale, 90/searchScale)
}

// equalRun fills a pair with n items from seed and compares the
// hand-written queries and nRand random ones.
func equalRun(t *testing.T, seed uint64, n, nRand int) {
	p := newPair(t, seed, corpusSentences(t, []string{"it", "de", "en", "fr", "es", "pt", "ru", "tr", "ja", "zh"}, 40))
	t0 := time.Now()
	p.fill(n)
	t.Logf("filled in %v", time.Since(t0))
	p.churn()
	queries := append([]string(nil), handQueries...)
	if searchScale > 1 {
		// Every other hand-written query.
		queries = queries[:0]
		for i := 0; i < len(handQueries); i += 2 {
			queries = append(queries, handQueries[i])
		}
	}
	for range nRand {
		queries = append(queries, p.randQuery())
	}
	total, pages := 0, 0
	for qi, q := range queries {
		n, err := query.Parse(q, searchNow)
		if err != nil {
			continue // a random query may be malformed
		}
		for _, sort := range []search.Sort{search.Newest, search.Relevance} {
			limits := []int{7}
			switch qi % 4 {
			case 0:
				limits = append(limits, 0)
			case 1:
				limits = append(limits, 1)
			case 2:
				limits = append(limits, 50)
			}
			for _, limit := range limits {
				for _, all := range []bool{false, true} {
					if all && qi%3 != 0 {
						continue
					}
					pg, h := p.compare(q, search.Request{Query: n, Sort: sort, Limit: limit, AllDuplicates: all}, nil)
					pages += pg
					total += h
				}
			}
		}
	}
	t.Logf("%d queries, %d pages, %d hits equal; searching took %v in bbolt, %v in PostgreSQL", len(queries), pages, total, p.tbb, p.tpg)
	if total == 0 {
		t.Fatal("no hits at all")
	}
}

// TestSearchFieldsAndFrequencies compares hand-made items whose terms sit
// in several fields at once (title and author), repeat many times, or are
// stopwords, elisions and CJK runs: the parts of items.terms (weights,
// positions) the random items rarely exercise.
func TestSearchFieldsAndFrequencies(t *testing.T) {
	p := newPair(t, 2, nil)
	at := func(h int) time.Time { return searchNow.Add(-time.Duration(h) * time.Hour) }
	items := []babelfeed.Item{
		{Key: "a", Lang: "it", Title: "Roma di notte", Author: "Jane Roma", Summary: "La città di Roma", Published: at(1)},
		{Key: "b", Lang: "it", Title: "Milano", Author: "Jane Roma", Summary: "roma roma", Published: at(2)},
		{Key: "c", Lang: "it", Title: "Roma", Summary: strings.Repeat("prezzo ", 70), Published: at(3)},
		{Key: "d", Lang: "it", Title: "Prezzi", Summary: strings.Repeat("prezzo ", 40) + "Roma", Published: at(3)},
		{Key: "e", Lang: "en", Title: "The the the", Author: "The Author", Summary: "the end", Published: at(4)},
		{Key: "f", Lang: "fr", Title: "L'université d'été", Author: "Université", Summary: "qu'il", Published: at(5)},
		{Key: "g", Lang: "ja", Title: "東京タワー", Author: "東京", Summary: "東京の大学 東京", Published: at(6)},
		{Key: "h", Lang: "de", Title: "Häuser", Author: "Haus Häuser", Summary: "Universität", Published: at(7)},
	}
	for i := range items {
		items[i].ContentHash = items[i].Key
	}
	p.save(p.feeds[0], items)
	for _, q := range []string{"roma", "author:roma", "intitle:roma", "prezzo", "prezzi roma", "the", "author:the", "intitle:the",
		"université", "author:université", "intitle:universite", "東京", "author:東京", "intitle:東京", "東", "author:東",
		"häuser", "author:haus", "intitle:haus", "haus OR roma OR the OR 東京"} {
		n := parseAt(t, q)
		for _, sort := range []search.Sort{search.Newest, search.Relevance} {
			p.compare(q, search.Request{Query: n, Sort: sort}, nil)
			p.compare(q, search.Request{Query: n, Sort: sort, Limit: 1}, nil)
		}
	}
}

// churn changes both stores the same way: revised items (new text, some
// in another language), a retag of every seventh item, a feed removed.
func (p *pair) churn() {
	p.t.Helper()
	f := p.feeds[1]
	var batch []babelfeed.Item
	for k := 1; k <= p.n; k += 9 {
		it := p.item(nil)
		it.Key = fmt.Sprint("k", k)
		it.ContentHash = "revised" + it.Key
		batch = append(batch, it)
	}
	// Keys of other feeds are new items of this one.
	p.save(f, batch)
	retag := func(it *babelfeed.Item) bool {
		if it.ID%7 != 0 {
			return false
		}
		it.Lang = searchLangs[int(it.ID/7)%len(searchLangs)]
		return true
	}
	if err := p.bb.UpdateItems(context.Background(), retag, nil); err != nil {
		p.t.Fatal(err)
	}
	if err := p.pg.UpdateItems(context.Background(), retag, nil); err != nil {
		p.t.Fatal(err)
	}
	gone := p.feeds[2].ID
	if err := p.bb.RemoveFeed(gone); err != nil {
		p.t.Fatal(err)
	}
	if err := p.pg.RemoveFeed(gone); err != nil {
		p.t.Fatal(err)
	}
	p.feeds = append(p.feeds[:2], p.feeds[3:]...)
	p.checkStats()
}

// checkStats compares the counts the triggers keep with the items.
func (p *pair) checkStats() {
	p.t.Helper()
	var bad int
	err := p.pg.pool.QueryRow(context.Background(), `SELECT count(*) FROM
		(SELECT lang, sum(docs) AS docs, sum(sum_len) AS len FROM search_lang_stats GROUP BY lang HAVING sum(docs) <> 0) s
		FULL JOIN (SELECT lang, count(*) AS docs, sum(least(coalesce(terms_len, 0), 65535)) AS len FROM items GROUP BY lang) i USING (lang)
		WHERE s.docs IS DISTINCT FROM i.docs OR s.len IS DISTINCT FROM i.len`).Scan(&bad)
	if err != nil {
		p.t.Fatal(err)
	}
	if bad != 0 {
		p.t.Fatalf("search_lang_stats disagrees with items in %d languages", bad)
	}
}

// TestSearchCursorWhileItemsArrive pages through listings while new items
// arrive between pages (newer and older than the page, in the languages
// searched): both stores go on the same way, the relevance listing with
// the statistics of its first page.
func TestSearchCursorWhileItemsArrive(t *testing.T) {
	p := newPair(t, 3, nil)
	p.fill(400)
	arrive := func() {
		var batch []babelfeed.Item
		for range 5 {
			batch = append(batch, p.item(nil))
		}
		p.save(p.feeds[p.r.IntN(len(p.feeds))], batch)
	}
	for _, q := range []string{"", "lang:it", "roma OR universita", "università", "大学", "-lang:en \"la città\""} {
		n := parseAt(t, q)
		for _, sort := range []search.Sort{search.Newest, search.Relevance} {
			p.compare(q, search.Request{Query: n, Sort: sort, Limit: 5}, arrive)
		}
	}
	p.checkStats()
}

// TestSearchErrors checks cursors of another query, malformed cursors and
// relevance without a usable index.
func TestSearchErrors(t *testing.T) {
	p := newPair(t, 4, nil)
	p.fill(60)
	ctx := context.Background()
	req := search.Request{Query: parseAt(t, "roma OR berlin"), Sort: search.Relevance, Limit: 2}
	page, err := p.pg.Search(ctx, req)
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %v, next %q", err, page.Next)
	}
	for _, c := range []struct {
		name string
		req  search.Request
	}{
		{"another query", search.Request{Query: parseAt(t, "roma"), Sort: search.Relevance, Cursor: page.Next}},
		{"another sort", search.Request{Query: req.Query, Sort: search.Newest, Cursor: page.Next}},
		{"garbage", search.Request{Query: req.Query, Sort: search.Relevance, Cursor: "!!"}},
		{"truncated", search.Request{Query: req.Query, Sort: search.Relevance, Cursor: page.Next[:len(page.Next)-3]}},
	} {
		if _, err := p.pg.Search(ctx, c.req); !errors.Is(err, search.ErrCursor) {
			t.Errorf("%s: got %v, want ErrCursor", c.name, err)
		}
	}

	// A store opened without the Indexer has no usable terms: relevance
	// is refused, newest scans, as in bbolt.
	bare, err := Open(ctx, pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	added, _, err := bare.AddFeeds([]babelfeed.Feed{{URL: "https://bare.example/rss"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.SaveFetch(added[0], []babelfeed.Item{{Key: "a", Lang: "it", Title: "Roma", ContentHash: "a", Published: searchNow}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Search(ctx, search.Request{Query: parseAt(t, "roma"), Sort: search.Relevance}); !errors.Is(err, search.ErrNoIndex) {
		t.Errorf("relevance without index: got %v, want ErrNoIndex", err)
	}
	got, err := bare.Search(ctx, search.Request{Query: parseAt(t, "roma"), Sort: search.Newest})
	if err != nil || len(got.Hits) != 1 || got.Indexed {
		t.Errorf("newest without index: %d hits, indexed %v, %v", len(got.Hits), got.Indexed, err)
	}
	// search.Search delegates to the store.
	if got, err := search.Search(ctx, bare, search.Request{Query: parseAt(t, "roma")}); err != nil || len(got.Hits) != 1 {
		t.Errorf("search.Search: %d hits, %v", len(got.Hits), err)
	}
}

func TestTSQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"roma":   "'roma'",
		"l'anno": "'l''anno'",
		`a\b`:    `'a\\b'`,
		"\x01il": "'\x01il'",
		"東京":     "'東京'",
	} {
		if got := tsLexeme(in); got != want {
			t.Errorf("tsLexeme(%q) = %q, want %q", in, got, want)
		}
	}
	if got := termQuery("東", query.FieldTitle, true); got != "'東':*A" {
		t.Errorf("prefix in title: %q", got)
	}
	if got := termQuery("roma", query.FieldAuthor, false); got != "'roma':B" {
		t.Errorf("author: %q", got)
	}
}

// TestSearchStatsConcurrentWriters has several connections save items of
// several languages at once: the counts the triggers keep still add up.
func TestSearchStatsConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var dbs []*DB
	for range 3 {
		db, err := Open(ctx, dsn, Options{Indexer: search.Indexer(), MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	var in []babelfeed.Feed
	for i := range 6 {
		in = append(in, babelfeed.Feed{URL: fmt.Sprintf("https://w%d.example/rss", i)})
	}
	feeds, _, err := dbs[0].AddFeeds(in, false)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(feeds))
	for i, f := range feeds {
		go func() {
			db := dbs[i%len(dbs)]
			for round := range 8 {
				var batch []babelfeed.Item
				for k := range 12 {
					// Languages in a different order in each feed.
					l := searchLangs[(i*3+k+round)%len(searchLangs)]
					batch = append(batch, babelfeed.Item{
						Key: fmt.Sprint(round, "-", k), Lang: l, Title: sentences["it"][k%6], Summary: sentences["de"][k%4],
						ContentHash: fmt.Sprint(round, k), Published: searchNow.Add(-time.Duration(k) * time.Minute),
					})
				}
				if _, err := db.SaveFetch(f, batch); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range feeds {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	p := &pair{t: t, pg: dbs[0]}
	p.checkStats()
}
