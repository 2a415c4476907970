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
			n := UnixNanos(SortTime(&it))
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

// The behaviour tests common to every engine are in store/storetest, run
// on this store by conformance_test.go; the tests here need the file or
// the package's internals.

// TestSuiteConstants: store/storetest checks the behaviour these constants
// set with their values written out; a change here must change it too.
func TestSuiteConstants(t *testing.T) {
	if TombstoneGrace != 14*24*time.Hour || DropRetention != 90*24*time.Hour || pruneBatch != 500 {
		t.Errorf("TombstoneGrace %v, DropRetention %v, pruneBatch %d: update store/storetest (storetest.go)", TombstoneGrace, DropRetention, pruneBatch)
	}
}

// TestAddFeedsDryRunWritesNothing: a dry run leaves the file as it was.
func TestAddFeedsDryRunWritesNothing(t *testing.T) {
	s := openTemp(t)
	addFeed(t, s, "https://example.com/feed.xml")
	before, _ := os.ReadFile(s.Path())
	added, existing, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://EXAMPLE.com/feed.xml"}, {URL: "https://new.example/rss"}}, true)
	if err != nil || len(added) != 1 || len(existing) != 1 {
		t.Fatalf("dry run: added %d existing %d, %v", len(added), len(existing), err)
	}
	after, _ := os.ReadFile(s.Path())
	if !bytes.Equal(before, after) {
		t.Error("dry run changed the file")
	}
	if st, err := s.Stats(); err != nil || st.FileBytes <= 0 || st.DataBytes <= 0 {
		t.Errorf("Stats = %+v, %v; want the file's size", st, err)
	}
}

// TestUpdateItemsProgressInBatches: progress comes after each batch of
// 1000 items, and every index follows the rewrite.
func TestUpdateItemsProgressInBatches(t *testing.T) {
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
		it.Lang = "pt"
		return true
	}, func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(progress, []int{1000, 2000, 2500}) {
		t.Errorf("progress = %v", progress)
	}
	checkConsistency(t, s)
}

func ids(items []babelfeed.Item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// TestPlanPicksTheNarrowestIndex: Items scans the index with the fewest
// entries to look at, by the feeds' counts. (The conformance suite's
// property test checks the answers of every plan against a model.)
func TestPlanPicksTheNarrowestIndex(t *testing.T) {
	feeds := []babelfeed.Feed{
		{ID: 1, Items: 100, Languages: map[string]int{"it": 90, "de": 10}, Category: []string{"Big"}},
		{ID: 2, Items: 10, Languages: map[string]int{"it": 10}, Category: []string{"Small", "Tech"}},
	}
	for _, c := range []struct {
		q    babelfeed.Query
		want indexKind
	}{
		{babelfeed.Query{}, byTime},
		{babelfeed.Query{Since: base, Limit: 3}, byTime},
		{babelfeed.Query{Langs: []string{"de"}}, byLang},
		{babelfeed.Query{Langs: []string{"it", "de"}}, byLang}, // a tie goes to the language index
		{babelfeed.Query{FeedIDs: []uint64{2}}, byFeed},
		{babelfeed.Query{Category: "small"}, byFeed},
		{babelfeed.Query{FeedIDs: []uint64{1, 2}}, byTime},
		{babelfeed.Query{Langs: []string{"it"}, FeedIDs: []uint64{2}}, byFeed},
		{babelfeed.Query{Langs: []string{"de"}, FeedIDs: []uint64{1}}, byLang},
	} {
		p := planFor(c.q, feeds)
		if p == nil || p.kind != c.want {
			t.Errorf("plan of %+v: %+v, want kind %d", c.q, p, c.want)
		}
	}
	for _, q := range []babelfeed.Query{
		{Category: "Nowhere"},
		{FeedIDs: []uint64{3}},
		{Since: base, Until: base},
		{Since: base.Add(time.Second), Until: base},
	} {
		if p := planFor(q, feeds); p != nil {
			t.Errorf("plan of %+v: %+v, want none (nothing can match)", q, p)
		}
	}
}
