package storetest

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

func testAddFeedsDedup(t *testing.T, open Opener) {
	s := open(t)
	first := []babelfeed.Feed{
		{URL: "https://example.com/feed.xml", Title: "one", Category: []string{"Italiano"}},
		{URL: "http://Example.com/Feed.xml", Title: "path case matters"},
	}
	added, existing, err := s.AddFeeds(first, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || len(existing) != 0 {
		t.Fatalf("added %d existing %d", len(added), len(existing))
	}
	for i, f := range added {
		if f.ID != uint64(i+1) || f.State != babelfeed.StateOK || f.Added.IsZero() || !f.NextPoll.IsZero() {
			t.Errorf("added[%d] = %+v, want ID %d, state ok, Added set, no NextPoll", i, f, i+1)
		}
	}

	second := []babelfeed.Feed{
		{URL: "HTTPS://EXAMPLE.COM:443/feed.xml#frag", Title: "dup of one"},
		{URL: "https://new.example/rss", Title: "new"},
		{URL: "https://NEW.example/rss", Title: "dup within the call"},
	}
	dAdded, dExisting, err := s.AddFeeds(second, true)
	if err != nil {
		t.Fatal(err)
	}
	if feeds, _ := s.Feeds(); len(feeds) != 2 {
		t.Errorf("dry run stored feeds: %d", len(feeds))
	}

	rAdded, rExisting, err := s.AddFeeds(second, false)
	if err != nil {
		t.Fatal(err)
	}
	// The dry run predicted the real answer, IDs included (Added differs).
	for _, l := range [][]babelfeed.Feed{dAdded, rAdded, dExisting, rExisting} {
		for i := range l {
			l[i].Added = time.Time{}
		}
	}
	if !reflect.DeepEqual(dAdded, rAdded) || !reflect.DeepEqual(dExisting, rExisting) {
		t.Errorf("dry run %+v / %+v\nreal %+v / %+v", dAdded, dExisting, rAdded, rExisting)
	}
	if len(rAdded) != 1 || rAdded[0].ID != 3 || rAdded[0].Title != "new" {
		t.Errorf("added = %+v, want feed 3 \"new\"", rAdded)
	}
	if len(rExisting) != 2 || rExisting[0].ID != 1 || rExisting[0].Title != "one" || rExisting[1].ID != 3 {
		t.Errorf("existing = %+v, want feeds 1 (\"one\") and 3", rExisting)
	}
	f, err := s.FeedByURL("https://example.com:443/feed.xml")
	if err != nil || f.ID != 1 {
		t.Errorf("FeedByURL = %+v, %v; want feed 1", f, err)
	}
	if _, err := s.FeedByURL("https://nowhere.example/"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FeedByURL(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Feed(99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Feed(99) err = %v, want ErrNotFound", err)
	}
	feeds, err := s.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	if len(feeds) != 3 || feeds[0].ID != 1 || feeds[2].ID != 3 || feeds[0].Languages == nil {
		t.Errorf("Feeds = %+v, want 3 feeds by ID with non-nil Languages", feeds)
	}
	if len(feeds) > 0 && (feeds[0].Title != "one" || feeds[0].CategoryPath() != "Italiano" || feeds[0].URL != "https://example.com/feed.xml") {
		t.Errorf("feed 1 = %+v, want title one, category Italiano, the normalised URL", feeds[0])
	}
}

func testUpdateFeedRedirect(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "http://old.example/feed")
	save(t, s, f.ID, item("a", "fr", base, "Bonjour"))

	// f is the stale copy from before the save: its counts must not win.
	f.URL = "https://new.example/feed"
	f.LastError, f.ErrorCount, f.State = "boom", 2, babelfeed.StateFailing
	f.NextPoll = base.Add(time.Hour)
	f.ETag, f.SkipHours = `"x"`, []int{1, 2}
	if err := s.UpdateFeed(f); err != nil {
		t.Fatal(err)
	}
	got, err := s.Feed(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Items != 1 || got.Languages["fr"] != 1 || got.ErrorCount != 2 || !got.NextPoll.Equal(f.NextPoll) ||
		got.State != babelfeed.StateFailing || got.LastError != "boom" || got.ETag != `"x"` || !reflect.DeepEqual(got.SkipHours, []int{1, 2}) {
		t.Errorf("feed = %+v, want the update with the stored counts (1 item, fr)", got)
	}
	if !reflect.DeepEqual(got.PrevURLs, []string{"http://old.example/feed"}) {
		t.Errorf("PrevURLs = %v, want the old URL", got.PrevURLs)
	}
	for _, u := range []string{"http://old.example/feed", "https://NEW.example/feed"} {
		if byURL, err := s.FeedByURL(u); err != nil || byURL.ID != f.ID {
			t.Errorf("FeedByURL(%s) = %d, %v; want %d", u, byURL.ID, err, f.ID)
		}
	}
	// The old address is taken: subscribing to it again is a duplicate.
	if added, existing, _ := s.AddFeeds([]babelfeed.Feed{{URL: "http://old.example/feed"}}, false); len(added) != 0 || len(existing) != 1 {
		t.Errorf("re-adding the old URL: added %d existing %d, want 0 and 1", len(added), len(existing))
	} else if e := existing[0]; e.ID != f.ID || e.URL != "https://new.example/feed" || e.Items != 1 || e.Languages["fr"] != 1 || e.ErrorCount != 2 {
		t.Errorf("re-adding the old URL: existing = %+v, want the stored feed with its counts", e)
	}
	// A poller that already appended the old URL does not get it twice.
	got.PrevURLs = append(got.PrevURLs, got.URL)
	got.URL = "https://newer.example/feed"
	if err := s.UpdateFeed(got); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Feed(f.ID)
	if want := []string{"http://old.example/feed", "https://new.example/feed"}; !reflect.DeepEqual(got.PrevURLs, want) {
		t.Errorf("PrevURLs = %v, want %v", got.PrevURLs, want)
	}
	if err := s.UpdateFeed(babelfeed.Feed{ID: 77, URL: "https://x.example/"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateFeed(unknown) = %v, want ErrNotFound", err)
	}
	consistent(t, s)
}

func testRemoveFeedCleans(t *testing.T, open Opener) {
	s := open(t)
	keep := addFeed(t, s, "https://keep.example/")
	gone := addFeed(t, s, "https://gone.example/")
	for i := range 20 {
		save(t, s, keep.ID, item(fmt.Sprint("k", i), "it", base.Add(time.Duration(i)*time.Minute), "keep"))
		save(t, s, gone.ID, item(fmt.Sprint("k", i), "de", base.Add(time.Duration(i)*time.Minute), "gone"))
	}
	g, _ := s.Feed(gone.ID)
	g.URL = "https://moved.example/"
	if err := s.UpdateFeed(g); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveFeed(gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveFeed(gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RemoveFeed = %v, want ErrNotFound", err)
	}
	if _, err := s.Feed(gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Feed of a removed feed: %v, want ErrNotFound", err)
	}
	for _, u := range []string{"https://gone.example/", "https://moved.example/"} {
		if _, err := s.FeedByURL(u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FeedByURL(%s) after removal: %v, want ErrNotFound", u, err)
		}
	}
	if known, _ := s.Known(gone.ID); len(known) != 0 {
		t.Errorf("Known after removal = %v", known)
	}
	if got := query(t, s, babelfeed.Query{}, nil); len(got) != 20 || got[0].FeedID != keep.ID {
		t.Errorf("items after removal = %d, want the 20 of the kept feed", len(got))
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"de"}}, nil); len(got) != 0 {
		t.Errorf("de items after removal = %d", len(got))
	}
	if got := query(t, s, babelfeed.Query{FeedIDs: []uint64{gone.ID}}, nil); len(got) != 0 {
		t.Errorf("items of the removed feed = %d", len(got))
	}
	if times, _ := s.RecentTimes(gone.ID, 5); len(times) != 0 {
		t.Errorf("RecentTimes of the removed feed = %v", times)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 20 || st.Feeds != 1 || !maps.Equal(st.ByLang, map[string]int{"it": 20}) || !maps.Equal(st.ByFeed, map[uint64]int{keep.ID: 20}) {
		t.Errorf("Stats = %+v, want 20 items of 1 feed, all it", st)
	}
	// The URL is free again: a new subscription gets a new ID.
	again := addFeed(t, s, "https://gone.example/")
	if again.ID <= gone.ID || again.Items != 0 {
		t.Errorf("re-added feed = %+v, want a new ID above %d and no items", again, gone.ID)
	}
	consistent(t, s)
}

// testAddFeedsKeepsFields: a new feed keeps the fields it was given, except
// those the store owns (ID, Added, State, NextPoll, counts); its earlier
// URLs find it unless another feed has them; a call with a bad URL adds
// nothing.
func testAddFeedsKeepsFields(t *testing.T, open Opener) {
	s := open(t)
	other := addFeed(t, s, "https://taken.example/rss")
	in := babelfeed.Feed{
		URL: "  https://feed.example/rss  ", Title: "Titolo", SiteURL: "https://feed.example/",
		Category: []string{"Italiano", "Tech"}, ETag: `"e"`, DeclaredLang: "it",
		PrevURLs: []string{"http://old.example/rss", "https://taken.example/rss"},
		State:    babelfeed.StateGone, NextPoll: base, Items: 99, Languages: map[string]int{"it": 99},
		LastError: "was failing", ErrorCount: 3,
	}
	added, _, err := s.AddFeeds([]babelfeed.Feed{in}, false)
	if err != nil || len(added) != 1 {
		t.Fatalf("AddFeeds = %+v, %v", added, err)
	}
	got, err := s.Feed(added[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://feed.example/rss" || got.Title != "Titolo" || got.SiteURL != in.SiteURL ||
		got.CategoryPath() != "Italiano/Tech" || got.ETag != `"e"` || got.DeclaredLang != "it" ||
		got.LastError != "was failing" || got.ErrorCount != 3 {
		t.Errorf("stored feed = %+v, want the fields as given (URL trimmed)", got)
	}
	if got.State != babelfeed.StateOK || !got.NextPoll.IsZero() || got.Items != 0 || len(got.Languages) != 0 || got.Added.IsZero() {
		t.Errorf("stored feed = %+v, want state ok, due now, no counts, Added set", got)
	}
	if f, err := s.FeedByURL("http://OLD.example/rss"); err != nil || f.ID != got.ID {
		t.Errorf("FeedByURL(an earlier URL) = %d, %v; want %d", f.ID, err, got.ID)
	}
	if f, err := s.FeedByURL("https://taken.example/rss"); err != nil || f.ID != other.ID {
		t.Errorf("FeedByURL(an earlier URL another feed has) = %d, %v; want that feed %d", f.ID, err, other.ID)
	}

	// One bad URL: nothing of the call is stored.
	before, _ := s.Feeds()
	if _, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://fine.example/rss"}, {URL: "   "}}, false); err == nil {
		t.Error("AddFeeds accepted an empty URL")
	}
	if after, _ := s.Feeds(); len(after) != len(before) {
		t.Errorf("a failed AddFeeds stored %d feeds", len(after)-len(before))
	}
	if _, err := s.FeedByURL("https://fine.example/rss"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FeedByURL of a feed of a failed call: %v, want ErrNotFound", err)
	}
	// Nothing to add: no error.
	if a, e, err := s.AddFeeds(nil, false); err != nil || len(a) != 0 || len(e) != 0 {
		t.Errorf("AddFeeds(nil) = %v %v %v", a, e, err)
	}
	consistent(t, s)
}

// testUpdateFeedToATakenURL: a feed redirected to another feed's URL keeps
// its ID; the URL keeps finding the feed that had it.
func testUpdateFeedToATakenURL(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/rss")
	b := addFeed(t, s, "https://b.example/rss")
	a.URL = "https://B.example/rss"
	if err := s.UpdateFeed(a); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Feed(a.ID)
	if got.URL != "https://B.example/rss" || !reflect.DeepEqual(got.PrevURLs, []string{"https://a.example/rss"}) {
		t.Errorf("feed a = URL %q PrevURLs %v", got.URL, got.PrevURLs)
	}
	if f, err := s.FeedByURL("https://b.example/rss"); err != nil || f.ID != b.ID {
		t.Errorf("FeedByURL(b's URL) = %d, %v; want b (%d)", f.ID, err, b.ID)
	}
	if f, err := s.FeedByURL("https://a.example/rss"); err != nil || f.ID != a.ID {
		t.Errorf("FeedByURL(a's old URL) = %d, %v; want a (%d)", f.ID, err, a.ID)
	}
	// Edits other than the URL are saved; the URL is left alone.
	got.Title, got.Category = "Renamed", []string{"Altro"}
	if err := s.UpdateFeed(got); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Feed(a.ID); g.Title != "Renamed" || g.CategoryPath() != "Altro" || len(g.PrevURLs) != 1 {
		t.Errorf("after an edit: %+v", g)
	}
	if got := query(t, s, babelfeed.Query{Category: "Altro"}, nil); len(got) != 0 {
		t.Errorf("items in Altro: %v", keys(got))
	}
	save(t, s, a.ID, item("x", "it", base, "x"))
	if got := query(t, s, babelfeed.Query{Category: "altro"}, nil); len(got) != 1 {
		t.Errorf("items of the recategorised feed found by its new category: %d, want 1", len(got))
	}
	consistent(t, s)
}
