package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

func testSaveFetch(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://example.it/rss")
	f.ETag, f.LastModified, f.LastStatus = `"e1"`, "Mon, 03 Mar 2025 10:00:00 GMT", 200
	first := []babelfeed.Item{
		item("a", "it", base.Add(1*time.Hour), "Primo"),
		item("b", "it", base.Add(2*time.Hour), "Secondo"),
		item("c", "en", base.Add(3*time.Hour), "Third"),
	}
	res, err := s.SaveFetch(f, first)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.SaveResult{Added: 3}) {
		t.Errorf("first save = %+v, want 3 added", res)
	}
	stored, _ := s.Feed(f.ID)
	if stored.ETag != `"e1"` || stored.LastModified != f.LastModified || stored.LastStatus != 200 ||
		stored.Items != 3 || !maps.Equal(stored.Languages, map[string]int{"it": 2, "en": 1}) {
		t.Errorf("feed after first save = %+v, want the validators and 3 items it:2 en:1", stored)
	}
	known, err := s.Known(f.ID)
	if err != nil || !maps.Equal(known, map[string]string{"a": "h:Primo", "b": "h:Secondo", "c": "h:Third"}) {
		t.Errorf("Known = %v, %v", known, err)
	}
	orig := query(t, s, babelfeed.Query{}, nil)
	if !slices.Equal(keys(orig), []string{"c", "b", "a"}) {
		t.Fatalf("items = %v, want c b a", keys(orig))
	}

	// The same document again: nothing changes.
	if res := save(t, s, f.ID, first...); res != (store.SaveResult{Unchanged: 3}) {
		t.Errorf("second save = %+v, want 3 unchanged", res)
	}

	// "c" is revised: new title, now detected as German, published later;
	// the poller saw it again now, but FirstSeen must stay.
	revised := item("c", "de", base.Add(5*time.Hour), "Dritte")
	revised.FirstSeen = base.Add(48 * time.Hour)
	if res := save(t, s, f.ID, first[0], first[1], revised); res != (store.SaveResult{Updated: 1, Unchanged: 2}) {
		t.Errorf("third save = %+v, want 1 updated 2 unchanged", res)
	}
	cID := orig[0].ID
	got, err := s.Item(cID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Dritte" || got.Lang != "de" || !got.FirstSeen.Equal(base) || got.FeedID != f.ID || got.ID != cID {
		t.Errorf("revised item = %+v, want the new title and language, the first FirstSeen, the same ID", got)
	}
	if n, _ := s.ItemCount(); n != 3 {
		t.Errorf("ItemCount = %d, want 3 (no duplicate)", n)
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"de"}}, nil); len(got) != 1 || got[0].ID != cID {
		t.Errorf("de query = %v, want c", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"en"}}, nil); len(got) != 0 {
		t.Errorf("en query still finds %v", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Since: base.Add(4 * time.Hour)}, nil); len(got) != 1 || got[0].ID != cID {
		t.Errorf("the revised time is not used: %v", keys(got))
	}
	stored, _ = s.Feed(f.ID)
	if stored.Items != 3 || !maps.Equal(stored.Languages, map[string]int{"it": 2, "de": 1}) {
		t.Errorf("counts after update = %d %v, want 3 it:2 de:1", stored.Items, stored.Languages)
	}
	consistent(t, s)

	// Items of another feed and keyless items are refused, writing nothing.
	bad := item("x", "it", base, "x")
	bad.FeedID = f.ID + 1
	if _, err := s.SaveFetch(stored, []babelfeed.Item{item("y", "it", base, "y"), bad}); err == nil {
		t.Error("SaveFetch accepted an item of another feed")
	}
	if _, err := s.SaveFetch(stored, []babelfeed.Item{{Title: "no key"}}); err == nil {
		t.Error("SaveFetch accepted an item without key")
	}
	if n, _ := s.ItemCount(); n != 3 {
		t.Errorf("a failed SaveFetch wrote items: %d, want 3", n)
	}
	if _, err := s.SaveFetch(babelfeed.Feed{ID: 42, URL: "https://x.example/"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SaveFetch of unknown feed: %v, want ErrNotFound", err)
	}
	if _, err := s.Item(9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item(9999): %v, want ErrNotFound", err)
	}
	consistent(t, s)
}

// sortedNewestFirst says whether items are newest first by SortTime, then
// by ID descending.
func sortedNewestFirst(items []babelfeed.Item) bool {
	return slices.IsSortedFunc(items, func(a, b babelfeed.Item) int {
		if c := store.SortTime(&b).Compare(store.SortTime(&a)); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
}

func testItemsNewestFirst(t *testing.T, open Opener) {
	s := open(t)
	f1 := addFeed(t, s, "https://one.example/")
	f2 := addFeed(t, s, "https://two.example/")
	langs := []string{"it", "de", "es"}
	for i := range 30 {
		fid := f1.ID
		if i%2 == 1 {
			fid = f2.ID
		}
		// Three items share each timestamp: the ID breaks the tie.
		save(t, s, fid, item(fmt.Sprintf("k%02d", i), langs[i%3], base.Add(time.Duration(i/3)*time.Minute), fmt.Sprint(i)))
	}
	all := query(t, s, babelfeed.Query{}, nil)
	if len(all) != 30 || !sortedNewestFirst(all) {
		t.Fatalf("all = %v, want 30 newest first", keys(all))
	}
	if all[0].Key != "k29" || all[29].Key != "k00" {
		t.Errorf("first %s last %s, want k29 and k00", all[0].Key, all[29].Key)
	}
	for _, q := range []babelfeed.Query{
		{Langs: []string{"it", "es"}},
		{FeedIDs: []uint64{f1.ID, f2.ID}},
		{FeedIDs: []uint64{f2.ID}, Langs: []string{"de", "it"}},
	} {
		got := query(t, s, q, nil)
		if !sortedNewestFirst(got) {
			t.Errorf("%+v not newest first: %v", q, keys(got))
		}
		for _, it := range got {
			if (q.Langs != nil && !slices.Contains(q.Langs, it.Lang)) || !slices.Contains(q.FeedIDs, it.FeedID) && q.FeedIDs != nil {
				t.Errorf("%+v yielded %+v", q, it)
			}
		}
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"it", "es"}}, nil); len(got) != 20 {
		t.Errorf("it+es = %d items, want 20", len(got))
	}
	if got := query(t, s, babelfeed.Query{FeedIDs: []uint64{f2.ID}, Langs: []string{"de", "it"}}, nil); len(got) != 10 {
		t.Errorf("feed 2 in de+it = %d items, want 10", len(got))
	}

	// Since is inclusive, Until exclusive.
	got := query(t, s, babelfeed.Query{Since: base.Add(2 * time.Minute), Until: base.Add(5 * time.Minute)}, nil)
	if want := []string{"k14", "k13", "k12", "k11", "k10", "k09", "k08", "k07", "k06"}; !slices.Equal(keys(got), want) {
		t.Errorf("Since/Until = %v, want %v", keys(got), want)
	}
	got = query(t, s, babelfeed.Query{Langs: []string{"it"}, Until: base.Add(5 * time.Minute), Limit: 2}, nil)
	if want := []string{"k12", "k09"}; !slices.Equal(keys(got), want) {
		t.Errorf("it before 5m = %v, want %v", keys(got), want)
	}
	if got := query(t, s, babelfeed.Query{Since: base.Add(time.Hour)}, nil); len(got) != 0 {
		t.Errorf("future Since = %v", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Since: base.Add(time.Hour), Until: base}, nil); len(got) != 0 {
		t.Errorf("empty range = %v", keys(got))
	}
}

func testItemsLimit(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	var items []babelfeed.Item
	for i := range 600 { // more than one batch of bbolt's Items
		items = append(items, item(fmt.Sprint(i), "it", base.Add(time.Duration(i)*time.Second), fmt.Sprint(i)))
	}
	save(t, s, f.ID, items...)
	odd := func(it *babelfeed.Item) bool { return it.Published.Second()%2 == 1 }
	got := query(t, s, babelfeed.Query{Limit: 3}, odd)
	if want := []string{"599", "597", "595"}; !slices.Equal(keys(got), want) {
		t.Errorf("Limit 3 odd = %v, want %v", keys(got), want)
	}
	if got := query(t, s, babelfeed.Query{}, odd); len(got) != 300 {
		t.Errorf("odd = %d items, want 300", len(got))
	}
	if got := query(t, s, babelfeed.Query{Limit: 400}, nil); len(got) != 400 || got[399].Key != "200" {
		t.Errorf("Limit 400 = %d items, want 400 down to 200", len(got))
	}
	n := 0
	err := s.Items(context.Background(), babelfeed.Query{}, nil, func(babelfeed.Item) bool {
		n++
		return n < 5
	})
	if err != nil || n != 5 {
		t.Errorf("fn returning false: n = %d, err = %v; want 5, nil", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Items(ctx, babelfeed.Query{}, nil, func(babelfeed.Item) bool { return true })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled query err = %v, want context.Canceled", err)
	}
}

func testItemsNegativeLimit(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	save(t, s, f.ID, item("a", "it", base, "a"), item("b", "it", base, "b"))
	if got := query(t, s, babelfeed.Query{Limit: -1}, nil); len(got) != 2 {
		t.Errorf("Limit -1 gave %d items, want 2", len(got))
	}
}

func testItemsCategory(t *testing.T, open Opener) {
	s := open(t)
	tech := addFeed(t, s, "https://tech.example/", "Italiano", "Tech")
	news := addFeed(t, s, "https://news.example/", "Italiano")
	other := addFeed(t, s, "https://other.example/", "Italianissimo")
	en := addFeed(t, s, "https://en.example/", "English", "Italiano")
	for i, f := range []babelfeed.Feed{tech, news, other, en} {
		save(t, s, f.ID, item(fmt.Sprint("k", i), "it", base.Add(time.Duration(i)*time.Minute), "t"))
	}
	feedsOf := func(items []babelfeed.Item) []uint64 {
		var ids []uint64
		for _, it := range items {
			ids = append(ids, it.FeedID)
		}
		return ids
	}
	for cat, want := range map[string][]uint64{
		"Italiano":       {news.ID, tech.ID},
		"italiano/":      {news.ID, tech.ID},
		" Italiano / ":   {news.ID, tech.ID},
		"Italiano/Tech":  {tech.ID},
		"ITALIANO/tech":  {tech.ID},
		"Italiano/Other": nil,
		"Ital":           nil,
		"English":        {en.ID},
		"Italiano%":      nil,
		"Italiano_Tech":  nil,
	} {
		if got := feedsOf(query(t, s, babelfeed.Query{Category: cat}, nil)); !slices.Equal(got, want) {
			t.Errorf("Category %q = feeds %v, want %v", cat, got, want)
		}
	}
	if got := feedsOf(query(t, s, babelfeed.Query{Category: "Italiano", FeedIDs: []uint64{tech.ID, other.ID}}, nil)); !slices.Equal(got, []uint64{tech.ID}) {
		t.Errorf("Category and FeedIDs = %v, want %v", got, []uint64{tech.ID})
	}
}

// testItemsIgnoreWords: the store does not match words (the caller's
// match does), so q.Words selects nothing by itself.
func testItemsIgnoreWords(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	save(t, s, f.ID, item("a", "it", base, "ponte"), item("b", "it", base.Add(time.Minute), "mercato"))
	if got := query(t, s, babelfeed.Query{Words: []string{"ponte"}}, nil); !slices.Equal(keys(got), []string{"b", "a"}) {
		t.Errorf("Words [ponte] = %v, want every item (b a): the store ignores Words", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Words: []string{"nowhere"}, Limit: 1}, nil); !slices.Equal(keys(got), []string{"b"}) {
		t.Errorf("Words [nowhere] Limit 1 = %v, want [b]", keys(got))
	}
}

func testItemsUnknown(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	save(t, s, f.ID, item("a", "it", base, "a"))
	for _, q := range []babelfeed.Query{
		{FeedIDs: []uint64{f.ID + 100}},
		{Langs: []string{"fr"}},
		{Category: "Nowhere"},
		{Langs: []string{"fr"}, FeedIDs: []uint64{f.ID}},
	} {
		if got := query(t, s, q, nil); len(got) != 0 {
			t.Errorf("%+v = %v, want nothing", q, keys(got))
		}
	}
	if got := query(t, s, babelfeed.Query{FeedIDs: []uint64{f.ID + 100, f.ID}, Langs: []string{"fr", "it"}}, nil); !slices.Equal(keys(got), []string{"a"}) {
		t.Errorf("unknown and known feeds and languages = %v, want [a]", keys(got))
	}
	empty := open(t)
	if got := query(t, empty, babelfeed.Query{}, nil); len(got) != 0 {
		t.Errorf("an empty store lists %v", keys(got))
	}
	consistent(t, empty)
}

func testUpdateItems(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	var items []babelfeed.Item
	for i := range 1200 { // more than one batch of bbolt's UpdateItems
		items = append(items, item(fmt.Sprint(i), "und", base.Add(time.Duration(i)*time.Second), fmt.Sprint(i)))
	}
	save(t, s, f.ID, items...)
	var progress []int
	var seen []uint64
	err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
		seen = append(seen, it.ID)
		if it.Published.Second()%2 == 0 {
			return false
		}
		it.Lang, it.LangMethod = "pt", babelfeed.LangPrior
		return true
	}, func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1200 || !slices.IsSorted(seen) {
		t.Errorf("fn saw %d items (in ID order: %v), want all 1200 in ID order", len(seen), slices.IsSorted(seen))
	}
	if len(progress) == 0 || progress[len(progress)-1] != 1200 || !slices.IsSorted(progress) {
		t.Errorf("progress = %v, want increasing up to 1200", progress)
	}
	got, _ := s.Feed(f.ID)
	if !maps.Equal(got.Languages, map[string]int{"und": 600, "pt": 600}) {
		t.Errorf("Languages = %v, want und:600 pt:600", got.Languages)
	}
	if pt := query(t, s, babelfeed.Query{Langs: []string{"pt"}}, nil); len(pt) != 600 || pt[0].LangMethod != babelfeed.LangPrior {
		t.Errorf("pt items = %d, want 600 with method prior", len(pt))
	}
	if und := query(t, s, babelfeed.Query{Langs: []string{"und"}}, nil); len(und) != 600 {
		t.Errorf("und items = %d, want 600", len(und))
	}
	consistent(t, s)

	err = s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
		it.Key = "other"
		return true
	}, nil)
	if err == nil {
		t.Error("UpdateItems let fn change an item's key")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.UpdateItems(ctx, func(*babelfeed.Item) bool { return false }, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled UpdateItems = %v, want context.Canceled", err)
	}
	consistent(t, s)
}

func testLongAndOddKeys(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	long := strings.Repeat("guid-", 2000)
	odd := "\xffnot utf-8"
	save(t, s, f.ID, item(long, "it", base, "long"), item(odd, "it", base, "odd"), item("plain", "it", base, "plain"))
	known, err := s.Known(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 3 || known[long] != "h:long" || known[odd] != "h:odd" {
		t.Errorf("Known = %d keys (long: %q, odd: %q), want 3 with both", len(known), known[long], known[odd])
	}
	if res := save(t, s, f.ID, item(long, "it", base, "long2"), item(odd, "it", base, "odd")); res != (store.SaveResult{Updated: 1, Unchanged: 1}) {
		t.Errorf("resave = %+v, want 1 updated 1 unchanged", res)
	}
	if n, _ := s.ItemCount(); n != 3 {
		t.Errorf("ItemCount = %d, want 3", n)
	}
	got := map[string]bool{}
	for _, it := range query(t, s, babelfeed.Query{}, nil) {
		got[it.Key] = true
	}
	if !got[long] || !got[odd] || !got["plain"] {
		t.Errorf("the keys do not read back as written")
	}
	consistent(t, s)
}

// testItemRoundTrip: every field of an item and of a feed reads back as
// written, times as the same instant in UTC.
func testItemRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	rome := time.FixedZone("CET", 3600)
	added, _, err := s.AddFeeds([]babelfeed.Feed{{
		URL: "https://one.example/rss", Title: "Uno", SiteURL: "https://one.example/",
		Category: []string{"Italiano", "Notizie"}, DeclaredLang: "it",
	}}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := added[0]
	f.LastFetched = time.Date(2025, 3, 2, 10, 0, 0, 123456000, rome)
	f.LastSuccess, f.LastStatus, f.BodyHash = f.LastFetched, 200, "body"
	f.TTLMinutes, f.SkipDays, f.UpdatePeriod, f.UpdateFrequency = 60, []string{"Sunday"}, "hourly", 2
	f.NextPoll, f.NextReason = f.LastFetched.Add(time.Hour), "ttl"
	it := babelfeed.Item{
		Key: "k1", GUID: "urn:uuid:1", URL: "https://one.example/1", Title: "Città e ponti",
		Summary: "Riassunto", Content: "Testo intero, più lungo", Author: "Maria Rossi",
		Categories: []string{"cronaca", "città"},
		Published:  time.Date(2025, 3, 1, 9, 30, 0, 250000000, rome),
		Updated:    time.Date(2025, 3, 1, 10, 0, 0, 0, rome),
		FirstSeen:  time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC),
		Lang:       "it", LangConfidence: 0.8125, LangMethod: babelfeed.LangPrior, DeclaredLang: "it-IT",
		ContentHash: "hash-1",
	}
	if res, err := s.SaveFetch(f, []babelfeed.Item{it}); err != nil || res.Added != 1 {
		t.Fatalf("SaveFetch = %+v, %v", res, err)
	}
	got := query(t, s, babelfeed.Query{}, nil)
	if len(got) != 1 {
		t.Fatalf("%d items", len(got))
	}
	want := it
	want.ID, want.FeedID = got[0].ID, f.ID
	if got[0].ID == 0 || !itemsEqual(got[0], want) {
		t.Errorf("item read back\n got %+v\nwant %+v", got[0], want)
	}
	for name, tm := range map[string]time.Time{"Published": got[0].Published, "Updated": got[0].Updated, "FirstSeen": got[0].FirstSeen} {
		if tm.Location() != time.UTC {
			t.Errorf("item %s in %v, want UTC", name, tm.Location())
		}
	}
	byID, err := s.Item(got[0].ID)
	if err != nil || !itemsEqual(byID, want) {
		t.Errorf("Item(%d) = %+v, %v", got[0].ID, byID, err)
	}
	g, err := s.Feed(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Title != "Uno" || g.SiteURL != f.SiteURL || g.CategoryPath() != "Italiano/Notizie" || g.DeclaredLang != "it" ||
		!g.LastFetched.Equal(f.LastFetched) || !g.LastSuccess.Equal(f.LastSuccess) || g.LastStatus != 200 || g.BodyHash != "body" ||
		g.TTLMinutes != 60 || !slices.Equal(g.SkipDays, f.SkipDays) || g.UpdatePeriod != "hourly" || g.UpdateFrequency != 2 ||
		!g.NextPoll.Equal(f.NextPoll) || g.NextReason != "ttl" || g.Items != 1 || g.Languages["it"] != 1 {
		t.Errorf("feed read back\n got %+v\nwant %+v", g, f)
	}
	if g.Added.Location() != time.UTC {
		t.Errorf("feed Added in %v, want UTC", g.Added.Location())
	}
	// An undated item sorts by when it was first seen, and keeps a zero
	// Published.
	undated := item("undated", "it", time.Time{}, "senza data")
	undated.FirstSeen = it.Published.Add(time.Minute)
	save(t, s, f.ID, undated)
	got = query(t, s, babelfeed.Query{}, nil)
	if len(got) != 2 || got[0].Key != "undated" || !got[0].Published.IsZero() || !got[0].FirstSeen.Equal(undated.FirstSeen) {
		t.Errorf("with an undated item: %+v", got)
	}
	consistent(t, s)
}

// testConcurrent runs queries whose fn calls back into the store while
// another goroutine saves fetches (meaningful under -race).
func testConcurrent(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 20 {
			var items []babelfeed.Item
			for i := range 50 {
				items = append(items, item(fmt.Sprint(round, "-", i), "it", base.Add(time.Duration(round*50+i)*time.Second), "t"))
			}
			if _, err := s.SaveFetch(f, items); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 20 {
				err := s.Items(context.Background(), babelfeed.Query{Langs: []string{"it"}}, nil, func(it babelfeed.Item) bool {
					_, err := s.Item(it.ID)
					if err != nil {
						t.Errorf("Item(%d) while listing: %v", it.ID, err)
					}
					return err == nil
				})
				if err == nil {
					_, err = s.Stats()
				}
				if err != nil {
					t.Errorf("reader: %v", err)
					return // one report is enough
				}
			}
		})
	}
	wg.Wait()
	if n, _ := s.ItemCount(); n != 1000 {
		t.Errorf("ItemCount = %d, want 1000", n)
	}
	consistent(t, s)
}

func testRecentTimes(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	other := addFeed(t, s, "https://two.example/")
	undated := item("undated", "it", time.Time{}, "u")
	undated.FirstSeen = base.Add(90 * time.Second)
	save(t, s, f.ID, item("a", "it", base, "a"), item("b", "it", base.Add(time.Minute), "b"), undated, item("c", "it", base.Add(time.Hour), "c"))
	save(t, s, other.ID, item("x", "it", base.Add(2*time.Hour), "x"))
	got, err := s.RecentTimes(f.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{base.Add(time.Hour), base.Add(90 * time.Second), base.Add(time.Minute)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("RecentTimes = %v, want %v", got, want)
	}
	if got, _ := s.RecentTimes(f.ID, 10); len(got) != 4 || !got[3].Equal(base) {
		t.Errorf("RecentTimes(10) = %v, want all 4 down to %v", got, base)
	}
	if got, _ := s.RecentTimes(99, 5); len(got) != 0 {
		t.Errorf("RecentTimes(unknown) = %v", got)
	}
}

// testStatsAndCheck: a store written only through the interface passes its
// own Check, which counts what it holds.
func testStatsAndCheck(t *testing.T, open Opener) {
	s := open(t)
	if rep := mustCheck(t, s); rep.Feeds != 0 || rep.Items != 0 || rep.Tombstones != 0 {
		t.Errorf("empty store: report %+v", rep)
	}
	if st, err := s.Stats(); err != nil || st.Items != 0 || st.Feeds != 0 || len(st.ByLang) != 0 || len(st.ByFeed) != 0 {
		t.Errorf("empty store: Stats %+v, %v", st, err)
	}
	a := addFeed(t, s, "https://a.example/feed")
	b := addFeed(t, s, "https://b.example/feed")
	c := addFeed(t, s, "https://c.example/feed")
	var items []babelfeed.Item
	for i := range 30 {
		items = append(items, item(fmt.Sprintf("a%d", i), []string{"it", "en", "de"}[i%3], base.Add(time.Duration(i)*time.Hour), fmt.Sprintf("titolo %d", i)))
	}
	save(t, s, a.ID, items...)
	save(t, s, b.ID, item("b1", "es", base, "uno"), item("b2", "es", time.Time{}, "dos"))
	rep := mustCheck(t, s)
	if rep.Feeds != 3 || rep.Items != 32 || rep.Tombstones != 0 || !rep.OK() {
		t.Errorf("report %+v, want 3 feeds 32 items", rep)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 32 || st.Feeds != 3 || !maps.Equal(st.ByLang, map[string]int{"it": 10, "en": 10, "de": 10, "es": 2}) ||
		!maps.Equal(st.ByFeed, map[uint64]int{a.ID: 30, b.ID: 2, c.ID: 0}) {
		t.Errorf("Stats = %+v", st)
	}
	if s.Path() == "" {
		t.Error("Path() is empty")
	}
	if strings.Contains(s.Path(), "password") {
		t.Errorf("Path() %q shows a password", s.Path())
	}
	consistent(t, s)
}

// testSaveFetchDefaultsAndFeedState: SaveFetch fills an empty language and
// FirstSeen, saves the feed's new state (a redirect included) with its
// items, and keeps the counts whatever the caller's copy says.
func testSaveFetchDefaults(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://old.example/rss")
	save(t, s, f.ID, item("a", "it", base, "a"))
	// f is stale (no items); it was redirected and fetched.
	f.URL = "https://new.example/rss"
	f.ETag, f.LastStatus, f.NextPoll, f.LastSuccess = `"v2"`, 200, base.Add(time.Hour), base
	nolang := item("b", "", base.Add(time.Minute), "b")
	nolang.FirstSeen = time.Time{}
	before := time.Now().Add(-time.Minute)
	if res, err := s.SaveFetch(f, []babelfeed.Item{nolang}); err != nil || res != (store.SaveResult{Added: 1}) {
		t.Fatalf("SaveFetch = %+v, %v; want 1 added", res, err)
	}
	got, err := s.Feed(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != f.URL || got.ETag != `"v2"` || !got.NextPoll.Equal(f.NextPoll) || got.Items != 2 ||
		!maps.Equal(got.Languages, map[string]int{"it": 1, babelfeed.Undetermined: 1}) ||
		!slices.Equal(got.PrevURLs, []string{"https://old.example/rss"}) {
		t.Errorf("feed after SaveFetch = %+v; want the new state, the stored counts plus one, the old URL remembered", got)
	}
	for _, u := range []string{"https://old.example/rss", "https://new.example/rss"} {
		if byURL, err := s.FeedByURL(u); err != nil || byURL.ID != f.ID {
			t.Errorf("FeedByURL(%s) = %d, %v; want %d", u, byURL.ID, err, f.ID)
		}
	}
	items := query(t, s, babelfeed.Query{Langs: []string{babelfeed.Undetermined}}, nil)
	if len(items) != 1 || items[0].Key != "b" || items[0].FirstSeen.Before(before) || items[0].FirstSeen.After(time.Now().Add(time.Minute)) {
		t.Errorf("item without language and FirstSeen = %+v; want und, first seen now", items)
	}
	// An empty fetch (a 304) saves the state alone.
	got.LastStatus, got.NextPoll = 304, base.Add(2*time.Hour)
	if res, err := s.SaveFetch(got, nil); err != nil || res != (store.SaveResult{}) {
		t.Errorf("empty SaveFetch = %+v, %v", res, err)
	}
	if g, _ := s.Feed(f.ID); g.LastStatus != 304 || !g.NextPoll.Equal(got.NextPoll) || g.Items != 2 {
		t.Errorf("feed after an empty SaveFetch = %+v", g)
	}
	consistent(t, s)
}

// testOddBytes: strings are stored as given, NUL bytes and invalid UTF-8
// included (a JSON feed can carry "\u0000"; a broken one any byte), except
// in language codes, which are refused with a NUL.
func testOddBytes(t *testing.T, open Opener) {
	s := open(t)
	added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://one.example/", Title: "ti\x00tolo"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := added[0]
	if g, err := s.Feed(f.ID); err != nil || g.Title != "ti\x00tolo" {
		t.Errorf("feed title read back as %q, %v", g.Title, err)
	}
	odd := item("k\x00nul", "it", base, "ti\x00tle")
	odd.Summary, odd.Author, odd.ContentHash = "bad \xff utf-8", "a\x00b", "h\x00"
	odd.URL, odd.Categories = "https://one.example/\x00", []string{"\x00", "c\xfe"}
	if res, err := s.SaveFetch(f, []babelfeed.Item{odd}); err != nil || res.Added != 1 {
		t.Fatalf("SaveFetch of an item with odd bytes = %+v, %v", res, err)
	}
	got := query(t, s, babelfeed.Query{}, nil)
	if len(got) != 1 {
		t.Fatalf("%d items", len(got))
	}
	want := odd
	want.ID, want.FeedID = got[0].ID, f.ID
	if !itemsEqual(got[0], want) {
		t.Errorf("item read back\n got %#v\nwant %#v", got[0], want)
	}
	if known, _ := s.Known(f.ID); known["k\x00nul"] != "h\x00" {
		t.Errorf("Known = %q", known)
	}
	if res := save(t, s, f.ID, odd); res != (store.SaveResult{Unchanged: 1}) {
		t.Errorf("resave = %+v, want 1 unchanged", res)
	}
	bad := item("b", "i\x00t", base, "b")
	if _, err := s.SaveFetch(f, []babelfeed.Item{bad}); err == nil {
		t.Error("SaveFetch accepted a language code with a NUL byte")
	}
	consistent(t, s)
}

// testIDsFollowTheDocument: new items of one fetch get increasing IDs in
// the document's order, so that equal times list the same way on every
// engine; a key twice in one document is one item.
func testIDsFollowTheDocument(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	var doc []babelfeed.Item
	for _, k := range []string{"m", "c", "x", "a", "q"} {
		doc = append(doc, item(k, "it", base, k))
	}
	save(t, s, f.ID, doc...)
	got := query(t, s, babelfeed.Query{}, nil)
	if want := []string{"q", "a", "x", "c", "m"}; !slices.Equal(keys(got), want) {
		t.Errorf("items of one time = %v, want %v (IDs in document order, listed highest first)", keys(got), want)
	}
	if !slices.IsSortedFunc(got, func(a, b babelfeed.Item) int { return int(b.ID) - int(a.ID) }) {
		t.Errorf("IDs %v not descending", ids(got))
	}
	twice := []babelfeed.Item{item("d", "it", base, "first"), item("d", "de", base, "second")}
	res, err := s.SaveFetch(f, twice)
	if err != nil {
		t.Fatalf("a key twice in one document: %v", err)
	}
	// Applied in order: added, then updated by the second copy.
	if res != (store.SaveResult{Added: 1, Updated: 1}) {
		t.Errorf("a key twice in one document: %+v, want 1 added 1 updated", res)
	}
	if n := len(feedKeys(t, s, f.ID)); n != 6 {
		t.Errorf("%d items after a document with a key twice, want 6", n)
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"de"}}, nil); len(got) != 1 || got[0].Title != "second" {
		t.Errorf("the key twice in one document is stored as %+v, want the second copy", got)
	}
	consistent(t, s)
}

// testUpdateItemsMovesTimesAndHashes: a retag may change more than the
// language: a new time moves the item in every listing, a new hash is what
// Known says; ID, FeedID and Key are refused.
func testUpdateItemsMovesTimes(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	g := addFeed(t, s, "https://two.example/")
	save(t, s, f.ID, item("a", "it", base, "a"), item("b", "it", base.Add(time.Hour), "b"))
	err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
		if it.Key != "a" {
			return false
		}
		it.Published, it.ContentHash, it.Title = base.Add(2*time.Hour), "h:new", "nuovo"
		return true
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, s, babelfeed.Query{Since: base.Add(90 * time.Minute)}, nil); !slices.Equal(keys(got), []string{"a"}) {
		t.Errorf("after moving a: Since 1h30 = %v, want [a]", keys(got))
	}
	if got := query(t, s, babelfeed.Query{FeedIDs: []uint64{f.ID}, Langs: []string{"it"}}, nil); !slices.Equal(keys(got), []string{"a", "b"}) {
		t.Errorf("after moving a: feed items = %v, want [a b]", keys(got))
	}
	if times, _ := s.RecentTimes(f.ID, 1); len(times) != 1 || !times[0].Equal(base.Add(2*time.Hour)) {
		t.Errorf("RecentTimes after moving a = %v", times)
	}
	if known, _ := s.Known(f.ID); known["a"] != "h:new" {
		t.Errorf("Known[a] = %q, want h:new", known["a"])
	}
	for name, change := range map[string]func(*babelfeed.Item){
		"ID":     func(it *babelfeed.Item) { it.ID += 100 },
		"FeedID": func(it *babelfeed.Item) { it.FeedID = g.ID },
		"Key":    func(it *babelfeed.Item) { it.Key += "x" },
	} {
		err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
			change(it)
			return true
		}, nil)
		if err == nil {
			t.Errorf("UpdateItems let fn change an item's %s", name)
		}
	}
	consistent(t, s)
}

// testQueryEdges: a category of no folders selects everything, repeated
// feeds and languages list an item once, RecentTimes of 0 is empty.
func testQueryEdges(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/", "Italiano")
	g := addFeed(t, s, "https://two.example/")
	save(t, s, f.ID, item("a", "it", base, "a"))
	save(t, s, g.ID, item("b", "de", base.Add(time.Minute), "b"))
	for _, cat := range []string{"/", " ", "//"} {
		if got := query(t, s, babelfeed.Query{Category: cat}, nil); !slices.Equal(keys(got), []string{"b", "a"}) {
			t.Errorf("Category %q = %v, want every item [b a]", cat, keys(got))
		}
	}
	q := babelfeed.Query{FeedIDs: []uint64{f.ID, g.ID, f.ID}, Langs: []string{"it", "de", "it"}}
	if got := query(t, s, q, nil); !slices.Equal(keys(got), []string{"b", "a"}) {
		t.Errorf("repeated feeds and languages = %v, want [b a]", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Since: base, Until: base}, nil); len(got) != 0 {
		t.Errorf("Since = Until = %v, want nothing", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Since: base, Until: base.Add(time.Nanosecond)}, nil); !slices.Equal(keys(got), []string{"a"}) {
		t.Errorf("a range of one nanosecond = %v, want [a]", keys(got))
	}
	if times, err := s.RecentTimes(f.ID, 0); err != nil || len(times) != 0 {
		t.Errorf("RecentTimes(0) = %v, %v", times, err)
	}
	// What an unknown feed has: nothing, and no error.
	if known, err := s.Known(999); err != nil || len(known) != 0 {
		t.Errorf("Known(unknown feed) = %v, %v; want empty", known, err)
	}
	if d, err := s.Dropped(999); err != nil || len(d) != 0 {
		t.Errorf("Dropped(unknown feed) = %v, %v; want empty", d, err)
	}
	if times, err := s.RecentTimes(999, 3); err != nil || len(times) != 0 {
		t.Errorf("RecentTimes(unknown feed) = %v, %v; want empty", times, err)
	}
	for _, id := range []uint64{0, 999} {
		if _, err := s.Feed(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Feed(%d) = %v, want ErrNotFound", id, err)
		}
		if _, err := s.Item(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Item(%d) = %v, want ErrNotFound", id, err)
		}
		if err := s.RemoveFeed(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RemoveFeed(%d) = %v, want ErrNotFound", id, err)
		}
		if err := s.RemoveRule(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RemoveRule(%d) = %v, want ErrNotFound", id, err)
		}
	}
}

// testConcurrentWriters: several pollers (goroutines here, processes on a
// shared engine) write at once: the same document of one feed, the same
// story in several feeds, the same new subscription, a feed removed while
// it is saved. Every key is stored once, every story has one original, and
// the counts hold.
func testConcurrentWriters(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	const writers = 4
	var stories []babelfeed.Feed
	for i := range writers {
		stories = append(stories, addFeed(t, s, fmt.Sprintf("https://story%d.example/", i)))
	}
	doomed := addFeed(t, s, "https://doomed.example/")
	save(t, s, doomed.ID, feedDoc("d", 0, 20)...)

	var wg sync.WaitGroup
	added := make([]int, writers)
	subscribed := make([][]babelfeed.Feed, writers)
	for w := range writers {
		wg.Go(func() {
			doc := feedDoc("k", 0, 40)
			doc = append(doc, item(fmt.Sprint("own", w), "de", base, fmt.Sprint("own ", w)))
			res, err := s.SaveFetch(f, doc)
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
				return
			}
			added[w] = res.Added
			it := story("s", "https://wire.example/2025/the-story", "The same wire story in every feed at once", base.Add(time.Duration(w)*time.Minute))
			if _, err := s.SaveFetch(stories[w], []babelfeed.Item{it}); err != nil {
				t.Errorf("writer %d: story: %v", w, err)
			}
			a, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://same.example/rss"}}, false)
			if err != nil {
				t.Errorf("writer %d: AddFeeds: %v", w, err)
			}
			subscribed[w] = a
		})
	}
	wg.Go(func() {
		if err := s.RemoveFeed(doomed.ID); err != nil {
			t.Errorf("RemoveFeed: %v", err)
		}
	})
	wg.Go(func() {
		// Saved before the removal or refused after it.
		if _, err := s.SaveFetch(doomed, feedDoc("d", 10, 30)); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SaveFetch of a feed being removed: %v", err)
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, n := range added {
		total += n
	}
	if total != 40+writers {
		t.Errorf("the writers added %v items, %d in all; want 40 shared and %d own: %d", added, total, writers, 40+writers)
	}
	if got := feedKeys(t, s, f.ID); len(got) != 40+writers {
		t.Errorf("feed has %d items, want %d", len(got), 40+writers)
	}
	nsub := 0
	for _, a := range subscribed {
		nsub += len(a)
	}
	if nsub != 1 {
		t.Errorf("the same URL subscribed %d times at once, want once", nsub)
	}
	var originals, dups int
	var root uint64
	for _, it := range query(t, s, babelfeed.Query{Langs: []string{"it"}}, func(it *babelfeed.Item) bool { return it.Key == "s" }) {
		if it.DuplicateOf == 0 {
			originals++
			root = it.ID
		} else {
			dups++
		}
	}
	if originals != 1 || dups != writers-1 {
		t.Errorf("the story saved by %d feeds at once: %d originals, %d duplicates; want 1 and %d", writers, originals, dups, writers-1)
	}
	if groups, _ := s.DuplicateGroups(); len(groups) != 1 || len(groups[root]) != writers-1 {
		t.Errorf("DuplicateGroups = %v, want %d duplicates of %d", groups, writers-1, root)
	}
	if _, err := s.Feed(doomed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the removed feed: %v, want ErrNotFound", err)
	}
	if got := query(t, s, babelfeed.Query{FeedIDs: []uint64{doomed.ID}}, nil); len(got) != 0 {
		t.Errorf("%d items of the removed feed left", len(got))
	}
	consistent(t, s)
}

// testNanoseconds: times keep their nanoseconds (a poller's FirstSeen has
// them): they read back exactly, order items and bound ranges.
func testNanoseconds(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://one.example/")
	t0 := base.Add(123456789 * time.Nanosecond)
	a := item("a", "it", t0.Add(1), "a")
	b := item("b", "it", t0.Add(2), "b")
	c := item("c", "it", t0.Add(1500), "c")
	undated := item("u", "it", time.Time{}, "u")
	undated.FirstSeen = t0.Add(999)
	save(t, s, f.ID, c, b, a, undated)
	got := query(t, s, babelfeed.Query{}, nil)
	if !slices.Equal(keys(got), []string{"c", "u", "b", "a"}) {
		t.Errorf("items = %v, want [c u b a] (by nanosecond)", keys(got))
	}
	for _, it := range got {
		want := map[string]time.Time{"a": a.Published, "b": b.Published, "c": c.Published, "u": {}}[it.Key]
		if !it.Published.Equal(want) {
			t.Errorf("item %s published %v, want %v", it.Key, it.Published, want)
		}
	}
	if got := query(t, s, babelfeed.Query{Since: t0.Add(2), Until: t0.Add(1000)}, nil); !slices.Equal(keys(got), []string{"u", "b"}) {
		t.Errorf("Since +2ns Until +1000ns = %v, want [u b]", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Since: t0.Add(3), Until: t0.Add(999)}, nil); len(got) != 0 {
		t.Errorf("Since +3ns Until +999ns = %v, want nothing", keys(got))
	}
	if times, _ := s.RecentTimes(f.ID, 2); len(times) != 2 || !times[0].Equal(c.Published) || !times[1].Equal(undated.FirstSeen) {
		t.Errorf("RecentTimes = %v, want %v %v", times, c.Published, undated.FirstSeen)
	}
	if _, err := s.Prune(context.Background(), store.Retention{MaxAge: time.Hour}, t0.Add(time.Hour+2)); err != nil {
		t.Fatal(err)
	}
	if got := feedKeys(t, s, f.ID); !slices.Equal(got, []string{"b", "c", "u"}) {
		t.Errorf("kept %v after pruning what is older than an hour at +1h+2ns, want [b c u]", got)
	}
}
