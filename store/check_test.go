package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// filledStore has two feeds with items in three languages.
func filledStore(t *testing.T) (*DB, babelfeed.Feed, babelfeed.Feed) {
	t.Helper()
	s := openTemp(t)
	a := addFeed(t, s, "https://a.example/feed")
	b := addFeed(t, s, "https://b.example/feed")
	var items []babelfeed.Item
	for i := range 30 {
		items = append(items, item(fmt.Sprintf("a%d", i), []string{"it", "en", "de"}[i%3], base.Add(time.Duration(i)*time.Hour), fmt.Sprintf("titolo %d", i)))
	}
	save(t, s, a.ID, items...)
	save(t, s, b.ID, item("b1", "es", base, "uno"), item("b2", "es", time.Time{}, "dos"))
	return s, a, b
}

func mustCheck(t *testing.T, s *DB) CheckReport {
	t.Helper()
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v\n%s", err, strings.Join(rep.Problems, "\n"))
	}
	return rep
}

func TestCheckCleanStore(t *testing.T) {
	s, _, _ := filledStore(t)
	rep := mustCheck(t, s)
	if rep.Feeds != 2 || rep.Items != 32 || rep.Pages == 0 || !rep.OK() {
		t.Errorf("report %+v", rep)
	}
	// A read-only store runs bbolt's check in a read transaction. (Closing
	// twice is harmless: openTemp's cleanup closes it again.)
	path := s.Path()
	s.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rep := mustCheck(t, ro); rep.Items != 32 {
		t.Errorf("read-only report %+v", rep)
	}
}

// TestCheckFindsDamage breaks one invariant at a time, the way a bug or a
// torn write would, and expects Check to name it.
func TestCheckFindsDamage(t *testing.T) {
	cases := []struct {
		name  string
		wreck func(tx *bolt.Tx, a, b babelfeed.Feed) error
		want  string
	}{
		{"missing time entry", func(tx *bolt.Tx, a, _ babelfeed.Feed) error {
			it := firstItem(tx, a.ID)
			return tx.Bucket(bucketIdxTime).Delete(idxTimeKey(UnixNanos(SortTime(&it)), it.ID))
		}, "time index entry"},
		{"stray language entry", func(tx *bolt.Tx, a, _ babelfeed.Feed) error {
			return tx.Bucket(bucketIdxLang).Put(idxLangKey("fr", 42, 9999), u64(a.ID))
		}, "item 9999 does not exist"},
		{"duplicate item", func(tx *bolt.Tx, a, _ babelfeed.Feed) error {
			it := firstItem(tx, a.ID)
			it.ID = 500
			b := bucketsOf(tx)
			if err := b.items.Put(u64(it.ID), encodeItem(nil, &it)); err != nil {
				return err
			}
			n := UnixNanos(SortTime(&it))
			b.idxTime.Put(idxTimeKey(n, it.ID), append(u64(it.FeedID), it.Lang...))
			b.idxLang.Put(idxLangKey(it.Lang, n, it.ID), u64(it.FeedID))
			return b.idxFeed.Put(idxFeedKey(it.FeedID, n, it.ID), []byte(it.Lang))
		}, "duplicate: items"},
		{"wrong count", func(tx *bolt.Tx, _, b babelfeed.Feed) error {
			bk := bucketsOf(tx)
			f, _ := bk.feed(b.ID)
			f.Items = 7
			return bk.putFeed(&f)
		}, "counts 7 items, has 2"},
		{"orphan item", func(tx *bolt.Tx, _, b babelfeed.Feed) error {
			return tx.Bucket(bucketFeeds).Delete(u64(b.ID))
		}, "does not exist"},
		{"sequence behind", func(tx *bolt.Tx, _, _ babelfeed.Feed) error {
			return tx.Bucket(bucketItems).SetSequence(3)
		}, "IDs would be reused"},
		{"tombstone of a live item", func(tx *bolt.Tx, a, _ babelfeed.Feed) error {
			tombs, err := tx.CreateBucketIfNotExists(bucketTombstones)
			if err != nil {
				return err
			}
			return tombs.Put(itemKeysKey(a.ID, "a3"), tombstoneValue(0, "h"))
		}, "a live item has that key"},
		{"undecodable item", func(tx *bolt.Tx, a, _ babelfeed.Feed) error {
			it := firstItem(tx, a.ID)
			return tx.Bucket(bucketItems).Put(u64(it.ID), []byte{0x7f, 1, 2})
		}, "item"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, a, b := filledStore(t)
			if err := s.db.Update(func(tx *bolt.Tx) error { return c.wreck(tx, a, b) }); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Check(context.Background())
			if !errors.Is(err, ErrInconsistent) {
				t.Fatalf("Check = %v, want ErrInconsistent; report %+v", err, rep)
			}
			if !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
				t.Errorf("problems do not mention %q:\n%s", c.want, strings.Join(rep.Problems, "\n"))
			}
		})
	}
}

func firstItem(tx *bolt.Tx, feedID uint64) babelfeed.Item {
	b := bucketsOf(tx)
	_, v := b.keys.Cursor().Seek(feedPrefix(feedID))
	it, err := b.item(binary.BigEndian.Uint64(v))
	if err != nil {
		panic(err)
	}
	return it
}

// TestCheckReportIsBounded: a store broken everywhere lists maxProblems
// problems and counts the rest.
func TestCheckReportIsBounded(t *testing.T) {
	s, _, b := filledStore(t)
	var more []babelfeed.Item
	for i := range maxProblems {
		more = append(more, item(fmt.Sprint("more", i), "es", base.Add(time.Duration(i)*time.Minute), fmt.Sprint("otro ", i)))
	}
	save(t, s, b.ID, more...)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return deletePrefix(tx.Bucket(bucketIdxFeed), nil)
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(context.Background())
	if !errors.Is(err, ErrInconsistent) || len(rep.Problems) != maxProblems || rep.MoreProblems == 0 {
		t.Fatalf("err %v, %d problems + %d more", err, len(rep.Problems), rep.MoreProblems)
	}
}

func TestOpenRefusesWhatIsNoStore(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("someone-else"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, c := range []struct {
		path string
		ro   bool
		want string
	}{
		{dir, false, "directory"},
		{dir, true, "directory"},
		{garbage, false, "not a bbolt database"},
		{garbage, true, "not a bbolt database"},
		{empty, true, "empty"},
		{foreign, false, "someone-else"},
		{foreign, true, "someone-else"},
	} {
		before, _ := os.ReadFile(c.path)
		_, err := Open(c.path, Options{ReadOnly: c.ro})
		if !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s, ReadOnly=%v) = %v, want ErrNotStore mentioning %q", filepath.Base(c.path), c.ro, err, c.want)
		}
		if after, _ := os.ReadFile(c.path); string(before) != string(after) {
			t.Errorf("Open(%s, ReadOnly=%v) changed the file", filepath.Base(c.path), c.ro)
		}
	}
}

// TestOpenRefusesACutShortFile: a store copied only in part must give a
// clear error, not kill the process when a missing page is read.
func TestOpenRefusesACutShortFile(t *testing.T) {
	s, _, _ := filledStore(t)
	path := s.Path()
	s.Close()
	// Compacted, the data fills the file: cutting it removes pages in use.
	compacted := filepath.Join(t.TempDir(), "compacted.db")
	s2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.CompactTo(compacted); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	cst, _ := os.Stat(compacted)
	if err := os.Truncate(compacted, cst.Size()/2); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		_, err := Open(compacted, Options{ReadOnly: ro})
		if !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), "cut short") {
			t.Errorf("Open(ReadOnly=%v) of a cut-short store: %v", ro, err)
		}
	}
	// With the first meta page damaged too, the second one tells.
	f, err := os.OpenFile(compacted, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 64), 16); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, ro := range []bool{true, false} {
		if _, err := Open(compacted, Options{ReadOnly: ro}); !errors.Is(err, ErrNotStore) {
			t.Errorf("Open(ReadOnly=%v) of a cut-short store with a damaged first meta page: %v", ro, err)
		}
	}
}

// TestCheckSurvivesADamagedPage: a page whose header was overwritten makes
// bbolt panic when read; Check reports it instead of crashing.
func TestCheckSurvivesADamagedPage(t *testing.T) {
	s, _, _ := filledStore(t)
	var root uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucketItems).Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatal("the items bucket is inline: no page of its own to damage")
	}
	path := s.Path()
	s.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The page header's flags (after the 8-byte page ID): a leaf page
	// marked as a branch, so its entries are read as page numbers.
	if _, err := f.WriteAt([]byte{0x01, 0x00}, int64(root)*pageSize+8); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rep, err := ro.Check(context.Background())
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Check of a damaged page: %v", err)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "damaged pages") {
		t.Errorf("problems:\n%s", strings.Join(rep.Problems, "\n"))
	}
}
