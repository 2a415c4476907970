package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/filter/analyze"
	"babelfeed/filter/query"
	"babelfeed/filter/search"
	"babelfeed/store"
)

// searchDDL creates what keyword search needs:
//
//   - items.terms_len, each item's length in terms for BM25, computed by
//     PostgreSQL from items.terms (the item's terms as filter/analyze gives
//     them, the same analysis as the bbolt keyword index: see termsVector)
//     so that no writer can forget it;
//   - rows kept whole in the table up to 8 KB (toast_tuple_target): out of
//     line, an item's terms were fetched from the TOAST table again by every
//     match of a ranked search (a common word ranked in 110 ms instead of
//     89 ms on 20,000 items, 20,000 buffers read instead of 3,600);
//   - a GIN index on items.terms. Its pending list (fastupdate) is kept
//     small: a search reads the whole list, and the default 4 MB made a
//     rare word take 140 ms on 20,000 fresh items;
//   - search_lang_stats, the number of items and their total length per
//     language (BM25's corpus statistics), kept by triggers on items in
//     64 shards per language, picked by the writing backend's process ID,
//     so that pollers writing at once seldom wait on one row (two that do
//     may deadlock, rarely: the store's transactions retry then); a
//     search sums at most 64 rows per language.
//     The first Open that creates the triggers counts the items already
//     there, with writers locked out meanwhile.
var searchDDL = []string{
	`CREATE OR REPLACE FUNCTION babelfeed_terms_len(v tsvector) RETURNS integer
	 LANGUAGE sql IMMUTABLE PARALLEL SAFE
	 AS $$ SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer FROM unnest(v) $$`,
	`ALTER TABLE items ADD COLUMN IF NOT EXISTS terms_len integer
	 GENERATED ALWAYS AS (babelfeed_terms_len(terms)) STORED`,
	`ALTER TABLE items SET (toast_tuple_target = 8160)`,
	`CREATE INDEX IF NOT EXISTS items_terms_gin ON items USING gin (terms)
	 WITH (fastupdate = on, gin_pending_list_limit = 256)`,
	`CREATE TABLE IF NOT EXISTS search_lang_stats (
		lang text NOT NULL,
		shard integer NOT NULL,
		docs bigint NOT NULL,
		sum_len bigint NOT NULL,
		PRIMARY KEY (lang, shard))`,
	`CREATE OR REPLACE FUNCTION babelfeed_search_stats() RETURNS trigger LANGUAGE plpgsql
	 SET search_path FROM CURRENT AS $$
	 DECLARE
		sh integer := pg_backend_pid() % 64;
	 BEGIN
		IF TG_OP IN ('UPDATE', 'DELETE') THEN
			INSERT INTO search_lang_stats AS s (lang, shard, docs, sum_len)
			VALUES (OLD.lang, sh, -1, -least(coalesce(OLD.terms_len, 0), 65535))
			ON CONFLICT (lang, shard) DO UPDATE SET docs = s.docs + EXCLUDED.docs, sum_len = s.sum_len + EXCLUDED.sum_len;
		END IF;
		IF TG_OP IN ('UPDATE', 'INSERT') THEN
			INSERT INTO search_lang_stats AS s (lang, shard, docs, sum_len)
			VALUES (NEW.lang, sh, 1, least(coalesce(NEW.terms_len, 0), 65535))
			ON CONFLICT (lang, shard) DO UPDATE SET docs = s.docs + EXCLUDED.docs, sum_len = s.sum_len + EXCLUDED.sum_len;
		END IF;
		RETURN NULL;
	 END $$`,
	`DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'items'::regclass AND tgname = 'items_search_stats_ins') THEN
			LOCK TABLE items IN SHARE ROW EXCLUSIVE MODE;
			DELETE FROM search_lang_stats;
			INSERT INTO search_lang_stats (lang, shard, docs, sum_len)
				SELECT lang, 0, count(*), sum(least(coalesce(terms_len, 0), 65535)) FROM items GROUP BY lang;
			CREATE TRIGGER items_search_stats_ins AFTER INSERT ON items
				FOR EACH ROW EXECUTE FUNCTION babelfeed_search_stats();
			CREATE TRIGGER items_search_stats_del AFTER DELETE ON items
				FOR EACH ROW EXECUTE FUNCTION babelfeed_search_stats();
			CREATE TRIGGER items_search_stats_upd AFTER UPDATE ON items
				FOR EACH ROW WHEN (OLD.lang IS DISTINCT FROM NEW.lang OR OLD.terms_len IS DISTINCT FROM NEW.terms_len)
				EXECUTE FUNCTION babelfeed_search_stats();
		END IF;
	 END $$`,
}

var _ search.Backend = (*DB)(nil)

// BM25 parameters: filter/search's, so that scores are the same floats.
const (
	bm25K1     = 1.2
	bm25B      = 0.75
	titleBoost = 3
	// maxTF is the highest frequency the bbolt index keeps (six bits).
	maxTF = 63
	// tfChain is how many frequencies probes tells by phrase matches.
	tfChain = 6
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

// cursorPrefix starts the cursors of this store (see search.Cursor), so
// that a cursor of a bbolt store is refused here and one of this store
// there.
const cursorPrefix = "P"

// pgEngine runs one request.
type pgEngine struct {
	s   *DB
	ctx context.Context
	tx  pgx.Tx
	req search.Request
	a   *analyze.Analyzer

	usable   bool                       // items.terms is current
	stats    map[string]store.LangStats // per language, now
	maxID    uint64                     // the highest item ID, now
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
	cur     search.Cursor
	hasCur  bool
	page    search.Page
	hitPos  []store.Position // the positions of page.Hits
	// searched are the languages searched; prefixes caches prefixTerms.
	searched []string
	prefixes map[string]map[string][]string
}

func (e *pgEngine) run() error {
	if err := e.readState(); err != nil {
		return err
	}
	scan, rest, none := search.SplitQuery(e.req.Query, e.feedList)
	e.langs, e.feedIDs, e.since, e.until = scan.Langs, scan.FeedIDs, scan.Since, scan.Until
	e.rest, e.none = rest, none
	if e.req.Cursor != "" {
		c, err := search.DecodeCursor(e.req.Cursor, cursorPrefix, e.req)
		if err != nil {
			return err
		}
		e.cur, e.hasCur = c, true
	}
	if e.none {
		return nil
	}
	switch {
	case e.rest == nil:
		return e.newest(nil, nil)
	case !e.usable:
		if e.req.Sort == search.Relevance {
			return search.ErrNoIndex
		}
		// Scan: every item of the restrictions is checked.
		return e.newest(nil, nil)
	}
	e.page.Indexed = true
	return e.indexed()
}

// readState reads, in one round trip, what every search needs: the feeds,
// whether every item's terms were computed with the current analysis (meta
// index_version, kept by the core store), the corpus statistics per
// language, and the highest item ID.
func (e *pgEngine) readState() error {
	b := &pgx.Batch{}
	b.Queue(`SELECT ` + feedColumns + ` FROM feeds f ORDER BY f.id`)
	b.Queue(`SELECT value FROM meta WHERE key = 'index_version'`)
	b.Queue(`SELECT lang, sum(docs)::bigint, sum(sum_len)::bigint FROM search_lang_stats GROUP BY lang HAVING sum(docs) > 0`)
	b.Queue(`SELECT coalesce(max(id), 0) FROM items`)
	br := e.tx.SendBatch(e.ctx, b)
	defer br.Close()

	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("read feeds: %w", err)
	}
	for rows.Next() {
		f, err := scanFeed(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read feeds: %w", err)
		}
		e.feedList = append(e.feedList, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read feeds: %w", err)
	}
	e.feeds = make(map[uint64]*babelfeed.Feed, len(e.feedList))
	for i := range e.feedList {
		e.feeds[e.feedList[i].ID] = &e.feedList[i]
	}

	var v string
	switch err := br.QueryRow().Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read index state: %w", err)
	}
	e.usable = v == analyze.Version

	if rows, err = br.Query(); err != nil {
		return fmt.Errorf("read language totals: %w", err)
	}
	e.stats = map[string]store.LangStats{}
	for rows.Next() {
		var l string
		var st store.LangStats
		if err := rows.Scan(&l, &st.Docs, &st.SumLen); err != nil {
			rows.Close()
			return fmt.Errorf("read language totals: %w", err)
		}
		e.stats[l] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read language totals: %w", err)
	}

	var maxID int64
	if err := br.QueryRow().Scan(&maxID); err != nil {
		return fmt.Errorf("read highest item ID: %w", err)
	}
	e.maxID = uint64(maxID)
	return br.Close()
}

// restrict returns the SQL conditions of the top-level restrictions.
func (e *pgEngine) restrict(args *sqlArgs) []string {
	var where []string
	if e.langs != nil {
		where = append(where, langIn(e.langs, args))
	}
	if e.feedIDs != nil {
		where = append(where, "i.feed_id = ANY("+args.ids(e.feedIDs)+")")
	}
	if !e.since.IsZero() {
		where = append(where, "i.sort_ns >= "+args.add("", store.UnixNanos(e.since)))
	}
	if !e.until.IsZero() {
		where = append(where, "i.sort_ns < "+args.add("", store.UnixNanos(e.until)))
	}
	return where
}

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

// langIn is the condition "the item is in one of langs"; one language is
// an equality, which lets PostgreSQL walk items_lang in order.
func langIn(langs []string, args *sqlArgs) string {
	if len(langs) == 1 {
		return "i.lang = " + args.text(langs[0])
	}
	return "i.lang = ANY(" + args.texts(langs) + ")"
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
		cond := langIn(byPred[key], args)
		if key != "" {
			cond += " AND " + key
		}
		parts = append(parts, "("+cond+")")
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// prefixTerms returns the terms of lang's items that start with the
// spaceless unit u as a whole unit (analyze.PrefixMatch), sorted. The
// terms of every language searched are read at once, on the first call for
// u.
func (e *pgEngine) prefixTerms(lang, u string) ([]string, error) {
	byLang, ok := e.prefixes[u]
	if !ok {
		rows, err := e.tx.Query(e.ctx, `SELECT DISTINCT i.lang, x.lexeme FROM items i, unnest(i.terms) x
			WHERE i.terms @@ $1::tsquery AND i.lang = ANY($2::text[]) AND starts_with(x.lexeme, $3)`,
			termQuery(u, query.FieldAny, true), e.searched, u)
		if err != nil {
			return nil, fmt.Errorf("terms starting with %q: %w", u, err)
		}
		byLang = map[string][]string{}
		for rows.Next() {
			var l, t string
			if err := rows.Scan(&l, &t); err != nil {
				rows.Close()
				return nil, fmt.Errorf("terms starting with %q: %w", u, err)
			}
			if analyze.PrefixMatch(t, u) {
				byLang[l] = append(byLang[l], t)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("terms starting with %q: %w", u, err)
		}
		for _, ts := range byLang {
			slices.Sort(ts)
		}
		if e.prefixes == nil {
			e.prefixes = map[string]map[string][]string{}
		}
		e.prefixes[u] = byLang
	}
	return byLang[lang], nil
}

// indexed answers the query with items.terms.
func (e *pgEngine) indexed() error {
	relevance := e.req.Sort == search.Relevance
	stats := e.stats
	if relevance && e.hasCur && e.cur.Kind == search.CursorRelevance {
		stats = e.cur.Stats
	}
	langs := search.LangsToSearch(e.langs, stats)
	e.searched = langs
	args := &sqlArgs{}
	plans, scorers, err := e.plan(langs, args, relevance)
	if err != nil {
		return err
	}
	if relevance && len(scorers) > 0 {
		if e.hasCur && e.cur.Kind != search.CursorRelevance {
			return search.ErrCursor
		}
		return e.ranked(langs, plans, scorers, stats, args)
	}
	// Nothing to rank by (no words outside a '-'): newest first.
	if e.hasCur && e.cur.Kind != search.CursorNewest {
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
	cand := ""
	if plans != nil {
		cand = candidates(plans, args)
		for _, pl := range plans {
			exact[pl.lang] = pl.p.exact
		}
	}
	var after *store.Position
	if e.hasCur {
		after = &e.cur.Pos
	}
	batch := 64
	if e.req.Limit > 0 {
		batch = e.req.Limit + 1
	}
	// With words, the first round walks the newest rows in order and
	// keeps those the words select, which answers a common word at once;
	// the next rounds ask the GIN index for the older candidates and sort
	// them, which answers a rare word without walking every row. Left to
	// itself the planner walks the order index for a LIMIT whenever it
	// overestimates a word's frequency: 90 ms for a word in 16 items of
	// 20,000.
	walk := cand != ""
	for {
		a := &sqlArgs{vals: slices.Clone(args.vals)} // placeholders below are new
		w := slices.Clone(where)
		if after != nil {
			w = append(w, fmt.Sprintf("(i.sort_ns, i.id) < (%s, %s)", a.add("", after.Nanos), a.add("", int64(after.ID))))
		}
		var sql string
		n := batch
		switch {
		case walk:
			n = max(64, 4*batch)
			sql = "SELECT i.sort_ns, i.lang, i.id, i.feed_id, i.duplicate_of, CASE WHEN " + cand + " THEN i.data END" +
				" FROM (SELECT * FROM items i" + whereSQL(w) + fmt.Sprintf(" ORDER BY i.sort_ns DESC, i.id DESC LIMIT %d) i", n) +
				" ORDER BY i.sort_ns DESC, i.id DESC"
		case cand != "":
			// "+ 0": sorted, not walked in order (see above).
			sql = "SELECT i.sort_ns, i.lang, " + itemCols + " FROM items i" + whereSQL(append(w, cand)) +
				fmt.Sprintf(" ORDER BY i.sort_ns + 0 DESC, i.id DESC LIMIT %d", n)
		default:
			sql = "SELECT i.sort_ns, i.lang, " + itemCols + " FROM items i" + whereSQL(w) +
				fmt.Sprintf(" ORDER BY i.sort_ns DESC, i.id DESC LIMIT %d", n)
		}
		sql, vals := a.compact(sql)
		rows, err := e.tx.Query(e.ctx, sql, vals...)
		if err != nil {
			return fmt.Errorf("list items: %w", err)
		}
		var got []candRow
		var last *store.Position
		seen := 0
		for rows.Next() {
			var c candRow
			it, err := scanSearchItem(rows, &c.pos, &c.lang)
			if err != nil {
				rows.Close()
				return fmt.Errorf("list items: %w", err)
			}
			seen++
			last = &store.Position{Nanos: c.pos.Nanos, ID: c.pos.ID}
			if it == nil {
				continue // walked past, not selected
			}
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
		if e.full() || seen < n {
			break
		}
		after = last
		if walk {
			walk = false
			continue
		}
		batch = min(batch*4, 4096)
	}
	e.finish(func(last *search.Hit, pos store.Position) search.Cursor {
		return search.Cursor{Kind: search.CursorNewest, Pos: pos}
	})
	return nil
}

func whereSQL(w []string) string {
	if len(w) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w, " AND ")
}

// candRow is one candidate item.
type candRow struct {
	pos    store.Position
	lang   string
	li     int // index of the language searched (ranking)
	length int
	pays   []int32 // per probe (see probes)
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
		var pos store.Position
		var l string
		it, err := scanSearchItem(rows, &pos, &l)
		if err != nil {
			return fmt.Errorf("read items: %w", err)
		}
		if it != nil {
			e.items[it.ID] = it
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	return nil
}

// finish trims the extra hit and makes the next cursor.
func (e *pgEngine) finish(make func(last *search.Hit, pos store.Position) search.Cursor) {
	if e.req.Limit > 0 && len(e.page.Hits) > e.req.Limit {
		e.page.Hits = e.page.Hits[:e.req.Limit]
		n := len(e.page.Hits) - 1
		c := make(&e.page.Hits[n], e.hitPos[n])
		e.page.Next = c.Encode(cursorPrefix, e.req)
	}
}

// ranked orders every candidate by BM25, as filter/search does: the corpus
// statistics come from the cursor after the first page, and document
// frequencies count only items up to the first page's highest ID, so that
// the scores of a listing do not move while new items arrive.
func (e *pgEngine) ranked(langs []string, plans []langPlan, scorers []scorer, stats map[string]store.LangStats, args *sqlArgs) error {
	maxID := e.maxID
	if e.hasCur {
		maxID = e.cur.MaxID
	}
	langIdx := map[string]int{}
	exact := map[string]bool{}
	for i, pl := range plans {
		langIdx[pl.lang] = i
		exact[pl.lang] = pl.p.exact
	}
	// The document frequencies, and the candidates with their lengths
	// and what the scorers need of them, in one round trip.
	b := &pgx.Batch{}
	setDF := e.docFreqs(b, langs, scorers, maxID)
	where := e.restrict(args)
	where = append(where, "i.id <= "+args.add("", int64(maxID)), candidates(plans, args))
	probes := e.probes(langs, scorers, args)
	sql := `SELECT i.id, i.sort_ns, i.lang, coalesce(i.terms_len, 0), ARRAY[` + strings.Join(probes, ", ") + `]::integer[]
		FROM items i WHERE ` + strings.Join(where, " AND ")
	sql, vals := args.compact(sql)
	b.Queue(sql, vals...)
	br := e.tx.SendBatch(e.ctx, b)
	defer br.Close()
	if err := setDF(br); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("read candidates: %w", err)
	}
	var cands []candRow
	for rows.Next() {
		var id int64
		var c candRow
		if err := rows.Scan(&id, &c.pos.Nanos, &c.lang, &c.length, &c.pays); err != nil {
			rows.Close()
			return fmt.Errorf("read candidates: %w", err)
		}
		c.pos.ID = uint64(id)
		c.li = langIdx[c.lang]
		c.length = min(c.length, math.MaxUint16)
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read candidates: %w", err)
	}
	if err := br.Close(); err != nil {
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
			if c.li != sc.lang {
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
	e.finish(func(last *search.Hit, pos store.Position) search.Cursor {
		return search.Cursor{Kind: search.CursorRelevance, Pos: pos, Score: last.Score, MaxID: maxID, Stats: snapshot}
	})
	return nil
}

// probes returns the SQL expressions that tell, for a candidate row, what
// the scorers need of it, and sets each scorer's probe (its index): for a
// term, its frequency (capped as the bbolt payload) plus payTitle when it
// occurs in the title and payAuthor in the author, 0 when the item does
// not have it; for a prefix, 1 when the item has one of its terms in the
// field.
//
// The frequency is read without unnesting the vector: a term's positions
// in items.terms are consecutive (see termsVector), so it occurs at least
// k+1 times exactly when the phrase "term <k> term" matches. Most terms
// occur once or twice in an item, so a short chain of CASEs answers most
// rows, and unnest(terms), several times dearer, the others.
func (e *pgEngine) probes(langs []string, scorers []scorer, args *sqlArgs) []string {
	// Whether the author field is asked of a term (else its probe leaves
	// payAuthor out: one match fewer per row).
	author := map[string]bool{}
	for _, sc := range scorers {
		if !sc.prefix && sc.field == query.FieldAuthor {
			author[langs[sc.lang]+"\x00"+sc.terms[0]] = true
		}
	}
	var out []string
	byTerm := map[string]int{}
	for i := range scorers {
		sc := &scorers[i]
		lang := "i.lang = " + args.text(langs[sc.lang])
		if sc.prefix {
			sc.probe = -1
			if sc.tsq != "" {
				sc.probe = len(out)
				out = append(out, "CASE WHEN "+lang+" AND i.terms @@ "+args.tsquery(sc.tsq)+" THEN 1 ELSE 0 END")
			}
			continue
		}
		key := langs[sc.lang] + "\x00" + sc.terms[0]
		if k, ok := byTerm[key]; ok {
			sc.probe = k
			continue
		}
		t := tsLexeme(sc.terms[0])
		var b strings.Builder
		b.WriteString("CASE WHEN " + lang + " AND i.terms @@ " + args.tsquery(t) + " THEN (CASE")
		for k := 1; k < tfChain; k++ {
			fmt.Fprintf(&b, " WHEN NOT i.terms @@ %s THEN %d", args.tsquery(fmt.Sprintf("%s <%d> %s", t, k, t)), k)
		}
		fmt.Fprintf(&b, " ELSE (SELECT least(coalesce(array_length(x.positions, 1), 1), %d) FROM unnest(i.terms) x WHERE x.lexeme = %s) END)",
			maxTF, args.text(sc.terms[0]))
		b.WriteString(" + CASE WHEN i.terms @@ " + args.tsquery(t+":A") + fmt.Sprintf(" THEN %d ELSE 0 END", payTitle))
		if author[key] {
			b.WriteString(" + CASE WHEN i.terms @@ " + args.tsquery(t+":B") + fmt.Sprintf(" THEN %d ELSE 0 END", payAuthor))
		}
		b.WriteString(" ELSE 0 END")
		sc.probe = len(out)
		byTerm[key] = sc.probe
		out = append(out, b.String())
	}
	if len(out) == 0 {
		out = append(out, "0")
	}
	return out
}

// tf returns the scorer's term frequency in an item whose probes are
// pays, as filter/search computes it from the bbolt payload; ok is false
// when the item is not in the scorer's list.
func (sc *scorer) tf(pays []int32) (float64, bool) {
	if sc.probe < 0 {
		return 0, false
	}
	p := int(pays[sc.probe])
	if p == 0 {
		return 0, false
	}
	if sc.prefix {
		return 1, true
	}
	switch {
	case sc.field == query.FieldTitle && p&payTitle == 0,
		sc.field == query.FieldAuthor && p&payAuthor == 0:
		return 0, false
	}
	tf := float64(p & payFreq)
	if p&payTitle != 0 {
		tf += titleBoost - 1
	}
	return tf, true
}

// docFreqs queues on b the count, for every scorer, of the items of its
// language up to maxID it counts (filter/search's document frequency):
// one GIN scan per distinct tsquery, counted by language (languages
// without a stemmer share their terms, and a language's bitmap of every
// item would cost more than the heap rows the words select). The function
// returned reads the counts into the scorers.
func (e *pgEngine) docFreqs(b *pgx.Batch, langs []string, scorers []scorer, maxID uint64) func(pgx.BatchResults) error {
	args := &sqlArgs{}
	maxArg := args.add("", int64(maxID))
	byTSQ := map[string]int{}
	var tsqs []string
	tsqLangs := map[string][]string{}
	for _, sc := range scorers {
		if sc.tsq == "" {
			continue // a prefix nothing starts with
		}
		if _, ok := byTSQ[sc.tsq]; !ok {
			byTSQ[sc.tsq] = len(tsqs)
			tsqs = append(tsqs, sc.tsq)
		}
		if l := langs[sc.lang]; !slices.Contains(tsqLangs[sc.tsq], l) {
			tsqLangs[sc.tsq] = append(tsqLangs[sc.tsq], l)
		}
	}
	if len(tsqs) == 0 {
		return func(pgx.BatchResults) error { return nil }
	}
	cols := make([]string, len(tsqs))
	for k, q := range tsqs {
		cols[k] = fmt.Sprintf(`(SELECT coalesce(array_agg(x.lang || ':' || x.n), '{}') FROM
			(SELECT i.lang, count(*) AS n FROM items i WHERE i.terms @@ %s AND i.id <= %s AND %s GROUP BY i.lang) x)`,
			args.tsquery(q), maxArg, langIn(tsqLangs[q], args))
	}
	sql, vals := args.compact("SELECT " + strings.Join(cols, ", "))
	b.Queue(sql, vals...)
	return func(br pgx.BatchResults) error {
		counts := make([][]string, len(cols))
		dst := make([]any, len(cols))
		for i := range counts {
			dst[i] = &counts[i]
		}
		if err := br.QueryRow().Scan(dst...); err != nil {
			return fmt.Errorf("count documents per term: %w", err)
		}
		for i := range scorers {
			sc := &scorers[i]
			k, ok := byTSQ[sc.tsq]
			if !ok {
				continue
			}
			for _, ln := range counts[k] {
				if l, n, _ := strings.Cut(ln, ":"); l == langs[sc.lang] {
					sc.df, _ = strconv.Atoi(n)
				}
			}
		}
		return nil
	}
}

// rankedBefore orders candidates by score, then newest first.
func rankedBefore(a, b *candRow) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.pos.Before(b.pos)
}

// rankedAfter reports whether c comes after the cursor.
func rankedAfter(cur *search.Cursor, c *candRow) bool {
	if c.score != cur.Score {
		return c.score < cur.Score
	}
	return cur.Pos.Before(c.pos)
}

// scanSearchItem reads sort_ns, lang and itemCols (see scanItem) and
// sets pos; a NULL data (a row read only for its position) gives no item.
func scanSearchItem(row pgx.Row, pos *store.Position, lang *string) (*babelfeed.Item, error) {
	var id, feed int64
	var dup *int64
	var data []byte
	if err := row.Scan(&pos.Nanos, lang, &id, &feed, &dup, &data); err != nil {
		return nil, err
	}
	pos.ID = uint64(id)
	if data == nil {
		return nil, nil
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
