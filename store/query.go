package store

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// queryBatch bounds how many matching items Items collects in one read
// transaction before handing them to fn outside it.
const queryBatch = 256

// ctxEvery is how many index entries Items scans between context checks.
const ctxEvery = 1000

// Items calls fn for each item matching q, newest first (by SortTime, then
// by ID descending), and stops when fn returns false or q.Limit items were
// yielded.
//
// The store does not match words: q.Words is ignored, and the caller passes
// match (nil means everything matches) to decide on each candidate that
// passed the other filters; Limit counts matched items only. match runs
// inside a read transaction and must not call the store. fn runs outside
// any transaction (items are read in batches), so it may be slow or call
// the store; the price is that items written while fn runs may or may not
// show up further along.
//
// The scan walks one index, chosen by the per-feed counts: the language
// index (one cursor per language, merged newest first) when q.Langs is the
// narrowest filter, the feed index (one cursor per feed of q.FeedIDs and/or
// q.Category) when that is, else the global time index. Since and Until
// bound the cursors; the other filters are checked on index entries before
// any item is decoded. q.Category matches a feed whose category path starts
// with the given folders, compared folder by folder, ignoring case
// ("italiano" matches Italiano/Tech, not Italianissimo).
func (s *DB) Items(ctx context.Context, q babelfeed.Query, match func(*babelfeed.Item) bool, fn func(babelfeed.Item) bool) error {
	p, err := s.plan(q)
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
		var out []babelfeed.Item
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			out, err = p.next(ctx, tx, want, match)
			return err
		})
		if err != nil {
			return fmt.Errorf("query items: %w", err)
		}
		for _, it := range out {
			if !fn(it) {
				return nil
			}
			yielded++
		}
		if p.exhausted() || (q.Limit > 0 && yielded >= q.Limit) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("query items: %w", err)
		}
	}
}

// indexKind says which index a plan scans and so what its entries hold.
type indexKind int

const (
	byTime indexKind = iota // value: feedID | lang
	byLang                  // value: feedID; lang fixed per source
	byFeed                  // value: lang; feed fixed per source
)

// source is one cursor range of an index: every key starting with prefix.
type source struct {
	prefix []byte
	lang   string // byLang
	feedID uint64 // byFeed
	// next is the first key not yet consumed.
	next []byte
	done bool

	// valid inside one transaction only.
	c    *bolt.Cursor
	k, v []byte
}

type plan struct {
	kind    indexKind
	sources []*source
	feeds   map[uint64]bool // nil: any feed
	langs   map[string]bool // nil: any language
	since   int64           // nanos, inclusive
	until   int64           // nanos, exclusive
	hasTime bool            // whether since/until bound anything
	scanned int
}

// plan picks the index and builds its cursor ranges; nil means nothing can
// match.
func (s *DB) plan(q babelfeed.Query) (*plan, error) {
	var feeds []babelfeed.Feed
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		feeds, err = s.feedsIn(tx)
		return err
	}); err != nil {
		return nil, err
	}
	return planFor(q, feeds), nil
}

// planFor plans q over feeds (all of them, with their counts); nil means
// nothing can match.
func planFor(q babelfeed.Query, feeds []babelfeed.Feed) *plan {
	p := &plan{}
	if len(q.Langs) > 0 {
		p.langs = map[string]bool{}
		for _, l := range q.Langs {
			p.langs[l] = true
		}
	}
	if len(q.FeedIDs) > 0 || q.Category != "" {
		var want map[uint64]bool
		if len(q.FeedIDs) > 0 {
			want = map[uint64]bool{}
			for _, id := range q.FeedIDs {
				want[id] = true
			}
		}
		cat := SplitCategory(q.Category)
		p.feeds = map[uint64]bool{}
		for _, f := range feeds {
			if (want == nil || want[f.ID]) && CategoryHasPrefix(f.Category, cat) {
				p.feeds[f.ID] = true
			}
		}
		if len(p.feeds) == 0 {
			return nil
		}
	}

	// Every plan applies every filter, so the choice only decides how many
	// index entries are scanned: pick the smallest estimate.
	total, langCost, feedCost := 0, 0, 0
	for _, f := range feeds {
		total += f.Items
		for l := range p.langs {
			langCost += f.Languages[l]
		}
		if p.feeds[f.ID] {
			feedCost += f.Items
		}
	}
	p.kind = byTime
	best := total
	if p.langs != nil && langCost <= best {
		p.kind, best = byLang, langCost
	}
	if p.feeds != nil && feedCost < best {
		p.kind = byFeed
	}

	p.until = 1<<63 - 1
	if !q.Until.IsZero() {
		p.until, p.hasTime = UnixNanos(q.Until), true
	}
	p.since = -1 << 63
	if !q.Since.IsZero() {
		p.since, p.hasTime = UnixNanos(q.Since), true
	}
	if p.since >= p.until && p.hasTime {
		return nil
	}
	add := func(src *source) {
		src.next = append(append([]byte{}, src.prefix...), p.startSuffix()...)
		p.sources = append(p.sources, src)
	}
	switch p.kind {
	case byTime:
		add(&source{})
	case byLang:
		for l := range p.langs {
			add(&source{prefix: langPrefix(l), lang: l})
		}
	case byFeed:
		for id := range p.feeds {
			add(&source{prefix: feedPrefix(id), feedID: id})
		}
	}
	return p
}

// startSuffix is where a source's cursor starts: the newest key with a time
// before Until (keys hold inverted times, so later in the bucket is older).
func (p *plan) startSuffix() []byte {
	if p.until == 1<<63-1 {
		return nil
	}
	// The newest time strictly before until is until-1ns; with the highest
	// possible ID it sorts first among the keys of that nanosecond.
	return appendSuffix(nil, p.until-1, 1<<64-1)
}

func (p *plan) exhausted() bool {
	for _, src := range p.sources {
		if !src.done {
			return false
		}
	}
	return true
}

// next collects up to want matching items, resuming every source where the
// previous batch stopped.
func (p *plan) next(ctx context.Context, tx *bolt.Tx, want int, match func(*babelfeed.Item) bool) ([]babelfeed.Item, error) {
	b := bucketsOf(tx)
	idx := map[indexKind]*bolt.Bucket{byTime: b.idxTime, byLang: b.idxLang, byFeed: b.idxFeed}[p.kind]
	h := &sourceHeap{}
	for _, src := range p.sources {
		if src.done {
			continue
		}
		src.c = idx.Cursor()
		src.k, src.v = src.c.Seek(src.next)
		if p.valid(src) {
			h.items = append(h.items, src)
		}
	}
	heap.Init(h)
	var out []babelfeed.Item
	for len(h.items) > 0 && len(out) < want {
		src := h.items[0]
		k, v := src.k, src.v
		src.k, src.v = src.c.Next()
		if p.valid(src) {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}

		if p.scanned++; p.scanned%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		n, id := parseSuffix(k[len(src.prefix):])
		if n >= p.until {
			continue // only a clock at the int64 edge gets here
		}
		feedID, lang, err := entryData(p.kind, src, v)
		if err != nil {
			return nil, fmt.Errorf("index entry %x: %w", k, err)
		}
		if (p.feeds != nil && !p.feeds[feedID]) || (p.langs != nil && !p.langs[lang]) {
			continue
		}
		it, err := b.item(id)
		if err != nil {
			return nil, fmt.Errorf("index entry %x: %w", k, err)
		}
		if match != nil && !match(&it) {
			continue
		}
		out = append(out, it)
	}
	// Remember where each source stands; sources no longer in the heap are
	// done.
	for _, src := range p.sources {
		src.done = true
	}
	for _, src := range h.items {
		src.next, src.done = bytes.Clone(src.k), false
	}
	for _, src := range p.sources {
		src.c, src.k, src.v = nil, nil, nil
	}
	return out, nil
}

// valid says whether src's cursor is on a key of its range and not older
// than Since; a source that is not is finished.
func (p *plan) valid(src *source) bool {
	k := src.k
	if k == nil || !bytes.HasPrefix(k, src.prefix) || len(k) != len(src.prefix)+suffixLen {
		return false
	}
	n, _ := parseSuffix(k[len(src.prefix):])
	return n >= p.since
}

func entryData(kind indexKind, src *source, v []byte) (feedID uint64, lang string, err error) {
	switch kind {
	case byTime:
		if len(v) < 8 {
			return 0, "", errCorrupt
		}
		return binary.BigEndian.Uint64(v), string(v[8:]), nil
	case byLang:
		if len(v) != 8 {
			return 0, "", errCorrupt
		}
		return binary.BigEndian.Uint64(v), src.lang, nil
	default:
		return src.feedID, string(v), nil
	}
}

// sourceHeap orders sources by their current key's tail, smallest (newest)
// first.
type sourceHeap struct{ items []*source }

func (h *sourceHeap) Len() int { return len(h.items) }
func (h *sourceHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return bytes.Compare(a.k[len(a.prefix):], b.k[len(b.prefix):]) < 0
}
func (h *sourceHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *sourceHeap) Push(x any)    { h.items = append(h.items, x.(*source)) }
func (h *sourceHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// SplitCategory cuts a Query.Category or Rule.Category path ("News/Tech")
// into its folders, trimmed, dropping empty ones; CategoryHasPrefix then
// matches it against a feed's Category. Both engines select feeds by
// category with this pair, so they agree on which feeds a path covers.
func SplitCategory(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if seg = strings.TrimSpace(seg); seg != "" {
			out = append(out, seg)
		}
	}
	return out
}

// CategoryHasPrefix says whether the folders cat of a feed start with the
// folders want (from SplitCategory), comparing trimmed folders without
// regard to case. An empty want matches every feed.
func CategoryHasPrefix(cat, want []string) bool {
	if len(want) > len(cat) {
		return false
	}
	for i, w := range want {
		if !strings.EqualFold(strings.TrimSpace(cat[i]), w) {
			return false
		}
	}
	return true
}
