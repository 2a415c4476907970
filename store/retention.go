package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// Retention: items can be removed by age and/or by count per feed (Prune).
// A removed item leaves a tombstone, so that a feed which still carries it
// does not bring it back on the next poll:
//
//	tombstones  feedID | item key (as in item_keys) -> ^missing | content hash
//
// missing is when a fetched document of the feed first lacked the key (0
// while the feed still carries it, stored inverted so that 0 reads as "no
// time"). SaveFetch keeps it up to date; a tombstone missing from the
// feed's documents for TombstoneGrace is deleted, so tombstones do not pile
// up for items no feed carries any more. The bucket is created by the first
// Prune that removes something; a store without it has no tombstones.

var bucketTombstones = []byte("tombstones")

// TombstoneGrace is how long a tombstone outlives the last document that
// carried its item. Feeds drop and re-add items (a truncated document, an
// editor's mistake); two weeks covers that, and a tombstone costs a few
// dozen bytes. Both engines expire tombstones after it, so an item that
// comes back is treated the same in either.
const TombstoneGrace = 14 * 24 * time.Hour

// pruneBatch is how many items one Prune transaction removes: enough to
// amortise the commit, few enough that the poller's writes wait briefly.
const pruneBatch = 500

// Retention says which items to keep. The zero value keeps everything.
type Retention struct {
	// MaxAge removes items whose SortTime (published, or first seen when
	// undated) is older than this; 0 keeps items of any age.
	MaxAge time.Duration
	// MaxPerFeed keeps only the newest MaxPerFeed items (by SortTime) of
	// each feed; 0 keeps any number.
	MaxPerFeed int
}

// Enabled reports whether r removes anything at all.
func (r Retention) Enabled() bool { return r.MaxAge > 0 || r.MaxPerFeed > 0 }

// String describes r for people: "items of the last 30 days, at most 500
// per feed".
func (r Retention) String() string {
	if !r.Enabled() {
		return "keep every item"
	}
	var parts []string
	if r.MaxAge > 0 {
		if r.MaxAge%(24*time.Hour) == 0 {
			parts = append(parts, fmt.Sprintf("items of the last %d days", r.MaxAge/(24*time.Hour)))
		} else {
			parts = append(parts, fmt.Sprintf("items of the last %s", r.MaxAge))
		}
	}
	if r.MaxPerFeed > 0 {
		parts = append(parts, fmt.Sprintf("at most %d per feed", r.MaxPerFeed))
	}
	return "keep " + strings.Join(parts, ", ")
}

// PruneResult counts what Prune did.
type PruneResult struct {
	Feeds   int // feeds that lost items
	Removed int // items removed, each leaving a tombstone
	// TombstonesExpired counts tombstones deleted because no document of
	// their feed carried them for TombstoneGrace, or their feed is gone.
	TombstonesExpired int
}

// Prune removes the items r does not keep, with everything that refers to
// them (key entry, indexes, keyword postings, duplicate records, feed
// counts), and leaves a tombstone for each, in transactions of at most
// pruneBatch items so that a running poller is never held up for long. It
// also expires old tombstones. Items are judged by SortTime against now.
// Cancelling ctx stops between transactions; what was committed stays.
func (s *DB) Prune(ctx context.Context, r Retention, now time.Time) (PruneResult, error) {
	var res PruneResult
	if r.Enabled() {
		feeds, err := s.Feeds()
		if err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		for _, f := range feeds {
			n, err := s.pruneFeed(ctx, f.ID, r, now)
			if n > 0 {
				res.Feeds++
				res.Removed += n
			}
			if err != nil {
				return res, fmt.Errorf("prune feed %d: %w", f.ID, err)
			}
		}
	}
	n, err := s.expireTombstones(ctx, now)
	res.TombstonesExpired = n
	if err != nil {
		return res, fmt.Errorf("prune: expire tombstones: %w", err)
	}
	return res, nil
}

// pruneCandidate is an item Prune decided to remove, as found in idx_feed.
type pruneCandidate struct {
	feedKey []byte
	id      uint64
}

// pruneFeed removes one feed's items beyond r, a batch per transaction.
func (s *DB) pruneFeed(ctx context.Context, feedID uint64, r Retention, now time.Time) (int, error) {
	cutoff := int64(0)
	if r.MaxAge > 0 {
		cutoff = UnixNanos(now.Add(-r.MaxAge))
	}
	removed := 0
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		var cands []pruneCandidate
		err := s.db.View(func(tx *bolt.Tx) error {
			prefix := feedPrefix(feedID)
			c := tx.Bucket(bucketIdxFeed).Cursor()
			pos := 0
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				n, id := parseSuffix(k[len(prefix):])
				pos++
				// Newest first: once one item goes, every later one goes
				// too, by position and by age alike.
				keep := (r.MaxPerFeed <= 0 || pos <= r.MaxPerFeed) && (r.MaxAge <= 0 || n >= cutoff)
				if keep {
					continue
				}
				cands = append(cands, pruneCandidate{feedKey: bytes.Clone(k), id: id})
				if len(cands) == pruneBatch {
					break
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(cands) == 0 {
			return removed, nil
		}
		n, err := s.removeItems(feedID, cands)
		removed += n
		if err != nil {
			return removed, err
		}
		if n == 0 {
			// Every candidate changed since it was read (the poller
			// moved them): the next pass would find the same ones.
			return removed, nil
		}
	}
}

// removeItems removes the candidates that are still as Prune saw them and
// tombstones their keys, in one transaction.
func (s *DB) removeItems(feedID uint64, cands []pruneCandidate) (int, error) {
	removed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		removed = 0
		b := bucketsOf(tx)
		f, err := b.feed(feedID)
		if err != nil {
			return err
		}
		tombs, err := tx.CreateBucketIfNotExists(bucketTombstones)
		if err != nil {
			return fmt.Errorf("create tombstones bucket: %w", err)
		}
		var gone []babelfeed.Item
		for _, c := range cands {
			// An item updated meanwhile with a new time has a new feed
			// index key: leave it for the next pass to judge.
			if b.idxFeed.Get(c.feedKey) == nil {
				continue
			}
			it, err := b.item(c.id)
			if err != nil {
				return err
			}
			gone = append(gone, it)
		}
		if len(gone) == 0 {
			return nil
		}
		ids := make([]uint64, len(gone))
		for i := range gone {
			ids[i] = gone[i].ID
		}
		// The duplicate and keyword indexes read the items: before deleting.
		if err := b.forgetDuplicates(tx, ids); err != nil {
			return err
		}
		if err := s.unindexItems(tx, b, ids); err != nil {
			return err
		}
		for i := range gone {
			it := &gone[i]
			if err := b.deleteIndexes(it); err != nil {
				return err
			}
			key := itemKeysKey(it.FeedID, it.Key)
			if v := b.keys.Get(key); len(v) >= 8 && binary.BigEndian.Uint64(v) == it.ID {
				if err := b.keys.Delete(key); err != nil {
					return fmt.Errorf("delete key entry of item %d: %w", it.ID, err)
				}
			}
			if err := b.items.Delete(u64(it.ID)); err != nil {
				return fmt.Errorf("delete item %d: %w", it.ID, err)
			}
			if err := tombs.Put(key, tombstoneValue(0, it.ContentHash)); err != nil {
				return fmt.Errorf("tombstone item %d: %w", it.ID, err)
			}
			f.Items--
			CountLang(f.Languages, it.Lang, "")
		}
		removed = len(gone)
		return b.putFeed(&f)
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

func tombstoneValue(missing int64, hash string) []byte {
	v := appendU64(make([]byte, 0, 8+len(hash)), ^uint64(missing))
	return append(v, hash...)
}

// tombstoneMissing reads when the feed's documents stopped carrying the
// tombstoned item; 0 means they still do.
func tombstoneMissing(v []byte) int64 { return int64(^binary.BigEndian.Uint64(v)) }

// tombstonedKeys adds the feed's tombstoned keys and content hashes to
// known (see Known), so that the poller does not tag items the store will
// not take. Hashed keys are left out: only their hash is stored, and an
// item the poller tags in vain costs time, not correctness.
func tombstonedKeys(tx *bolt.Tx, feedID uint64, known map[string]string) {
	tombs := tx.Bucket(bucketTombstones)
	if tombs == nil {
		return
	}
	prefix := feedPrefix(feedID)
	c := tombs.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		key := k[len(prefix):]
		if len(v) < 8 || (len(key) > 0 && key[0] == 0xff) {
			continue
		}
		if _, live := known[string(key)]; !live {
			known[string(key)] = string(v[8:])
		}
	}
}

// isTombstoned reports whether a feed's item key has a tombstone; tombs may
// be nil (no tombstones yet).
func isTombstoned(tombs *bolt.Bucket, key []byte) bool {
	return tombs != nil && tombs.Get(key) != nil
}

// sweepTombstones brings the feed's tombstones up to date with a fetched
// document: the ones it carries are marked carried (with the content hash
// it has now, so Known stays right), the others missing since now, and
// those missing for TombstoneGrace are deleted.
func sweepTombstones(tx *bolt.Tx, feedID uint64, items []babelfeed.Item, now time.Time) error {
	tombs := tx.Bucket(bucketTombstones)
	if tombs == nil {
		return nil
	}
	prefix := feedPrefix(feedID)
	c := tombs.Cursor()
	if k, _ := c.Seek(prefix); k == nil || !bytes.HasPrefix(k, prefix) {
		return nil // the common case: nothing to sweep
	}
	carried := make(map[string]string, len(items))
	for i := range items {
		carried[string(itemKeysKey(feedID, items[i].Key))] = items[i].ContentHash
	}
	nowN := UnixNanos(now)
	type change struct {
		key, val []byte // val nil: delete
	}
	var changes []change
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) < 8 {
			continue
		}
		missing := tombstoneMissing(v)
		hash, in := carried[string(k)]
		switch {
		case in && (missing != 0 || string(v[8:]) != hash):
			changes = append(changes, change{bytes.Clone(k), tombstoneValue(0, hash)})
		case !in && missing == 0:
			changes = append(changes, change{bytes.Clone(k), tombstoneValue(nowN, string(v[8:]))})
		case !in && nowN-missing > int64(TombstoneGrace):
			changes = append(changes, change{key: bytes.Clone(k)})
		}
	}
	for _, ch := range changes {
		var err error
		if ch.val == nil {
			err = tombs.Delete(ch.key)
		} else {
			err = tombs.Put(ch.key, ch.val)
		}
		if err != nil {
			return fmt.Errorf("update tombstones of feed %d: %w", feedID, err)
		}
	}
	return nil
}

// expireTombstones deletes tombstones missing from their feed's documents
// for TombstoneGrace, and those of feeds that no longer exist, a batch per
// transaction.
func (s *DB) expireTombstones(ctx context.Context, now time.Time) (int, error) {
	nowN := UnixNanos(now)
	expired := 0
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return expired, err
		}
		var doomed [][]byte
		var last []byte
		err := s.db.View(func(tx *bolt.Tx) error {
			tombs := tx.Bucket(bucketTombstones)
			if tombs == nil {
				return nil
			}
			feeds := tx.Bucket(bucketFeeds)
			c := tombs.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for scanned := 0; k != nil && scanned < 20*pruneBatch && len(doomed) < pruneBatch; k, v = c.Next() {
				scanned++
				last = bytes.Clone(k)
				if len(k) < 8 || len(v) < 8 {
					continue
				}
				missing := tombstoneMissing(v)
				if (missing != 0 && nowN-missing > int64(TombstoneGrace)) || feeds.Get(k[:8]) == nil {
					doomed = append(doomed, bytes.Clone(k))
				}
			}
			return nil
		})
		if err != nil {
			return expired, err
		}
		if len(doomed) > 0 {
			err := s.db.Update(func(tx *bolt.Tx) error {
				tombs := tx.Bucket(bucketTombstones)
				for _, k := range doomed {
					if err := tombs.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return expired, err
			}
			expired += len(doomed)
		}
		if last == nil {
			return expired, nil
		}
		after = last
	}
}

// forgetTombstones deletes every tombstone of a feed being removed.
func forgetTombstones(tx *bolt.Tx, feedID uint64) error {
	tombs := tx.Bucket(bucketTombstones)
	if tombs == nil {
		return nil
	}
	if err := deletePrefix(tombs, feedPrefix(feedID)); err != nil {
		return fmt.Errorf("delete tombstones of feed %d: %w", feedID, err)
	}
	return nil
}
