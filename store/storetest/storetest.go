// Package storetest is the conformance suite of store.Store: the behaviour
// the bbolt store (store.DB) defines, checked through the interface alone so
// that every engine (store.DB, store/postgres) runs the same tests.
//
// An engine's test calls Run with a function that opens a new, empty store
// for one test, with filter/search.Indexer() as its keyword Indexer, and
// arranges for it to be closed (t.Cleanup). Tests that need engine
// internals (file locking, schema versions, pages, index layout) stay with
// the engine.
package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

// Opener opens a new, empty store for t, closed when t ends.
type Opener func(t *testing.T) store.Store

// base is the time the suite's items are published around.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Constants of the behaviour that store.DB keeps unexported; every engine
// must use the same values.
const (
	// tombstoneGrace is how long a tombstone outlives the last document
	// of its feed that carried its item.
	tombstoneGrace = 14 * 24 * time.Hour
	// dropRetention is how long a drop record outlives the last document
	// that carried its item.
	dropRetention = 90 * 24 * time.Hour
	// pruneBatch is the bbolt store's Prune transaction size; the suite
	// prunes more than twice as many items at once.
	pruneBatch = 500
)

type test struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// tests lists the suite, grouped by the part of store.Store they check.
var tests = []test{
	// Feeds.
	{"AddFeedsDedup", testAddFeedsDedup},
	{"AddFeedsKeepsFields", testAddFeedsKeepsFields},
	{"UpdateFeedToATakenURL", testUpdateFeedToATakenURL},
	{"UpdateFeedKeepsCountsAndFollowsRedirect", testUpdateFeedRedirect},
	{"RemoveFeedCleansIndexes", testRemoveFeedCleans},

	// Items.
	{"SaveFetchAddUnchangedUpdate", testSaveFetch},
	{"SaveFetchDefaultsAndFeedState", testSaveFetchDefaults},
	{"ItemsNewestFirstAcrossFeedsAndLanguages", testItemsNewestFirst},
	{"ItemsLimitCountsMatchesAndFnStops", testItemsLimit},
	{"ItemsNegativeLimit", testItemsNegativeLimit},
	{"ItemsCategoryPrefix", testItemsCategory},
	{"ItemsIgnoreWords", testItemsIgnoreWords},
	{"ItemsOfUnknownFeedsAndLanguages", testItemsUnknown},
	{"UpdateItemsRetags", testUpdateItems},
	{"UpdateItemsMovesTimesAndHashes", testUpdateItemsMovesTimes},
	{"IDsFollowTheDocument", testIDsFollowTheDocument},
	{"QueryEdges", testQueryEdges},
	{"NanosecondTimes", testNanoseconds},
	{"LongAndOddItemKeys", testLongAndOddKeys},
	{"OddBytesInText", testOddBytes},
	{"ItemFieldsRoundTrip", testItemRoundTrip},
	{"ConcurrentReadersAndWriter", testConcurrent},
	{"ConcurrentWriters", testConcurrentWriters},
	{"RecentTimes", testRecentTimes},
	{"StatsAndCheckOnACleanStore", testStatsAndCheck},

	// Cross-feed duplicates.
	{"DuplicatesAcrossFeeds", testDuplicatesAcrossFeeds},
	{"RemoveFeedPromotesDuplicate", testRemoveFeedPromotesDuplicate},
	{"DuplicateFarm", testDuplicateFarm},

	// Retention.
	{"PrunePerFeedLeavesTombstones", testPrunePerFeed},
	{"PruneByAge", testPruneByAge},
	{"PruneInBatches", testPruneInBatches},
	{"TombstonesExpireWhenTheFeedDropsThem", testTombstonesExpire},
	{"PruneRacesThePoller", testPruneRaces},
	{"PruneForgetsDuplicatesAndWords", testPruneForgetsDuplicatesAndWords},

	// Rules, drop records, saved queries.
	{"RulesAddListRemove", testRulesAddListRemove},
	{"RuleOutcomeDropsAndCounts", testRuleOutcome},
	{"SavedQueries", testSavedQueries},

	// The keyword index.
	{"IndexStateFollowsWrites", testIndexState},

	// Everything at once against a model.
	{"PropertyQueriesMatchBruteForce", testProperty},
}

// Run runs the suite, one subtest each, on stores open returns. The
// subtests run in parallel (each has a store of its own): a server-backed
// engine spends most of a test waiting for round trips.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
}

func addFeed(t testing.TB, s store.Store, url string, category ...string) babelfeed.Feed {
	t.Helper()
	added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: url, Title: url, Category: category}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 {
		t.Fatalf("AddFeeds(%s) added %d feeds", url, len(added))
	}
	return added[0]
}

// item builds an item whose content hash follows its title.
func item(key, lang string, published time.Time, title string) babelfeed.Item {
	return babelfeed.Item{
		Key: key, GUID: key, URL: "https://example.org/" + key,
		Title: title, Summary: "summary of " + title,
		Published: published, FirstSeen: base,
		Lang: lang, LangConfidence: 0.9, LangMethod: babelfeed.LangDetected,
		ContentHash: "h:" + title,
	}
}

// save stores a fetch of the feed as the store has it now.
func save(t testing.TB, s store.Store, feedID uint64, items ...babelfeed.Item) store.SaveResult {
	t.Helper()
	f, err := s.Feed(feedID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SaveFetch(f, items)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func query(t testing.TB, s store.Store, q babelfeed.Query, match func(*babelfeed.Item) bool) []babelfeed.Item {
	t.Helper()
	var out []babelfeed.Item
	if err := s.Items(context.Background(), q, match, func(it babelfeed.Item) bool {
		out = append(out, it)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(items []babelfeed.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Key)
	}
	return out
}

func ids(items []babelfeed.Item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// feedKeys lists the keys of a feed's items, sorted.
func feedKeys(t testing.TB, s store.Store, feedID uint64) []string {
	t.Helper()
	k := keys(query(t, s, babelfeed.Query{FeedIDs: []uint64{feedID}}, nil))
	slices.Sort(k)
	if k == nil {
		k = []string{}
	}
	return k
}

// feedDoc is what a feed document carries: items prefix000.., item i
// published i hours after base (so the highest index is the newest).
func feedDoc(prefix string, from, to int) []babelfeed.Item {
	var items []babelfeed.Item
	for i := from; i < to; i++ {
		items = append(items, item(fmt.Sprintf("%s%03d", prefix, i), []string{"it", "en"}[i%2], base.Add(time.Duration(i)*time.Hour), fmt.Sprintf("%s title %d", prefix, i)))
	}
	return items
}

func mustCheck(t testing.TB, s store.Store) store.CheckReport {
	t.Helper()
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v\n%s", err, strings.Join(rep.Problems, "\n"))
	}
	if !rep.OK() {
		t.Fatalf("Check found problems without an error:\n%s", strings.Join(rep.Problems, "\n"))
	}
	return rep
}

// consistent checks what can be seen through the interface: the store's
// own Check passes and counts its feeds and items; every feed's counts,
// Stats, ItemCount and the per-feed key hashes (Known) agree with the items
// listed; every listed item reads back the same by ID.
func consistent(t testing.TB, s store.Store) {
	t.Helper()
	rep := mustCheck(t, s)
	feeds, err := s.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	all := query(t, s, babelfeed.Query{}, nil)
	byFeed := map[uint64][]babelfeed.Item{}
	byLang := map[string]int{}
	for _, it := range all {
		byFeed[it.FeedID] = append(byFeed[it.FeedID], it)
		byLang[it.Lang]++
	}
	wantByFeed := map[uint64]int{}
	for _, f := range feeds {
		items := byFeed[f.ID]
		wantByFeed[f.ID] = len(items)
		langs := map[string]int{}
		for _, it := range items {
			langs[it.Lang]++
		}
		if f.Items != len(items) || !maps.Equal(f.Languages, langs) {
			t.Errorf("inconsistent store: feed %d counts %d %v, its items say %d %v", f.ID, f.Items, f.Languages, len(items), langs)
		}
		known, err := s.Known(f.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if h, ok := known[it.Key]; !ok || h != it.ContentHash {
				t.Errorf("inconsistent store: Known(%d)[%q] = %q, %v; the item has hash %q", f.ID, it.Key, h, ok, it.ContentHash)
			}
		}
		delete(byFeed, f.ID)
	}
	for fid, items := range byFeed {
		t.Errorf("inconsistent store: %d items of feed %d, which does not exist", len(items), fid)
	}
	if rep.Feeds != len(feeds) || rep.Items != len(all) {
		t.Errorf("inconsistent store: Check counts %d feeds %d items, listed %d and %d", rep.Feeds, rep.Items, len(feeds), len(all))
	}
	if n, err := s.ItemCount(); err != nil || n != len(all) {
		t.Errorf("inconsistent store: ItemCount = %d, %v; %d items listed", n, err, len(all))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != len(all) || st.Feeds != len(feeds) || !maps.Equal(st.ByLang, byLang) || !maps.Equal(st.ByFeed, wantByFeed) {
		t.Errorf("inconsistent store: Stats %+v, listed %d items %v by feed %v", st, len(all), byLang, wantByFeed)
	}
	for i, it := range all {
		if i%17 != 0 { // a sample is enough
			continue
		}
		got, err := s.Item(it.ID)
		if err != nil {
			t.Errorf("inconsistent store: Item(%d) listed but not read: %v", it.ID, err)
		} else if !itemsEqual(got, it) {
			t.Errorf("inconsistent store: Item(%d) = %+v, listed as %+v", it.ID, got, it)
		}
	}
}

// itemsEqual compares items field by field, times by instant.
func itemsEqual(a, b babelfeed.Item) bool {
	return a.ID == b.ID && a.FeedID == b.FeedID && a.Key == b.Key && a.GUID == b.GUID && a.URL == b.URL &&
		a.Title == b.Title && a.Summary == b.Summary && a.Content == b.Content && a.Author == b.Author &&
		slices.Equal(a.Categories, b.Categories) &&
		a.Published.Equal(b.Published) && a.Updated.Equal(b.Updated) && a.FirstSeen.Equal(b.FirstSeen) &&
		a.Lang == b.Lang && a.LangConfidence == b.LangConfidence && a.LangMethod == b.LangMethod &&
		a.DeclaredLang == b.DeclaredLang && a.ContentHash == b.ContentHash && a.DuplicateOf == b.DuplicateOf
}
