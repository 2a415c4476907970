package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// ErrInconsistent means Check found problems in the store.
var ErrInconsistent = errors.New("store is inconsistent")

// maxProblems bounds how many problems a CheckReport lists: a badly damaged
// store would otherwise produce one line per item.
const maxProblems = 50

// CheckReport is what Check found.
type CheckReport struct {
	Feeds      int // feed records
	Items      int // item records
	Tombstones int // keys of items removed by retention
	Pages      int // pages of the file bbolt walked
	// Problems describes what is wrong, at most maxProblems of them;
	// MoreProblems counts the ones left out.
	Problems     []string
	MoreProblems int
}

// OK reports whether no problem was found.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

func (r *CheckReport) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		return
	}
	r.MoreProblems++
}

// Check verifies the store, without changing it, on two levels:
//
//   - bbolt's own consistency check of the file: every page reachable once,
//     no page both used and free, keys in order;
//   - babelfeed's invariants: every item decodes and belongs to a stored
//     feed; every item has its key entry (so no two items share a feed and
//     key) and its three index entries with the right feed, language and
//     time; no index or key entry points to a missing or different item;
//     each feed's item and language counts match its items; the ID
//     sequences are ahead of every ID used; every feed URL entry finds a
//     stored feed; tombstones belong to stored feeds and no live item has
//     a tombstoned key.
//
// It returns the report and, when problems were found, an error wrapping
// ErrInconsistent; other errors mean the check could not run. The logical
// part reads one consistent snapshot (a read transaction), so a poller may
// keep writing meanwhile; bbolt's page walk runs inside a write
// transaction when the store is writable, because on a read transaction it
// could race with commits (bbolt's documented rule), so writers wait for
// it.
func (s *DB) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	if err := s.checkPages(&rep); err != nil {
		return rep, fmt.Errorf("check store %s: %w", s.path, err)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("check store %s: %w", s.path, err)
	}
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		// A damaged page can make bbolt panic, or fault on a page that is
		// not there; that is a finding of the check, not a crash of it.
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if r := recover(); r != nil {
				rep.problem("reading the store failed (damaged pages): %v", r)
			}
		}()
		return checkLogical(ctx, tx, &rep)
	})
	if err != nil {
		return rep, fmt.Errorf("check store %s: %w", s.path, err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("check store %s: %w: %d problems", s.path, ErrInconsistent, len(rep.Problems)+rep.MoreProblems)
	}
	return rep, nil
}

// checkPages runs bbolt's Tx.Check and records what it reports.
func (s *DB) checkPages(rep *CheckReport) error {
	tx, err := s.db.Begin(!s.db.IsReadOnly())
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback()
	rep.Pages = int(tx.Size() / int64(s.db.Info().PageSize))
	for err := range tx.Check() {
		rep.problem("bbolt: %v", err)
	}
	return nil
}

// feedTally is what the items say a feed's counts should be.
type feedTally struct {
	items int
	langs map[string]int
}

func checkLogical(ctx context.Context, tx *bolt.Tx, rep *CheckReport) error {
	missing := false
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			rep.problem("bucket %s is missing", name)
			missing = true
		}
	}
	if missing {
		return nil // nothing below can run without the buckets
	}
	b := bucketsOf(tx)
	if v := b.meta.Get(keySchema); len(v) != 8 {
		rep.problem("meta: schema version is %d bytes, want 8", len(v))
	}

	// Feeds.
	feeds := map[uint64]babelfeed.Feed{}
	var maxFeedID uint64
	err := b.feeds.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			rep.problem("feeds: key %x is not a feed ID", k)
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		f, err := decodeFeed(v)
		if err != nil {
			rep.problem("feed %d: %v", id, err)
			return nil
		}
		if f.ID != id {
			rep.problem("feed %d: record says ID %d", id, f.ID)
		}
		feeds[id] = f
		maxFeedID = max(maxFeedID, id)
		return nil
	})
	if err != nil {
		return err
	}
	rep.Feeds = len(feeds)
	if seq := b.feeds.Sequence(); seq < maxFeedID {
		rep.problem("feeds: ID sequence %d is behind feed %d: IDs would be reused", seq, maxFeedID)
	}
	err = b.urls.ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			rep.problem("feed_urls %s: value is %d bytes, want 8", k, len(v))
			return nil
		}
		if id := binary.BigEndian.Uint64(v); feeds[id].ID != id {
			rep.problem("feed_urls %s: points to missing feed %d", k, id)
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Items, each against its key entry and index entries. Every correct
	// entry has a distinct key, so once each item has found its own, an
	// index with more entries than there are items holds stray ones.
	tally := map[uint64]*feedTally{}
	var maxItemID uint64
	c := b.items.Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(k) != 8 {
			rep.problem("items: key %x is not an item ID", k)
			continue
		}
		id := binary.BigEndian.Uint64(k)
		maxItemID = max(maxItemID, id)
		it, err := decodeItem(id, v)
		if err != nil {
			rep.problem("item %d: %v", id, err)
			continue
		}
		rep.Items++
		if _, ok := feeds[it.FeedID]; !ok {
			rep.problem("item %d: its feed %d does not exist", id, it.FeedID)
		}
		t := tally[it.FeedID]
		if t == nil {
			t = &feedTally{langs: map[string]int{}}
			tally[it.FeedID] = t
		}
		t.items++
		t.langs[it.Lang]++
		checkItemEntries(b, &it, rep)
	}
	if seq := b.items.Sequence(); seq < maxItemID {
		rep.problem("items: ID sequence %d is behind item %d: IDs would be reused", seq, maxItemID)
	}
	for _, ix := range []struct {
		name   string
		bucket *bolt.Bucket
	}{{"item_keys", b.keys}, {"idx_time", b.idxTime}, {"idx_lang", b.idxLang}, {"idx_feed", b.idxFeed}} {
		if got := countKeys(ix.bucket); got != rep.Items {
			rep.problem("%s has %d entries for %d items", ix.name, got, rep.Items)
			if err := findStrays(ctx, b, ix.name, ix.bucket, rep); err != nil {
				return err
			}
		}
	}

	// Counts kept on the feeds.
	for id, f := range feeds {
		t := tally[id]
		if t == nil {
			t = &feedTally{langs: map[string]int{}}
		}
		if f.Items != t.items {
			rep.problem("feed %d: counts %d items, has %d", id, f.Items, t.items)
		}
		if !maps.Equal(f.Languages, t.langs) {
			rep.problem("feed %d: counts languages %v, items have %v", id, f.Languages, t.langs)
		}
	}

	// Tombstones.
	tombs := tx.Bucket(bucketTombstones)
	if tombs == nil {
		return nil
	}
	return tombs.ForEach(func(k, v []byte) error {
		rep.Tombstones++
		if len(k) < 8 || len(v) < 8 {
			rep.problem("tombstone %x: too short", k)
			return nil
		}
		if feedID := binary.BigEndian.Uint64(k); feeds[feedID].ID != feedID {
			rep.problem("tombstone %q: its feed %d does not exist", k[8:], feedID)
		}
		if b.keys.Get(k) != nil {
			rep.problem("tombstone %q of feed %d: a live item has that key", k[8:], binary.BigEndian.Uint64(k))
		}
		return nil
	})
}

// checkItemEntries verifies that it has its key entry and its three index
// entries, with the right values.
func checkItemEntries(b buckets, it *babelfeed.Item, rep *CheckReport) {
	kv := b.keys.Get(itemKeysKey(it.FeedID, it.Key))
	switch {
	case kv == nil:
		rep.problem("item %d: no key entry for feed %d key %q", it.ID, it.FeedID, it.Key)
	case len(kv) < 8:
		rep.problem("item %d: key entry too short", it.ID)
	case binary.BigEndian.Uint64(kv) != it.ID:
		other := binary.BigEndian.Uint64(kv)
		if ov := b.items.Get(u64(other)); ov != nil {
			if o, err := decodeItem(other, ov); err == nil && o.FeedID == it.FeedID && o.Key == it.Key {
				rep.problem("duplicate: items %d and %d are both feed %d key %q", other, it.ID, it.FeedID, it.Key)
				break
			}
		}
		rep.problem("item %d: its key entry points to item %d", it.ID, other)
	case string(kv[8:]) != it.ContentHash:
		rep.problem("item %d: key entry has content hash %q, item has %q", it.ID, kv[8:], it.ContentHash)
	}
	n := UnixNanos(SortTime(it))
	if v := b.idxTime.Get(idxTimeKey(n, it.ID)); len(v) < 8 || binary.BigEndian.Uint64(v) != it.FeedID || string(v[8:]) != it.Lang {
		rep.problem("item %d: time index entry is %x, want feed %d lang %s", it.ID, v, it.FeedID, it.Lang)
	}
	if v := b.idxLang.Get(idxLangKey(it.Lang, n, it.ID)); len(v) != 8 || binary.BigEndian.Uint64(v) != it.FeedID {
		rep.problem("item %d: language index entry is %x, want feed %d", it.ID, v, it.FeedID)
	}
	if v := b.idxFeed.Get(idxFeedKey(it.FeedID, n, it.ID)); v == nil || string(v) != it.Lang {
		rep.problem("item %d: feed index entry is %q, want lang %s", it.ID, v, it.Lang)
	}
}

func countKeys(bk *bolt.Bucket) int {
	n := 0
	c := bk.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// findStrays names the entries of an index that belong to no item, or to
// an item whose own entry is elsewhere. It runs only when the counts say
// there are some, since it decodes an item per entry.
func findStrays(ctx context.Context, b buckets, name string, bk *bolt.Bucket, rep *CheckReport) error {
	c := bk.Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var id uint64
		switch {
		case name == "item_keys" && len(v) >= 8:
			id = binary.BigEndian.Uint64(v)
		case name != "item_keys" && len(k) >= suffixLen:
			_, id = parseSuffix(k[len(k)-suffixLen:])
		default:
			rep.problem("%s entry %x: malformed", name, k)
			continue
		}
		raw := b.items.Get(u64(id))
		if raw == nil {
			rep.problem("%s entry %x: item %d does not exist", name, k, id)
			continue
		}
		it, err := decodeItem(id, raw)
		if err != nil {
			continue // reported with the item
		}
		var own []byte
		tn := UnixNanos(SortTime(&it))
		switch name {
		case "item_keys":
			own = itemKeysKey(it.FeedID, it.Key)
		case "idx_time":
			own = idxTimeKey(tn, id)
		case "idx_lang":
			own = idxLangKey(it.Lang, tn, id)
		case "idx_feed":
			own = idxFeedKey(it.FeedID, tn, id)
		}
		if !bytes.Equal(k, own) {
			rep.problem("%s entry %x: stray entry for item %d", name, k, id)
		}
	}
	return nil
}
