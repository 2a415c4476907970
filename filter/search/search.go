// Package search answers queries of the query language (filter/query) from
// the store's keyword index: it compiles the parsed query into operations
// on posting lists, analysing each query word in every language searched,
// and returns items newest first or ranked by BM25, one page at a time
// with a cursor that stays stable while new items arrive.
//
// The answer is always the one the query's reference semantics (Node.Match)
// gives; the index only finds the candidates fast. Parts of a query the
// index cannot decide (phrases, /regex/, inurl:) are checked on
// the candidates. Without a usable index (never built, or stale), queries
// scan the store instead: slower, same answers.
package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"babelfeed"
	"babelfeed/filter/analyze"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// Indexer returns the store Indexer that analyses items with
// filter/analyze; open stores with it so that writes keep the index.
func Indexer() *store.Indexer {
	return &store.Indexer{Version: analyze.Version, Terms: itemTerms}
}

func itemTerms(it *babelfeed.Item, dst []store.Term) []store.Term {
	a := analyze.Get()
	defer analyze.Put(a)
	a.ItemTerms(it, func(term string, info analyze.TermInfo) {
		dst = append(dst, store.Term{
			Text: term, Freq: info.Freq,
			Title: info.Where&analyze.InTitle != 0, Author: info.Where&analyze.InAuthor != 0,
		})
	})
	return dst
}

// Sort is the order of results.
type Sort int

const (
	// Newest lists the newest items first (by store.SortTime, then ID).
	Newest Sort = iota
	// Relevance ranks by BM25 over the query's words (title words count
	// more), the newest first among equal scores. A query without words
	// is listed newest first.
	Relevance
)

// ParseSort reads "newest" (or "") and "relevance".
func ParseSort(s string) (Sort, error) {
	switch s {
	case "", "newest":
		return Newest, nil
	case "relevance":
		return Relevance, nil
	}
	return Newest, fmt.Errorf("sort must be newest or relevance, got %q", s)
}

func (s Sort) String() string {
	if s == Relevance {
		return "relevance"
	}
	return "newest"
}

// Request is one page of a query.
type Request struct {
	// Query is the parsed query; nil selects every item.
	Query query.Node
	Sort  Sort
	// Limit is the page size; 0 means no limit.
	Limit int
	// Cursor continues after a previous page (Page.Next) of the same query
	// and sort; "" starts at the beginning.
	Cursor string
	// AllDuplicates lists cross-feed duplicates too. By default a
	// duplicate (Item.DuplicateOf) is left out when its original matches
	// the query as well, since the original stands for the story; one
	// whose original does not match (only the copy has the word, or the
	// query names the copy's feed) is listed.
	AllDuplicates bool

	// scan ignores the index (the benchmarks' baseline).
	scan bool
	// lazyFrom overrides lazyFrom (tests).
	lazyFrom int
}

// Hit is one item found.
type Hit struct {
	Item  babelfeed.Item
	Feed  babelfeed.Feed // the item's feed (zero if it was removed)
	Score float64        // BM25 score when sorted by relevance
}

// Page is one page of results.
type Page struct {
	Hits []Hit
	// Next continues with the following page; "" on the last one.
	Next string
	// Indexed says whether the keyword index answered; false means the
	// store was scanned (no usable index, or a query without words).
	Indexed bool
	// Candidates is how many items the index proposed, Checked how many of
	// them (or of the scanned ones) were matched against the whole query.
	Candidates, Checked int
}

// Errors returned (wrapped) by Search.
var (
	// ErrNoIndex means relevance ranking was asked of a store whose keyword
	// index is not built or is stale: run Reindex.
	ErrNoIndex = errors.New("the keyword index is not built (run `babelfeed reindex`)")
	// ErrCursor means the cursor is malformed or belongs to another query.
	ErrCursor = errors.New("bad cursor")
)

// Backend is a store that runs searches itself, with its own indexes
// (store/postgres), and returns the same results as this package's engine
// would on the same items.
type Backend interface {
	Search(ctx context.Context, req Request) (Page, error)
}

// postingsReader is a store whose keyword index this package reads
// (store.DB).
type postingsReader interface {
	ReadIndex(fn func(r *store.IndexReader) error) error
}

// Search runs one page of req: in one read transaction of s when s keeps
// this package's keyword index, or by s itself when it is a Backend.
func Search(ctx context.Context, s store.Store, req Request) (Page, error) {
	if b, ok := s.(Backend); ok {
		return b.Search(ctx, req)
	}
	pr, ok := s.(postingsReader)
	if !ok {
		return Page{}, fmt.Errorf("search %q: the store %s cannot be searched", queryString(req.Query), s.Path())
	}
	var page Page
	err := pr.ReadIndex(func(r *store.IndexReader) error {
		e := &engine{ctx: ctx, r: r, req: req, a: analyze.Get()}
		defer analyze.Put(e.a)
		err := e.run()
		page = e.page
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("search %q: %w", queryString(req.Query), err)
	}
	return page, nil
}

// IndexUsable reports whether s has a keyword index built by this
// package's analysis and covering every item.
func IndexUsable(s store.Store) (bool, error) {
	st, err := s.IndexState()
	return st.Usable(analyze.Version), err
}

func queryString(n query.Node) string {
	if n == nil {
		return ""
	}
	return n.String()
}

// engine runs one request.
type engine struct {
	ctx context.Context
	r   *store.IndexReader
	req Request
	a   *analyze.Analyzer

	feeds map[uint64]*babelfeed.Feed
	// The restrictions taken from the top level of the query, and the rest
	// of it (nil: nothing).
	scan babelfeed.Query // Langs, FeedIDs, Since, Until
	none bool            // the restrictions exclude everything
	rest query.Node

	postings map[string]*plist // lang 0 term -> decoded postings
	byFeed   map[query.Node]map[string][]uint64
	cur      Cursor
	hasCur   bool
	page     Page
}

// plist is one decoded posting list.
type plist struct {
	ids  []uint64
	pays []byte // see store.PostingOf
}

func (e *engine) run() error {
	feedList, err := e.r.Feeds()
	if err != nil {
		return err
	}
	e.feeds = make(map[uint64]*babelfeed.Feed, len(feedList))
	for i := range feedList {
		e.feeds[feedList[i].ID] = &feedList[i]
	}
	e.scan, e.rest, e.none = SplitQuery(e.req.Query, feedList)
	if e.req.Cursor != "" {
		c, err := DecodeCursor(e.req.Cursor, "", e.req)
		if err != nil {
			return err
		}
		e.cur, e.hasCur = c, true
	}
	if e.none {
		return nil
	}
	usable := e.r.State().Usable(analyze.Version) && !e.req.scan
	switch {
	case e.rest == nil:
		return e.scanAll(nil)
	case !usable:
		if e.req.Sort == Relevance {
			return ErrNoIndex
		}
		return e.scanAll(e.rest)
	}
	e.page.Indexed = true
	return e.indexed()
}

// SplitQuery moves the top-level restrictions of q (lang:, -lang:, feed:,
// cat:, since:, until:) into scan (its Langs and FeedIDs sorted, nil for
// any; Since and Until), which a store's indexes apply exactly; the other
// terms are rest (nil: none). none says the restrictions exclude every
// item. feedList is every feed of the store: feed: and cat: become feed
// IDs, and -lang: alone means every language the feeds have but those.
// Both this package's engine and store/postgres's search split queries
// with it, so the two stores restrict a query to the same items.
func SplitQuery(q query.Node, feedList []babelfeed.Feed) (scan babelfeed.Query, rest query.Node, none bool) {
	var terms []query.Node
	switch n := q.(type) {
	case nil:
	case *query.And:
		terms = n.Nodes
	default:
		terms = []query.Node{n}
	}
	var langs, notLangs map[string]bool
	var feedSet map[uint64]bool
	var others []query.Node
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
			others = append(others, t)
		case *query.FeedRef, *query.Category:
			next := map[uint64]bool{}
			for i := range feedList {
				f := &feedList[i]
				if (feedSet == nil || feedSet[f.ID]) && t.Match(&babelfeed.Item{FeedID: f.ID}, f) {
					next[f.ID] = true
				}
			}
			feedSet = next
		case *query.Since:
			if n.T.After(scan.Since) {
				scan.Since = n.T
			}
		case *query.Until:
			if scan.Until.IsZero() || n.T.Before(scan.Until) {
				scan.Until = n.T
			}
		default:
			others = append(others, t)
		}
	}
	if notLangs != nil {
		if langs == nil {
			// Every language the store has, but those.
			langs = map[string]bool{}
			for _, f := range feedList {
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
			none = true
		}
		scan.Langs = slices.Sorted(mapKeys(langs))
	}
	if feedSet != nil {
		if len(feedSet) == 0 {
			none = true
		}
		scan.FeedIDs = slices.Sorted(mapKeys(feedSet))
	}
	if !scan.Since.IsZero() && !scan.Until.IsZero() && !scan.Since.Before(scan.Until) {
		none = true
	}
	switch len(others) {
	case 0:
	case 1:
		rest = others[0]
	default:
		rest = &query.And{Nodes: others}
	}
	return scan, rest, none
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (e *engine) feed(id uint64) babelfeed.Feed {
	if f := e.feeds[id]; f != nil {
		return *f
	}
	return babelfeed.Feed{}
}

// full reports whether the page has all it needs; one hit more than the
// limit is collected to know that a next page exists.
func (e *engine) full() bool {
	return e.req.Limit > 0 && len(e.page.Hits) > e.req.Limit
}

// finish trims the extra hit and makes the next cursor.
func (e *engine) finish(make func(last *Hit) Cursor) {
	if e.req.Limit > 0 && len(e.page.Hits) > e.req.Limit {
		e.page.Hits = e.page.Hits[:e.req.Limit]
		c := make(&e.page.Hits[len(e.page.Hits)-1])
		e.page.Next = c.Encode("", e.req)
	}
}

func newestCursor(last *Hit) Cursor {
	return Cursor{Kind: CursorNewest, Pos: store.PositionOf(&last.Item)}
}

// scanAll lists the items the restrictions select, newest first, checking
// check (nil: none) on each: the path without an index or without words.
func (e *engine) scanAll(check query.Node) error {
	var after *store.Position
	if e.hasCur {
		after = &e.cur.Pos
	}
	var err error
	scanErr := e.r.Scan(e.ctx, e.scan, after, func(se store.ScanEntry) bool {
		var it babelfeed.Item
		if it, err = e.r.Item(se.Pos.ID); err != nil {
			return false
		}
		f := e.feed(it.FeedID)
		if check != nil {
			e.page.Checked++
			if !check.Match(&it, &f) {
				return true
			}
		}
		if e.hideDuplicate(&it) {
			return true
		}
		e.page.Hits = append(e.page.Hits, Hit{Item: it, Feed: f})
		return !e.full()
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return err
	}
	e.finish(newestCursor)
	return nil
}

// hideDuplicate reports whether it is a duplicate to leave out (see
// Request.AllDuplicates).
func (e *engine) hideDuplicate(it *babelfeed.Item) bool {
	if e.req.AllDuplicates || it.DuplicateOf == 0 {
		return false
	}
	orig, err := e.r.Item(it.DuplicateOf)
	if err != nil {
		return false // the original is gone: the copy is all there is
	}
	if e.req.Query == nil {
		return true
	}
	f := e.feed(orig.FeedID)
	return e.req.Query.Match(&orig, &f)
}

// sinceUntil returns the restrictions' time range in nanoseconds, [lo, hi).
func (e *engine) sinceUntil() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !e.scan.Since.IsZero() {
		lo = store.UnixNanos(e.scan.Since)
	}
	if !e.scan.Until.IsZero() {
		hi = store.UnixNanos(e.scan.Until)
	}
	return lo, hi
}

// idsContain reports whether the sorted ids hold id.
func idsContain(ids []uint64, id uint64) bool {
	_, ok := slices.BinarySearch(ids, id)
	return ok
}

// candidate is an item the index proposed.
type candidate struct {
	pos   store.Position
	lang  int // index into the languages searched
	exact bool
	score float64
}

// bytesKey builds the cache key of a posting list.
func bytesKey(lang, term string) string {
	var b bytes.Buffer
	b.WriteString(lang)
	b.WriteByte(0)
	b.WriteString(term)
	return b.String()
}
