package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// updateBatch is how many items UpdateItems reads and rewrites per
// transaction (as store.DB).
const updateBatch = 1000

// checkItem prepares an item (store.PrepareItem) and rejects one whose
// language code a text column cannot hold.
func checkItem(it *babelfeed.Item, feedID uint64, now time.Time) error {
	if err := store.PrepareItem(it, feedID, now); err != nil {
		return err
	}
	if err := validLang(it.Lang); err != nil {
		return fmt.Errorf("item %q: %w", it.Key, err)
	}
	return nil
}

// validLang rejects language codes a text column cannot hold.
func validLang(lang string) error {
	if strings.IndexByte(lang, 0) >= 0 || !utf8.ValidString(lang) {
		return fmt.Errorf("language code %q is not valid text", lang)
	}
	return nil
}

// The items.data form of an item: a version byte (1), then key, GUID, URL,
// title, summary, content, author (strings: uvarint length and bytes, so
// that any bytes a feed carries come back as they were), categories
// (uvarint count, then strings), published, updated, first seen (times:
// 0 for the zero Time, else uvarint(nanoseconds+1) and varint(Unix
// seconds); they come back in UTC), lang, confidence (float64 bits),
// method, declared lang, content hash. ID, FeedID and DuplicateOf are
// columns.
const itemCodecVersion = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(t.Nanosecond())+1)
	return binary.AppendVarint(b, t.Unix())
}

// encodeItem appends the items.data form of it to b.
func encodeItem(b []byte, it *babelfeed.Item) []byte {
	b = append(b, itemCodecVersion)
	for _, s := range []string{it.Key, it.GUID, it.URL, it.Title, it.Summary, it.Content, it.Author} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(it.Categories)))
	for _, c := range it.Categories {
		b = appendString(b, c)
	}
	b = appendTime(b, it.Published)
	b = appendTime(b, it.Updated)
	b = appendTime(b, it.FirstSeen)
	b = appendString(b, it.Lang)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(it.LangConfidence))
	b = appendString(b, string(it.LangMethod))
	b = appendString(b, it.DeclaredLang)
	return appendString(b, it.ContentHash)
}

var errCorrupt = errors.New("corrupt item record")

// decoder reads fields in order and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	ns := d.uvarint()
	if ns == 0 || d.err != nil {
		return time.Time{}
	}
	sec, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return time.Time{}
	}
	d.b = d.b[n:]
	return time.Unix(sec, int64(ns-1)).UTC()
}

// decodeItem parses items.data; the caller sets ID, FeedID and
// DuplicateOf from their columns.
func decodeItem(b []byte) (babelfeed.Item, error) {
	if len(b) == 0 || b[0] != itemCodecVersion {
		return babelfeed.Item{}, fmt.Errorf("%w: unknown record version", errCorrupt)
	}
	d := decoder{b: b[1:]}
	var it babelfeed.Item
	it.Key = d.string()
	it.GUID = d.string()
	it.URL = d.string()
	it.Title = d.string()
	it.Summary = d.string()
	it.Content = d.string()
	it.Author = d.string()
	if n := d.uvarint(); n > 0 {
		if n > uint64(len(d.b)) {
			d.fail()
		} else {
			it.Categories = make([]string, n)
			for i := range it.Categories {
				it.Categories[i] = d.string()
			}
		}
	}
	it.Published = d.time()
	it.Updated = d.time()
	it.FirstSeen = d.time()
	it.Lang = d.string()
	if len(d.b) < 8 {
		d.fail()
	} else {
		it.LangConfidence = math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	it.LangMethod = babelfeed.LangMethod(d.string())
	it.DeclaredLang = d.string()
	it.ContentHash = d.string()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	if d.err != nil {
		return babelfeed.Item{}, d.err
	}
	return it, nil
}

// itemCols are what scanItem reads, in order.
const itemCols = `i.id, i.feed_id, i.duplicate_of, i.data`

// scanItem reads an item from a row of itemCols.
func scanItem(row pgx.Row) (babelfeed.Item, error) {
	var id, feed int64
	var dup *int64
	var data []byte
	if err := row.Scan(&id, &feed, &dup, &data); err != nil {
		return babelfeed.Item{}, err
	}
	it, err := decodeItem(data)
	if err != nil {
		return it, fmt.Errorf("item %d: %w", id, err)
	}
	it.ID, it.FeedID = uint64(id), uint64(feed)
	if dup != nil {
		it.DuplicateOf = uint64(*dup)
	}
	return it, nil
}

// maxTermPositions caps the positions a term gets in items.terms (its
// frequency); PostgreSQL keeps at most 256 per lexeme.
const maxTermPositions = 255

// maxPosition is the highest position a tsvector holds.
const maxPosition = 16383

// termsVector returns items.terms of it as a tsvector literal, analysed by
// the store's Indexer (the same analysis as the bbolt keyword index): each
// distinct valid term a lexeme, its frequency as that many consecutive
// positions (at most 255), weighted A when it occurs in the title, B in the
// author field (a term in both: its first position A, the others B), D
// otherwise. Positions run on across terms: they carry frequencies, not
// word order. ok is false when the store has no Indexer (terms is NULL).
func (s *DB) termsVector(it *babelfeed.Item) (vec string, ok bool) {
	if s.indexer == nil {
		return "", false
	}
	return termsVectorOf(s.indexer.Terms(it, nil)), true
}

func termsVectorOf(terms []store.Term) string {
	var b strings.Builder
	seen := make(map[string]bool, len(terms))
	pos := 0
	for i := range terms {
		t := &terms[i]
		if t.Text == "" || len(t.Text) > store.MaxTermLen || strings.IndexByte(t.Text, 0) >= 0 ||
			!utf8.ValidString(t.Text) || seen[t.Text] {
			continue
		}
		seen[t.Text] = true
		// A title term is weighted A, an author term B; a term in both
		// has its first position A and the others B, so that a search
		// finds it by either field (a weight is per position).
		weight, rest := "", ""
		switch {
		case t.Title && t.Author:
			weight, rest = "A", "B"
		case t.Title:
			weight, rest = "A", "A"
		case t.Author:
			weight, rest = "B", "B"
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('\'')
		for j := 0; j < len(t.Text); j++ {
			switch c := t.Text[j]; c {
			case '\'':
				b.WriteString("''")
			case '\\':
				b.WriteString(`\\`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteString("':")
		for n := range min(max(t.Freq, 1), maxTermPositions) {
			if n > 0 {
				b.WriteByte(',')
				weight = rest
			}
			pos = min(pos+1, maxPosition)
			b.WriteString(strconv.Itoa(pos))
			b.WriteString(weight)
		}
	}
	return b.String()
}

// itemArgs are the column values of one item row.
type itemArgs struct {
	id, feed  int64
	keyID     []byte
	lang      string
	sortNS    int64
	sortTime  time.Time
	published any
	hash      []byte
	dup       any
	data      []byte
	terms     any
}

// argsOf computes the column values of it, its terms included.
func (s *DB) argsOf(it *babelfeed.Item) itemArgs {
	st := store.SortTime(it)
	a := itemArgs{
		id: int64(it.ID), feed: int64(it.FeedID), keyID: store.ItemKeyID(it.Key), lang: it.Lang,
		sortNS: store.UnixNanos(st), sortTime: st, published: nullTime(it.Published),
		hash: []byte(it.ContentHash), data: encodeItem(nil, it),
	}
	if it.DuplicateOf != 0 {
		a.dup = int64(it.DuplicateOf)
	}
	if v, ok := s.termsVector(it); ok {
		a.terms = v
	}
	return a
}

// itemRows are new item rows, column by column, inserted by one statement.
type itemRows struct {
	id, feed, sortNS []int64
	dup              []*int64
	kid, hash, data  [][]byte
	lang             []string
	sortTime         []time.Time
	published        []*time.Time
	terms            []*string
}

func (r *itemRows) add(s *DB, it *babelfeed.Item) {
	a := s.argsOf(it)
	r.id = append(r.id, a.id)
	r.feed = append(r.feed, a.feed)
	r.kid = append(r.kid, a.keyID)
	r.lang = append(r.lang, a.lang)
	r.sortNS = append(r.sortNS, a.sortNS)
	r.sortTime = append(r.sortTime, a.sortTime)
	var pub *time.Time
	if !it.Published.IsZero() {
		p := it.Published
		pub = &p
	}
	r.published = append(r.published, pub)
	r.hash = append(r.hash, a.hash)
	var dup *int64
	if it.DuplicateOf != 0 {
		v := int64(it.DuplicateOf)
		dup = &v
	}
	r.dup = append(r.dup, dup)
	r.data = append(r.data, a.data)
	var terms *string
	if v, ok := a.terms.(string); ok {
		terms = &v
	}
	r.terms = append(r.terms, terms)
}

// queue queues the insert of the rows, if any.
func (r *itemRows) queue(b *pgx.Batch) {
	if len(r.id) == 0 {
		return
	}
	b.Queue(`INSERT INTO items (id, feed_id, key_id, lang, sort_ns, sort_time, published,
			content_hash, duplicate_of, data, terms)
		SELECT id, feed_id, key_id, lang, sort_ns, sort_time, published, content_hash, duplicate_of, data, terms::tsvector
		FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::text[], $5::bigint[], $6::timestamptz[],
			$7::timestamptz[], $8::bytea[], $9::bigint[], $10::bytea[], $11::text[])
			AS u(id, feed_id, key_id, lang, sort_ns, sort_time, published, content_hash, duplicate_of, data, terms)`,
		r.id, r.feed, r.kid, r.lang, r.sortNS, r.sortTime, r.published, r.hash, r.dup, r.data, r.terms)
}

// updateItemSQL leaves duplicate_of alone: only inserts and the promotion
// of duplicates (forgetDuplicates) decide it, and an update that read it
// before a promotion must not undo the promotion.
const updateItemSQL = `UPDATE items SET lang = $4, sort_ns = $5, sort_time = $6, published = $7,
	content_hash = $8, data = $9, terms = $10::tsvector WHERE id = $1 AND feed_id = $2 AND key_id = $3`

func (a itemArgs) updateValues() []any {
	return []any{a.id, a.feed, a.keyID, a.lang, a.sortNS, a.sortTime, a.published, a.hash, a.data, a.terms}
}

// queueIndexState queues what a write of items does to the keyword index
// state: a write by a store without the Indexer, or with another version,
// makes the index stale (as in store.DB).
func (s *DB) queueIndexState(b *pgx.Batch) {
	if s.indexer == nil {
		b.Queue(`DELETE FROM meta WHERE key IN ($1, $2)`, metaIndexVersion, metaIndexBuilding)
		return
	}
	b.Queue(`DELETE FROM meta WHERE key IN ($1, $2) AND value <> $3`, metaIndexVersion, metaIndexBuilding, s.indexer.Version)
}

// Known returns item key -> ContentHash for every item stored for a feed,
// and for the items retention removed (tombstones; those with hashed keys
// are left out, as in store.DB).
func (s *DB) Known(feedID uint64) (map[string]string, error) {
	ctx, cancel := opContext()
	defer cancel()
	known := map[string]string{}
	b := &pgx.Batch{}
	b.Queue(`SELECT key_id, content_hash, CASE WHEN substr(key_id, 1, 1) = '\xff'::bytea THEN data END
		FROM items WHERE feed_id = $1`, int64(feedID)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var kid, hash, data []byte
			if err := rows.Scan(&kid, &hash, &data); err != nil {
				return err
			}
			key := string(kid)
			if data != nil {
				it, err := decodeItem(data)
				if err != nil {
					return fmt.Errorf("item with key ID %x: %w", kid, err)
				}
				key = it.Key
			}
			known[key] = string(hash)
		}
		return rows.Err()
	})
	b.Queue(`SELECT key_id, content_hash FROM tombstones WHERE feed_id = $1 AND substr(key_id, 1, 1) <> '\xff'::bytea`,
		int64(feedID)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var kid, hash []byte
			if err := rows.Scan(&kid, &hash); err != nil {
				return err
			}
			if _, live := known[string(kid)]; !live {
				known[string(kid)] = string(hash)
			}
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("known items of feed %d: %w", feedID, err)
	}
	return known, nil
}

// stored is what SaveFetch knows of one key of the feed.
type stored struct {
	id     uint64
	hash   string
	item   *babelfeed.Item // nil until read (new items: the version to write)
	insert bool            // a new row
	write  bool            // changed: to write
}

// tombstone is one row of tombstones.
type tombstone struct {
	missing int64
	hash    string
}

// SaveFetch writes one fetched feed in one transaction: f's new state
// together with its new and changed items, deduplicated by (feed, key),
// with the semantics and counts of store.DB.SaveFetch (tombstones,
// cross-feed duplicates, FirstSeen kept on update, Items and Languages
// counts). The feed's row is locked for the transaction, so pollers saving
// the same feed at once take turns; the unique (feed_id, key_id) keeps any
// item from being stored twice whatever happens.
func (s *DB) SaveFetch(f babelfeed.Feed, items []babelfeed.Item) (store.SaveResult, error) {
	now := time.Now().UTC()
	prepared := make([]babelfeed.Item, len(items))
	kids := make([]string, len(items))
	var lookupKeys, lookupHashes [][]byte
	firstOf := map[string]bool{}
	for i := range items {
		it := items[i]
		if err := checkItem(&it, f.ID, now); err != nil {
			return store.SaveResult{}, fmt.Errorf("save fetch of feed %d: %w", f.ID, err)
		}
		prepared[i] = it
		kid := store.ItemKeyID(it.Key)
		kids[i] = string(kid)
		if !firstOf[kids[i]] {
			firstOf[kids[i]] = true
			lookupKeys = append(lookupKeys, kid)
			lookupHashes = append(lookupHashes, []byte(it.ContentHash))
		}
	}
	ctx, cancel := opContext()
	defer cancel()
	var res store.SaveResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = store.SaveResult{}
		state := map[string]*stored{}
		tombs := map[string]tombstone{}
		var feed babelfeed.Feed
		var origs []uint64

		// Round trip 1: the feed (locked), the stored versions of the
		// document's keys (whole only where the hash differs), the feed's
		// tombstones.
		b := &pgx.Batch{}
		var feedErr error
		b.Queue(`SELECT `+feedColumns+` FROM feeds f WHERE f.id = $1 FOR UPDATE`, int64(f.ID)).QueryRow(func(row pgx.Row) error {
			feed, feedErr = scanFeed(row)
			if errors.Is(feedErr, pgx.ErrNoRows) {
				feedErr = fmt.Errorf("feed %d: %w", f.ID, store.ErrNotFound)
			}
			return nil
		})
		b.Queue(`SELECT i.key_id, i.id, i.content_hash, i.feed_id, i.duplicate_of,
				CASE WHEN i.content_hash <> n.h THEN i.data END
			FROM items i JOIN unnest($2::bytea[], $3::bytea[]) n(k, h) ON i.key_id = n.k
			WHERE i.feed_id = $1`, int64(f.ID), lookupKeys, lookupHashes).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var kid, hash, data []byte
				var id, feedID int64
				var dup *int64
				if err := rows.Scan(&kid, &id, &hash, &feedID, &dup, &data); err != nil {
					return err
				}
				st := &stored{id: uint64(id), hash: string(hash)}
				if data != nil {
					it, err := decodeItem(data)
					if err != nil {
						return fmt.Errorf("item %d: %w", id, err)
					}
					it.ID, it.FeedID = uint64(id), uint64(feedID)
					if dup != nil {
						it.DuplicateOf = uint64(*dup)
						origs = append(origs, it.DuplicateOf)
					}
					st.item = &it
				}
				state[string(kid)] = st
			}
			return rows.Err()
		})
		b.Queue(`SELECT key_id, missing_ns, content_hash FROM tombstones WHERE feed_id = $1`, int64(f.ID)).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var kid, hash []byte
				var missing int64
				if err := rows.Scan(&kid, &missing, &hash); err != nil {
					return err
				}
				tombs[string(kid)] = tombstone{missing, string(hash)}
			}
			return rows.Err()
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("read stored items: %w", err)
		}
		if feedErr != nil {
			return feedErr
		}

		// Which items need IDs and duplicate decisions.
		newKeys := 0
		var dupItems []*babelfeed.Item
		counted := map[string]bool{}
		for i := range prepared {
			it := &prepared[i]
			st := state[kids[i]]
			switch {
			case st == nil && !counted[kids[i]]:
				if _, dead := tombs[kids[i]]; dead {
					continue
				}
				counted[kids[i]] = true
				newKeys++
				dupItems = append(dupItems, it)
			case st == nil:
				dupItems = append(dupItems, it)
			case st.hash != it.ContentHash:
				dupItems = append(dupItems, it)
			}
		}
		var ids []uint64
		var dups *dupIndex
		if len(dupItems) > 0 {
			// Round trip 2: item IDs, duplicate index.
			b := &pgx.Batch{}
			if newKeys > 0 {
				b.Queue(`SELECT nextval('items_id_seq') FROM generate_series(1, $1)`, newKeys).Query(func(rows pgx.Rows) error {
					var err error
					ids, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (uint64, error) {
						var id int64
						err := row.Scan(&id)
						return uint64(id), err
					})
					return err
				})
			}
			var err error
			if dups, err = loadDups(ctx, tx, b, dupItems, origs); err != nil {
				return fmt.Errorf("assign item IDs, read duplicate index: %w", err)
			}
			if len(ids) != newKeys {
				return fmt.Errorf("assign item IDs: got %d of %d", len(ids), newKeys)
			}
		}

		count, langs := feed.Items, maps.Clone(feed.Languages)
		for i := range prepared {
			it := prepared[i]
			kid := kids[i]
			st := state[kid]
			if st == nil {
				if _, dead := tombs[kid]; dead {
					// Retention removed it; the feed still carries it.
					res.Tombstoned++
					continue
				}
				it.ID, ids = ids[0], ids[1:]
				dups.markNew(&it)
				state[kid] = &stored{id: it.ID, hash: it.ContentHash, item: &it, insert: true, write: true}
				count++
				store.CountLang(langs, "", it.Lang)
				res.Added++
				continue
			}
			if st.hash == it.ContentHash {
				res.Unchanged++
				continue
			}
			old := st.item
			if old == nil {
				// A second version of a key in one document whose first
				// version was unchanged: read the stored one.
				o, err := scanItem(tx.QueryRow(ctx, `SELECT `+itemCols+` FROM items i WHERE i.id = $1`, int64(st.id)))
				if err != nil {
					return fmt.Errorf("read item %d: %w", st.id, err)
				}
				old = &o
				if o.DuplicateOf != 0 {
					if _, ok := dups.feedOf[o.DuplicateOf]; !ok {
						var feedID int64
						if err := tx.QueryRow(ctx, `SELECT feed_id FROM items WHERE id = $1`, int64(o.DuplicateOf)).Scan(&feedID); err == nil {
							dups.feedOf[o.DuplicateOf] = uint64(feedID)
						}
					}
				}
			}
			it.ID, it.FirstSeen = old.ID, old.FirstSeen
			dups.markUpdated(old, &it)
			store.CountLang(langs, old.Lang, it.Lang)
			res.Updated++
			st.item, st.hash, st.write = &it, it.ContentHash, true
		}

		// Round trip 3: every write.
		b = &pgx.Batch{}
		var inserts itemRows
		wrote := false
		for i := range prepared {
			st := state[kids[i]]
			if st == nil || !st.write {
				continue
			}
			st.write = false // once per key, in its last version
			if st.insert {
				inserts.add(s, st.item)
			} else {
				b.Queue(updateItemSQL, s.argsOf(st.item).updateValues()...)
			}
			wrote = true
		}
		inserts.queue(b)
		if wrote {
			s.queueIndexState(b)
		}
		if dups != nil {
			dups.queueWrites(b)
		}
		sweepTombstones(b, f.ID, tombs, prepared, kids, now)
		nf := f
		if err := queueFeedState(b, &feed, &nf); err != nil {
			return err
		}
		langJSON, err := json.Marshal(langs)
		if err != nil {
			return fmt.Errorf("encode language counts: %w", err)
		}
		b.Queue(`UPDATE feeds SET items = $2, langs = $3 WHERE id = $1`, int64(f.ID), count, langJSON)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write items: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.SaveResult{}, fmt.Errorf("save fetch of feed %d: %w", f.ID, err)
	}
	return res, nil
}

// Item returns one item; a missing one gives an error wrapping
// store.ErrNotFound.
func (s *DB) Item(id uint64) (babelfeed.Item, error) {
	ctx, cancel := opContext()
	defer cancel()
	it, err := scanItem(s.pool.QueryRow(ctx, `SELECT `+itemCols+` FROM items i WHERE i.id = $1`, int64(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return babelfeed.Item{}, fmt.Errorf("get item: item %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return babelfeed.Item{}, fmt.Errorf("get item %d: %w", id, err)
	}
	return it, nil
}

// ItemCount returns how many items are stored, from the per-feed counts.
func (s *DB) ItemCount() (int, error) {
	ctx, cancel := opContext()
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(items), 0) FROM feeds`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count items: %w", err)
	}
	return int(n), nil
}

// Stats counts items per language and per feed from the per-feed counts.
// FileBytes and DataBytes are both the space of the core tables with their
// indexes and TOAST (pg_total_relation_size).
func (s *DB) Stats() (store.Stats, error) {
	ctx, cancel := opContext()
	defer cancel()
	st := store.Stats{ByLang: map[string]int{}, ByFeed: map[uint64]int{}}
	b := &pgx.Batch{}
	b.Queue(`SELECT id, items, langs FROM feeds`).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var items int
			var langs []byte
			if err := rows.Scan(&id, &items, &langs); err != nil {
				return err
			}
			var m map[string]int
			if err := json.Unmarshal(langs, &m); err != nil {
				return fmt.Errorf("decode language counts of feed %d: %w", id, err)
			}
			st.Feeds++
			st.Items += items
			st.ByFeed[uint64(id)] = items
			for l, n := range m {
				st.ByLang[l] += n
			}
		}
		return rows.Err()
	})
	b.Queue(`SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint FROM unnest($1::text[]) t`,
		coreTables).QueryRow(func(row pgx.Row) error {
		return row.Scan(&st.FileBytes)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return store.Stats{}, fmt.Errorf("store stats: %w", err)
	}
	st.DataBytes = st.FileBytes
	return st, nil
}

// RecentTimes returns the sort times (store.SortTime) of a feed's newest n
// items, newest first, as store.DB does (nanosecond times, in UTC).
func (s *DB) RecentTimes(feedID uint64, n int) ([]time.Time, error) {
	if n <= 0 {
		return nil, nil
	}
	ctx, cancel := opContext()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT sort_ns FROM items WHERE feed_id = $1
		ORDER BY sort_ns DESC, id DESC LIMIT $2`, int64(feedID), n)
	if err != nil {
		return nil, fmt.Errorf("recent item times of feed %d: %w", feedID, err)
	}
	defer rows.Close()
	var times []time.Time
	for rows.Next() {
		var ns int64
		if err := rows.Scan(&ns); err != nil {
			return nil, fmt.Errorf("recent item times of feed %d: %w", feedID, err)
		}
		t := time.Time{}
		if ns != math.MinInt64 { // the zero Time, clamped
			t = time.Unix(0, ns).UTC()
		}
		times = append(times, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent item times of feed %d: %w", feedID, err)
	}
	return times, nil
}

// UpdateItems calls fn on every stored item, in ID order, and saves the
// items for which it returns true, maintaining the per-feed language
// counts and items.terms, as store.DB.UpdateItems: batches of about 1000
// items, fn outside any transaction, an item a poller changed meanwhile
// left as the poller wrote it, progress after each batch.
func (s *DB) UpdateItems(ctx context.Context, fn func(*babelfeed.Item) (changed bool), progress func(done int)) error {
	var after int64
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("update items: %w", err)
		}
		type entry struct {
			raw      []byte
			old, new babelfeed.Item
		}
		var batch []entry
		rows, err := s.pool.Query(ctx, `SELECT `+itemCols+` FROM items i WHERE i.id > $1 ORDER BY i.id LIMIT $2`, after, updateBatch)
		if err != nil {
			return fmt.Errorf("update items: read after item %d: %w", after, err)
		}
		for rows.Next() {
			var id, feed int64
			var dup *int64
			var data []byte
			if err := rows.Scan(&id, &feed, &dup, &data); err != nil {
				rows.Close()
				return fmt.Errorf("update items: read after item %d: %w", after, err)
			}
			it, err := decodeItem(data)
			if err != nil {
				rows.Close()
				return fmt.Errorf("update items: item %d: %w", id, err)
			}
			it.ID, it.FeedID = uint64(id), uint64(feed)
			if dup != nil {
				it.DuplicateOf = uint64(*dup)
			}
			batch = append(batch, entry{raw: data, old: it})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("update items: read after item %d: %w", after, err)
		}
		if len(batch) == 0 {
			return nil
		}
		after = int64(batch[len(batch)-1].old.ID)
		var changed []entry
		for i := range batch {
			if i%100 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("update items: %w", err)
				}
			}
			e := &batch[i]
			upd, ok, err := store.UpdatedItem(&e.old, fn)
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
			olds := make([]*babelfeed.Item, len(changed))
			news := make([]*babelfeed.Item, len(changed))
			raws := make([][]byte, len(changed))
			for i := range changed {
				olds[i], news[i], raws[i] = &changed[i].old, &changed[i].new, changed[i].raw
			}
			if err := s.rewrite(ctx, olds, news, raws); err != nil {
				return fmt.Errorf("update items: %w", err)
			}
		}
		done += len(batch)
		if progress != nil {
			progress(done)
		}
	}
}

// rewrite saves changed items in one transaction, skipping those whose
// stored record no longer matches what was read (a poller updated or
// removed them meanwhile: its version wins), and moves the language
// counts of their feeds. The feed rows are locked first, in ID order, as
// SaveFetch locks its feed before its items, so the two never deadlock.
func (s *DB) rewrite(ctx context.Context, olds, news []*babelfeed.Item, raws [][]byte) error {
	feedSet := map[int64]bool{}
	var feedIDs []int64
	for _, it := range olds {
		if !feedSet[int64(it.FeedID)] {
			feedSet[int64(it.FeedID)] = true
			feedIDs = append(feedIDs, int64(it.FeedID))
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		feeds := map[uint64]map[string]int{}
		rows, err := tx.Query(ctx, `SELECT id, langs FROM feeds WHERE id = ANY($1) ORDER BY id FOR UPDATE`, feedIDs)
		if err != nil {
			return fmt.Errorf("lock feeds: %w", err)
		}
		for rows.Next() {
			var id int64
			var langs []byte
			if err := rows.Scan(&id, &langs); err != nil {
				rows.Close()
				return fmt.Errorf("lock feeds: %w", err)
			}
			m := map[string]int{}
			if err := json.Unmarshal(langs, &m); err != nil {
				rows.Close()
				return fmt.Errorf("decode language counts of feed %d: %w", id, err)
			}
			feeds[uint64(id)] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock feeds: %w", err)
		}
		ids := make([]int64, len(olds))
		for i, it := range olds {
			ids[i] = int64(it.ID)
		}
		// Which items are still as read.
		same := map[uint64]bool{}
		rows, err = tx.Query(ctx, `SELECT id, data FROM items WHERE id = ANY($1) FOR UPDATE`, ids)
		if err != nil {
			return fmt.Errorf("lock items: %w", err)
		}
		cur := map[uint64][]byte{}
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return fmt.Errorf("lock items: %w", err)
			}
			cur[uint64(id)] = data
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock items: %w", err)
		}
		for i, it := range olds {
			if v, ok := cur[it.ID]; ok && string(v) == string(raws[i]) {
				same[it.ID] = true
			}
		}
		b := &pgx.Batch{}
		touched := map[uint64]bool{}
		wrote := false
		for i, old := range olds {
			if !same[old.ID] {
				continue
			}
			it := news[i]
			b.Queue(updateItemSQL, s.argsOf(it).updateValues()...)
			wrote = true
			if old.Lang == it.Lang {
				continue
			}
			langs, ok := feeds[old.FeedID]
			if !ok {
				continue // an orphan item: no counts to keep
			}
			store.CountLang(langs, old.Lang, it.Lang)
			touched[old.FeedID] = true
		}
		if wrote {
			s.queueIndexState(b)
		}
		for id := range touched {
			v, err := json.Marshal(feeds[id])
			if err != nil {
				return fmt.Errorf("encode language counts: %w", err)
			}
			b.Queue(`UPDATE feeds SET langs = $2 WHERE id = $1`, int64(id), v)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write items: %w", err)
		}
		return nil
	})
}

// reindexBatch is how many items one Reindex transaction analyses.
const reindexBatch = 1000

// IndexState says whether items.terms describes every item with the
// store's analysis: Version is the Indexer version every item's terms were
// computed with (meta 'index_version', Ready), or, while Reindex runs,
// the version it is computing them with, up to item Upto. A write by a
// store without the Indexer, or with another version, clears it, as in
// store.DB.
func (s *DB) IndexState() (store.IndexState, error) {
	ctx, cancel := opContext()
	defer cancel()
	st, err := readIndexState(ctx, s.pool)
	if err != nil {
		return st, fmt.Errorf("read index state: %w", err)
	}
	return st, nil
}

func readIndexState(ctx context.Context, q querier) (store.IndexState, error) {
	var st store.IndexState
	rows, err := q.Query(ctx, `SELECT key, value FROM meta WHERE key IN ($1, $2, $3)`,
		metaIndexVersion, metaIndexBuilding, metaIndexUpto)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return st, err
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	if v, ok := m[metaIndexVersion]; ok {
		return store.IndexState{Version: v, Ready: true}, nil
	}
	if v, ok := m[metaIndexBuilding]; ok {
		upto, _ := strconv.ParseUint(m[metaIndexUpto], 10, 64)
		return store.IndexState{Version: v, Upto: upto}, nil
	}
	return st, nil
}

// Reindex recomputes items.terms of every item with the store's Indexer,
// in ID order, a batch per transaction, while the store stays in use
// (writers with the same Indexer keep what they write right), then records
// the version in meta. A Reindex interrupted midway resumes after the last
// batch it committed. progress, if not nil, is called now and then with
// the items indexed so far and the total.
func (s *DB) Reindex(ctx context.Context, progress func(done, total int)) error {
	if s.indexer == nil {
		return errors.New("reindex: the store was opened without an Indexer")
	}
	version := s.indexer.Version
	total, err := s.ItemCount()
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	report := func(done int) {
		if progress != nil {
			progress(done, max(total, done))
		}
	}
	st, err := s.IndexState()
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	done := 0
	after := int64(0)
	if st.Version == version && !st.Ready {
		after = int64(st.Upto)
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM items WHERE id <= $1`, after).Scan(&done); err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
	} else {
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM meta WHERE key = $1`, metaIndexVersion); err != nil {
				return err
			}
			if err := setMeta(ctx, tx, metaIndexBuilding, version); err != nil {
				return err
			}
			return setMeta(ctx, tx, metaIndexUpto, "0")
		})
		if err != nil {
			return fmt.Errorf("reindex: start: %w", err)
		}
	}
	report(done)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		n, last, err := s.reindexBatch(ctx, version, after)
		if err != nil {
			return fmt.Errorf("reindex after item %d: %w", after, err)
		}
		done += n
		report(done)
		if n == 0 {
			return nil
		}
		after = last
	}
}

// reindexBatch computes the terms of the next batch of items after item
// after and returns how many it did and the last ID; with none left, it
// marks the index ready.
func (s *DB) reindexBatch(ctx context.Context, version string, after int64) (n int, last int64, err error) {
	rows, err := s.pool.Query(ctx, `SELECT `+itemCols+` FROM items i WHERE i.id > $1 ORDER BY i.id LIMIT $2`, after, reindexBatch)
	if err != nil {
		return 0, 0, err
	}
	var ids []int64
	var vecs []string
	var sums [][]byte
	for rows.Next() {
		var id, feed int64
		var dup *int64
		var data []byte
		if err := rows.Scan(&id, &feed, &dup, &data); err != nil {
			rows.Close()
			return 0, 0, err
		}
		it, err := decodeItem(data)
		if err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("item %d: %w", id, err)
		}
		it.ID, it.FeedID = uint64(id), uint64(feed)
		v, _ := s.termsVector(&it)
		sum := sha256.Sum256(data)
		ids, vecs, sums = append(ids, id), append(vecs, v), append(sums, sum[:])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var building string
		err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1 FOR UPDATE`, metaIndexBuilding).Scan(&building)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && building != version) {
			return errors.New("the index changed under the rebuild (another reindex, or a write without the Indexer)")
		}
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM meta WHERE key IN ($1, $2)`, metaIndexBuilding, metaIndexUpto); err != nil {
				return err
			}
			return setMeta(ctx, tx, metaIndexVersion, version)
		}
		// An item a writer changed meanwhile has the terms the writer
		// computed, with the same Indexer: leave it.
		_, err = tx.Exec(ctx, `UPDATE items i SET terms = v.t::tsvector
			FROM unnest($1::bigint[], $2::text[], $3::bytea[]) v(id, t, h)
			WHERE i.id = v.id AND sha256(i.data) = v.h`, ids, vecs, sums)
		if err != nil {
			return fmt.Errorf("write terms: %w", err)
		}
		return setMeta(ctx, tx, metaIndexUpto, strconv.FormatInt(ids[len(ids)-1], 10))
	})
	if err != nil {
		return 0, 0, err
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	return len(ids), ids[len(ids)-1], nil
}
