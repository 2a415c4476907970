package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// The whole-store copy of the migrate command (store.Copier), record for
// record compatible with store.DB's: Import builds every index again (URLs,
// keys, duplicate index, items.terms) and the feeds' counts from the items
// it writes. A tombstone's Key is spelled as in bbolt's item_keys (and
// items.key_id): the key, or 0xff and its SHA-256 for a hashed key.

var _ store.Copier = (*DB)(nil)

// Export calls fn with every record of the store: feeds ordered by ID
// (with their counts), items in ID order, rules (with the rules version),
// saved queries, drop records, then tombstones, all from one
// repeatable-read transaction, so the records are one consistent state.
func (s *DB) Export(ctx context.Context, fn func(store.Record) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("export %s: %w", s.name, err)
	}
	defer tx.Rollback(context.Background())
	if err := s.export(ctx, tx, fn); err != nil {
		return fmt.Errorf("export %s: %w", s.name, err)
	}
	return nil
}

func (s *DB) export(ctx context.Context, tx pgx.Tx, fn func(store.Record) error) error {
	feeds, err := s.allFeeds(ctx, tx)
	if err != nil {
		return fmt.Errorf("read feeds: %w", err)
	}
	for i := range feeds {
		if err := fn(store.Record{Feed: &feeds[i]}); err != nil {
			return err
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+itemCols+` FROM items i ORDER BY i.id`)
	if err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read items: %w", err)
		}
		if err := fn(store.Record{Item: &it}); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	if err := exportRuleRecords(ctx, tx, fn); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT feed_id, key_id, content_hash, missing_ns FROM tombstones ORDER BY feed_id, key_id`)
	if err != nil {
		return fmt.Errorf("read tombstones: %w", err)
	}
	var feedID, missing int64
	var kid, hash []byte
	_, err = pgx.ForEachRow(rows, []any{&feedID, &kid, &hash, &missing}, func() error {
		ts := store.Tombstone{FeedID: uint64(feedID), Key: string(kid), ContentHash: string(hash)}
		if missing != 0 {
			ts.Missing = time.Unix(0, missing).UTC()
		}
		return fn(store.Record{Tombstone: &ts})
	})
	if err != nil {
		return fmt.Errorf("read tombstones: %w", err)
	}
	return nil
}

// Import writes one batch of records, in Export's order, keeping their IDs,
// in one transaction: into a store that held no feeds when the import
// began. Feeds start with zero counts, which their items then add to (see
// FinishImport); items keep their DuplicateOf, entered in the duplicate
// index, and get their terms when the store has an Indexer. Drop records
// and tombstones of a feed the store does not have are left out; an item
// of a missing feed is an error wrapping store.ErrNotFound, and a feed or
// item already stored an error: nothing of the batch is written then.
func (s *DB) Import(ctx context.Context, batch []store.Record) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.importBatch(ctx, tx, batch)
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", s.name, err)
	}
	return nil
}

func (s *DB) importBatch(ctx context.Context, tx pgx.Tx, batch []store.Record) error {
	b := &pgx.Batch{}
	feedIDs := map[uint64]bool{}
	var items []*babelfeed.Item
	var origs []int64
	for _, rec := range batch {
		switch {
		case rec.Feed != nil:
			f := *rec.Feed
			norm, err := store.NormalizeURL(f.URL)
			if err != nil {
				return fmt.Errorf("feed %d: %w", f.ID, err)
			}
			f.Items, f.Languages = 0, map[string]int{}
			data, err := encodeFeed(&f)
			if err != nil {
				return err
			}
			state := f.State
			if state == "" {
				state = babelfeed.StateOK
			}
			b.Queue(`INSERT INTO feeds (id, url, next_poll, state, data) VALUES ($1, $2, $3, $4, $5)`,
				int64(f.ID), norm, nullTime(f.NextPoll), string(state), data)
			b.Queue(`INSERT INTO feed_urls (url, feed_id) VALUES ($1, $2) ON CONFLICT (url) DO NOTHING`, norm, int64(f.ID))
			for _, prev := range f.PrevURLs {
				if pn, err := store.NormalizeURL(prev); err == nil {
					b.Queue(`INSERT INTO feed_urls (url, feed_id) VALUES ($1, $2) ON CONFLICT (url) DO NOTHING`, pn, int64(f.ID))
				}
			}
			feedIDs[f.ID] = true
		case rec.Item != nil:
			it := *rec.Item
			if it.Lang == "" {
				it.Lang = babelfeed.Undetermined
			}
			if err := validLang(it.Lang); err != nil {
				return fmt.Errorf("item %d: %w", it.ID, err)
			}
			items = append(items, &it)
			if it.DuplicateOf != 0 {
				origs = append(origs, int64(it.DuplicateOf))
			}
		case rec.Tombstone != nil:
			ts := rec.Tombstone
			kid := store.TombstoneKeyID(ts.Key)
			var missing int64
			if !ts.Missing.IsZero() {
				missing = store.UnixNanos(ts.Missing)
			}
			b.Queue(`INSERT INTO tombstones (feed_id, key_id, missing_ns, content_hash)
				SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM feeds WHERE id = $1)
				ON CONFLICT (feed_id, key_id) DO UPDATE SET missing_ns = excluded.missing_ns, content_hash = excluded.content_hash`,
				int64(ts.FeedID), kid, missing, []byte(ts.ContentHash))
		case rec.Rule != nil, rec.Saved != nil, rec.Dropped != nil:
			// importRuleRecords, below.
		default:
			return errors.New("empty record")
		}
	}
	// Feeds first: the items, drop records and tombstones of this batch
	// may belong to them.
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if len(items) > 0 {
		if err := s.importItems(ctx, tx, items, origs); err != nil {
			return err
		}
	}
	return importRuleRecords(ctx, tx, batch)
}

// importItems inserts items with their IDs, and their keys in the
// duplicate index pointing at their originals.
func (s *DB) importItems(ctx context.Context, tx pgx.Tx, items []*babelfeed.Item, origs []int64) error {
	feedOf := map[uint64]uint64{}
	var feedList []int64
	seenFeed := map[uint64]bool{}
	for _, it := range items {
		if !seenFeed[it.FeedID] {
			seenFeed[it.FeedID] = true
			feedList = append(feedList, int64(it.FeedID))
		}
	}
	existing := map[uint64]bool{}
	bq := &pgx.Batch{}
	bq.Queue(`SELECT id FROM feeds WHERE id = ANY($1)`, feedList).Query(func(rows pgx.Rows) error {
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		for _, id := range ids {
			existing[uint64(id)] = true
		}
		return err
	})
	bq.Queue(`SELECT id, feed_id FROM items WHERE id = ANY($1)`, origs).Query(func(rows pgx.Rows) error {
		var id, feed int64
		_, err := pgx.ForEachRow(rows, []any{&id, &feed}, func() error {
			feedOf[uint64(id)] = uint64(feed)
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, bq).Close(); err != nil {
		return err
	}
	d := &dupIndex{url: map[string]dupRoot{}, title: map[titleKey]titleEntry{}, feedOf: feedOf}
	var rows itemRows
	for _, it := range items {
		if !existing[it.FeedID] {
			return fmt.Errorf("item %d: feed %d: %w", it.ID, it.FeedID, store.ErrNotFound)
		}
		rows.add(s, it)

		// The duplicate index: keys not known yet point at the original.
		r := dupRoot{it.ID, it.FeedID}
		if it.DuplicateOf != 0 {
			if feed, ok := feedOf[it.DuplicateOf]; ok {
				r = dupRoot{it.DuplicateOf, feed}
			}
		}
		feedOf[it.ID] = it.FeedID
		d.addKeys(keysOf(it), r)
	}
	b := &pgx.Batch{}
	rows.queue(b)
	d.queueWrites(b)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert %d items: %w", len(items), err)
	}
	return nil
}

// FinishImport ends an import: the ID sequences of feeds, items and rules
// continue after the highest imported ID, the feeds' counts are computed
// from their items, and the keyword index state says what the imported
// terms are (ready with the store's Indexer; stale without one).
func (s *DB) FinishImport(ctx context.Context) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT setval('feeds_id_seq', m) FROM (SELECT max(id) AS m FROM feeds) x WHERE m IS NOT NULL`)
		b.Queue(`SELECT setval('items_id_seq', m) FROM (SELECT max(id) AS m FROM items) x WHERE m IS NOT NULL`)
		b.Queue(`UPDATE feeds f SET items = coalesce(c.n, 0), langs = coalesce(c.l, '{}'::jsonb)
			FROM feeds f2 LEFT JOIN (
				SELECT feed_id, sum(n)::integer AS n, jsonb_object_agg(lang, n) AS l
				FROM (SELECT feed_id, lang, count(*) AS n FROM items GROUP BY feed_id, lang) x
				GROUP BY feed_id) c ON c.feed_id = f2.id
			WHERE f.id = f2.id`)
		if s.indexer != nil {
			b.Queue(`DELETE FROM meta WHERE key IN ($1, $2)`, metaIndexBuilding, metaIndexUpto)
			b.Queue(`INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
				metaIndexVersion, s.indexer.Version)
		} else {
			s.queueIndexState(b)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return finishRuleImport(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("finish import into %s: %w", s.name, err)
	}
	return nil
}
