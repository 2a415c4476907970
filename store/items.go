package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// itemsFillPercent packs the items bucket's pages full: item IDs only ever
// grow, so new records are appended at the right edge, where bbolt's default
// half-full split would waste half of every page.
const itemsFillPercent = 0.95

// updateBatch is how many items UpdateItems rewrites per transaction: big
// enough to amortise the commit's fsyncs, small enough not to hold the
// writer lock for long.
const updateBatch = 1000

// SaveResult counts what SaveFetch did with the items it was given.
// Tombstoned counts items left out because retention removed them before
// (see Prune).
type SaveResult struct{ Added, Updated, Unchanged, Tombstoned int }

// Known returns item key -> ContentHash for every item stored for a feed,
// and for the items retention removed (tombstones), so the poller can skip
// language tagging of unchanged items and of items the store will not take.
func (s *DB) Known(feedID uint64) (map[string]string, error) {
	known := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		prefix := feedPrefix(feedID)
		c := b.keys.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) < 8 {
				return fmt.Errorf("item key record %q too short", k)
			}
			key := string(k[len(prefix):])
			if len(key) > 0 && key[0] == 0xff {
				// A hashed key: the item has the real one.
				id := binary.BigEndian.Uint64(v)
				it, err := b.item(id)
				if err != nil {
					return err
				}
				key = it.Key
			}
			known[key] = string(v[8:])
		}
		tombstonedKeys(tx, feedID, known)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("known items of feed %d: %w", feedID, err)
	}
	return known, nil
}

func (b buckets) item(id uint64) (babelfeed.Item, error) {
	v := b.items.Get(u64(id))
	if v == nil {
		return babelfeed.Item{}, fmt.Errorf("item %d: %w", id, ErrNotFound)
	}
	return decodeItem(id, v)
}

// writeItem stores it, replacing old (nil for a new item): the record, its
// key entry and its three index entries. buf is scratch space, returned for
// reuse.
func (b buckets) writeItem(old, it *babelfeed.Item, buf []byte) ([]byte, error) {
	n := UnixNanos(SortTime(it))
	if old != nil {
		on := UnixNanos(SortTime(old))
		if on != n || old.Lang != it.Lang || old.FeedID != it.FeedID {
			if err := b.deleteIndexes(old); err != nil {
				return buf, err
			}
			old = nil // so the new entries get written below
		}
	}
	if old == nil {
		val := appendU64(make([]byte, 0, 8+len(it.Lang)), it.FeedID)
		val = append(val, it.Lang...)
		if err := b.idxTime.Put(idxTimeKey(n, it.ID), val); err != nil {
			return buf, fmt.Errorf("index item %d by time: %w", it.ID, err)
		}
		if err := b.idxLang.Put(idxLangKey(it.Lang, n, it.ID), val[:8]); err != nil {
			return buf, fmt.Errorf("index item %d by language: %w", it.ID, err)
		}
		if err := b.idxFeed.Put(idxFeedKey(it.FeedID, n, it.ID), val[8:]); err != nil {
			return buf, fmt.Errorf("index item %d by feed: %w", it.ID, err)
		}
	}
	kv := appendU64(make([]byte, 0, 8+len(it.ContentHash)), it.ID)
	kv = append(kv, it.ContentHash...)
	if err := b.keys.Put(itemKeysKey(it.FeedID, it.Key), kv); err != nil {
		return buf, fmt.Errorf("index item %d by key: %w", it.ID, err)
	}
	// bbolt keeps a reference to the value until commit, so each Put needs
	// its own slice; buf only saves the growth of a fresh one.
	buf = encodeItem(buf[:0], it)
	if err := b.items.Put(u64(it.ID), bytes.Clone(buf)); err != nil {
		return buf, fmt.Errorf("write item %d: %w", it.ID, err)
	}
	return buf, nil
}

func (b buckets) deleteIndexes(it *babelfeed.Item) error {
	n := UnixNanos(SortTime(it))
	if err := b.idxTime.Delete(idxTimeKey(n, it.ID)); err != nil {
		return fmt.Errorf("unindex item %d by time: %w", it.ID, err)
	}
	if err := b.idxLang.Delete(idxLangKey(it.Lang, n, it.ID)); err != nil {
		return fmt.Errorf("unindex item %d by language: %w", it.ID, err)
	}
	if err := b.idxFeed.Delete(idxFeedKey(it.FeedID, n, it.ID)); err != nil {
		return fmt.Errorf("unindex item %d by feed: %w", it.ID, err)
	}
	return nil
}

// CountLang moves one item's worth of count from language from to
// language to ("" for none) in a feed's Languages, dropping a language
// whose count reaches zero. Both engines keep Feed.Languages with it, so
// they report the same counts.
func CountLang(langs map[string]int, from, to string) {
	if from == to {
		return
	}
	if from != "" {
		if langs[from]--; langs[from] <= 0 {
			delete(langs, from)
		}
	}
	if to != "" {
		langs[to]++
	}
}

// PrepareItem fills the defaults both stores give an item of feed feedID
// they are about to save: its FeedID, Lang Undetermined when empty,
// FirstSeen now when zero. An item of another feed or without a Key is an
// error. Both engines prepare items with it, so they store the same
// values; each then checks that it can hold the Lang (see checkItem).
func PrepareItem(it *babelfeed.Item, feedID uint64, now time.Time) error {
	if it.FeedID != 0 && it.FeedID != feedID {
		return fmt.Errorf("item %q belongs to feed %d, not %d", it.Key, it.FeedID, feedID)
	}
	it.FeedID = feedID
	if it.Key == "" {
		return fmt.Errorf("item %q has no key", it.Title)
	}
	if it.Lang == "" {
		it.Lang = babelfeed.Undetermined
	}
	if it.FirstSeen.IsZero() {
		it.FirstSeen = now
	}
	return nil
}

// checkItem prepares an item (PrepareItem) and rejects one whose language
// code the store cannot index.
func checkItem(it *babelfeed.Item, feedID uint64, now time.Time) error {
	if err := PrepareItem(it, feedID, now); err != nil {
		return err
	}
	if err := validLang(it.Lang); err != nil {
		return fmt.Errorf("item %q: %w", it.Key, err)
	}
	return nil
}

// SaveFetch writes one fetched feed in one transaction: f's new state
// (validators, status, next poll... as in UpdateFeed) together with its
// items, so validators are never saved without the items they describe.
//
// Items are identified by (f.ID, Key); their FeedID may be zero or f.ID. A
// new key makes a new item (ID assigned, FirstSeen kept as given, or now if
// zero). An existing key with the same ContentHash is left alone. An existing
// key with a different ContentHash is updated in place: same ID, FirstSeen
// from the stored copy, index entries moved. An empty Lang is stored as
// babelfeed.Undetermined. The feed's Items and Languages counts follow. A
// new key that retention removed before (a tombstone, see Prune) is left
// out, and the feed's tombstones learn which keys the document carries.
func (s *DB) SaveFetch(f babelfeed.Feed, items []babelfeed.Item) (SaveResult, error) {
	var res SaveResult
	now := time.Now().UTC()
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = SaveResult{}
		b := bucketsOf(tx)
		b.items.FillPercent = itemsFillPercent
		stored, err := b.feed(f.ID)
		if err != nil {
			return err
		}
		count, langs := stored.Items, maps.Clone(stored.Languages)
		dups, err := openDups(tx)
		if err != nil {
			return err
		}
		ix := s.indexTx(tx)
		tombs := tx.Bucket(bucketTombstones)
		var buf []byte
		for i := range items {
			it := items[i]
			if err := checkItem(&it, f.ID, now); err != nil {
				return err
			}
			k := itemKeysKey(f.ID, it.Key)
			v := b.keys.Get(k)
			if v == nil {
				if isTombstoned(tombs, k) {
					// Retention removed it; the feed still carries it.
					res.Tombstoned++
					continue
				}
				if it.ID, err = b.items.NextSequence(); err != nil {
					return fmt.Errorf("assign item ID: %w", err)
				}
				if err := dups.markNew(&it); err != nil {
					return err
				}
				if buf, err = b.writeItem(nil, &it, buf); err != nil {
					return err
				}
				if err := ix.put(tx, nil, &it); err != nil {
					return err
				}
				count++
				CountLang(langs, "", it.Lang)
				res.Added++
				continue
			}
			if len(v) < 8 {
				return fmt.Errorf("item key record of %q too short", it.Key)
			}
			if string(v[8:]) == it.ContentHash {
				res.Unchanged++
				continue
			}
			old, err := b.item(binary.BigEndian.Uint64(v))
			if err != nil {
				return err
			}
			it.ID, it.FirstSeen = old.ID, old.FirstSeen
			if err := dups.markUpdated(b, &old, &it); err != nil {
				return err
			}
			if buf, err = b.writeItem(&old, &it, buf); err != nil {
				return err
			}
			if err := ix.put(tx, &old, &it); err != nil {
				return err
			}
			CountLang(langs, old.Lang, it.Lang)
			res.Updated++
		}
		if err := ix.flush(); err != nil {
			return err
		}
		if err := sweepTombstones(tx, f.ID, items, now); err != nil {
			return err
		}
		f.Items, f.Languages = count, langs
		return b.saveFeedState(&stored, &f)
	})
	if err != nil {
		return SaveResult{}, fmt.Errorf("save fetch of feed %d: %w", f.ID, err)
	}
	return res, nil
}

// Item returns one item; a missing one gives an error wrapping ErrNotFound.
func (s *DB) Item(id uint64) (babelfeed.Item, error) {
	var it babelfeed.Item
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		it, err = bucketsOf(tx).item(id)
		return err
	})
	if err != nil {
		return babelfeed.Item{}, fmt.Errorf("get item: %w", err)
	}
	return it, nil
}

// ItemCount returns how many items are stored, from the per-feed counts.
func (s *DB) ItemCount() (int, error) {
	st, err := s.Stats()
	return st.Items, err
}

// Stats summarises the store.
type Stats struct {
	Items     int
	Feeds     int
	ByLang    map[string]int // items per detected language
	ByFeed    map[uint64]int // items per feed ID (every feed, zeros too)
	FileBytes int64          // size of the database file
	// DataBytes is the part of the file bbolt has used; the file grows
	// ahead of it in steps of up to 16 MB, and freed pages are reused but
	// never given back (see CompactTo).
	DataBytes int64
}

// Stats counts items per language and per feed from the per-feed counts,
// without reading items.
func (s *DB) Stats() (Stats, error) {
	st := Stats{ByLang: map[string]int{}, ByFeed: map[uint64]int{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		feeds, err := s.feedsIn(tx)
		if err != nil {
			return err
		}
		st.Feeds = len(feeds)
		for _, f := range feeds {
			st.Items += f.Items
			st.ByFeed[f.ID] = f.Items
			for l, n := range f.Languages {
				st.ByLang[l] += n
			}
		}
		st.FileBytes, st.DataBytes = tx.Size(), tx.Size()
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store stats: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st, nil
}

// UpdateItems calls fn on every stored item, in ID order, and saves the items
// for which it returns true, maintaining indexes and per-feed language
// counts; it is how a retag rewrites languages. fn must not change an item's
// ID, FeedID or Key. Items are read and written in batches of about 1000 per
// transaction, and fn runs outside any transaction, so a running poller is
// not held up; an item that changed in the store while fn looked at it is
// left as the poller wrote it. progress, if not nil, is called after each
// batch with the number of items looked at so far.
func (s *DB) UpdateItems(ctx context.Context, fn func(*babelfeed.Item) (changed bool), progress func(done int)) error {
	var after uint64 // last ID looked at
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("update items: %w", err)
		}
		var batch []rewriteEntry
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketItems).Cursor()
			for k, v := c.Seek(u64(after + 1)); k != nil && len(batch) < updateBatch; k, v = c.Next() {
				id := binary.BigEndian.Uint64(k)
				it, err := decodeItem(id, v)
				if err != nil {
					return err
				}
				batch = append(batch, rewriteEntry{raw: bytes.Clone(v), old: it})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("update items: read after item %d: %w", after, err)
		}
		if len(batch) == 0 {
			return nil
		}
		after = batch[len(batch)-1].old.ID
		var changed []rewriteEntry
		for i := range batch {
			if i%100 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("update items: %w", err)
				}
			}
			e := &batch[i]
			upd, ok, err := UpdatedItem(&e.old, fn)
			if err != nil {
				return fmt.Errorf("update items: %w", err)
			}
			if !ok {
				continue
			}
			e.new = upd
			if err := validLang(e.new.Lang); err != nil {
				return fmt.Errorf("update items: item %d: %w", e.old.ID, err)
			}
			changed = append(changed, *e)
		}
		if len(changed) > 0 {
			if err := s.rewrite(changed); err != nil {
				return fmt.Errorf("update items: %w", err)
			}
		}
		done += len(batch)
		if progress != nil {
			progress(done)
		}
	}
}

// rewriteEntry is one item UpdateItems read (raw and decoded) and what fn
// made of it.
// UpdatedItem is what UpdateItems makes of old with fn: a copy of old
// (its Categories too, so fn cannot touch old) that fn changed, with an
// empty Lang set to Undetermined; changed is false when fn leaves the item
// as it is. fn must not change the item's ID, FeedID or Key: that is an
// error. Both engines' UpdateItems apply fn with it, so a retag rewrites
// the same items the same way in either.
func UpdatedItem(old *babelfeed.Item, fn func(*babelfeed.Item) bool) (it babelfeed.Item, changed bool, err error) {
	it = *old
	it.Categories = append([]string(nil), old.Categories...)
	if !fn(&it) {
		return babelfeed.Item{}, false, nil
	}
	if it.ID != old.ID || it.FeedID != old.FeedID || it.Key != old.Key {
		return babelfeed.Item{}, false, fmt.Errorf("item %d: fn changed its identity (ID, FeedID or Key)", old.ID)
	}
	if it.Lang == "" {
		it.Lang = babelfeed.Undetermined
	}
	return it, true, nil
}

type rewriteEntry struct {
	raw      []byte
	old, new babelfeed.Item
}

// rewrite saves a batch of changed items in one transaction, skipping those
// whose stored bytes no longer match what was read (the poller updated or
// removed them meanwhile: its version wins).
func (s *DB) rewrite(entries []rewriteEntry) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		b.items.FillPercent = itemsFillPercent
		feeds := map[uint64]*babelfeed.Feed{}
		ix := s.indexTx(tx)
		var buf []byte
		for i := range entries {
			e := &entries[i]
			if cur := b.items.Get(u64(e.old.ID)); !bytes.Equal(cur, e.raw) {
				continue
			}
			var err error
			if buf, err = b.writeItem(&e.old, &e.new, buf); err != nil {
				return err
			}
			if err := ix.put(tx, &e.old, &e.new); err != nil {
				return err
			}
			if e.old.Lang == e.new.Lang {
				continue
			}
			f := feeds[e.old.FeedID]
			if f == nil {
				stored, err := b.feed(e.old.FeedID)
				if errors.Is(err, ErrNotFound) {
					continue // an orphan item: no counts to keep
				}
				if err != nil {
					return err
				}
				f = &stored
				feeds[f.ID] = f
			}
			CountLang(f.Languages, e.old.Lang, e.new.Lang)
		}
		for _, f := range feeds {
			if err := b.putFeed(f); err != nil {
				return err
			}
		}
		return ix.flush()
	})
}

// RecentTimes returns the sort times (see SortTime) of a feed's newest n
// items, newest first, from the feed index alone: the scheduler's view of a
// feed's rhythm without decoding items.
func (s *DB) RecentTimes(feedID uint64, n int) ([]time.Time, error) {
	var times []time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := feedPrefix(feedID)
		c := tx.Bucket(bucketIdxFeed).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(times) < n; k, _ = c.Next() {
			ns, _ := parseSuffix(k[len(prefix):])
			t := time.Time{}
			if ns != math.MinInt64 { // the zero Time, clamped
				t = time.Unix(0, ns).UTC()
			}
			times = append(times, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recent item times of feed %d: %w", feedID, err)
	}
	return times, nil
}
