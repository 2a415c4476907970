package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"babelfeed"
	fquery "babelfeed/filter/query"
	"babelfeed/filter/search"
	"babelfeed/store"
)

// searchKeys runs a keyword query through filter/search, newest first, and
// returns the keys found.
func searchKeys(t testing.TB, s store.Store, q string) []string {
	t.Helper()
	n, err := fquery.Parse(q, base)
	if err != nil {
		t.Fatal(err)
	}
	page, err := search.Search(context.Background(), s, search.Request{Query: n, AllDuplicates: true})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	var out []string
	for _, h := range page.Hits {
		out = append(out, h.Item.Key)
	}
	return out
}

// testIndexState: a new store opened with an Indexer has a ready keyword
// index, which every write keeps ready (and right, as searches show), and
// Reindex rebuilds.
func testIndexState(t *testing.T, open Opener) {
	s := open(t)
	version := search.Indexer().Version
	usable := func(when string) {
		t.Helper()
		st, err := s.IndexState()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Usable(version) || !st.Ready || st.Version != version || st.Bulk {
			t.Errorf("%s: IndexState = %+v, want ready with version %q", when, st, version)
		}
	}
	usable("new store")
	a := addFeed(t, s, "https://a.example/rss")
	b := addFeed(t, s, "https://b.example/rss")
	mk := func(key, lang, title string, hour int) babelfeed.Item {
		it := item(key, lang, base.Add(time.Duration(hour)*time.Hour), title)
		it.Summary = ""
		return it
	}
	save(t, s, a.ID,
		mk("a1", "it", "Il ponte sul fiume riapre", 1),
		mk("a2", "it", "Mercato coperto chiuso", 2),
		mk("a3", "de", "Die Brücke über den Fluss", 3),
	)
	save(t, s, b.ID,
		mk("b1", "en", "The bridge over the river", 4),
		mk("b2", "it", "Un altro ponte in città", 5),
	)
	usable("after SaveFetch")
	if got := searchKeys(t, s, "ponte"); !slices.Equal(got, []string{"b2", "a1"}) {
		t.Errorf("search ponte = %v, want [b2 a1]", got)
	}
	// A revision changes what the item is found by.
	rev := mk("a2", "it", "Mercato coperto e ponte nuovo", 2)
	rev.ContentHash = "h:rev"
	save(t, s, a.ID, rev)
	usable("after a revision")
	if got := searchKeys(t, s, "ponte"); !slices.Equal(got, []string{"b2", "a2", "a1"}) {
		t.Errorf("search ponte after a revision = %v, want [b2 a2 a1]", got)
	}
	if got := searchKeys(t, s, "chiuso"); len(got) != 0 {
		t.Errorf("search chiuso after the revision = %v, want nothing", got)
	}
	err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
		if it.Key != "b1" {
			return false
		}
		it.Title = "The bridge over the river Thames"
		return true
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	usable("after UpdateItems")
	if got := searchKeys(t, s, "thames"); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("search thames after UpdateItems = %v, want [b1]", got)
	}
	if err := s.RemoveFeed(b.ID); err != nil {
		t.Fatal(err)
	}
	usable("after RemoveFeed")
	if got := searchKeys(t, s, "ponte"); !slices.Equal(got, []string{"a2", "a1"}) {
		t.Errorf("search ponte after RemoveFeed = %v, want [a2 a1]", got)
	}
	if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 2}, base); err != nil {
		t.Fatal(err)
	}
	usable("after Prune")
	if got := searchKeys(t, s, "ponte"); !slices.Equal(got, []string{"a2"}) {
		t.Errorf("search ponte after Prune = %v, want [a2]", got)
	}

	var more []babelfeed.Item
	for i := range 40 {
		more = append(more, mk(fmt.Sprint("m", i), "it", fmt.Sprint("Notizia numero ", i), 10+i))
	}
	save(t, s, a.ID, more...)
	var progress [][2]int
	if err := s.Reindex(context.Background(), func(done, total int) { progress = append(progress, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	n, _ := s.ItemCount()
	if len(progress) == 0 || progress[len(progress)-1] != [2]int{n, n} {
		t.Errorf("Reindex progress %v, want to end at %d of %d", progress, n, n)
	}
	usable("after Reindex")
	if got := searchKeys(t, s, "ponte"); !slices.Equal(got, []string{"a2"}) {
		t.Errorf("search ponte after Reindex = %v, want [a2]", got)
	}
	if got := searchKeys(t, s, "notizia"); len(got) != 40 {
		t.Errorf("search notizia after Reindex found %d, want 40", len(got))
	}
	consistent(t, s)
}
