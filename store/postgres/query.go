package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"babelfeed/store"

	"babelfeed"
)

// queryBatch bounds how many matching items Items collects before handing
// them to fn, outside any query (store's value).
const queryBatch = 256

// maxSources bounds the per-language or per-feed branches of one listing
// query; beyond it, one query filters on the whole set.
const maxSources = 64

// Items calls fn for each item matching q, newest first (by SortTime, then
// by ID descending), and stops when fn returns false or q.Limit items were
// yielded, with the semantics of store.DB.Items: q.Words is ignored, match
// (nil: everything) decides on each candidate that passed the other
// filters, Limit counts matched items only, fn runs outside any query.
//
// Items are read in pages by keyset: each page continues strictly after
// the (sort_ns, id) of the last row looked at, so items written meanwhile
// may or may not show up further along, and no page reads more rows than
// it needs. A page walks one index, chosen like store.DB chooses: the
// language index (one ordered branch per language, merged) when q.Langs is
// the narrowest filter, the feed index (one branch per feed) when the
// feeds of q.FeedIDs and q.Category are, else the time index.
func (s *DB) Items(ctx context.Context, q babelfeed.Query, match func(*babelfeed.Item) bool, fn func(babelfeed.Item) bool) error {
	p, err := s.planItems(ctx, q)
	if err != nil {
		return fmt.Errorf("query items: %w", err)
	}
	if p == nil {
		return nil
	}
	if q.Limit < 0 {
		q.Limit = 0
	}
	yielded := 0
	for {
		want := queryBatch
		if q.Limit > 0 {
			want = min(want, q.Limit-yielded)
		}
		out, err := p.next(ctx, s, want, match)
		if err != nil {
			return fmt.Errorf("query items: %w", err)
		}
		for _, it := range out {
			if !fn(it) {
				return nil
			}
			yielded++
		}
		if p.done || (q.Limit > 0 && yielded >= q.Limit) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("query items: %w", err)
		}
	}
}

type indexKind int

const (
	byTime indexKind = iota
	byLang
	byFeed
)

// itemsPlan is a listing in progress.
type itemsPlan struct {
	kind         indexKind
	langs        []string // nil: any language
	feeds        []int64  // nil: any feed
	since, until int64    // sort_ns bounds: since inclusive, until exclusive
	hasSince     bool
	hasUntil     bool
	// cursor: the last row looked at.
	started      bool
	curNS, curID int64
	done         bool
}

// planItems resolves q's feeds and picks the index; nil means nothing can
// match.
func (s *DB) planItems(ctx context.Context, q babelfeed.Query) (*itemsPlan, error) {
	p := &itemsPlan{}
	var feedItems int64 // items of the feeds selected
	if len(q.Langs) > 0 {
		seen := map[string]bool{}
		for _, l := range q.Langs {
			if !seen[l] {
				seen[l] = true
				p.langs = append(p.langs, l)
			}
		}
	}
	if len(q.FeedIDs) > 0 || q.Category != "" {
		feeds, items, err := s.feedsMatching(ctx, q)
		if err != nil {
			return nil, err
		}
		feedItems = items
		if len(feeds) == 0 {
			return nil, nil
		}
		p.feeds = feeds
	}
	p.until = math.MaxInt64
	if !q.Until.IsZero() {
		p.until, p.hasUntil = store.UnixNanos(q.Until), true
	}
	p.since = math.MinInt64
	if !q.Since.IsZero() {
		p.since, p.hasSince = store.UnixNanos(q.Since), true
	}
	if p.since >= p.until && (p.hasSince || p.hasUntil) {
		return nil, nil
	}
	switch {
	case p.langs != nil && p.feeds != nil:
		// Every plan applies every filter: the choice only decides how
		// many index entries are read. Estimate from the feed counts.
		totals, err := s.langTotals.get(ctx, s.pool)
		if err != nil {
			return nil, fmt.Errorf("estimate costs: %w", err)
		}
		var langCost int64
		for _, l := range p.langs {
			langCost += totals.byLang[l]
		}
		p.kind = byTime
		best := totals.all
		if langCost <= best {
			p.kind, best = byLang, langCost
		}
		if feedItems < best {
			p.kind = byFeed
		}
	case p.langs != nil:
		p.kind = byLang
	case p.feeds != nil:
		p.kind = byFeed
	default:
		p.kind = byTime
	}
	return p, nil
}

// feedsMatching returns the IDs of the existing feeds among q.FeedIDs (all
// feeds when none are given) whose category path starts with q.Category,
// and how many items they have.
func (s *DB) feedsMatching(ctx context.Context, q babelfeed.Query) ([]int64, int64, error) {
	sql := `SELECT id, items, data->'category' FROM feeds`
	var args []any
	if len(q.FeedIDs) > 0 {
		ids := make([]int64, len(q.FeedIDs))
		for i, id := range q.FeedIDs {
			ids[i] = int64(id)
		}
		sql += ` WHERE id = ANY($1)`
		args = append(args, ids)
	}
	rows, err := s.pool.Query(ctx, sql+` ORDER BY id`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("select feeds: %w", err)
	}
	defer rows.Close()
	want := store.SplitCategory(q.Category)
	var out []int64
	var total int64
	for rows.Next() {
		var id, items int64
		var cat []byte
		if err := rows.Scan(&id, &items, &cat); err != nil {
			return nil, 0, fmt.Errorf("select feeds: %w", err)
		}
		if len(want) > 0 {
			var path []string
			if len(cat) > 0 {
				if err := json.Unmarshal(cat, &path); err != nil {
					return nil, 0, fmt.Errorf("feed %d: decode category: %w", id, err)
				}
			}
			if !store.CategoryHasPrefix(path, want) {
				continue
			}
		}
		out = append(out, id)
		total += items
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("select feeds: %w", err)
	}
	return out, total, nil
}

// langTotalsMaxAge is how long a count of items per language serves plan
// choices.
const langTotalsMaxAge = time.Minute

// langTotals are the items of the whole store and per language.
type langTotals struct {
	all    int64
	byLang map[string]int64
}

type langTotalsCache struct {
	mu     sync.Mutex
	at     time.Time
	totals langTotals
}

// get returns the totals, counted again from the feeds' counts when the
// cached ones are older than langTotalsMaxAge.
func (c *langTotalsCache) get(ctx context.Context, q querier) (langTotals, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < langTotalsMaxAge {
		return c.totals, nil
	}
	// Every item counts in one language: their sum is the total.
	rows, err := q.Query(ctx, `SELECT l.key, sum(l.value::bigint)::bigint
		FROM feeds f, jsonb_each_text(f.langs) l GROUP BY l.key`)
	if err != nil {
		return langTotals{}, err
	}
	defer rows.Close()
	t := langTotals{byLang: map[string]int64{}}
	for rows.Next() {
		var lang string
		var n int64
		if err := rows.Scan(&lang, &n); err != nil {
			return langTotals{}, err
		}
		t.byLang[lang] = n
		t.all += n
	}
	if err := rows.Err(); err != nil {
		return langTotals{}, err
	}
	c.at, c.totals = time.Now(), t
	return t, nil
}

// next collects up to want matching items after the cursor, reading rows
// in pages; p.done is set when no row is left.
func (p *itemsPlan) next(ctx context.Context, s *DB, want int, match func(*babelfeed.Item) bool) ([]babelfeed.Item, error) {
	var out []babelfeed.Item
	for len(out) < want && !p.done {
		page := want - len(out)
		if match != nil {
			page = queryBatch
		}
		sql, args := p.sql(page)
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		n := 0
		for rows.Next() {
			var ns int64
			var id, feed int64
			var dup *int64
			var data []byte
			if err := rows.Scan(&ns, &id, &feed, &dup, &data); err != nil {
				rows.Close()
				return nil, err
			}
			n++
			p.started, p.curNS, p.curID = true, ns, id
			it, err := decodeItem(data)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("item %d: %w", id, err)
			}
			it.ID, it.FeedID = uint64(id), uint64(feed)
			if dup != nil {
				it.DuplicateOf = uint64(*dup)
			}
			if match != nil && !match(&it) {
				continue
			}
			out = append(out, it)
			if len(out) == want {
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if n < page && len(out) < want {
			p.done = true
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sql builds the query of the next page of at most limit rows.
func (p *itemsPlan) sql(limit int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var common []string
	if p.hasSince {
		common = append(common, "sort_ns >= "+arg(p.since))
	}
	if p.hasUntil {
		common = append(common, "sort_ns < "+arg(p.until))
	}
	if p.started {
		common = append(common, fmt.Sprintf("(sort_ns, id) < (%s, %s)", arg(p.curNS), arg(p.curID)))
	}
	// The filters on the whole sets, as parameters only where used (an
	// unused parameter has no type PostgreSQL can infer).
	langAll := func() string {
		if p.langs == nil {
			return ""
		}
		return "lang = ANY(" + arg(p.langs) + ")"
	}
	feedAll := func() string {
		if p.feeds == nil {
			return ""
		}
		return "feed_id = ANY(" + arg(p.feeds) + ")"
	}
	const cols = "sort_ns, id, feed_id, duplicate_of, data"
	order := fmt.Sprintf(" ORDER BY sort_ns DESC, id DESC LIMIT %d", limit)
	where := func(conds ...string) string {
		var all []string
		for _, c := range append(conds, common...) {
			if c != "" {
				all = append(all, c)
			}
		}
		if len(all) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(all, " AND ")
	}
	var branches []string
	switch {
	case p.kind == byLang && len(p.langs) <= maxSources:
		for _, l := range p.langs {
			branches = append(branches, "SELECT "+cols+" FROM items"+where("lang = "+arg(l), feedAll())+order)
		}
	case p.kind == byFeed && len(p.feeds) <= maxSources:
		for _, f := range p.feeds {
			branches = append(branches, "SELECT "+cols+" FROM items"+where("feed_id = "+arg(f), langAll())+order)
		}
	}
	if len(branches) == 1 {
		return branches[0], args
	}
	if len(branches) > 1 {
		return "SELECT * FROM ((" + strings.Join(branches, ") UNION ALL (") + ")) u" + order, args
	}
	return "SELECT " + cols + " FROM items" + where(langAll(), feedAll()) + order, args
}
