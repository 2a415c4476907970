package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

// story builds an item with a given link and title.
func story(key, link, title string, published time.Time) babelfeed.Item {
	it := item(key, "it", published, title)
	it.URL = link
	return it
}

func byKey(t testing.TB, s store.Store) map[string]babelfeed.Item {
	t.Helper()
	m := map[string]babelfeed.Item{}
	for _, it := range query(t, s, babelfeed.Query{}, nil) {
		m[it.Key] = it
	}
	return m
}

func testDuplicatesAcrossFeeds(t *testing.T, open Opener) {
	s := open(t)
	a := addFeed(t, s, "https://a.example/rss")
	b := addFeed(t, s, "https://b.example/rss")
	c := addFeed(t, s, "https://c.example/rss")
	day := base

	save(t, s, a.ID,
		story("a1", "https://www.news.example/2025/03/ponte?utm_source=rss", "Inaugurato il nuovo ponte sul fiume", day),
		story("a2", "https://a.example/locale/mercato", "Il mercato coperto riapre dopo i lavori", day),
		story("a3", "https://a.example/editoriale", "Editoriale", day),
	)
	save(t, s, b.ID,
		// The same link with tracking parameters, another scheme, a slash.
		story("b1", "http://news.example/2025/03/ponte/?fbclid=xyz", "Ponte: taglio del nastro", day.Add(time.Hour)),
		// Another link, the same title (different case and accents) 20 hours later.
		story("b2", "https://b.example/mercato-coperto", "IL MERCATO COPERTO RIAPRE DOPO I LAVORI!", day.Add(20*time.Hour)),
		// The same short title: too short to tell a story apart.
		story("b3", "https://b.example/editoriale", "Editoriale", day),
	)
	// The same link twice in one feed is that feed's business, not a
	// cross-feed duplicate.
	save(t, s, a.ID, story("a4", "https://news.example/2025/03/ponte", "Il ponte, le foto", day.Add(2*time.Hour)))
	// A third copy points at the first, not the second; the same title two
	// days later is another story.
	save(t, s, c.ID,
		story("c1", "https://news.example/2025/03/ponte?utm_medium=social", "Il nuovo ponte", day.Add(3*time.Hour)),
		story("c2", "https://c.example/mercato", "Il mercato coperto riapre dopo i lavori", day.Add(50*time.Hour)),
	)

	m := byKey(t, s)
	want := map[string]string{"a1": "", "a2": "", "a3": "", "a4": "", "b1": "a1", "b2": "a2", "b3": "", "c1": "a1", "c2": ""}
	for key, orig := range want {
		it := m[key]
		var wantID uint64
		if orig != "" {
			wantID = m[orig].ID
		}
		if it.DuplicateOf != wantID {
			t.Errorf("%s: DuplicateOf = %d, want %d (%s)", key, it.DuplicateOf, wantID, orig)
		}
		if got, err := s.Item(it.ID); err != nil || got.DuplicateOf != wantID {
			t.Errorf("Item(%s).DuplicateOf = %d, %v; want %d", key, got.DuplicateOf, err, wantID)
		}
	}
	groups, err := s.DuplicateGroups()
	if err != nil {
		t.Fatal(err)
	}
	if g := groups[m["a1"].ID]; !slices.Equal(g, []uint64{m["b1"].ID, m["c1"].ID}) {
		t.Errorf("duplicates of a1: %v, want %v", g, []uint64{m["b1"].ID, m["c1"].ID})
	}
	if g := groups[m["a2"].ID]; !slices.Equal(g, []uint64{m["b2"].ID}) {
		t.Errorf("duplicates of a2: %v, want %v", g, []uint64{m["b2"].ID})
	}
	if len(groups) != 2 {
		t.Errorf("DuplicateGroups = %v, want the groups of a1 and a2 only", groups)
	}

	// An update keeps the decision.
	upd := story("b1", "http://news.example/2025/03/ponte/?fbclid=xyz", "Ponte: taglio del nastro e festa", day.Add(time.Hour))
	if res := save(t, s, b.ID, upd); res.Updated != 1 {
		t.Fatalf("update: %+v, want 1 updated", res)
	}
	if got := byKey(t, s)["b1"]; got.DuplicateOf != m["a1"].ID || got.Title != upd.Title {
		t.Errorf("updated duplicate: %+v, want DuplicateOf %d and the new title", got, m["a1"].ID)
	}
	consistent(t, s)
}

func testRemoveFeedPromotesDuplicate(t *testing.T, open Opener) {
	s := open(t)
	var feeds []babelfeed.Feed
	for _, u := range []string{"https://a.example/", "https://b.example/", "https://c.example/", "https://d.example/"} {
		feeds = append(feeds, addFeed(t, s, u))
	}
	link := "https://news.example/story"
	title := "Una storia raccontata da molti giornali"
	for i, f := range feeds[:3] {
		save(t, s, f.ID, story("k", link, title, base.Add(time.Duration(i)*time.Hour)))
	}
	m := map[uint64]babelfeed.Item{}
	for _, it := range query(t, s, babelfeed.Query{}, nil) {
		m[it.FeedID] = it
	}
	a, b, c := m[feeds[0].ID], m[feeds[1].ID], m[feeds[2].ID]
	if b.DuplicateOf != a.ID || c.DuplicateOf != a.ID {
		t.Fatalf("before removal: b→%d c→%d, want both →%d", b.DuplicateOf, c.DuplicateOf, a.ID)
	}
	if err := s.RemoveFeed(feeds[0].ID); err != nil {
		t.Fatal(err)
	}
	consistent(t, s)
	b2, _ := s.Item(b.ID)
	c2, _ := s.Item(c.ID)
	if b2.DuplicateOf != 0 || c2.DuplicateOf != b.ID {
		t.Errorf("after removing the original: b→%d (want 0), c→%d (want %d)", b2.DuplicateOf, c2.DuplicateOf, b.ID)
	}
	// The duplicate records now lead to the heir, by link and by title.
	save(t, s, feeds[3].ID, story("x", link+"?utm_source=x", "Altro titolo qualunque e lungo", base))
	save(t, s, feeds[3].ID, story("y", "https://d.example/other", title, base.Add(time.Hour)))
	for _, it := range query(t, s, babelfeed.Query{FeedIDs: []uint64{feeds[3].ID}}, nil) {
		if it.DuplicateOf != b.ID {
			t.Errorf("new item %s: DuplicateOf %d, want the heir %d", it.Key, it.DuplicateOf, b.ID)
		}
	}
	groups, err := s.DuplicateGroups()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := groups[a.ID]; ok || len(groups[b.ID]) != 3 {
		t.Errorf("groups after removal: %v, want none of %d and 3 under %d", groups, a.ID, b.ID)
	}
	// Removing everything leaves no groups behind, and a new copy of the
	// story is an original.
	for _, f := range feeds[1:] {
		if err := s.RemoveFeed(f.ID); err != nil {
			t.Fatal(err)
		}
	}
	groups, _ = s.DuplicateGroups()
	if len(groups) != 0 {
		t.Errorf("groups after removing every feed: %v", groups)
	}
	e := addFeed(t, s, "https://e.example/")
	save(t, s, e.ID, story("z", link, title, base))
	if got := query(t, s, babelfeed.Query{}, nil); len(got) != 1 || got[0].DuplicateOf != 0 {
		t.Errorf("a copy after every other copy was removed: %+v, want an original", got)
	}
	consistent(t, s)
}

// testDuplicateFarm stores a farm of 20 feeds in which 15 wire stories are
// syndicated: each copy has its own tracking parameters, scheme, "www." or
// trailing slash, and some copies link to the syndicating site instead,
// with the wire title a few hours later. Every copy after the first stored
// one must be marked a duplicate of it, and nothing else.
func testDuplicateFarm(t *testing.T, open Opener) {
	s := open(t)
	r := rand.New(rand.NewPCG(6, 6))
	const nFeeds, nStories = 20, 15
	var feeds []babelfeed.Feed
	for i := range nFeeds {
		feeds = append(feeds, addFeed(t, s, fmt.Sprintf("https://site%d.example/rss", i)))
	}
	perFeed := make([][]babelfeed.Item, nFeeds)
	copies := map[int][]string{} // story -> keys of its copies, in feed order
	for st := range nStories {
		k := 2 + r.IntN(5) // copies of this story
		pub := base.Add(time.Duration(st) * 7 * time.Hour)
		title := fmt.Sprintf("Wire story number %d: the council approves plan %c", st, 'A'+st)
		for _, fi := range r.Perm(nFeeds)[:k] {
			link := fmt.Sprintf("https://wire.example/%d/story-%d", 2026, st)
			switch r.IntN(5) {
			case 0:
				link += "?utm_source=site" + fmt.Sprint(fi) + "&utm_medium=rss"
			case 1:
				link = strings.Replace(link, "https://", "http://www.", 1) + "/"
			case 2:
				link += "?fbclid=" + fmt.Sprint(r.Uint64())
			case 3:
				// Rewritten on the syndicating site: only the title tells.
				link = fmt.Sprintf("https://site%d.example/wire/%d", fi, st)
			}
			key := fmt.Sprintf("s%d-f%d", st, fi)
			it := story(key, link, title, pub.Add(time.Duration(r.IntN(20))*time.Hour))
			perFeed[fi] = append(perFeed[fi], it)
			copies[st] = append(copies[st], key)
		}
	}
	for fi := range nFeeds {
		for j := range 10 { // the feed's own stories
			perFeed[fi] = append(perFeed[fi], story(fmt.Sprintf("own-%d-%d", fi, j),
				fmt.Sprintf("https://site%d.example/local/%d", fi, j),
				fmt.Sprintf("Local news %d from site %d about the harbour", j, fi), base.Add(time.Duration(j)*time.Hour)))
		}
	}
	// Feeds are polled in a random order; a story's first stored copy is
	// its original.
	first := map[int]string{}
	for _, fi := range r.Perm(nFeeds) {
		save(t, s, feeds[fi].ID, perFeed[fi]...)
		for _, it := range perFeed[fi] {
			var st, f int
			if _, err := fmt.Sscanf(it.Key, "s%d-f%d", &st, &f); err == nil {
				if _, ok := first[st]; !ok {
					first[st] = it.Key
				}
			}
		}
	}
	m := byKey(t, s)
	wantDups := 0
	wantGroups := map[uint64][]uint64{}
	for st, keys := range copies {
		wantDups += len(keys) - 1
		orig := m[first[st]]
		if orig.DuplicateOf != 0 {
			t.Errorf("story %d: the first copy %s is marked a duplicate", st, orig.Key)
		}
		for _, k := range keys {
			if k == first[st] {
				continue
			}
			wantGroups[orig.ID] = append(wantGroups[orig.ID], m[k].ID)
			if m[k].DuplicateOf != orig.ID {
				t.Errorf("story %d: copy %s (%s) DuplicateOf %d, want %d (%s)", st, k, m[k].URL, m[k].DuplicateOf, orig.ID, orig.URL)
			}
		}
	}
	gotDups := 0
	for _, it := range m {
		if it.DuplicateOf != 0 {
			gotDups++
		}
	}
	if gotDups != wantDups {
		t.Errorf("%d duplicates marked in the farm, want %d", gotDups, wantDups)
	}
	groups, err := s.DuplicateGroups()
	if err != nil {
		t.Fatal(err)
	}
	for root, dups := range wantGroups {
		slices.Sort(dups)
		if !slices.Equal(groups[root], dups) {
			t.Errorf("DuplicateGroups()[%d] = %v, want %v", root, groups[root], dups)
		}
	}
	if len(groups) != len(wantGroups) {
		t.Errorf("%d duplicate groups, want %d", len(groups), len(wantGroups))
	}
	t.Logf("%d items in %d feeds, %d stories syndicated, %d duplicates", len(m), nFeeds, nStories, gotDups)
	consistent(t, s)
}
