package publish

import (
	"context"
	"fmt"
	"strings"
	"time"

	"babelfeed"
	"babelfeed/api"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// Request selects one page of a query's items.
type Request struct {
	// Node is the parsed query (filter/query); nil selects every item.
	Node query.Node
	// AllDuplicates shows cross-feed duplicates too; by default a
	// duplicate is hidden when its original matches the query as well.
	AllDuplicates bool
	// Limit is the page size; it must be positive.
	Limit int
	// Cursor continues after the previous page (Page.Next); "" starts
	// with the newest item.
	Cursor string
}

// Page is one page of a query, newest first.
type Page struct {
	Entries []Entry
	// Next is the cursor of the next (older) page; "" on the last page.
	Next string
	// Originals maps the original of each duplicate on the page to its
	// entry id (WriteJSONFeed shows it).
	Originals map[uint64]string
}

// Select runs a query against the store and returns one page of it,
// newest first (by store.SortTime, then ID), duplicates hidden unless
// asked for.
//
// The query's top-level lang:, since:, feed: and cat: terms narrow the
// store's scan (its language and feed indexes); the whole expression is
// then matched on every candidate with Node.Match. This is the scan path
// the keyword index will replace for the words.
func Select(ctx context.Context, s *store.Store, req Request) (Page, error) {
	if req.Limit <= 0 {
		return Page{}, fmt.Errorf("select: page size must be positive, got %d", req.Limit)
	}
	feedList, err := s.Feeds()
	if err != nil {
		return Page{}, fmt.Errorf("select: %w", err)
	}
	feeds := make(map[uint64]babelfeed.Feed, len(feedList))
	for _, f := range feedList {
		feeds[f.ID] = f
	}
	q, ok := narrow(req.Node, feedList)
	if !ok {
		return Page{}, nil
	}
	var cur *api.Cursor
	if req.Cursor != "" {
		c, err := api.DecodeCursor(req.Cursor)
		if err != nil {
			return Page{}, fmt.Errorf("select: cursor: %w", err)
		}
		cur = &c
		// Items at the cursor's instant may remain; the rest is older.
		if until := c.Published.Add(time.Nanosecond); q.Until.IsZero() || until.Before(q.Until) {
			q.Until = until
		}
	}
	matches := func(it *babelfeed.Item) bool {
		if req.Node == nil {
			return true
		}
		f := feeds[it.FeedID]
		return req.Node.Match(it, &f)
	}
	match := func(it *babelfeed.Item) bool {
		return (cur == nil || cur.After(store.SortTime(it), it.ID)) && matches(it)
	}
	hide := Dedup{Store: s, Match: matches}
	page := Page{Originals: map[uint64]string{}}
	more := false
	err = s.Items(ctx, q, match, func(it babelfeed.Item) bool {
		if !req.AllDuplicates && hide.Hide(&it) {
			return true
		}
		if len(page.Entries) == req.Limit {
			more = true
			return false
		}
		page.Entries = append(page.Entries, Entry{Item: it, Feed: feeds[it.FeedID]})
		return true
	})
	if err != nil {
		return Page{}, fmt.Errorf("select: %w", err)
	}
	if more {
		last := page.Entries[len(page.Entries)-1].Item
		page.Next = api.Cursor{Published: store.SortTime(&last), ID: last.ID}.Encode()
	}
	for _, e := range page.Entries {
		if o := e.Item.DuplicateOf; o != 0 {
			if orig, err := s.Item(o); err == nil {
				f := feeds[orig.FeedID]
				page.Originals[o] = EntryID(&orig, &f)
			}
		}
	}
	return page, nil
}

// narrow turns the top-level terms of a query that the store's indexes
// can serve into a babelfeed.Query; ok is false when no item can match
// (the feed: and cat: terms name no subscribed feed). Only terms whose
// meaning is exactly the store's are moved: lang: (the language index),
// since: (published at or after, which for a dated item is its sort time;
// the node still rejects undated items), and feed:/cat: resolved to feed
// IDs by the node itself.
func narrow(n query.Node, feeds []babelfeed.Feed) (q babelfeed.Query, ok bool) {
	var terms []query.Node
	switch t := n.(type) {
	case nil:
		return q, true
	case *query.And:
		terms = t.Nodes
	default:
		terms = []query.Node{n}
	}
	var langs map[string]bool
	var feedSet map[uint64]bool
	for _, term := range terms {
		switch t := term.(type) {
		case *query.Lang:
			next := map[string]bool{}
			for _, c := range t.Codes {
				if langs == nil || langs[c] {
					next[c] = true
				}
			}
			langs = next
		case *query.Since:
			if t.T.After(q.Since) {
				q.Since = t.T
			}
		case *query.FeedRef, *query.Category:
			next := map[uint64]bool{}
			for i := range feeds {
				f := &feeds[i]
				if (feedSet == nil || feedSet[f.ID]) && t.Match(&babelfeed.Item{FeedID: f.ID}, f) {
					next[f.ID] = true
				}
			}
			feedSet = next
		}
	}
	if langs != nil {
		if len(langs) == 0 {
			return q, false
		}
		for c := range langs {
			q.Langs = append(q.Langs, c)
		}
	}
	if feedSet != nil {
		if len(feedSet) == 0 {
			return q, false
		}
		for id := range feedSet {
			q.FeedIDs = append(q.FeedIDs, id)
		}
	}
	return q, true
}

// Dedup hides cross-feed duplicates from a query's results: a duplicate is
// hidden when its original matches the query too, since the original
// stands for the story. A duplicate whose original does not match (say,
// only the copy mentions the searched word, or the query names the copy's
// feed) is shown, so that a story the query matches is not lost.
type Dedup struct {
	Store *store.Store
	// Match is the query's whole predicate (nil: every item matches).
	Match func(*babelfeed.Item) bool
}

// Hide reports whether it should be left out. It reads the original from
// the store, so it must not run inside a store callback that holds a
// transaction (store.Items' match); Items' fn is fine.
func (d Dedup) Hide(it *babelfeed.Item) bool {
	if it.DuplicateOf == 0 {
		return false
	}
	orig, err := d.Store.Item(it.DuplicateOf)
	if err != nil {
		return false // the original is gone: the copy is all there is
	}
	return d.Match == nil || d.Match(&orig)
}

// QueryMatcher returns the predicate store.Items applies for q with the
// keyword matcher kw (nil: none): languages, feeds, category folders
// (compared ignoring case), published since/until by store.SortTime, then
// kw. Dedup needs it to ask whether a duplicate's original matches.
func QueryMatcher(q babelfeed.Query, feeds map[uint64]babelfeed.Feed, kw func(*babelfeed.Item) bool) func(*babelfeed.Item) bool {
	var langs map[string]bool
	if len(q.Langs) > 0 {
		langs = map[string]bool{}
		for _, l := range q.Langs {
			langs[l] = true
		}
	}
	var ids map[uint64]bool
	if len(q.FeedIDs) > 0 {
		ids = map[uint64]bool{}
		for _, id := range q.FeedIDs {
			ids[id] = true
		}
	}
	var cat []string
	for _, seg := range strings.Split(q.Category, "/") {
		if seg = strings.TrimSpace(seg); seg != "" {
			cat = append(cat, seg)
		}
	}
	return func(it *babelfeed.Item) bool {
		if langs != nil && !langs[it.Lang] {
			return false
		}
		if ids != nil && !ids[it.FeedID] {
			return false
		}
		if len(cat) > 0 {
			f := feeds[it.FeedID]
			if len(f.Category) < len(cat) {
				return false
			}
			for i, c := range cat {
				if !strings.EqualFold(strings.TrimSpace(f.Category[i]), c) {
					return false
				}
			}
		}
		t := store.SortTime(it)
		if !q.Since.IsZero() && t.Before(q.Since) {
			return false
		}
		if !q.Until.IsZero() && !t.Before(q.Until) {
			return false
		}
		return kw == nil || kw(it)
	}
}
