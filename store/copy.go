package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// The whole-store copy of the migrate command (Copier). Records carry what
// the store holds, not how it indexes it: Import builds every index again
// (URLs, keys, time, language, feed, duplicates, keyword postings) and the
// feeds' counts from the items it writes.
//
// A tombstone's Key is spelled as in item_keys: the key itself, or, for a
// key too long to keep (see itemKeysKey), 0xff and its SHA-256, which is
// all a tombstone knows of such a key. Import takes a Key of 33 bytes
// starting with 0xff as such a hash (TombstoneKeyID). The PostgreSQL store
// spells its tombstone keys the same way.

var _ Copier = (*DB)(nil)

// Export calls fn with every record of the store: feeds (ordered by ID,
// with their counts), items in ID order, rules in ID order (with the rules
// version), saved queries by name, drop records and tombstones, all from
// one read transaction, so the records are one consistent state. fn runs
// inside that transaction: a writer of the same store (a running poller)
// is not held up, but the file cannot give back pages meanwhile. An error
// from fn stops the export and is returned as is.
func (s *DB) Export(ctx context.Context, fn func(Record) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		feeds, err := b.allFeeds()
		if err != nil {
			return fmt.Errorf("read feeds: %w", err)
		}
		for i := range feeds {
			if err := fn(Record{Feed: &feeds[i]}); err != nil {
				return err
			}
		}
		c := b.items.Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return fmt.Errorf("item %x: %w", k, err)
			}
			if err := fn(Record{Item: &it}); err != nil {
				return err
			}
		}
		rules, err := readRules(tx)
		if err != nil {
			return fmt.Errorf("read rules: %w", err)
		}
		version := rulesVersion(tx)
		for i := range rules {
			if err := fn(Record{Rule: &rules[i], RulesVersion: version}); err != nil {
				return err
			}
		}
		if err := exportSaved(tx, fn); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := exportDrops(tx, fn); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return exportTombstones(tx, fn)
	})
	if err != nil {
		return fmt.Errorf("export store %s: %w", s.path, err)
	}
	return nil
}

func exportSaved(tx *bolt.Tx, fn func(Record) error) error {
	bk := tx.Bucket(bucketSaved)
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		var q SavedQuery
		if err := json.Unmarshal(v, &q); err != nil {
			return fmt.Errorf("saved query %s: %w", k, err)
		}
		return fn(Record{Saved: &q})
	})
}

func exportDrops(tx *bolt.Tx, fn func(Record) error) error {
	bk := tx.Bucket(bucketDropped)
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		if len(k) < 8 {
			return fmt.Errorf("drop record %x: key too short", k)
		}
		d, key, err := decodeDrop(k[8:], v)
		if err != nil {
			return fmt.Errorf("drop record %x: %w", k, err)
		}
		return fn(Record{Dropped: &DroppedRecord{FeedID: binary.BigEndian.Uint64(k), Key: key, DroppedItem: d}})
	})
}

func exportTombstones(tx *bolt.Tx, fn func(Record) error) error {
	bk := tx.Bucket(bucketTombstones)
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		if len(k) < 8 || len(v) < 8 {
			return fmt.Errorf("tombstone %x: too short", k)
		}
		ts := Tombstone{FeedID: binary.BigEndian.Uint64(k), Key: string(k[8:]), ContentHash: string(v[8:])}
		if n := tombstoneMissing(v); n != 0 {
			ts.Missing = time.Unix(0, n).UTC()
		}
		return fn(Record{Tombstone: &ts})
	})
}

// errNotEmpty means Import met a record the destination already holds.
var errNotEmpty = errors.New("the destination store already holds it: import into an empty store")

// Import writes a batch of records, in Export's order, into this store
// in one transaction, keeping their IDs. Feeds are written with zero
// counts, which their items then add to; each item is indexed like a new
// one (key, time, language and feed indexes) but keeps its DuplicateOf,
// entered in the duplicate index. The keyword index is left to
// FinishImport when the store has an Indexer (it is stale meanwhile). A rule sets the rules version to its
// RulesVersion. Records that name a feed the store does not have are left
// out (drop records and tombstones of a removed feed, which the next poll
// or Prune would delete); a feed, item, rule or saved query already
// stored, or an item of a missing feed, is an error wrapping errNotEmpty
// or ErrNotFound, and nothing of the batch is written.
func (s *DB) Import(ctx context.Context, batch []Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("import into %s: %w", s.path, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if s.indexer != nil {
			// The keyword index is built at the end, by FinishImport:
			// language by language it takes a third of the time of
			// indexing item by item, and fills its pages.
			if readIndexState(tx.Bucket(bucketMeta)).Version != "" {
				if err := tx.Bucket(bucketMeta).Delete(keyIndex); err != nil {
					return fmt.Errorf("mark the keyword index for rebuilding: %w", err)
				}
			}
		}
		im := importer{tx: tx, b: bucketsOf(tx), ix: s.indexTx(tx), feeds: map[uint64]*babelfeed.Feed{}}
		im.b.items.FillPercent = itemsFillPercent
		for _, rec := range batch {
			var err error
			switch {
			case rec.Feed != nil:
				err = im.feed(*rec.Feed)
			case rec.Item != nil:
				err = im.item(*rec.Item)
			case rec.Rule != nil:
				err = im.rule(*rec.Rule, rec.RulesVersion)
			case rec.Saved != nil:
				err = im.saved(*rec.Saved)
			case rec.Dropped != nil:
				err = im.dropped(rec.Dropped)
			case rec.Tombstone != nil:
				err = im.tombstone(rec.Tombstone)
			default:
				err = errors.New("empty record")
			}
			if err != nil {
				return err
			}
		}
		if err := im.ix.flush(); err != nil {
			return err
		}
		for _, f := range im.feeds {
			if err := im.b.putFeed(f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", s.path, err)
	}
	return nil
}

// importer writes the records of one Import transaction.
type importer struct {
	tx    *bolt.Tx
	b     buckets
	ix    *indexTx
	dups  *dupIndex
	feeds map[uint64]*babelfeed.Feed // feeds whose counts this batch changed
	buf   []byte
}

func (im *importer) feed(f babelfeed.Feed) error {
	if f.ID == 0 {
		return fmt.Errorf("feed %q has no ID", f.URL)
	}
	if im.b.feeds.Get(u64(f.ID)) != nil {
		return fmt.Errorf("feed %d: %w", f.ID, errNotEmpty)
	}
	norm, err := NormalizeURL(f.URL)
	if err != nil {
		return fmt.Errorf("feed %d: %w", f.ID, err)
	}
	// Its items bring the counts.
	f.Items, f.Languages = 0, map[string]int{}
	// As AddFeeds: the current URL and the earlier ones find the feed,
	// unless an earlier feed has them.
	for i, u := range append([]string{f.URL}, f.PrevURLs...) {
		n := norm
		if i > 0 {
			if n, err = NormalizeURL(u); err != nil {
				continue
			}
		}
		if im.b.urls.Get([]byte(n)) == nil {
			if err := im.b.urls.Put([]byte(n), u64(f.ID)); err != nil {
				return fmt.Errorf("index feed URL %s: %w", u, err)
			}
		}
	}
	if err := im.b.putFeed(&f); err != nil {
		return err
	}
	im.feeds[f.ID] = &f
	return nil
}

// feedOf returns the feed whose counts an item adds to.
func (im *importer) feedOf(id uint64) (*babelfeed.Feed, error) {
	if f := im.feeds[id]; f != nil {
		return f, nil
	}
	f, err := im.b.feed(id)
	if err != nil {
		return nil, err
	}
	im.feeds[id] = &f
	return &f, nil
}

func (im *importer) item(it babelfeed.Item) error {
	if it.ID == 0 {
		return fmt.Errorf("item %q has no ID", it.Key)
	}
	f, err := im.feedOf(it.FeedID)
	if err != nil {
		return fmt.Errorf("item %d: %w", it.ID, err)
	}
	if err := checkItem(&it, f.ID, time.Now().UTC()); err != nil {
		return fmt.Errorf("item %d: %w", it.ID, err)
	}
	if im.b.items.Get(u64(it.ID)) != nil {
		return fmt.Errorf("item %d: %w", it.ID, errNotEmpty)
	}
	if im.b.keys.Get(itemKeysKey(it.FeedID, it.Key)) != nil {
		return fmt.Errorf("item %d: feed %d key %q: %w", it.ID, it.FeedID, it.Key, errNotEmpty)
	}
	if im.dups == nil {
		if im.dups, err = openDups(im.tx); err != nil {
			return err
		}
	}
	root, rootFeed := it.ID, it.FeedID
	if it.DuplicateOf != 0 {
		// The original has a lower ID, so it was imported before.
		orig, err := im.b.item(it.DuplicateOf)
		if err == nil {
			root, rootFeed = orig.ID, orig.FeedID
			if err := im.dups.of.Put(dupOfKey(root, it.ID), nil); err != nil {
				return fmt.Errorf("record item %d as duplicate of %d: %w", it.ID, root, err)
			}
		} else {
			// A source that lost the original: keep the item as it was,
			// and index no key for a story without its original.
			root = 0
		}
	}
	if root != 0 {
		if err := im.dups.addKeys(keysOf(&it), root, rootFeed); err != nil {
			return err
		}
	}
	if im.buf, err = im.b.writeItem(nil, &it, im.buf); err != nil {
		return err
	}
	if err := im.ix.put(im.tx, nil, &it); err != nil {
		return err
	}
	f.Items++
	CountLang(f.Languages, "", it.Lang)
	return nil
}

func (im *importer) rule(r babelfeed.Rule, version uint64) error {
	if r.ID == 0 {
		return fmt.Errorf("rule %q has no ID", r.Query)
	}
	if r.FeedID != 0 {
		if _, err := im.b.feed(r.FeedID); err != nil {
			return fmt.Errorf("rule %d: %w", r.ID, err)
		}
	}
	bk, err := im.tx.CreateBucketIfNotExists(bucketRules)
	if err != nil {
		return err
	}
	if bk.Get(u64(r.ID)) != nil {
		return fmt.Errorf("rule %d: %w", r.ID, errNotEmpty)
	}
	counts := [3]int{r.Dropped, r.Kept, r.Timeouts}
	r.Dropped, r.Kept, r.Timeouts = 0, 0, 0
	v, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	if err := bk.Put(u64(r.ID), v); err != nil {
		return fmt.Errorf("write rule %d: %w", r.ID, err)
	}
	if counts != [3]int{} {
		stats, err := im.tx.CreateBucketIfNotExists(bucketRuleStats)
		if err != nil {
			return err
		}
		sv := make([]byte, 0, 24)
		for _, n := range counts {
			sv = appendU64(sv, uint64(max(n, 0)))
		}
		if err := stats.Put(u64(r.ID), sv); err != nil {
			return fmt.Errorf("write counts of rule %d: %w", r.ID, err)
		}
	}
	return im.b.meta.Put(keyRulesVersion, u64(version))
}

func (im *importer) saved(q SavedQuery) error {
	if err := ValidSavedName(q.Name); err != nil {
		return err
	}
	bk, err := im.tx.CreateBucketIfNotExists(bucketSaved)
	if err != nil {
		return err
	}
	if bk.Get([]byte(q.Name)) != nil {
		return fmt.Errorf("saved query %s: %w", q.Name, errNotEmpty)
	}
	v, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return bk.Put([]byte(q.Name), v)
}

func (im *importer) dropped(d *DroppedRecord) error {
	if im.b.feeds.Get(u64(d.FeedID)) == nil {
		return nil // see Import
	}
	bk, err := im.tx.CreateBucketIfNotExists(bucketDropped)
	if err != nil {
		return err
	}
	if err := bk.Put(itemKeysKey(d.FeedID, d.Key), encodeDrop(d.Key, d.DroppedItem)); err != nil {
		return fmt.Errorf("write drop record of feed %d key %q: %w", d.FeedID, d.Key, err)
	}
	// Drop records without any rule were made by rules removed since, so
	// the source's rules version is past theirs: one equal to a later
	// version of this store would look current.
	if d.Version >= rulesVersion(im.tx) && !hasRules(im.tx) {
		return im.b.meta.Put(keyRulesVersion, u64(d.Version+1))
	}
	return nil
}

func hasRules(tx *bolt.Tx) bool {
	bk := tx.Bucket(bucketRules)
	if bk == nil {
		return false
	}
	k, _ := bk.Cursor().First()
	return k != nil
}

func (im *importer) tombstone(ts *Tombstone) error {
	if im.b.feeds.Get(u64(ts.FeedID)) == nil {
		return nil // see Import
	}
	tombs, err := im.tx.CreateBucketIfNotExists(bucketTombstones)
	if err != nil {
		return err
	}
	key := append(feedPrefix(ts.FeedID), TombstoneKeyID(ts.Key)...)
	var missing int64
	if !ts.Missing.IsZero() {
		missing = UnixNanos(ts.Missing)
	}
	if err := tombs.Put(key, tombstoneValue(missing, ts.ContentHash)); err != nil {
		return fmt.Errorf("write tombstone of feed %d key %q: %w", ts.FeedID, ts.Key, err)
	}
	return nil
}

// FinishImport ends an import: the ID sequences of feeds, items and rules
// continue after the highest ID imported, so IDs are never reused, and,
// when the store has an Indexer, the keyword index of every item is built
// (see Reindex).
func (s *DB) FinishImport(ctx context.Context) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketFeeds, bucketItems, bucketRules} {
			bk := tx.Bucket(name)
			if bk == nil {
				continue
			}
			k, _ := bk.Cursor().Last()
			if len(k) != 8 {
				continue
			}
			if last := binary.BigEndian.Uint64(k); bk.Sequence() < last {
				if err := bk.SetSequence(last); err != nil {
					return fmt.Errorf("advance the ID sequence of %s: %w", name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish import into %s: %w", s.path, err)
	}
	if s.indexer == nil {
		return nil
	}
	st, err := s.IndexState()
	if err == nil && !st.Usable(s.indexer.Version) {
		err = s.Reindex(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("finish import into %s: %w", s.path, err)
	}
	return nil
}
