package publish

import (
	"context"
	"fmt"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/filter/search"
	"babelfeed/store"
)

// Request selects one page of a query's items.
type Request struct {
	// Node is the parsed query (filter/query); nil selects every item.
	Node query.Node
	// AllDuplicates shows cross-feed duplicates too; by default a
	// duplicate is hidden when its original matches the query as well
	// (the original stands for the story; a copy whose original does not
	// match is shown).
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

// Select returns one page of a query, newest first (by store.SortTime,
// then ID), duplicates hidden unless asked for: filter/search answers it
// from the keyword index when the store has a usable one, else by a scan,
// with the same answers and cursors as the query command and /api/items.
func Select(ctx context.Context, s store.Store, req Request) (Page, error) {
	if req.Limit <= 0 {
		return Page{}, fmt.Errorf("select: page size must be positive, got %d", req.Limit)
	}
	res, err := search.Search(ctx, s, search.Request{
		Query: req.Node, Sort: search.Newest, Limit: req.Limit, Cursor: req.Cursor, AllDuplicates: req.AllDuplicates,
	})
	if err != nil {
		return Page{}, fmt.Errorf("select: %w", err)
	}
	page := Page{Next: res.Next, Originals: map[uint64]string{}}
	feeds := map[uint64]babelfeed.Feed{}
	for _, h := range res.Hits {
		page.Entries = append(page.Entries, Entry{Item: h.Item, Feed: h.Feed})
		feeds[h.Item.FeedID] = h.Feed
	}
	for _, e := range page.Entries {
		o := e.Item.DuplicateOf
		if o == 0 {
			continue
		}
		orig, err := s.Item(o)
		if err != nil {
			continue // the original is gone
		}
		f, ok := feeds[orig.FeedID]
		if !ok {
			if f, err = s.Feed(orig.FeedID); err != nil {
				continue
			}
			feeds[orig.FeedID] = f
		}
		page.Originals[o] = EntryID(&orig, &f)
	}
	return page, nil
}
