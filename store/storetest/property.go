package storetest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

// model is the test's own idea of what the store holds.
type model struct {
	feeds map[uint64]babelfeed.Feed
	items map[uint64]babelfeed.Item // by ID
	byKey map[string]uint64         // feedID|key -> ID
}

func modelKey(feedID uint64, key string) string { return fmt.Sprint(feedID, "|", key) }

// testProperty applies random saves, revisions, retags and removals, then
// checks that every query equals a brute-force filter over the model.
func testProperty(t *testing.T, open Opener) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			propertyRun(t, open(t), seed)
		})
	}
}

func propertyRun(t *testing.T, s store.Store, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 42))
	m := model{feeds: map[uint64]babelfeed.Feed{}, items: map[uint64]babelfeed.Item{}, byKey: map[string]uint64{}}
	langs := []string{"it", "de", "es", "en", "und"}
	cats := [][]string{{"Italiano"}, {"Italiano", "Tech"}, {"Deutsch"}, nil, {"italiano", "News"}}

	addFeeds := func(n int) {
		var in []babelfeed.Feed
		for range n {
			i := len(m.feeds) + r.IntN(1000)
			in = append(in, babelfeed.Feed{URL: fmt.Sprintf("https://feed%d.example/rss", i), Category: cats[r.IntN(len(cats))]})
		}
		added, _, err := s.AddFeeds(in, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range added {
			m.feeds[f.ID] = f
		}
	}
	addFeeds(8)
	randomTime := func() time.Time {
		// A narrow range makes equal timestamps (ID tie-breaks) common.
		return base.Add(time.Duration(r.IntN(500)) * time.Minute)
	}
	version := 0
	newItem := func(fid uint64, key string) babelfeed.Item {
		version++
		it := item(key, langs[r.IntN(len(langs))], randomTime(), fmt.Sprint("v", version))
		if r.IntN(10) == 0 {
			it.Published = time.Time{} // sorted by FirstSeen
			it.FirstSeen = randomTime()
		}
		it.FeedID = fid
		return it
	}

	for op := range 150 {
		feedIDs := slices.Sorted(maps.Keys(m.feeds))
		switch k := r.IntN(20); {
		case k == 0 && len(feedIDs) > 2:
			id := feedIDs[r.IntN(len(feedIDs))]
			if err := s.RemoveFeed(id); err != nil {
				t.Fatal(err)
			}
			delete(m.feeds, id)
			for iid, it := range m.items {
				if it.FeedID == id {
					delete(m.items, iid)
					delete(m.byKey, modelKey(id, it.Key))
				}
			}
		case k == 1:
			addFeeds(1 + r.IntN(2))
		case k == 2:
			// Retag: move every item whose ID is divisible by d to a language.
			d, to := uint64(2+r.IntN(5)), langs[r.IntN(len(langs))]
			err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
				if it.ID%d != 0 || it.Lang == to {
					return false
				}
				it.Lang = to
				return true
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for id, it := range m.items {
				if id%d == 0 {
					it.Lang = to
					m.items[id] = it
				}
			}
		default:
			fid := feedIDs[r.IntN(len(feedIDs))]
			var batch []babelfeed.Item
			want := store.SaveResult{}
			seen := map[string]bool{}
			for range 1 + r.IntN(40) {
				key := fmt.Sprint("k", r.IntN(60))
				if seen[key] {
					continue
				}
				seen[key] = true
				id, exists := m.byKey[modelKey(fid, key)]
				switch {
				case !exists:
					batch = append(batch, newItem(fid, key))
					want.Added++
				case r.IntN(3) == 0:
					it := newItem(fid, key) // revised
					batch = append(batch, it)
					want.Updated++
					it.ID, it.FirstSeen = id, m.items[id].FirstSeen
					m.items[id] = it
				default:
					old := m.items[id]
					same := old
					same.Lang = "xx" // ignored: the hash says unchanged
					batch = append(batch, same)
					want.Unchanged++
				}
			}
			res, err := s.SaveFetch(m.feeds[fid], batch)
			if err != nil {
				t.Fatal(err)
			}
			if res != want {
				t.Fatalf("op %d: SaveFetch = %+v, want %+v", op, res, want)
			}
			// New items got IDs: learn them from the feed's items.
			stored := map[string]uint64{}
			for _, it := range query(t, s, babelfeed.Query{FeedIDs: []uint64{fid}}, nil) {
				stored[it.Key] = it.ID
			}
			for _, it := range batch {
				if _, ok := m.byKey[modelKey(fid, it.Key)]; ok {
					continue
				}
				id, ok := stored[it.Key]
				if !ok {
					t.Fatalf("op %d: new item %s of feed %d not found", op, it.Key, fid)
				}
				if _, taken := m.items[id]; taken {
					t.Fatalf("op %d: new item %s of feed %d got the ID %d of another item", op, it.Key, fid, id)
				}
				it.ID = id
				m.items[id] = it
				m.byKey[modelKey(fid, it.Key)] = id
			}
		}
	}
	consistent(t, s)

	// Counts.
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	wantLang, wantFeed := map[string]int{}, map[uint64]int{}
	for id := range m.feeds {
		wantFeed[id] = 0
	}
	for _, it := range m.items {
		wantLang[it.Lang]++
		wantFeed[it.FeedID]++
	}
	if st.Items != len(m.items) || st.Feeds != len(m.feeds) || !maps.Equal(st.ByLang, wantLang) || !maps.Equal(st.ByFeed, wantFeed) {
		t.Errorf("Stats = %+v, want %d items %v %v", st, len(m.items), wantLang, wantFeed)
	}

	// Queries.
	feedIDs := slices.Sorted(maps.Keys(m.feeds))
	nonEmpty := 0
	for qi := range 300 {
		var q babelfeed.Query
		for range r.IntN(3) {
			q.Langs = append(q.Langs, langs[r.IntN(len(langs))])
		}
		if r.IntN(2) == 0 {
			q.Langs = append(q.Langs, "fr") // never stored
		}
		for range r.IntN(3) {
			q.FeedIDs = append(q.FeedIDs, feedIDs[r.IntN(len(feedIDs))])
		}
		if r.IntN(4) == 0 {
			q.FeedIDs = append(q.FeedIDs, 9999)
		}
		if r.IntN(3) == 0 {
			q.Category = []string{"Italiano", "italiano/tech", "Deutsch", "Ital", "Italiano/News"}[r.IntN(5)]
		}
		if r.IntN(2) == 0 {
			q.Since = randomTime()
		}
		if r.IntN(2) == 0 {
			q.Until = randomTime()
		}
		if r.IntN(2) == 0 {
			q.Limit = 1 + r.IntN(30)
		}
		var match func(*babelfeed.Item) bool
		if r.IntN(2) == 0 {
			mod := uint64(2 + r.IntN(3))
			match = func(it *babelfeed.Item) bool { return it.ID%mod == 0 }
		}
		got := query(t, s, q, match)
		want := bruteForce(m, q, match)
		if len(want) > 0 {
			nonEmpty++
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("query %d %+v:\n got %v\nwant %v", qi, q, ids(got), ids(want))
		}
		for i := range got {
			// The model knows nothing of cross-feed duplicates (items of
			// different feeds here share links); other tests check them.
			got[i].DuplicateOf = 0
			if !itemsEqual(got[i], want[i]) {
				t.Fatalf("query %d: item %d = %+v, want %+v", qi, got[i].ID, got[i], want[i])
			}
		}
	}
	t.Logf("%d items in %d feeds; %d of 300 queries non-empty", len(m.items), len(m.feeds), nonEmpty)
	if nonEmpty < 100 {
		t.Errorf("only %d of 300 random queries found anything", nonEmpty)
	}
}

// splitCategory cuts a "/"-separated category path into its folders,
// dropping empty ones.
func splitCategory(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if seg = strings.TrimSpace(seg); seg != "" {
			out = append(out, seg)
		}
	}
	return out
}

// categoryHasPrefix says whether the folders of cat start with want,
// folder by folder, ignoring case.
func categoryHasPrefix(cat, want []string) bool {
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

func bruteForce(m model, q babelfeed.Query, match func(*babelfeed.Item) bool) []babelfeed.Item {
	var out []babelfeed.Item
	for _, it := range m.items {
		st := store.SortTime(&it)
		switch {
		case len(q.Langs) > 0 && !slices.Contains(q.Langs, it.Lang),
			len(q.FeedIDs) > 0 && !slices.Contains(q.FeedIDs, it.FeedID),
			q.Category != "" && !categoryHasPrefix(m.feeds[it.FeedID].Category, splitCategory(q.Category)),
			!q.Since.IsZero() && st.Before(q.Since),
			!q.Until.IsZero() && !st.Before(q.Until),
			match != nil && !match(&it):
			continue
		}
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b babelfeed.Item) int {
		if c := store.SortTime(&b).Compare(store.SortTime(&a)); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}
