package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// Retention, as store/retention.go: Prune removes items by age and/or by
// count per feed and leaves a tombstone for each, so that a feed which
// still carries a removed item does not bring it back; SaveFetch keeps the
// tombstones up to date with the feed's documents (sweepTombstones), and a
// tombstone missing from them for store.TombstoneGrace is deleted.

// pruneBatch is how many items one Prune transaction removes (store's
// value).
const pruneBatch = 500

// Prune removes the items r does not keep, with everything that refers to
// them (duplicate index, feed counts), and leaves a tombstone for each, in
// transactions of at most pruneBatch items; it also expires old
// tombstones. Items are judged by SortTime against now. Each transaction
// locks its feed, so it waits for, and never undoes, a poller's save.
// Cancelling ctx stops between transactions; what was committed stays.
func (s *DB) Prune(ctx context.Context, r store.Retention, now time.Time) (store.PruneResult, error) {
	var res store.PruneResult
	if r.Enabled() {
		rows, err := s.pool.Query(ctx, `SELECT id FROM feeds ORDER BY id`)
		if err != nil {
			return res, fmt.Errorf("prune: list feeds: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return res, fmt.Errorf("prune: list feeds: %w", err)
		}
		for _, id := range ids {
			n, err := s.pruneFeed(ctx, uint64(id), r, now)
			if n > 0 {
				res.Feeds++
				res.Removed += n
			}
			if err != nil {
				return res, fmt.Errorf("prune feed %d: %w", id, err)
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

// pruneFeed removes one feed's items beyond r, a batch per transaction.
func (s *DB) pruneFeed(ctx context.Context, feedID uint64, r store.Retention, now time.Time) (int, error) {
	cutoff := int64(0)
	if r.MaxAge > 0 {
		cutoff = store.UnixNanos(now.Add(-r.MaxAge))
	}
	removed := 0
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		n := 0
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			n = 0
			var items int
			var langsJSON []byte
			err := tx.QueryRow(ctx, `SELECT items, langs FROM feeds WHERE id = $1 FOR UPDATE`, int64(feedID)).Scan(&items, &langsJSON)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // removed meanwhile: nothing left to prune
			}
			if err != nil {
				return fmt.Errorf("lock feed: %w", err)
			}
			langs := map[string]int{}
			if err := json.Unmarshal(langsJSON, &langs); err != nil {
				return fmt.Errorf("decode language counts: %w", err)
			}
			// Newest first: once one item goes, every later one goes too,
			// by position and by age alike.
			rows, err := tx.Query(ctx, `SELECT id, key_id, content_hash, lang FROM (
					SELECT id, key_id, content_hash, lang, sort_ns,
						row_number() OVER (ORDER BY sort_ns DESC, id DESC) AS pos
					FROM items WHERE feed_id = $1) x
				WHERE ($2 > 0 AND pos > $2) OR ($3 AND sort_ns < $4)
				ORDER BY sort_ns DESC, id DESC LIMIT $5`,
				int64(feedID), r.MaxPerFeed, r.MaxAge > 0, cutoff, pruneBatch)
			if err != nil {
				return fmt.Errorf("find items to remove: %w", err)
			}
			var ids []int64
			var kids, hashes [][]byte
			for rows.Next() {
				var id int64
				var kid, hash []byte
				var lang string
				if err := rows.Scan(&id, &kid, &hash, &lang); err != nil {
					rows.Close()
					return fmt.Errorf("find items to remove: %w", err)
				}
				ids, kids, hashes = append(ids, id), append(kids, kid), append(hashes, hash)
				store.CountLang(langs, lang, "")
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("find items to remove: %w", err)
			}
			if len(ids) == 0 {
				return nil
			}
			if err := forgetDuplicates(ctx, tx, ids); err != nil {
				return err
			}
			langsJSON, err = json.Marshal(langs)
			if err != nil {
				return fmt.Errorf("encode language counts: %w", err)
			}
			b := &pgx.Batch{}
			b.Queue(`DELETE FROM items WHERE id = ANY($1)`, ids)
			b.Queue(`INSERT INTO tombstones (feed_id, key_id, missing_ns, content_hash)
				SELECT $1, k, 0, h FROM unnest($2::bytea[], $3::bytea[]) t(k, h)
				ON CONFLICT (feed_id, key_id) DO UPDATE SET missing_ns = 0, content_hash = excluded.content_hash`,
				int64(feedID), kids, hashes)
			b.Queue(`UPDATE feeds SET items = $2, langs = $3 WHERE id = $1`, int64(feedID), items-len(ids), langsJSON)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("remove items: %w", err)
			}
			n = len(ids)
			return nil
		})
		removed += n
		if err != nil {
			return removed, err
		}
		if n == 0 {
			return removed, nil
		}
	}
}

// sweepTombstones queues the changes that bring a feed's tombstones (tombs,
// by key ID) up to date with a fetched document (items, with their key
// IDs): the ones it carries are marked carried with the content hash they
// have now, the others missing since now, and those missing for
// store.TombstoneGrace are deleted.
func sweepTombstones(b *pgx.Batch, feedID uint64, tombs map[string]tombstone, items []babelfeed.Item, kids []string, now time.Time) {
	if len(tombs) == 0 {
		return // the common case: nothing to sweep
	}
	carried := make(map[string]string, len(items))
	for i := range items {
		carried[kids[i]] = items[i].ContentHash
	}
	nowN := store.UnixNanos(now)
	var setKeys, setHashes, delKeys [][]byte
	var setMissing []int64
	for kid, t := range tombs {
		hash, in := carried[kid]
		switch {
		case in && (t.missing != 0 || t.hash != hash):
			setKeys, setHashes, setMissing = append(setKeys, []byte(kid)), append(setHashes, []byte(hash)), append(setMissing, 0)
		case !in && t.missing == 0:
			setKeys, setHashes, setMissing = append(setKeys, []byte(kid)), append(setHashes, []byte(t.hash)), append(setMissing, nowN)
		case !in && nowN-t.missing > int64(store.TombstoneGrace):
			delKeys = append(delKeys, []byte(kid))
		}
	}
	if len(setKeys) > 0 {
		b.Queue(`UPDATE tombstones t SET missing_ns = v.m, content_hash = v.h
			FROM unnest($2::bytea[], $3::bigint[], $4::bytea[]) v(k, m, h)
			WHERE t.feed_id = $1 AND t.key_id = v.k`, int64(feedID), setKeys, setMissing, setHashes)
	}
	if len(delKeys) > 0 {
		b.Queue(`DELETE FROM tombstones WHERE feed_id = $1 AND key_id = ANY($2)`, int64(feedID), delKeys)
	}
}

// expireTombstones deletes tombstones missing from their feed's documents
// for store.TombstoneGrace, and those of feeds that no longer exist.
func (s *DB) expireTombstones(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tombstones t
		WHERE (t.missing_ns <> 0 AND t.missing_ns < $1)
		   OR NOT EXISTS (SELECT 1 FROM feeds f WHERE f.id = t.feed_id)`,
		store.UnixNanos(now)-int64(store.TombstoneGrace))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
