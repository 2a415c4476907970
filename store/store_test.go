package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// openTemp opens a new store in a temporary directory. Tests skip fsync
// (the disk is shared and slow; durability is bbolt's business), benchmarks
// keep it so that they measure real commits.
func openTemp(t testing.TB) *DB {
	t.Helper()
	_, bench := t.(*testing.B)
	s, err := Open(filepath.Join(t.TempDir(), "sub", "dir", "babelfeed.db"), Options{noSync: !bench})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func addFeed(t testing.TB, s *DB, url string, category ...string) babelfeed.Feed {
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

func save(t testing.TB, s *DB, feedID uint64, items ...babelfeed.Item) SaveResult {
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

func query(t testing.TB, s *DB, q babelfeed.Query, match func(*babelfeed.Item) bool) []babelfeed.Item {
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

func TestOpenCloseReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	f := addFeed(t, s, "https://example.org/feed.xml", "News")
	f.ETag = `"v1"`
	if _, err := s.SaveFetch(f, []babelfeed.Item{item("a", "it", base, "Ciao")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Feed(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != `"v1"` || got.Items != 1 || got.Languages["it"] != 1 || got.CategoryPath() != "News" {
		t.Errorf("reopened feed = %+v", got)
	}
	items := query(t, s, babelfeed.Query{}, nil)
	if len(items) != 1 || items[0].Title != "Ciao" {
		t.Errorf("reopened items = %+v", items)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n, err := ro.ItemCount(); err != nil || n != 1 {
		t.Errorf("read-only ItemCount = %d, %v", n, err)
	}
	if _, _, err := ro.AddFeeds([]babelfeed.Feed{{URL: "https://other.example/"}}, false); err == nil {
		t.Error("AddFeeds on a read-only store succeeded")
	}
	// A dry run only reads, so it works read-only.
	added, _, err := ro.AddFeeds([]babelfeed.Feed{{URL: "https://other.example/"}}, true)
	if err != nil || len(added) != 1 || added[0].ID != f.ID+1 {
		t.Errorf("read-only dry run = %+v, %v", added, err)
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.db"), Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestNewerSchemaRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addFeed(t, s, "https://example.org/feed")
	s.Close()

	// Pretend a future babelfeed wrote the file.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	for _, ro := range []bool{false, true} {
		_, err = Open(path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("ReadOnly=%v: err = %v, want ErrNewerSchema", ro, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprint(SchemaVersion+1)) || !strings.Contains(msg, fmt.Sprint(SchemaVersion)) {
			t.Errorf("error %q does not name both versions", msg)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("opening a newer-schema file changed it")
	}
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file, so a second handle in this process
	// contends like another process would.
	for _, ro := range []bool{false, true} {
		_, err := Open(path, Options{ReadOnly: ro, Timeout: 100 * time.Millisecond})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("ReadOnly=%v: err = %v, want ErrLocked", ro, err)
		}
		if !strings.Contains(err.Error(), "babelfeed run") {
			t.Errorf("error %q does not say who probably holds the file", err)
		}
	}
}

func TestReadOnlySharesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	a, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second read-only open: %v", err)
	}
	b.Close()
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"HTTP://Example.COM:80/Feed.xml#top":   "http://example.com/Feed.xml",
		"https://EXAMPLE.com:443/a?b=C":        "https://example.com/a?b=C",
		"https://example.com:8443/a":           "https://example.com:8443/a",
		"http://example.com:443/a":             "http://example.com:443/a",
		"  http://example.com/a  ":             "http://example.com/a",
		"http://[2001:DB8::1]:80/rss":          "http://[2001:db8::1]/rss",
		"https://user@Example.com/%7Euser/rss": "https://user@example.com/%7Euser/rss",
	} {
		got, err := NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeURL(" "); err == nil {
		t.Error("NormalizeURL accepted an empty URL")
	}
}

func TestAddFeedsDedup(t *testing.T) {
	s := openTemp(t)
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
			t.Errorf("added[%d] = %+v", i, f)
		}
	}

	second := []babelfeed.Feed{
		{URL: "HTTPS://EXAMPLE.COM:443/feed.xml#frag", Title: "dup of one"},
		{URL: "https://new.example/rss", Title: "new"},
		{URL: "https://NEW.example/rss", Title: "dup within the call"},
	}
	path := s.Path()
	before, _ := os.ReadFile(path)
	dAdded, dExisting, err := s.AddFeeds(second, true)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("dry run changed the file")
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
		t.Errorf("added = %+v", rAdded)
	}
	if len(rExisting) != 2 || rExisting[0].ID != 1 || rExisting[0].Title != "one" || rExisting[1].ID != 3 {
		t.Errorf("existing = %+v", rExisting)
	}
	f, err := s.FeedByURL("https://example.com:443/feed.xml")
	if err != nil || f.ID != 1 {
		t.Errorf("FeedByURL = %+v, %v", f, err)
	}
	if _, err := s.FeedByURL("https://nowhere.example/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FeedByURL(unknown) err = %v", err)
	}
	if _, err := s.Feed(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Feed(99) err = %v", err)
	}
	feeds, err := s.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	if len(feeds) != 3 || feeds[0].ID != 1 || feeds[2].ID != 3 || feeds[0].Languages == nil {
		t.Errorf("Feeds = %+v", feeds)
	}
}

func TestSaveFetchAddUnchangedUpdate(t *testing.T) {
	s := openTemp(t)
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
	if res != (SaveResult{Added: 3}) {
		t.Errorf("first save = %+v", res)
	}
	stored, _ := s.Feed(f.ID)
	if stored.ETag != `"e1"` || stored.Items != 3 || !reflect.DeepEqual(stored.Languages, map[string]int{"it": 2, "en": 1}) {
		t.Errorf("feed after first save = %+v", stored)
	}
	known, err := s.Known(f.ID)
	if err != nil || !reflect.DeepEqual(known, map[string]string{"a": "h:Primo", "b": "h:Secondo", "c": "h:Third"}) {
		t.Errorf("Known = %v, %v", known, err)
	}
	orig := query(t, s, babelfeed.Query{}, nil)

	// The same document again: nothing changes.
	if res := save(t, s, f.ID, first...); res != (SaveResult{Unchanged: 3}) {
		t.Errorf("second save = %+v", res)
	}

	// "c" is revised: new title, now detected as German, published later;
	// the poller saw it again now, but FirstSeen must stay.
	revised := item("c", "de", base.Add(5*time.Hour), "Dritte")
	revised.FirstSeen = base.Add(48 * time.Hour)
	if res := save(t, s, f.ID, first[0], first[1], revised); res != (SaveResult{Updated: 1, Unchanged: 2}) {
		t.Errorf("third save = %+v", res)
	}
	cID := orig[0].ID
	got, err := s.Item(cID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Dritte" || got.Lang != "de" || !got.FirstSeen.Equal(base) || got.FeedID != f.ID {
		t.Errorf("revised item = %+v", got)
	}
	if n, _ := s.ItemCount(); n != 3 {
		t.Errorf("ItemCount = %d, want 3 (no duplicate)", n)
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"de"}}, nil); len(got) != 1 || got[0].ID != cID {
		t.Errorf("de query = %v", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"en"}}, nil); len(got) != 0 {
		t.Errorf("en query still finds %v", keys(got))
	}
	if got := query(t, s, babelfeed.Query{Since: base.Add(4 * time.Hour)}, nil); len(got) != 1 || got[0].ID != cID {
		t.Errorf("time index not moved: %v", keys(got))
	}
	stored, _ = s.Feed(f.ID)
	if stored.Items != 3 || !reflect.DeepEqual(stored.Languages, map[string]int{"it": 2, "de": 1}) {
		t.Errorf("counts after update = %d %v", stored.Items, stored.Languages)
	}
	checkConsistency(t, s)

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
		t.Errorf("a failed SaveFetch wrote items: %d", n)
	}
	if _, err := s.SaveFetch(babelfeed.Feed{ID: 42, URL: "https://x.example/"}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("SaveFetch of unknown feed: %v", err)
	}
}

func TestUpdateFeedKeepsCountsAndFollowsRedirect(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "http://old.example/feed")
	save(t, s, f.ID, item("a", "fr", base, "Bonjour"))

	// f is the stale copy from before the save: its counts must not win.
	f.URL = "https://new.example/feed"
	f.LastError, f.ErrorCount, f.State = "boom", 2, babelfeed.StateFailing
	f.NextPoll = base.Add(time.Hour)
	if err := s.UpdateFeed(f); err != nil {
		t.Fatal(err)
	}
	got, err := s.Feed(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Items != 1 || got.Languages["fr"] != 1 || got.ErrorCount != 2 || !got.NextPoll.Equal(f.NextPoll) {
		t.Errorf("feed = %+v", got)
	}
	if !reflect.DeepEqual(got.PrevURLs, []string{"http://old.example/feed"}) {
		t.Errorf("PrevURLs = %v", got.PrevURLs)
	}
	for _, u := range []string{"http://old.example/feed", "https://NEW.example/feed"} {
		if byURL, err := s.FeedByURL(u); err != nil || byURL.ID != f.ID {
			t.Errorf("FeedByURL(%s) = %d, %v", u, byURL.ID, err)
		}
	}
	// The old address is taken: subscribing to it again is a duplicate.
	if added, existing, _ := s.AddFeeds([]babelfeed.Feed{{URL: "http://old.example/feed"}}, false); len(added) != 0 || len(existing) != 1 {
		t.Errorf("re-adding the old URL: added %d existing %d", len(added), len(existing))
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
	if err := s.UpdateFeed(babelfeed.Feed{ID: 77, URL: "https://x.example/"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateFeed(unknown) = %v", err)
	}
}

func TestItemsNewestFirstAcrossFeedsAndLanguages(t *testing.T) {
	s := openTemp(t)
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
	sorted := func(items []babelfeed.Item) bool {
		return slices.IsSortedFunc(items, func(a, b babelfeed.Item) int {
			if c := b.Published.Compare(a.Published); c != 0 {
				return c
			}
			return int(b.ID) - int(a.ID)
		})
	}
	all := query(t, s, babelfeed.Query{}, nil)
	if len(all) != 30 || !sorted(all) {
		t.Fatalf("all = %v", keys(all))
	}
	if all[0].Key != "k29" || all[29].Key != "k00" {
		t.Errorf("first %s last %s", all[0].Key, all[29].Key)
	}
	for _, q := range []babelfeed.Query{
		{Langs: []string{"it", "es"}},
		{FeedIDs: []uint64{f1.ID, f2.ID}},
		{FeedIDs: []uint64{f2.ID}, Langs: []string{"de", "it"}},
	} {
		got := query(t, s, q, nil)
		if !sorted(got) {
			t.Errorf("%+v not newest first: %v", q, keys(got))
		}
		for _, it := range got {
			if (q.Langs != nil && !slices.Contains(q.Langs, it.Lang)) || !slices.Contains(q.FeedIDs, it.FeedID) && q.FeedIDs != nil {
				t.Errorf("%+v yielded %+v", q, it)
			}
		}
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"it", "es"}}, nil); len(got) != 20 {
		t.Errorf("it+es = %d items", len(got))
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

func TestItemsLimitCountsMatchesAndFnStops(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://one.example/")
	var items []babelfeed.Item
	for i := range 600 { // more than one internal batch
		items = append(items, item(fmt.Sprint(i), "it", base.Add(time.Duration(i)*time.Second), fmt.Sprint(i)))
	}
	save(t, s, f.ID, items...)
	odd := func(it *babelfeed.Item) bool { return it.Published.Second()%2 == 1 }
	got := query(t, s, babelfeed.Query{Limit: 3}, odd)
	if want := []string{"599", "597", "595"}; !slices.Equal(keys(got), want) {
		t.Errorf("Limit 3 odd = %v, want %v", keys(got), want)
	}
	if got := query(t, s, babelfeed.Query{}, odd); len(got) != 300 {
		t.Errorf("odd = %d items", len(got))
	}
	if got := query(t, s, babelfeed.Query{Limit: 400}, nil); len(got) != 400 || got[399].Key != "200" {
		t.Errorf("Limit 400 = %d items", len(got))
	}
	n := 0
	err := s.Items(context.Background(), babelfeed.Query{}, nil, func(babelfeed.Item) bool {
		n++
		return n < 5
	})
	if err != nil || n != 5 {
		t.Errorf("fn returning false: n = %d, err = %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Items(ctx, babelfeed.Query{}, nil, func(babelfeed.Item) bool { return true })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled query err = %v", err)
	}
}

func TestItemsCategoryPrefix(t *testing.T) {
	s := openTemp(t)
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
		"Italiano/Tech":  {tech.ID},
		"Italiano/Other": nil,
		"Ital":           nil,
		"English":        {en.ID},
	} {
		if got := feedsOf(query(t, s, babelfeed.Query{Category: cat}, nil)); !slices.Equal(got, want) {
			t.Errorf("Category %q = %v, want %v", cat, got, want)
		}
	}
	if got := feedsOf(query(t, s, babelfeed.Query{Category: "Italiano", FeedIDs: []uint64{tech.ID, other.ID}}, nil)); !slices.Equal(got, []uint64{tech.ID}) {
		t.Errorf("Category and FeedIDs = %v", got)
	}
}

func TestRemoveFeedCleansIndexes(t *testing.T) {
	s := openTemp(t)
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
	if err := s.RemoveFeed(gone.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second RemoveFeed = %v", err)
	}
	for _, u := range []string{"https://gone.example/", "https://moved.example/"} {
		if _, err := s.FeedByURL(u); !errors.Is(err, ErrNotFound) {
			t.Errorf("FeedByURL(%s) after removal: %v", u, err)
		}
	}
	if known, _ := s.Known(gone.ID); len(known) != 0 {
		t.Errorf("Known after removal = %v", known)
	}
	if got := query(t, s, babelfeed.Query{}, nil); len(got) != 20 || got[0].FeedID != keep.ID {
		t.Errorf("items after removal = %d", len(got))
	}
	if got := query(t, s, babelfeed.Query{Langs: []string{"de"}}, nil); len(got) != 0 {
		t.Errorf("de items after removal = %d", len(got))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 20 || st.Feeds != 1 || !reflect.DeepEqual(st.ByLang, map[string]int{"it": 20}) || st.FileBytes <= 0 {
		t.Errorf("Stats = %+v", st)
	}
	checkConsistency(t, s)
}

func TestUpdateItemsRetags(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://one.example/")
	var items []babelfeed.Item
	for i := range 2500 { // three batches
		items = append(items, item(fmt.Sprint(i), "und", base.Add(time.Duration(i)*time.Second), fmt.Sprint(i)))
	}
	save(t, s, f.ID, items...)
	var progress []int
	err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
		if it.Published.Second()%2 == 0 {
			return false
		}
		it.Lang, it.LangMethod = "pt", babelfeed.LangDetected
		return true
	}, func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(progress, []int{1000, 2000, 2500}) {
		t.Errorf("progress = %v", progress)
	}
	got, _ := s.Feed(f.ID)
	if !reflect.DeepEqual(got.Languages, map[string]int{"und": 1250, "pt": 1250}) {
		t.Errorf("Languages = %v", got.Languages)
	}
	if pt := query(t, s, babelfeed.Query{Langs: []string{"pt"}}, nil); len(pt) != 1250 || pt[0].LangMethod != babelfeed.LangDetected {
		t.Errorf("pt items = %d", len(pt))
	}
	checkConsistency(t, s)

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
		t.Errorf("cancelled UpdateItems = %v", err)
	}
}

func TestLongAndOddItemKeys(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://one.example/")
	long := strings.Repeat("guid-", 2000)
	odd := "\xffnot utf-8"
	save(t, s, f.ID, item(long, "it", base, "long"), item(odd, "it", base, "odd"), item("plain", "it", base, "plain"))
	known, err := s.Known(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 3 || known[long] != "h:long" || known[odd] != "h:odd" {
		t.Errorf("Known = %d keys", len(known))
	}
	if res := save(t, s, f.ID, item(long, "it", base, "long2"), item(odd, "it", base, "odd")); res != (SaveResult{Updated: 1, Unchanged: 1}) {
		t.Errorf("resave = %+v", res)
	}
	if n, _ := s.ItemCount(); n != 3 {
		t.Errorf("ItemCount = %d", n)
	}
}

// TestConcurrentReadersAndWriter runs queries whose fn calls back into the
// store while another goroutine saves fetches (meaningful under -race).
func TestConcurrentReadersAndWriter(t *testing.T) {
	s := openTemp(t)
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
						t.Error(err)
					}
					return err == nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n, _ := s.ItemCount(); n != 1000 {
		t.Errorf("ItemCount = %d", n)
	}
	checkConsistency(t, s)
}

// checkConsistency verifies that every index holds exactly one entry per
// stored item with the right time, feed and language, and that the feed
// counts match the items.
func checkConsistency(t testing.TB, s *DB) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		items := map[uint64]babelfeed.Item{}
		counts := map[uint64]map[string]int{}
		if err := b.items.ForEach(func(k, v []byte) error {
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			items[it.ID] = it
			if counts[it.FeedID] == nil {
				counts[it.FeedID] = map[string]int{}
			}
			counts[it.FeedID][it.Lang]++
			kv := b.keys.Get(itemKeysKey(it.FeedID, it.Key))
			if len(kv) < 8 || binary.BigEndian.Uint64(kv) != it.ID || string(kv[8:]) != it.ContentHash {
				return fmt.Errorf("item %d: key entry %x", it.ID, kv)
			}
			if b.feeds.Get(u64(it.FeedID)) == nil {
				return fmt.Errorf("item %d: orphan of feed %d", it.ID, it.FeedID)
			}
			return nil
		}); err != nil {
			return err
		}
		want := func(it babelfeed.Item) (tk, lk, fk []byte) {
			n := nanos(SortTime(&it))
			return idxTimeKey(n, it.ID), idxLangKey(it.Lang, n, it.ID), idxFeedKey(it.FeedID, n, it.ID)
		}
		for _, it := range items {
			tk, lk, fk := want(it)
			if v := b.idxTime.Get(tk); len(v) < 8 || binary.BigEndian.Uint64(v) != it.FeedID || string(v[8:]) != it.Lang {
				return fmt.Errorf("item %d: time entry %x", it.ID, v)
			}
			if v := b.idxLang.Get(lk); len(v) != 8 || binary.BigEndian.Uint64(v) != it.FeedID {
				return fmt.Errorf("item %d: lang entry %x", it.ID, v)
			}
			if v := b.idxFeed.Get(fk); v == nil || string(v) != it.Lang {
				return fmt.Errorf("item %d: feed entry %q", it.ID, v)
			}
		}
		for name, bk := range map[string]*bolt.Bucket{"item_keys": b.keys, "idx_time": b.idxTime, "idx_lang": b.idxLang, "idx_feed": b.idxFeed} {
			if n := bk.Stats().KeyN; n != len(items) {
				return fmt.Errorf("%s has %d entries for %d items", name, n, len(items))
			}
		}
		return b.feeds.ForEach(func(k, v []byte) error {
			f, err := decodeFeed(v)
			if err != nil {
				return err
			}
			total := 0
			for _, n := range counts[f.ID] {
				total += n
			}
			wantLangs := counts[f.ID]
			if wantLangs == nil {
				wantLangs = map[string]int{}
			}
			if f.Items != total || !reflect.DeepEqual(f.Languages, wantLangs) {
				return fmt.Errorf("feed %d counts %d %v, items say %d %v", f.ID, f.Items, f.Languages, total, wantLangs)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("inconsistent store: %v", err)
	}
}

func TestCompactToAndBackup(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://one.example/")
	gone := addFeed(t, s, "https://gone.example/")
	var items []babelfeed.Item
	for i := range 300 {
		items = append(items, item(fmt.Sprint(i), "it", base.Add(time.Duration(i)*time.Second), strings.Repeat("x", 500)+fmt.Sprint(i)))
	}
	save(t, s, f.ID, items...)
	save(t, s, gone.ID, items...)
	if err := s.RemoveFeed(gone.ID); err != nil {
		t.Fatal(err)
	}
	want := query(t, s, babelfeed.Query{}, nil)

	dst := filepath.Join(t.TempDir(), "compact", "store.db")
	if err := s.CompactTo(dst); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactTo(dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("compacting over an existing file: %v", err)
	}
	var backup bytes.Buffer
	if _, err := s.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	bpath := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(bpath, backup.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stats()

	for _, path := range []string{dst, bpath} {
		c, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := query(t, c, babelfeed.Query{}, nil); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d items, want %d", path, len(got), len(want))
		}
		checkConsistency(t, c)
		// IDs keep counting from where they were: nothing is reused.
		added, _, err := c.AddFeeds([]babelfeed.Feed{{URL: "https://three.example/"}}, false)
		if err != nil || added[0].ID != gone.ID+1 {
			t.Errorf("%s: new feed %+v, %v", path, added, err)
		}
		save(t, c, f.ID, item("new", "it", base, "new"))
		isNew := func(it *babelfeed.Item) bool { return it.Key == "new" }
		if got := query(t, c, babelfeed.Query{}, isNew); len(got) != 1 || got[0].ID != 601 {
			t.Errorf("%s: new item %v, want ID 601", path, ids(got))
		}
		after, _ := c.Stats()
		if path == dst && after.DataBytes >= before.DataBytes {
			t.Errorf("compacted store uses %d bytes, the original %d", after.DataBytes, before.DataBytes)
		}
		c.Close()
	}
}

func TestItemsNegativeLimit(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://one.example/")
	save(t, s, f.ID, item("a", "it", base, "a"), item("b", "it", base, "b"))
	if got := query(t, s, babelfeed.Query{Limit: -1}, nil); len(got) != 2 {
		t.Errorf("Limit -1 gave %d items", len(got))
	}
}

func TestRecentTimes(t *testing.T) {
	s := openTemp(t)
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
	if got, _ := s.RecentTimes(99, 5); len(got) != 0 {
		t.Errorf("RecentTimes(unknown) = %v", got)
	}
}
