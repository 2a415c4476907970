package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

func testPrunePerFeed(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/feed")
	b := addFeed(t, s, "https://b.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 40)...)
	save(t, s, b.ID, feedDoc("b", 0, 5)...)

	res, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 10}, base)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.PruneResult{Removed: 30, Feeds: 1}) {
		t.Errorf("Prune = %+v, want 30 removed from 1 feed", res)
	}
	want := []string{}
	for i := 30; i < 40; i++ {
		want = append(want, fmt.Sprintf("a%03d", i))
	}
	if got := feedKeys(t, s, a.ID); !slices.Equal(got, want) {
		t.Errorf("feed a keeps %v, want the 10 newest %v", got, want)
	}
	if got := feedKeys(t, s, b.ID); len(got) != 5 {
		t.Errorf("feed b keeps %d items, want all 5", len(got))
	}
	rep := mustCheck(t, s)
	if rep.Items != 15 || rep.Tombstones != 30 {
		t.Errorf("check report %+v, want 15 items 30 tombstones", rep)
	}
	st, _ := s.Stats()
	if st.Items != 15 || st.ByLang["it"]+st.ByLang["en"] != 15 || st.ByFeed[a.ID] != 10 {
		t.Errorf("stats after prune: %+v", st)
	}
	if f, _ := s.Feed(a.ID); f.Items != 10 || f.Languages["it"] != 5 || f.Languages["en"] != 5 {
		t.Errorf("feed a after prune counts %d %v, want 10 it:5 en:5", f.Items, f.Languages)
	}
	consistent(t, s)

	// A feed that lost nothing saves as before.
	if r := save(t, s, b.ID, feedDoc("b", 0, 6)...); r != (store.SaveResult{Added: 1, Unchanged: 5}) {
		t.Errorf("save of the feed that lost nothing: %+v, want 1 added 5 unchanged", r)
	}

	// The feed still carries the removed items: they do not come back, and
	// the poller is told not to tag them.
	known, err := s.Known(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 40 || known["a005"] != "h:a title 5" {
		t.Errorf("Known has %d keys (a005: %q), want 40 with tombstoned ones", len(known), known["a005"])
	}
	r := save(t, s, a.ID, feedDoc("a", 0, 41)...)
	if r != (store.SaveResult{Added: 1, Tombstoned: 30, Unchanged: 10}) {
		t.Errorf("save of the same document plus one: %+v, want 1 added 30 tombstoned 10 unchanged", r)
	}
	// Even revised, a removed item stays removed.
	revised := feedDoc("a", 0, 41)
	revised[3].Title, revised[3].ContentHash = "new title", "h:new"
	if r := save(t, s, a.ID, revised...); r.Added != 0 || r.Tombstoned != 30 {
		t.Errorf("save with a revised removed item: %+v, want 0 added 30 tombstoned", r)
	}
	if known, _ := s.Known(a.ID); known["a003"] != "h:new" {
		t.Errorf("Known has hash %q for the revised tombstoned item, want the new one", known["a003"])
	}
	if got := feedKeys(t, s, a.ID); len(got) != 11 || slices.Contains(got, "a003") {
		t.Errorf("feed a has %v, want the 11 newest", got)
	}
	mustCheck(t, s)

	// Another pass removes the one that is now eleventh.
	if res, _ := s.Prune(context.Background(), store.Retention{MaxPerFeed: 10}, base); res.Removed != 1 {
		t.Errorf("second Prune = %+v, want 1 removed", res)
	}
	if rep := mustCheck(t, s); rep.Tombstones != 31 {
		t.Errorf("%d tombstones, want 31", rep.Tombstones)
	}
	consistent(t, s)
}

func testPruneByAge(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 48)...) // one item an hour for two days
	undated := item("undated", "it", time.Time{}, "senza data")
	undated.FirstSeen = base.Add(47 * time.Hour)
	save(t, s, a.ID, undated)

	now := base.Add(48 * time.Hour)
	res, err := s.Prune(context.Background(), store.Retention{MaxAge: 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Items 24..47 are within the last day (item 24 exactly at the edge),
	// and the undated one by when it was first seen.
	if res.Removed != 24 || res.Feeds != 1 {
		t.Errorf("Prune = %+v, want 24 removed from 1 feed", res)
	}
	got := feedKeys(t, s, a.ID)
	if len(got) != 25 || got[0] != "a024" || !slices.Contains(got, "undated") {
		t.Errorf("kept %v, want a024..a047 and undated", got)
	}
	// Age and count together: the stricter wins.
	res, _ = s.Prune(context.Background(), store.Retention{MaxAge: 24 * time.Hour, MaxPerFeed: 5}, now)
	if res.Removed != 20 || len(feedKeys(t, s, a.ID)) != 5 {
		t.Errorf("Prune by age and count = %+v, kept %v; want 20 removed, 5 kept", res, feedKeys(t, s, a.ID))
	}
	consistent(t, s)
	// Off by default: the zero Retention removes nothing.
	if res, _ := s.Prune(context.Background(), store.Retention{}, now.Add(1000*time.Hour)); res.Removed != 0 {
		t.Errorf("zero Retention removed %d", res.Removed)
	}
}

func testPruneInBatches(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 2*pruneBatch+17)...)
	res, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 3}, base)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2*pruneBatch+14 {
		t.Errorf("removed %d, want %d", res.Removed, 2*pruneBatch+14)
	}
	if got := feedKeys(t, s, a.ID); len(got) != 3 {
		t.Errorf("kept %v, want 3", got)
	}
	consistent(t, s)

	// A cancelled context stops before the next transaction.
	save(t, s, a.ID, feedDoc("b", 0, 10)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Prune(ctx, store.Retention{MaxPerFeed: 3}, base); !errors.Is(err, context.Canceled) {
		t.Errorf("Prune with a cancelled context: %v, want context.Canceled", err)
	}
	consistent(t, s)
}

func testTombstonesExpire(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 20)...)
	if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 5}, base); err != nil {
		t.Fatal(err)
	}
	tombstones := func() int { return mustCheck(t, s).Tombstones }
	if n := tombstones(); n != 15 {
		t.Fatalf("%d tombstones, want 15", n)
	}
	// The feed moves on: items 0..9 are no longer in its document.
	save(t, s, a.ID, feedDoc("a", 10, 25)...)
	// Within the grace period they stay.
	now := time.Now()
	if res, _ := s.Prune(context.Background(), store.Retention{}, now.Add(tombstoneGrace/2)); res.TombstonesExpired != 0 {
		t.Errorf("expired %d tombstones within the grace period", res.TombstonesExpired)
	}
	// After it, the ones the feed dropped go; the ones it still carries
	// stay.
	res, err := s.Prune(context.Background(), store.Retention{}, now.Add(tombstoneGrace+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n := tombstones(); res.TombstonesExpired != 10 || n != 5 {
		t.Errorf("expired %d, %d left; want 10 expired, 5 left", res.TombstonesExpired, n)
	}
	// An expired tombstone no longer holds its item back.
	if r := save(t, s, a.ID, feedDoc("a", 0, 1)...); r.Added != 1 {
		t.Errorf("save of an item whose tombstone expired: %+v, want 1 added", r)
	}
	// A tombstone carried again is no longer missing.
	save(t, s, a.ID, feedDoc("a", 10, 25)...)
	if res, _ := s.Prune(context.Background(), store.Retention{}, now.Add(10*tombstoneGrace)); res.TombstonesExpired != 0 {
		t.Errorf("expired %d tombstones the feed still carries", res.TombstonesExpired)
	}
	// Removing the feed takes its tombstones along.
	if err := s.RemoveFeed(a.ID); err != nil {
		t.Fatal(err)
	}
	if n := tombstones(); n != 0 {
		t.Errorf("%d tombstones after removing the feed", n)
	}
}

// testPruneRaces prunes while another goroutine keeps saving fetches of
// the same feeds: the store stays consistent and no item comes back after
// its removal.
func testPruneRaces(t *testing.T, open Opener) {
	s := open(t)
	var feeds []babelfeed.Feed
	for i := range 4 {
		feeds = append(feeds, addFeed(t, s, fmt.Sprintf("https://f%d.example/feed", i)))
	}
	done := make(chan error)
	go func() {
		for round := range 30 {
			for _, f := range feeds {
				doc := feedDoc(fmt.Sprint("f", f.ID, "-"), round, round+20)
				if _, err := s.SaveFetch(f, doc); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	for pruning := true; pruning; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			pruning = false
		default:
		}
		if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 8}, base); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 8}, base); err != nil {
		t.Fatal(err)
	}
	consistent(t, s)
	for _, f := range feeds {
		keys := feedKeys(t, s, f.ID)
		want := []string{}
		for i := 41; i < 49; i++ {
			want = append(want, fmt.Sprintf("f%d-%03d", f.ID, i))
		}
		if !slices.Equal(keys, want) {
			t.Errorf("feed %d keeps %v, want %v", f.ID, keys, want)
		}
	}
}

// testPruneForgetsDuplicatesAndWords: removed items leave the duplicate
// records and the keyword index; a duplicate whose original was pruned
// is promoted, as when its original's feed is removed.
func testPruneForgetsDuplicatesAndWords(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/feed")
	b := addFeed(t, s, "https://b.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 30)...)
	// The same stories in another feed, a little later: duplicates of
	// feed a's, kept longer since feed b keeps more.
	dup := feedDoc("a", 0, 30)
	for i := range dup {
		dup[i].Key += "-b"
	}
	save(t, s, b.ID, dup...)
	// A third feed has the two oldest stories only: it keeps them, and
	// they become originals when every earlier copy is pruned.
	c := addFeed(t, s, "https://c.example/feed")
	old := feedDoc("a", 0, 2)
	for i := range old {
		old[i].Key += "-c"
	}
	save(t, s, c.ID, old...)
	groups, err := s.DuplicateGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 30 || len(groups[1]) != 2 {
		t.Fatalf("%d duplicate groups before pruning, want 30, the first with 2 duplicates: %v", len(groups), groups[1])
	}
	if n := len(searchKeys(t, s, "title")); n != 62 {
		t.Fatalf("search title finds %d items before pruning, want 62", n)
	}
	if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 4}, base); err != nil {
		t.Fatal(err)
	}
	if n := len(searchKeys(t, s, "title")); n != 10 {
		t.Errorf("search title finds %d items after pruning to 4 a feed, want 10", n)
	}
	groups, err = s.DuplicateGroups()
	if err != nil {
		t.Fatal(err)
	}
	for root, dups := range groups {
		for _, id := range append(dups, root) {
			if _, err := s.Item(id); err != nil {
				t.Errorf("duplicate group %d names item %d: %v", root, id, err)
			}
		}
	}
	if len(groups) != 4 {
		t.Errorf("%d duplicate groups after pruning, want the 4 whose items were kept in both feeds", len(groups))
	}
	for _, it := range query(t, s, babelfeed.Query{FeedIDs: []uint64{c.ID}}, nil) {
		if it.DuplicateOf != 0 {
			t.Errorf("item %s is a duplicate of item %d after every earlier copy was pruned, want an original", it.Key, it.DuplicateOf)
		}
	}
	for _, it := range query(t, s, babelfeed.Query{}, nil) {
		if it.DuplicateOf != 0 {
			if _, err := s.Item(it.DuplicateOf); err != nil {
				t.Errorf("item %s is a duplicate of item %d: %v", it.Key, it.DuplicateOf, err)
			}
		}
	}
	consistent(t, s)
}
