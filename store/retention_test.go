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
