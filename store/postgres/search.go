package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/filter/analyze"
	"babelfeed/filter/query"
	"babelfeed/filter/search"
	"babelfeed/store"
)

// searchDDL creates what keyword search needs: a GIN index on items.terms
// (the item's terms as filter/analyze gives them, the same analysis as the
// bbolt keyword index: see termsVector) and each item's length in terms
// for BM25, computed by PostgreSQL from the vector so that no writer can
// forget it.
var searchDDL = []string{
	`CREATE OR REPLACE FUNCTION babelfeed_terms_len(v tsvector) RETURNS integer
	 LANGUAGE sql IMMUTABLE PARALLEL SAFE
	 AS $$ SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer FROM unnest(v) $$`,
	`ALTER TABLE items ADD COLUMN IF NOT EXISTS terms_len integer
	 GENERATED ALWAYS AS (babelfeed_terms_len(terms)) STORED`,
	`CREATE INDEX IF NOT EXISTS items_terms_gin ON items USING gin (terms)`,
	// Per-language totals for BM25 from the index alone.
	`CREATE INDEX IF NOT EXISTS items_lang_len ON items (lang) INCLUDE (terms_len)`,
}

var _ search.Backend = (*DB)(nil)

// BM25 parameters: filter/search's, so that scores are the same floats.
const (
	bm25K1     = 1.2
	bm25B      = 0.75
	titleBoost = 3
	// maxTF is the highest frequency the bbolt index keeps (six bits).
	maxTF = 63
)

// Search runs one page of req with PostgreSQL's indexes and returns what
// filter/search returns for the same items in a bbolt store: the same hits
// in the same order, with the same scores, and a cursor of its own.
//
// The restrictions at the top level of the query (lang:, -lang:, feed:,
// cat:, since:, until:) become plain conditions on items' columns; the
// words become tsqueries on items.terms, one per language searched, whose
// candidates are checked with Node.Match where the terms alone cannot
// decide (phrases, /regex/, inurl:), exactly as filter/search checks them.
// Everything is read in one repeatable-read transaction.
func (s *DB) Search(ctx context.Context, req search.Request) (search.Page, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return search.Page{}, fmt.Errorf("search %q: %w", queryString(req.Query), err)
	}
	defer tx.Rollback(context.Background())
	e := &pgEngine{s: s, ctx: ctx, tx: tx, req: req, a: analyze.Get(), items: map[uint64]*babelfeed.Item{}}
	defer analyze.Put(e.a)
	if err := e.run(); err != nil {
		return search.Page{}, fmt.Errorf("search %q: %w", queryString(req.Query), err)
	}
	return e.page, nil
}

func queryString(n query.Node) string {
	if n == nil {
		return ""
	}
	return n.String()
}

// pgEngine runs one request.
type pgEngine struct {
	s   *DB
	ctx context.Context
	tx  pgx.Tx
	req search.Request
	a   *analyze.Analyzer

	feedList []babelfeed.Feed
	feeds    map[uint64]*babelfeed.Feed
	items    map[uint64]*babelfeed.Item // loaded items, with originals of duplicates

	// The restrictions taken from the top level of the query, and the rest
	// of it (nil: nothing).
	langs   []string // nil: any
	feedIDs []uint64 // nil: any
	since   time.Time
	until   time.Time
	none    bool // the restrictions exclude everything
	rest    query.Node
	cur     pgCursor
	hasCur  bool
	page    search.Page
	hitPos  []store.Position // the positions of page.Hits
	// prefixes caches prefixTerms.
	prefixes map[string][]string
}

func (e *pgEngine) run() error {
	var err error
	if e.feedList, err = e.s.allFeeds(e.ctx, e.tx); err != nil {
		return fmt.Errorf("read feeds: %w", err)
	}
	e.feeds = make(map[uint64]*babelfeed.Feed, len(e.feedList))
	for i := range e.feedList {
		e.feeds[e.feedList[i].ID] = &e.feedList[i]
	}
	e.split()
	if e.req.Cursor != "" {
		c, err := decodePGCursor(e.req.Cursor, e.fingerprint())
		if err != nil {
			return err
		}
		e.cur, e.hasCur = c, true
	}
	if e.none {
		return nil
	}
	usable, err := e.indexUsable()
	if err != nil {
		return err
	}
	switch {
	case e.rest == nil:
		return e.newest(nil, nil)
	case !usable:
		if e.req.Sort == search.Relevance {
			return search.ErrNoIndex
		}
		// Scan: every item of the restrictions is checked.
		return e.newest(nil, nil)
	}
	e.page.Indexed = true
	return e.indexed()
}

// indexUsable reports whether every item's terms were computed with the
// current analysis (meta index_version, kept by the core store).
func (e *pgEngine) indexUsable() (bool, error) {
	var v string
	err := e.tx.QueryRow(e.ctx, `SELECT value FROM meta WHERE key = 'index_version'`).Scan(&v)
	if err == pgx.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read index state: %w", err)
	}
	return v == analyze.Version, nil
}

// split moves the top-level restrictions of the query (lang:, -lang:,
// feed:, cat:, since:, until:) out of it, as filter/search does.
func (e *pgEngine) split() {
	var terms []query.Node
	switch n := e.req.Query.(type) {
	case nil:
	case *query.And:
		terms = n.Nodes
	default:
		terms = []query.Node{n}
	}
	var langs, notLangs map[string]bool
	var feedSet map[uint64]bool
	var rest []query.Node
	for _, t := range terms {
		switch n := t.(type) {
		case *query.Lang:
			next := map[string]bool{}
			for _, c := range n.Codes {
				if langs == nil || langs[c] {
					next[c] = true
				}
			}
			langs = next
		case *query.Not:
			if l, ok := n.Node.(*query.Lang); ok {
				if notLangs == nil {
					notLangs = map[string]bool{}
				}
				for _, c := range l.Codes {
					notLangs[c] = true
				}
				continue
			}
			rest = append(rest, t)
		case *query.FeedRef, *query.Category:
			next := map[uint64]bool{}
			for i := range e.feedList {
				f := &e.feedList[i]
				if (feedSet == nil || feedSet[f.ID]) && t.Match(&babelfeed.Item{FeedID: f.ID}, f) {
					next[f.ID] = true
				}
			}
			feedSet = next
		case *query.Since:
			if n.T.After(e.since) {
				e.since = n.T
			}
		case *query.Until:
			if e.until.IsZero() || n.T.Before(e.until) {
				e.until = n.T
			}
		default:
			rest = append(rest, t)
		}
	}
	if notLangs != nil {
		if langs == nil {
			// Every language the feeds have, but those (as filter/search).
			langs = map[string]bool{}
			for _, f := range e.feedList {
				for l, n := range f.Languages {
					if n > 0 {
						langs[l] = true
					}
				}
			}
		}
		for l := range notLangs {
			delete(langs, l)
		}
	}
	if langs != nil {
		if len(langs) == 0 {
			e.none = true
		}
		e.langs = sortedKeys(langs)
	}
	if feedSet != nil {
		if len(feedSet) == 0 {
			e.none = true
		}
		e.feedIDs = sortedKeys(feedSet)
	}
	if !e.since.IsZero() && !e.until.IsZero() && !e.since.Before(e.until) {
		e.none = true
	}
	switch len(rest) {
	case 0:
	case 1:
		e.rest = rest[0]
	default:
		e.rest = &query.And{Nodes: rest}
	}
}

func sortedKeys[K interface{ ~string | ~uint64 }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fingerprint ties a cursor to the query and sort it was made for.
func (e *pgEngine) fingerprint() uint64 {
	h := uint64(14695981039346656037)
	for _, c := range []byte(e.req.Sort.String() + "\x00" + queryString(e.req.Query)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// restrict returns the SQL conditions of the top-level restrictions.
func (e *pgEngine) restrict(args *sqlArgs) []string {
	var where []string
	if e.langs != nil {
		where = append(where, "i.lang = ANY("+args.texts(e.langs)+")")
	}
	if e.feedIDs != nil {
		where = append(where, "i.feed_id = ANY("+args.ids(e.feedIDs)+")")
	}
	if !e.since.IsZero() {
		where = append(where, "i.sort_ns >= "+args.add("", nanosOf(e.since)))
	}
	if !e.until.IsZero() {
		where = append(where, "i.sort_ns < "+args.add("", nanosOf(e.until)))
	}
	return where
}

// nanosOf is t in Unix nanoseconds, clamped as the stores' sort_ns.
func nanosOf(t time.Time) int64 { return store.PositionOf(&babelfeed.Item{Published: t}).Nanos }

// langPlan is what one language of the search contributes.
type langPlan struct {
	lang string
	p    pred
}

// plan translates the rest of the query for every language searched; it
// returns the languages' predicates and, when ranking, the scorers.
func (e *pgEngine) plan(langs []string, args *sqlArgs, ranking bool) ([]langPlan, []scorer, error) {
	var scorers []scorer
	plans := make([]langPlan, len(langs))
	for i, l := range langs {
		t := &translator{e: e, args: args, lang: l, langIdx: i}
		if ranking {
			t.scorers, t.scoreKey = &scorers, map[string]bool{}
		}
		plans[i] = langPlan{lang: l, p: t.eval(e.rest, true)}
		if t.err != nil {
			return nil, nil, t.err
		}
	}
	return plans, scorers, nil
}

// candidates is the SQL condition "one of the plans selects the row":
// languages with the same predicate are grouped.
func candidates(plans []langPlan, args *sqlArgs) string {
	byPred := map[string][]string{}
	var order []string
	for _, pl := range plans {
		if pl.p.isFalse() {
			continue
		}
		key := pl.p.sql
		if _, ok := byPred[key]; !ok {
			order = append(order, key)
		}
		byPred[key] = append(byPred[key], pl.lang)
	}
	if len(order) == 0 {
		return "false"
	}
	var parts []string
	for _, key := range order {
		cond := "i.lang = ANY(" + args.texts(byPred[key]) + ")"
		if key != "" {
			cond += " AND " + key
		}
		parts = append(parts, "("+cond+")")
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// langStats returns the number of items and their total length in terms
// per language (filter/search's corpus statistics).
func (e *pgEngine) langStats() (map[string]store.LangStats, error) {
	rows, err := e.tx.Query(e.ctx, `SELECT lang, count(*), coalesce(sum(least(coalesce(terms_len, 0), 65535)), 0)::bigint
		FROM items GROUP BY lang`)
	if err != nil {
		return nil, fmt.Errorf("read language totals: %w", err)
	}
	out := map[string]store.LangStats{}
	for rows.Next() {
		var l string
		var st store.LangStats
		if err := rows.Scan(&l, &st.Docs, &st.SumLen); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read language totals: %w", err)
		}
		out[l] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read language totals: %w", err)
	}
	return out, nil
}

// searchLangs returns the languages to search: those the restrictions
// name, or every language with items.
func (e *pgEngine) searchLangs(stats map[string]store.LangStats) []string {
	var out []string
	if e.langs != nil {
		for _, l := range e.langs {
			if stats[l].Docs > 0 {
				out = append(out, l)
			}
		}
		return out
	}
	for l, st := range stats {
		if st.Docs > 0 {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// prefixTerms returns the terms of lang's items that start with the
// spaceless unit u as a whole unit (analyze.PrefixMatch), sorted.
func (e *pgEngine) prefixTerms(lang, u string) ([]string, error) {
	key := lang + "\x00" + u
	if t, ok := e.prefixes[key]; ok {
		return t, nil
	}
	rows, err := e.tx.Query(e.ctx, `SELECT DISTINCT x.lexeme FROM items i, unnest(i.terms) x
		WHERE i.lang = $1 AND i.terms @@ $2::tsquery AND starts_with(x.lexeme, $3)`,
		lang, termQuery(u, query.FieldAny, true), u)
	if err != nil {
		return nil, fmt.Errorf("terms starting with %q: %w", u, err)
	}
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("terms starting with %q: %w", u, err)
		}
		if analyze.PrefixMatch(t, u) {
			out = append(out, t)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("terms starting with %q: %w", u, err)
	}
	slices.Sort(out)
	if e.prefixes == nil {
		e.prefixes = map[string][]string{}
	}
	e.prefixes[key] = out
	return out, nil
}

// indexed answers the query with items.terms.
func (e *pgEngine) indexed() error {
	relevance := e.req.Sort == search.Relevance
	var stats map[string]store.LangStats
	if relevance && e.hasCur && e.cur.kind == kindRelevance {
		stats = e.cur.stats
	} else {
		var err error
		if stats, err = e.langStats(); err != nil {
			return err
		}
	}
	langs := e.searchLangs(stats)
	args := &sqlArgs{}
	plans, scorers, err := e.plan(langs, args, relevance)
	if err != nil {
		return err
	}
	if relevance && len(scorers) > 0 {
		if e.hasCur && e.cur.kind != kindRelevance {
			return search.ErrCursor
		}
		return e.ranked(langs, plans, scorers, stats, args)
	}
	// Nothing to rank by (no words outside a '-'): newest first.
	if e.hasCur && e.cur.kind != kindNewest {
		return search.ErrCursor
	}
	return e.newest(plans, args)
}

// full reports whether the page has all it needs; one hit more than the
// limit is collected to know that a next page exists.
func (e *pgEngine) full() bool {
	return e.req.Limit > 0 && len(e.page.Hits) > e.req.Limit
}

// newest lists the items the plans select (nil plans: every item of the
// restrictions, each checked against the rest of the query, if any)
// newest first, from the cursor on, in batches.
func (e *pgEngine) newest(plans []langPlan, args *sqlArgs) error {
	if args == nil {
		args = &sqlArgs{}
	}
	where := e.restrict(args)
	exact := map[string]bool{}
	if plans != nil {
		where = append(where, candidates(plans, args))
		for _, pl := range plans {
			exact[pl.lang] = pl.p.exact
		}
	}
	var after *store.Position
	if e.hasCur {
		after = &e.cur.pos
	}
	batch := 64
	if e.req.Limit > 0 {
		batch = e.req.Limit + 1
	}
	for {
		a := &sqlArgs{vals: slices.Clone(args.vals)} // placeholders below are new
		w := where
		if after != nil {
			w = append(slices.Clone(where), fmt.Sprintf("(i.sort_ns, i.id) < (%s, %s)",
				a.add("", after.Nanos), a.add("", int64(after.ID))))
		}
		sql := "SELECT i.sort_ns, i.lang, " + itemCols + " FROM items i"
		if len(w) > 0 {
			sql += " WHERE " + strings.Join(w, " AND ")
		}
		sql += fmt.Sprintf(" ORDER BY i.sort_ns DESC, i.id DESC LIMIT %d", batch)
		sql, vals := a.compact(sql)
		rows, err := e.tx.Query(e.ctx, sql, vals...)
		if err != nil {
			return fmt.Errorf("list items: %w", err)
		}
		var got []candRow
		for rows.Next() {
			var c candRow
			it, err := scanSearchItem(rows, &c.pos.Nanos, &c.lang)
			if err != nil {
				rows.Close()
				return fmt.Errorf("list items: %w", err)
			}
			c.pos.ID = it.ID
			e.items[it.ID] = it
			got = append(got, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list items: %w", err)
		}
		if err := e.loadOriginals(got); err != nil {
			return err
		}
		for i := range got {
			c := &got[i]
			e.page.Candidates++
			check := e.rest != nil && (plans == nil || !exact[c.lang])
			if !e.take(c, check) {
				break
			}
		}
		if e.full() || len(got) < batch {
			break
		}
		after = &got[len(got)-1].pos
		batch = min(batch*4, 4096)
	}
	e.finish(func(last *search.Hit, pos store.Position) pgCursor { return pgCursor{kind: kindNewest, pos: pos} })
	return nil
}

// candRow is one candidate item.
type candRow struct {
	pos    store.Position
	lang   string
	li     int // index of the language searched (ranking)
	length int
	pays   map[string]int // scorer terms present: positions | 256 (title) | 512 (author)
	score  float64
}

const (
	payTitle  = 256
	payAuthor = 512
	payFreq   = 255
)

// take checks a loaded candidate (the rest of the query when check, and
// duplicates) and adds it to the page; it reports whether the page wants
// more.
func (e *pgEngine) take(c *candRow, check bool) bool {
	it := e.items[c.pos.ID]
	if it == nil {
		return true
	}
	f := e.feed(it.FeedID)
	if check {
		e.page.Checked++
		if !e.rest.Match(it, &f) {
			return true
		}
	}
	if e.hideDuplicate(it) {
		return true
	}
	e.page.Hits = append(e.page.Hits, search.Hit{Item: *it, Feed: f, Score: c.score})
	e.hitPos = append(e.hitPos, c.pos)
	return !e.full()
}

func (e *pgEngine) feed(id uint64) babelfeed.Feed {
	if f := e.feeds[id]; f != nil {
		return *f
	}
	return babelfeed.Feed{}
}

// hideDuplicate reports whether it is a duplicate to leave out (see
// search.Request.AllDuplicates): its original matches the query too.
func (e *pgEngine) hideDuplicate(it *babelfeed.Item) bool {
	if e.req.AllDuplicates || it.DuplicateOf == 0 {
		return false
	}
	orig := e.items[it.DuplicateOf]
	if orig == nil {
		return false // the original is gone: the copy is all there is
	}
	if e.req.Query == nil {
		return true
	}
	f := e.feed(orig.FeedID)
	return e.req.Query.Match(orig, &f)
}

// loadOriginals loads the originals of the duplicates among cands.
func (e *pgEngine) loadOriginals(cands []candRow) error {
	if e.req.AllDuplicates {
		return nil
	}
	var ids []uint64
	for _, c := range cands {
		if it := e.items[c.pos.ID]; it != nil && it.DuplicateOf != 0 {
			if _, ok := e.items[it.DuplicateOf]; !ok {
				ids = append(ids, it.DuplicateOf)
			}
		}
	}
	return e.loadItems(ids)
}

// loadItems loads the items with the given IDs that are not loaded yet;
// a missing one stays missing (nil).
func (e *pgEngine) loadItems(ids []uint64) error {
	var want []int64
	for _, id := range ids {
		if _, ok := e.items[id]; !ok {
			want = append(want, int64(id))
			e.items[id] = nil
		}
	}
	if len(want) == 0 {
		return nil
	}
	rows, err := e.tx.Query(e.ctx, `SELECT i.sort_ns, i.lang, `+itemCols+` FROM items i WHERE i.id = ANY($1)`, want)
	if err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var l string
		it, err := scanSearchItem(rows, &n, &l)
		if err != nil {
			return fmt.Errorf("read items: %w", err)
		}
		e.items[it.ID] = it
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	return nil
}

// finish trims the extra hit and makes the next cursor.
func (e *pgEngine) finish(make func(last *search.Hit, pos store.Position) pgCursor) {
	if e.req.Limit > 0 && len(e.page.Hits) > e.req.Limit {
		e.page.Hits = e.page.Hits[:e.req.Limit]
		n := len(e.page.Hits) - 1
		c := make(&e.page.Hits[n], e.hitPos[n])
		e.page.Next = c.encode(e.fingerprint())
	}
}

// ranked orders every candidate by BM25, as filter/search does: the corpus
// statistics come from the cursor after the first page, and document
// frequencies count only items up to the first page's highest ID, so that
// the scores of a listing do not move while new items arrive.
func (e *pgEngine) ranked(langs []string, plans []langPlan, scorers []scorer, stats map[string]store.LangStats, args *sqlArgs) error {
	var maxID uint64
	if e.hasCur {
		maxID = e.cur.maxID
	} else {
		var m int64
		if err := e.tx.QueryRow(e.ctx, `SELECT coalesce(max(id), 0) FROM items`).Scan(&m); err != nil {
			return fmt.Errorf("read highest item ID: %w", err)
		}
		maxID = uint64(m)
	}
	langIdx := map[string]int{}
	exact := map[string]bool{}
	for i, pl := range plans {
		langIdx[pl.lang] = i
		exact[pl.lang] = pl.p.exact
	}
	if err := e.docFreqs(langs, scorers, maxID); err != nil {
		return err
	}

	// The candidates, with their lengths and the scorers' terms they have.
	where := e.restrict(args)
	where = append(where, "i.id <= "+args.add("", int64(maxID)), candidates(plans, args))
	var want []string
	for _, sc := range scorers {
		want = append(want, sc.terms...)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	sql := `SELECT i.id, i.sort_ns, i.lang, coalesce(i.terms_len, 0), t.lx, t.py FROM items i
		LEFT JOIN LATERAL (SELECT array_agg(x.lexeme) AS lx,
			array_agg(least(coalesce(array_length(x.positions, 1), 1), 255)
				+ CASE WHEN 'A' = ANY(x.weights) THEN 256 ELSE 0 END
				+ CASE WHEN 'B' = ANY(x.weights) THEN 512 ELSE 0 END) AS py
			FROM unnest(i.terms) x WHERE x.lexeme = ANY(` + args.texts(want) + `)) t ON true
		WHERE ` + strings.Join(where, " AND ")
	sql, vals := args.compact(sql)
	rows, err := e.tx.Query(e.ctx, sql, vals...)
	if err != nil {
		return fmt.Errorf("read candidates: %w", err)
	}
	var cands []candRow
	for rows.Next() {
		var id int64
		var c candRow
		var lx []string
		var py []int32
		if err := rows.Scan(&id, &c.pos.Nanos, &c.lang, &c.length, &lx, &py); err != nil {
			rows.Close()
			return fmt.Errorf("read candidates: %w", err)
		}
		c.pos.ID = uint64(id)
		c.li = langIdx[c.lang]
		c.length = min(c.length, math.MaxUint16)
		if len(lx) > 0 {
			c.pays = make(map[string]int, len(lx))
			for k, t := range lx {
				c.pays[t] = int(py[k])
			}
		}
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read candidates: %w", err)
	}
	e.page.Candidates = len(cands)

	// Scores, term by term in filter/search's order, so that each is the
	// same float.
	for _, sc := range scorers {
		st := stats[langs[sc.lang]]
		n := float64(st.Docs)
		avg := 1.0
		if st.Docs > 0 && st.SumLen > 0 {
			avg = float64(st.SumLen) / n
		}
		df := sc.df
		idf := math.Log(1 + (n-float64(df)+0.5)/(float64(df)+0.5))
		for ci := range cands {
			c := &cands[ci]
			if c.li != sc.lang || c.pays == nil {
				continue
			}
			tf, ok := sc.tf(c.pays)
			if !ok {
				continue
			}
			norm := bm25K1 * (1 - bm25B + bm25B*float64(c.length)/avg)
			c.score += idf * tf * (bm25K1 + 1) / (tf + norm)
		}
	}
	if e.hasCur {
		kept := cands[:0]
		for _, c := range cands {
			if rankedAfter(&e.cur, &c) {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	sort.Slice(cands, func(i, j int) bool { return rankedBefore(&cands[i], &cands[j]) })

	// Load and check them in order, a batch at a time.
	batch := 64
	if e.req.Limit > 0 {
		batch = e.req.Limit + 1
	}
	for start := 0; start < len(cands) && !e.full(); {
		end := min(start+batch, len(cands))
		ids := make([]uint64, 0, end-start)
		for _, c := range cands[start:end] {
			ids = append(ids, c.pos.ID)
		}
		if err := e.loadItems(ids); err != nil {
			return err
		}
		if err := e.loadOriginals(cands[start:end]); err != nil {
			return err
		}
		for i := start; i < end; i++ {
			if !e.take(&cands[i], !exact[cands[i].lang]) {
				break
			}
		}
		start = end
		batch = min(batch*4, 4096)
	}
	snapshot := map[string]store.LangStats{}
	for _, l := range langs {
		snapshot[l] = stats[l]
	}
	e.finish(func(last *search.Hit, pos store.Position) pgCursor {
		return pgCursor{kind: kindRelevance, pos: pos, score: last.Score, maxID: maxID, stats: snapshot}
	})
	return nil
}

// tf returns the scorer's term frequency in an item whose scorer terms are
// pays, as filter/search computes it from the bbolt payload; ok is false
// when the item is not in the scorer's list.
func (sc *scorer) tf(pays map[string]int) (float64, bool) {
	inField := func(p int) bool {
		switch sc.field {
		case query.FieldTitle:
			return p&payTitle != 0
		case query.FieldAuthor:
			return p&payAuthor != 0
		}
		return true
	}
	if sc.prefix {
		for _, t := range sc.terms {
			if p, ok := pays[t]; ok && inField(p) {
				return 1, true
			}
		}
		return 0, false
	}
	p, ok := pays[sc.terms[0]]
	if !ok || !inField(p) {
		return 0, false
	}
	tf := float64(min(p&payFreq, maxTF))
	if p&payTitle != 0 {
		tf += titleBoost - 1
	}
	return tf, true
}

// docFreqs counts, for every scorer, the items of its language up to maxID
// it counts (filter/search's document frequency), in one statement.
func (e *pgEngine) docFreqs(langs []string, scorers []scorer, maxID uint64) error {
	if len(scorers) == 0 {
		return nil
	}
	args := &sqlArgs{}
	var cols []string
	var idx []int
	maxArg := args.add("", int64(maxID))
	for i, sc := range scorers {
		if sc.tsq == "" {
			continue // a prefix nothing starts with
		}
		cols = append(cols, fmt.Sprintf("(SELECT count(*) FROM items i WHERE i.lang = %s AND i.id <= %s AND i.terms @@ %s)",
			args.text(langs[sc.lang]), maxArg, args.tsquery(sc.tsq)))
		idx = append(idx, i)
	}
	if len(cols) == 0 {
		return nil
	}
	counts := make([]int64, len(cols))
	dst := make([]any, len(cols))
	for i := range counts {
		dst[i] = &counts[i]
	}
	sql, vals := args.compact("SELECT " + strings.Join(cols, ", "))
	if err := e.tx.QueryRow(e.ctx, sql, vals...).Scan(dst...); err != nil {
		return fmt.Errorf("count documents per term: %w", err)
	}
	for k, i := range idx {
		scorers[i].df = int(counts[k])
	}
	return nil
}

// rankedBefore orders candidates by score, then newest first.
func rankedBefore(a, b *candRow) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.pos.Before(b.pos)
}

// rankedAfter reports whether c comes after the cursor.
func rankedAfter(cur *pgCursor, c *candRow) bool {
	if c.score != cur.score {
		return c.score < cur.score
	}
	return cur.pos.Before(c.pos)
}

// scanSearchItem reads sort_ns, lang and itemCols (see scanItem).
func scanSearchItem(row pgx.Row, sortNS *int64, lang *string) (*babelfeed.Item, error) {
	var id, feed int64
	var dup *int64
	var data []byte
	if err := row.Scan(sortNS, lang, &id, &feed, &dup, &data); err != nil {
		return nil, err
	}
	it, err := decodeItem(data)
	if err != nil {
		return nil, fmt.Errorf("item %d: %w", id, err)
	}
	it.ID, it.FeedID = uint64(id), uint64(feed)
	if dup != nil {
		it.DuplicateOf = uint64(*dup)
	}
	return &it, nil
}
