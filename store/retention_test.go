package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// feedDoc is what a feed document carries: items key0..key(n-1), item i
// published i hours after base (so the highest index is the newest).
func feedDoc(prefix string, from, to int) []babelfeed.Item {
	var items []babelfeed.Item
	for i := from; i < to; i++ {
		items = append(items, item(fmt.Sprintf("%s%03d", prefix, i), []string{"it", "en"}[i%2], base.Add(time.Duration(i)*time.Hour), fmt.Sprintf("%s title %d", prefix, i)))
	}
	return items
}

func feedKeys(t *testing.T, s *DB, feedID uint64) []string {
	t.Helper()
	var keys []string
	for _, it := range query(t, s, babelfeed.Query{FeedIDs: []uint64{feedID}}, nil) {
		keys = append(keys, it.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestPrunePerFeedLeavesTombstones(t *testing.T) {
	s := openTemp(t)
	a := addFeed(t, s, "https://a.example/feed")
	b := addFeed(t, s, "https://b.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 40)...)
	save(t, s, b.ID, feedDoc("b", 0, 5)...)

	res, err := s.Prune(context.Background(), Retention{MaxPerFeed: 10}, base)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 30 || res.Feeds != 1 {
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
		t.Errorf("check report %+v", rep)
	}
	st, _ := s.Stats()
	if st.Items != 15 || st.ByLang["it"]+st.ByLang["en"] != 15 {
		t.Errorf("stats after prune: %+v", st)
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
	if r.Added != 1 || r.Tombstoned != 30 || r.Unchanged != 10 {
		t.Errorf("save of the same document plus one: %+v", r)
	}
	// Even revised, a removed item stays removed.
	revised := feedDoc("a", 0, 41)
	revised[3].Title, revised[3].ContentHash = "new title", "h:new"
	if r := save(t, s, a.ID, revised...); r.Added != 0 || r.Tombstoned != 30 {
		t.Errorf("save with a revised removed item: %+v", r)
	}
	if known, _ := s.Known(a.ID); known["a003"] != "h:new" {
		t.Errorf("Known has hash %q for the revised tombstoned item, want the new one", known["a003"])
	}
	mustCheck(t, s)

	// Another pass removes the one that is now eleventh.
	if res, _ := s.Prune(context.Background(), Retention{MaxPerFeed: 10}, base); res.Removed != 1 {
		t.Errorf("second Prune = %+v, want 1 removed", res)
	}
	mustCheck(t, s)
}

func TestPruneByAge(t *testing.T) {
	s := openTemp(t)
	a := addFeed(t, s, "https://a.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 48)...) // one item an hour for two days
	undated := item("undated", "it", time.Time{}, "senza data")
	undated.FirstSeen = base.Add(47 * time.Hour)
	save(t, s, a.ID, undated)

	now := base.Add(48 * time.Hour)
	res, err := s.Prune(context.Background(), Retention{MaxAge: 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Items 24..47 are within the last day (item 24 exactly at the edge),
	// and the undated one by when it was first seen.
	if res.Removed != 24 {
		t.Errorf("Prune = %+v, want 24 removed", res)
	}
	got := feedKeys(t, s, a.ID)
	if len(got) != 25 || got[0] != "a024" || !slices.Contains(got, "undated") {
		t.Errorf("kept %v", got)
	}
	// Age and count together: the stricter wins.
	res, _ = s.Prune(context.Background(), Retention{MaxAge: 24 * time.Hour, MaxPerFeed: 5}, now)
	if res.Removed != 20 || len(feedKeys(t, s, a.ID)) != 5 {
		t.Errorf("Prune by age and count = %+v, kept %v", res, feedKeys(t, s, a.ID))
	}
	mustCheck(t, s)
	// Off by default: the zero Retention removes nothing.
	if res, _ := s.Prune(context.Background(), Retention{}, now.Add(1000*time.Hour)); res.Removed != 0 {
		t.Errorf("zero Retention removed %d", res.Removed)
	}
}

func TestPruneInBatches(t *testing.T) {
	s := openTemp(t)
	a := addFeed(t, s, "https://a.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 2*pruneBatch+17)...)
	res, err := s.Prune(context.Background(), Retention{MaxPerFeed: 3}, base)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2*pruneBatch+14 {
		t.Errorf("removed %d", res.Removed)
	}
	mustCheck(t, s)

	// A cancelled context stops before the next transaction.
	save(t, s, a.ID, feedDoc("b", 0, 10)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Prune(ctx, Retention{MaxPerFeed: 3}, base); !errors.Is(err, context.Canceled) {
		t.Errorf("Prune with a cancelled context: %v", err)
	}
}

func TestTombstonesExpireWhenTheFeedDropsThem(t *testing.T) {
	s := openTemp(t)
	a := addFeed(t, s, "https://a.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 20)...)
	if _, err := s.Prune(context.Background(), Retention{MaxPerFeed: 5}, base); err != nil {
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
	if res, _ := s.Prune(context.Background(), Retention{}, now.Add(tombstoneGrace/2)); res.TombstonesExpired != 0 {
		t.Errorf("expired %d tombstones within the grace period", res.TombstonesExpired)
	}
	// After it, the ones the feed dropped go; the ones it still carries
	// stay.
	res, err := s.Prune(context.Background(), Retention{}, now.Add(tombstoneGrace+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.TombstonesExpired != 10 || tombstones() != 5 {
		t.Errorf("expired %d, %d left; want 10 expired, 5 left", res.TombstonesExpired, tombstones())
	}
	// A tombstone carried again is no longer missing.
	save(t, s, a.ID, feedDoc("a", 10, 25)...)
	if res, _ := s.Prune(context.Background(), Retention{}, now.Add(10*tombstoneGrace)); res.TombstonesExpired != 0 {
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

// TestPruneRacesThePoller prunes while another goroutine keeps saving
// fetches of the same feeds: the store stays consistent and no item comes
// back after its removal.
func TestPruneRacesThePoller(t *testing.T) {
	s := openTemp(t)
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
		if _, err := s.Prune(context.Background(), Retention{MaxPerFeed: 8}, base); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), Retention{MaxPerFeed: 8}, base); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
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

func TestCompactShrinksAndKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "babelfeed.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a := addFeed(t, s, "https://a.example/feed")
	doc := feedDoc("a", 0, 3000)
	for i := range doc {
		doc[i].Summary = strings.Repeat("testo di riempimento ", 40)
	}
	save(t, s, a.ID, doc...)
	if _, err := s.Prune(context.Background(), Retention{MaxPerFeed: 100}, base); err != nil {
		t.Fatal(err)
	}
	want := feedKeys(t, s, a.ID)
	s.Close()

	res, err := Compact(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before/2 {
		t.Errorf("compacted %d -> %d bytes: want well under half after removing 29/30 of the items", res.Before, res.After)
	}
	if st, _ := os.Stat(path); st.Size() != res.After {
		t.Errorf("file is %d bytes, report says %d", st.Size(), res.After)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*compact*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	s, err = Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := feedKeys(t, s, a.ID); !slices.Equal(got, want) {
		t.Errorf("after compaction %d items, want %d", len(got), len(want))
	}
	rep := mustCheck(t, s)
	if rep.Tombstones != 2900 {
		t.Errorf("tombstones after compaction: %d", rep.Tombstones)
	}
	// IDs are not reused.
	r := save(t, s, a.ID, item("fresh", "it", base.Add(time.Hour*5000), "nuovo"))
	if r.Added != 1 {
		t.Fatal(r)
	}
	if it := query(t, s, babelfeed.Query{Limit: 1}, nil)[0]; it.ID != 3001 {
		t.Errorf("new item got ID %d, want 3001", it.ID)
	}
}

func TestCompactRefusesALockedStore(t *testing.T) {
	s := openTemp(t)
	addFeed(t, s, "https://a.example/feed")
	before, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compact(s.Path(), Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Compact of a store in use: %v, want ErrLocked", err)
	}
	after, _ := os.ReadFile(s.Path())
	if string(before) != string(after) {
		t.Error("a refused Compact changed the file")
	}
	if _, err := Compact(filepath.Join(t.TempDir(), "none.db"), Options{}); err == nil {
		t.Error("Compact of a missing store: no error")
	}
}

// TestOpenWaitingForCompactGetsTheNewFile: an open that waits for the lock
// while Compact replaces the file must not end up on the old, unlinked
// file.
func TestOpenWaitingForCompactGetsTheNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "babelfeed.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a := addFeed(t, s, "https://a.example/feed")
	// Stand in for Compact: hold the lock, replace the file by rename, then
	// release the old one while another open waits.
	opened := make(chan *DB)
	errc := make(chan error, 1)
	go func() {
		o, err := Open(path, Options{Timeout: 10 * time.Second, noSync: true})
		if err != nil {
			errc <- err
			return
		}
		opened <- o
	}()
	time.Sleep(100 * time.Millisecond) // let it block on the lock (not a timing assertion: any order is correct)
	tmp := filepath.Join(dir, "copy.db")
	if err := s.CompactTo(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var o *DB
	select {
	case o = <-opened:
	case err := <-errc:
		t.Fatal(err)
	}
	defer o.Close()
	save(t, o, a.ID, item("k", "it", base, "scritto dopo"))
	o.Close()
	// What it wrote is in the file under the name.
	s2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := feedKeys(t, s2, a.ID); !slices.Equal(got, []string{"k"}) {
		t.Errorf("items under the name: %v, want the one written after the replacement", got)
	}
}

// TestCompactKeepsOtherBuckets: buckets Compact knows nothing about (those
// of other parts of the store) are copied too.
func TestCompactKeepsOtherBuckets(t *testing.T) {
	s := openTemp(t)
	addFeed(t, s, "https://a.example/feed")
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("future"))
		if err != nil {
			return err
		}
		if err := b.SetSequence(77); err != nil {
			return err
		}
		return b.Put([]byte("x"), []byte("y"))
	}); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	s.Close()
	if _, err := Compact(path, Options{}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("future"))
		if b == nil || string(b.Get([]byte("x"))) != "y" || b.Sequence() != 77 {
			return errors.New("bucket future lost in compaction")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestPruneUnindexesKeywords: removed items leave the keyword index and
// the duplicate index too.
func TestPruneUnindexesKeywords(t *testing.T) {
	ix := &Indexer{Version: "prune-test", Terms: func(it *babelfeed.Item, dst []Term) []Term {
		for _, w := range strings.Fields(it.Title) {
			dst = append(dst, Term{Text: w, Freq: 1, Title: true})
		}
		return dst
	}}
	s, err := Open(filepath.Join(t.TempDir(), "babelfeed.db"), Options{noSync: true, Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := addFeed(t, s, "https://a.example/feed")
	b := addFeed(t, s, "https://b.example/feed")
	save(t, s, a.ID, feedDoc("a", 0, 30)...)
	// The same stories in another feed: duplicates of feed a's.
	dup := feedDoc("a", 0, 30)
	for i := range dup {
		dup[i].Key += "-b"
	}
	save(t, s, b.ID, dup...)
	count := func(term string) int {
		var n int
		if err := s.ReadIndex(func(r *IndexReader) error {
			var err error
			n, err = r.Count("it", term)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("title"); n != 30 {
		t.Fatalf("%d Italian items with 'title' before pruning, want 30", n)
	}
	if _, err := s.Prune(context.Background(), Retention{MaxPerFeed: 4}, base); err != nil {
		t.Fatal(err)
	}
	if n := count("title"); n != 4 {
		t.Errorf("%d Italian items with 'title' after pruning to 4 a feed, want 4", n)
	}
	groups, err := s.DuplicateGroups()
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
	mustCheck(t, s)
}
