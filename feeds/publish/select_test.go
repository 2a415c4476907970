package publish

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// testStore has three feeds in two folders and 60 items in three
// languages, some of them the same story in two feeds.
func testStore(t *testing.T) (*store.DB, []babelfeed.Feed) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	feeds, _, err := s.AddFeeds([]babelfeed.Feed{
		{URL: "https://a.example/rss", Title: "A", Category: []string{"Italiano"}},
		{URL: "https://b.example/rss", Title: "B", Category: []string{"Italiano", "Sport"}},
		{URL: "https://c.example/rss", Title: "C", Category: []string{"Español"}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	langs := []string{"it", "es", "en"}
	words := []string{"calcio", "mercato", "scuola"}
	for fi, f := range feeds {
		var items []babelfeed.Item
		for i := range 20 {
			pub := t0.Add(-time.Duration(i*3+fi) * time.Hour)
			if i%7 == 0 {
				pub = t0.Add(-time.Duration(i) * time.Hour) // equal times across feeds: the cursor must tell them apart
			}
			link := fmt.Sprintf("https://%c.example/%d", 'a'+fi, i)
			if i%5 == 0 {
				link = fmt.Sprintf("https://news.example/story-%d?utm_source=%d", i, fi) // the same story in every feed
			}
			items = append(items, babelfeed.Item{
				Key: fmt.Sprintf("%d-%d", fi, i), URL: link,
				Title:   fmt.Sprintf("Item %d of feed %d about %s", i, fi, words[(i+fi)%3]),
				Summary: "text " + words[i%3], Published: pub, Lang: langs[(i+fi)%3], ContentHash: fmt.Sprint(i),
			})
		}
		if _, err := s.SaveFetch(f, items); err != nil {
			t.Fatal(err)
		}
	}
	return s, feeds
}

func allItems(t *testing.T, s *store.DB) []babelfeed.Item {
	t.Helper()
	var out []babelfeed.Item
	if err := s.Items(context.Background(), babelfeed.Query{}, nil, func(it babelfeed.Item) bool {
		out = append(out, it)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func pages(t *testing.T, s *store.DB, req Request) []uint64 {
	t.Helper()
	var ids []uint64
	for n := 0; ; n++ {
		p, err := Select(context.Background(), s, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Entries) > req.Limit || (p.Next != "" && len(p.Entries) != req.Limit) {
			t.Fatalf("page %d: %d entries, next %q, limit %d", n, len(p.Entries), p.Next, req.Limit)
		}
		for _, e := range p.Entries {
			ids = append(ids, e.Item.ID)
		}
		if p.Next == "" {
			return ids
		}
		req.Cursor = p.Next
	}
}

func TestSelectMatchesBruteForceAndPages(t *testing.T) {
	s, feeds := testStore(t)
	all := allItems(t, s)
	byFeed := map[uint64]babelfeed.Feed{}
	for _, f := range feeds {
		byFeed[f.ID] = f
	}
	dups := 0
	for _, it := range all {
		if it.DuplicateOf != 0 {
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("the test store has no duplicates")
	}
	for _, q := range []string{
		"", "lang:it", "lang:it,es -calcio", "cat:italiano mercato", "cat:Italiano/Sport OR lang:es",
		"feed:" + fmt.Sprint(feeds[2].ID) + " lang:es", "lang:it lang:es", "since:2026-11-19T12:00:00Z lang:en",
		"intitle:/feed [02]/", "feed:https://nowhere.example/rss", "cat:espanol scuola",
	} {
		n, err := query.Parse(q, t0)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		match := func(it *babelfeed.Item) bool {
			f := byFeed[it.FeedID]
			return n == nil || n.Match(it, &f)
		}
		var wantAll, want []uint64
		for _, it := range all {
			if !match(&it) {
				continue
			}
			wantAll = append(wantAll, it.ID)
			if it.DuplicateOf != 0 {
				if orig, err := s.Item(it.DuplicateOf); err == nil && match(&orig) {
					continue
				}
			}
			want = append(want, it.ID)
		}
		for _, limit := range []int{1, 7, 100} {
			got := pages(t, s, Request{Node: n, Limit: limit})
			if !slices.Equal(got, want) {
				t.Errorf("%q, pages of %d:\n got %v\nwant %v", q, limit, got, want)
			}
			got = pages(t, s, Request{Node: n, Limit: limit, AllDuplicates: true})
			if !slices.Equal(got, wantAll) {
				t.Errorf("%q all duplicates, pages of %d:\n got %v\nwant %v", q, limit, got, wantAll)
			}
		}
	}
}

func TestDuplicateShownWhenOnlyTheCopyMatches(t *testing.T) {
	s, feeds := testStore(t)
	// The story of item 0 is in every feed; the original is in feed A.
	// Asking for feed C alone must still show feed C's copy.
	n, _ := query.Parse(fmt.Sprintf("feed:%d", feeds[2].ID), t0)
	p, err := Select(context.Background(), s, Request{Node: n, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range p.Entries {
		if e.Item.DuplicateOf != 0 {
			found = true
			if p.Originals[e.Item.DuplicateOf] == "" {
				t.Errorf("no entry id for the original of %d", e.Item.ID)
			}
		}
	}
	if !found {
		t.Error("a duplicate whose original is in another feed was hidden from a query of its own feed")
	}
	if _, err := Select(context.Background(), s, Request{Limit: 0}); err == nil {
		t.Error("a zero page size: want an error")
	}
	if _, err := Select(context.Background(), s, Request{Limit: 5, Cursor: "!!"}); err == nil {
		t.Error("a bad cursor: want an error")
	}
}
