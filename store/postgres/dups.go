package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// Cross-feed duplicates, decided exactly as store.DB decides them (see
// store/dups.go): a new item whose canonical URL, or normalised title
// within a day of its sort time, was first stored by another feed gets
// DuplicateOf = that story's original; the keys a new or updated item
// brings that are not known yet point at its original. The index lives in
// dup_url and dup_title; the groups are items.duplicate_of.
//
// Several pollers save at once: a transaction that decides on keys first
// takes a transaction-scoped advisory lock on each of them (in sorted
// order, so two transactions never wait on each other in a cycle), so that
// two feeds that bring the same story at the same moment are still told
// apart as original and duplicate. Those locks are also taken in shared
// mode under dupGlobalLock, which removal of originals (RemoveFeed, Prune)
// takes exclusively while it moves the index to their heirs.

// dupGlobalLock is the advisory lock key that orders duplicate decisions
// against removals of originals.
const dupGlobalLock int64 = 0x6466_6475_7073 // "dfdups"

// dupKeys are the index keys of one item.
type dupKeys struct {
	url   []byte // nil: no canonical URL
	title []byte // nil: no usable title; else SHA-256(title)[:12]
	nanos int64
	day   int32
}

func keysOf(it *babelfeed.Item) dupKeys {
	n := store.UnixNanos(store.SortTime(it))
	k := dupKeys{nanos: n, day: int32(store.DupDay(n))}
	if t := store.NormalizeTitle(it.Title); t != "" {
		sum := sha256.Sum256([]byte(t))
		k.title = sum[:12]
	}
	if c := store.CanonicalURL(it.URL); c != "" {
		k.url = store.DupURLKey(c)
	}
	return k
}

// lockKeys are the advisory lock keys of k.
func (k dupKeys) lockKeys(dst []int64) []int64 {
	if k.url != nil {
		sum := sha256.Sum256(append([]byte("u"), k.url...))
		dst = append(dst, int64(binary.BigEndian.Uint64(sum[:8])))
	}
	if k.title != nil {
		sum := sha256.Sum256(append([]byte("t"), k.title...))
		dst = append(dst, int64(binary.BigEndian.Uint64(sum[:8])))
	}
	return dst
}

type dupRoot struct{ root, feed uint64 }

type titleEntry struct {
	dupRoot
	nanos int64
}

type titleKey struct {
	hash string
	day  int32
}

// dupIndex is what one SaveFetch knows of the duplicate index: the entries
// of the keys its items bring, as read under their locks, and those it adds.
type dupIndex struct {
	url   map[string]dupRoot
	title map[titleKey]titleEntry
	// feedOf caches the feed of originals (markUpdated).
	feedOf map[uint64]uint64
	// adds are the entries to write.
	urlAdds   []dupAddURL
	titleAdds []dupAddTitle
}

type dupAddURL struct {
	key []byte
	dupRoot
}

type dupAddTitle struct {
	hash []byte
	day  int32
	titleEntry
}

// loadDups locks the keys of items and reads their index entries, and the
// feeds of the originals in origs, in one round trip with the queries
// already queued in b.
func loadDups(ctx context.Context, tx pgx.Tx, b *pgx.Batch, items []*babelfeed.Item, origs []uint64) (*dupIndex, error) {
	d := &dupIndex{url: map[string]dupRoot{}, title: map[titleKey]titleEntry{}, feedOf: map[uint64]uint64{}}
	var locks []int64
	var urls [][]byte
	var hashes [][]byte
	var days []int32
	for _, it := range items {
		k := keysOf(it)
		locks = k.lockKeys(locks)
		if k.url != nil {
			urls = append(urls, k.url)
		}
		if k.title != nil {
			for _, dd := range []int32{k.day, k.day - 1, k.day + 1} {
				hashes = append(hashes, k.title)
				days = append(days, dd)
			}
		}
	}
	if len(locks) == 0 && len(origs) == 0 {
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	b.Queue(`SELECT pg_advisory_xact_lock_shared($1)`, dupGlobalLock)
	b.Queue(`SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) k`, locks)
	b.Queue(`SELECT url_key, root, root_feed FROM dup_url WHERE url_key = ANY($1)`, urls).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var key []byte
			var root, feed int64
			if err := rows.Scan(&key, &root, &feed); err != nil {
				return err
			}
			d.url[string(key)] = dupRoot{uint64(root), uint64(feed)}
		}
		return rows.Err()
	})
	b.Queue(`SELECT t.title_hash, t.day, t.root, t.root_feed, t.sort_ns
		FROM dup_title t JOIN unnest($1::bytea[], $2::int[]) q(h, d) ON t.title_hash = q.h AND t.day = q.d`,
		hashes, days).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var h []byte
			var day int32
			var root, feed, n int64
			if err := rows.Scan(&h, &day, &root, &feed, &n); err != nil {
				return err
			}
			d.title[titleKey{string(h), day}] = titleEntry{dupRoot{uint64(root), uint64(feed)}, n}
		}
		return rows.Err()
	})
	ids := make([]int64, len(origs))
	for i, id := range origs {
		ids[i] = int64(id)
	}
	b.Queue(`SELECT id, feed_id FROM items WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, feed int64
			if err := rows.Scan(&id, &feed); err != nil {
				return err
			}
			d.feedOf[uint64(id)] = uint64(feed)
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read duplicate index: %w", err)
	}
	return d, nil
}

// lookup finds the original of a story with these keys stored from a feed
// other than feedID; 0 if none.
func (d *dupIndex) lookup(k dupKeys, feedID uint64) dupRoot {
	if k.url != nil {
		if v, ok := d.url[string(k.url)]; ok && v.feed != feedID {
			return v
		}
	}
	if k.title != nil {
		for _, dd := range []int32{k.day, k.day - 1, k.day + 1} {
			v, ok := d.title[titleKey{string(k.title), dd}]
			if ok && v.feed != feedID && store.WithinDupWindow(v.nanos, k.nanos) {
				return v.dupRoot
			}
		}
	}
	return dupRoot{}
}

// addKeys records the keys of an item not known yet, pointing at r.
func (d *dupIndex) addKeys(k dupKeys, r dupRoot) {
	if k.url != nil {
		if _, ok := d.url[string(k.url)]; !ok {
			d.url[string(k.url)] = r
			d.urlAdds = append(d.urlAdds, dupAddURL{k.url, r})
		}
	}
	if k.title != nil {
		tk := titleKey{string(k.title), k.day}
		if _, ok := d.title[tk]; !ok {
			e := titleEntry{r, k.nanos}
			d.title[tk] = e
			d.titleAdds = append(d.titleAdds, dupAddTitle{k.title, k.day, e})
		}
	}
}

// markNew decides whether a new item (ID assigned) duplicates one stored
// from another feed, sets it.DuplicateOf and indexes its keys.
func (d *dupIndex) markNew(it *babelfeed.Item) {
	k := keysOf(it)
	it.DuplicateOf = 0
	r := d.lookup(k, it.FeedID)
	if r.root != 0 {
		it.DuplicateOf = r.root
	} else {
		r = dupRoot{it.ID, it.FeedID}
	}
	d.feedOf[it.ID] = it.FeedID
	d.addKeys(k, r)
}

// markUpdated keeps an updated item's DuplicateOf and indexes the keys its
// new content brings.
func (d *dupIndex) markUpdated(old, it *babelfeed.Item) {
	it.DuplicateOf = old.DuplicateOf
	r := dupRoot{it.ID, it.FeedID}
	if it.DuplicateOf != 0 {
		feed, ok := d.feedOf[it.DuplicateOf]
		if !ok {
			// The original is gone and this item was not promoted: an
			// inconsistency, but not one worth failing a poll over.
			return
		}
		r = dupRoot{it.DuplicateOf, feed}
	}
	d.addKeys(keysOf(it), r)
}

// queueWrites queues the index entries d added.
func (d *dupIndex) queueWrites(b *pgx.Batch) {
	if len(d.urlAdds) > 0 {
		keys := make([][]byte, len(d.urlAdds))
		roots := make([]int64, len(d.urlAdds))
		feeds := make([]int64, len(d.urlAdds))
		for i, a := range d.urlAdds {
			keys[i], roots[i], feeds[i] = a.key, int64(a.root), int64(a.feed)
		}
		b.Queue(`INSERT INTO dup_url (url_key, root, root_feed)
			SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) ON CONFLICT (url_key) DO NOTHING`,
			keys, roots, feeds)
	}
	if len(d.titleAdds) > 0 {
		n := len(d.titleAdds)
		hashes, days := make([][]byte, n), make([]int32, n)
		roots, feeds, ns := make([]int64, n), make([]int64, n), make([]int64, n)
		for i, a := range d.titleAdds {
			hashes[i], days[i], roots[i], feeds[i], ns[i] = a.hash, a.day, int64(a.root), int64(a.feed), a.nanos
		}
		b.Queue(`INSERT INTO dup_title (title_hash, day, root, root_feed, sort_ns)
			SELECT * FROM unnest($1::bytea[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[])
			ON CONFLICT (title_hash, day) DO NOTHING`, hashes, days, roots, feeds, ns)
	}
}

// forgetDuplicates is called before the items ids are deleted (RemoveFeed,
// Prune). Duplicates of a removed original in other feeds would otherwise
// stay hidden behind an item that no longer exists: the oldest (lowest ID)
// surviving one becomes the original, the others its duplicates, and the
// index entries that pointed at the removed item are moved to it or
// deleted, as store.DB does.
func forgetDuplicates(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, dupGlobalLock); err != nil {
		return fmt.Errorf("lock duplicate index: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT duplicate_of, id, feed_id FROM items
		WHERE duplicate_of = ANY($1) AND NOT id = ANY($1) ORDER BY duplicate_of, id`, ids)
	if err != nil {
		return fmt.Errorf("find duplicates of removed items: %w", err)
	}
	var olds, heirs, heirFeeds []int64 // removed original -> its successor
	var others, otherRoots []int64     // the other survivors -> successor
	for rows.Next() {
		var orig, id, feed int64
		if err := rows.Scan(&orig, &id, &feed); err != nil {
			rows.Close()
			return fmt.Errorf("find duplicates of removed items: %w", err)
		}
		if len(olds) == 0 || olds[len(olds)-1] != orig {
			olds, heirs, heirFeeds = append(olds, orig), append(heirs, id), append(heirFeeds, feed)
			continue
		}
		others, otherRoots = append(others, id), append(otherRoots, heirs[len(heirs)-1])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find duplicates of removed items: %w", err)
	}
	b := &pgx.Batch{}
	if len(olds) > 0 {
		b.Queue(`UPDATE items SET duplicate_of = NULL WHERE id = ANY($1)`, heirs)
		if len(others) > 0 {
			b.Queue(`UPDATE items i SET duplicate_of = h.root FROM unnest($1::bigint[], $2::bigint[]) h(id, root)
				WHERE i.id = h.id`, others, otherRoots)
		}
		for _, table := range []string{"dup_url", "dup_title"} {
			b.Queue(`UPDATE `+table+` d SET root = h.heir, root_feed = h.feed
				FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) h(old, heir, feed) WHERE d.root = h.old`,
				olds, heirs, heirFeeds)
		}
	}
	b.Queue(`DELETE FROM dup_url WHERE root = ANY($1)`, ids)
	b.Queue(`DELETE FROM dup_title WHERE root = ANY($1)`, ids)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("promote duplicates of removed items: %w", err)
	}
	return nil
}

// DuplicateGroups returns, for every original that has duplicates, the IDs
// of its duplicates in ascending order.
func (s *DB) DuplicateGroups() (map[uint64][]uint64, error) {
	ctx, cancel := opContext()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT duplicate_of, id FROM items WHERE duplicate_of IS NOT NULL ORDER BY duplicate_of, id`)
	if err != nil {
		return nil, fmt.Errorf("duplicate groups: %w", err)
	}
	defer rows.Close()
	groups := map[uint64][]uint64{}
	for rows.Next() {
		var root, id int64
		if err := rows.Scan(&root, &id); err != nil {
			return nil, fmt.Errorf("duplicate groups: %w", err)
		}
		groups[uint64(root)] = append(groups[uint64(root)], uint64(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duplicate groups: %w", err)
	}
	return groups, nil
}
