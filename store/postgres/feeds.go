package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// feedColumns are what scanFeed reads, in order.
const feedColumns = `f.data, f.items, f.langs`

// encodeFeed is the feeds.data form of f: its JSON without the derived
// counts, which live in their own columns.
func encodeFeed(f *babelfeed.Feed) ([]byte, error) {
	c := *f
	c.Items, c.Languages = 0, nil
	v, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode feed %d: %w", f.ID, err)
	}
	return v, nil
}

// scanFeed reads a feed from a row of feedColumns.
func scanFeed(row pgx.Row) (babelfeed.Feed, error) {
	var data, langs []byte
	var items int
	if err := row.Scan(&data, &items, &langs); err != nil {
		return babelfeed.Feed{}, err
	}
	return decodeFeed(data, items, langs)
}

func decodeFeed(data []byte, items int, langs []byte) (babelfeed.Feed, error) {
	var f babelfeed.Feed
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("decode feed record: %w", err)
	}
	f.Items = items
	f.Languages = map[string]int{}
	if len(langs) > 0 && string(langs) != "{}" {
		if err := json.Unmarshal(langs, &f.Languages); err != nil {
			return f, fmt.Errorf("decode language counts of feed %d: %w", f.ID, err)
		}
	}
	return f, nil
}

// nullTime is t for a timestamptz column, NULL for the zero Time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// feedByID reads one feed inside tx, locking its row for the rest of the
// transaction when lock is set.
func feedByID(ctx context.Context, tx pgx.Tx, id uint64, lock bool) (babelfeed.Feed, error) {
	q := `SELECT ` + feedColumns + ` FROM feeds f WHERE f.id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	f, err := scanFeed(tx.QueryRow(ctx, q, int64(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, fmt.Errorf("feed %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("feed %d: %w", id, err)
	}
	return f, nil
}

// AddFeeds subscribes to feeds, deduplicated by store.NormalizeURL against
// the stored feeds, their earlier URLs and earlier entries of the same
// call, as store.DB.AddFeeds does. IDs come from a sequence; a dry run
// predicts them from the sequence's state (another process adding feeds
// meanwhile makes the prediction wrong).
func (s *DB) AddFeeds(feeds []babelfeed.Feed, dryRun bool) (added, existing []babelfeed.Feed, err error) {
	ctx, cancel := opContext()
	defer cancel()
	type entry struct {
		norm  string
		prevs []string // normalised earlier URLs
	}
	entries := make([]entry, len(feeds))
	var lookup []string
	for i, f := range feeds {
		norm, err := store.NormalizeURL(f.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("add feeds: add feed %q: %w", f.Title, err)
		}
		entries[i].norm = norm
		lookup = append(lookup, norm)
		for _, prev := range f.PrevURLs {
			if pn, err := store.NormalizeURL(prev); err == nil {
				entries[i].prevs = append(entries[i].prevs, pn)
				lookup = append(lookup, pn)
			}
		}
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		added, existing = nil, nil
		stored := map[string]babelfeed.Feed{} // normalised URL -> its feed
		rows, err := tx.Query(ctx, `SELECT fu.url, `+feedColumns+`
			FROM feed_urls fu JOIN feeds f ON f.id = fu.feed_id WHERE fu.url = ANY($1)`, lookup)
		if err != nil {
			return fmt.Errorf("look up feed URLs: %w", err)
		}
		for rows.Next() {
			var u string
			var data, langs []byte
			var items int
			if err := rows.Scan(&u, &data, &items, &langs); err != nil {
				rows.Close()
				return fmt.Errorf("look up feed URLs: %w", err)
			}
			f, err := decodeFeed(data, items, langs)
			if err != nil {
				rows.Close()
				return err
			}
			stored[u] = f
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("look up feed URLs: %w", err)
		}

		now := time.Now().UTC()
		inCall := map[string]int{} // normalised URL -> index in added
		var newEntries []entry
		// existing entries that are feeds added by this call, whose IDs
		// are assigned below: index in existing -> index in added.
		sameCall := map[int]int{}
		for i, f := range feeds {
			e := entries[i]
			if j, ok := inCall[e.norm]; ok {
				sameCall[len(existing)] = j
				existing = append(existing, babelfeed.Feed{})
				continue
			}
			if sf, ok := stored[e.norm]; ok {
				existing = append(existing, sf)
				continue
			}
			nf := store.NewFeed(f, now)
			inCall[e.norm] = len(added)
			// Earlier addresses find the feed too, unless another feed
			// already has them.
			var prevs []string
			for _, pn := range e.prevs {
				if _, taken := stored[pn]; taken {
					continue
				}
				if _, taken := inCall[pn]; taken {
					continue
				}
				inCall[pn] = len(added)
				prevs = append(prevs, pn)
			}
			added = append(added, nf)
			newEntries = append(newEntries, entry{norm: e.norm, prevs: prevs})
		}
		if len(added) == 0 {
			return nil
		}
		ids, err := s.feedIDs(ctx, tx, len(added), dryRun)
		if err != nil {
			return err
		}
		for i := range added {
			added[i].ID = ids[i]
		}
		for i, j := range sameCall {
			existing[i] = added[j]
		}
		if dryRun {
			return nil
		}
		b := &pgx.Batch{}
		for i := range added {
			f := &added[i]
			data, err := encodeFeed(f)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO feeds (id, url, next_poll, state, data) VALUES ($1, $2, NULL, $3, $4)`,
				int64(f.ID), newEntries[i].norm, string(f.State), data)
			b.Queue(`INSERT INTO feed_urls (url, feed_id) VALUES ($1, $2)`, newEntries[i].norm, int64(f.ID))
			for _, pn := range newEntries[i].prevs {
				b.Queue(`INSERT INTO feed_urls (url, feed_id) VALUES ($1, $2) ON CONFLICT (url) DO NOTHING`, pn, int64(f.ID))
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("insert feeds: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("add feeds: %w", err)
	}
	return added, existing, nil
}

// feedIDs takes n feed IDs from the sequence, or, for a dry run, predicts
// the next n without taking them.
func (s *DB) feedIDs(ctx context.Context, tx pgx.Tx, n int, dryRun bool) ([]uint64, error) {
	ids := make([]uint64, 0, n)
	if dryRun {
		var last int64
		var called bool
		if err := tx.QueryRow(ctx, `SELECT last_value, is_called FROM feeds_id_seq`).Scan(&last, &called); err != nil {
			return nil, fmt.Errorf("read feed ID sequence: %w", err)
		}
		next := last
		if called {
			next++
		}
		for i := range n {
			ids = append(ids, uint64(next)+uint64(i))
		}
		return ids, nil
	}
	rows, err := tx.Query(ctx, `SELECT nextval('feeds_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, fmt.Errorf("assign feed IDs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("assign feed IDs: %w", err)
		}
		ids = append(ids, uint64(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("assign feed IDs: %w", err)
	}
	return ids, nil
}

// Feeds returns every feed ordered by ID, with its Items and Languages
// counts.
func (s *DB) Feeds() ([]babelfeed.Feed, error) {
	ctx, cancel := opContext()
	defer cancel()
	feeds, err := s.allFeeds(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	return feeds, nil
}

// querier is what pgxpool.Pool, pgx.Conn and pgx.Tx share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *DB) allFeeds(ctx context.Context, q querier) ([]babelfeed.Feed, error) {
	rows, err := q.Query(ctx, `SELECT `+feedColumns+` FROM feeds f ORDER BY f.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	feeds := []babelfeed.Feed{}
	for rows.Next() {
		f, err := scanFeed(rows)
		if err != nil {
			return nil, err
		}
		feeds = append(feeds, f)
	}
	return feeds, rows.Err()
}

// Feed returns one feed; a missing one gives an error wrapping
// store.ErrNotFound.
func (s *DB) Feed(id uint64) (babelfeed.Feed, error) {
	ctx, cancel := opContext()
	defer cancel()
	f, err := scanFeed(s.pool.QueryRow(ctx, `SELECT `+feedColumns+` FROM feeds f WHERE f.id = $1`, int64(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return babelfeed.Feed{}, fmt.Errorf("get feed: feed %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return babelfeed.Feed{}, fmt.Errorf("get feed %d: %w", id, err)
	}
	return f, nil
}

// FeedByURL finds a feed by its URL or any URL it had before a permanent
// redirect, compared after store.NormalizeURL.
func (s *DB) FeedByURL(url string) (babelfeed.Feed, error) {
	norm, err := store.NormalizeURL(url)
	if err != nil {
		return babelfeed.Feed{}, fmt.Errorf("get feed by URL: %w", err)
	}
	ctx, cancel := opContext()
	defer cancel()
	f, err := scanFeed(s.pool.QueryRow(ctx, `SELECT `+feedColumns+`
		FROM feed_urls fu JOIN feeds f ON f.id = fu.feed_id WHERE fu.url = $1`, norm))
	if errors.Is(err, pgx.ErrNoRows) {
		return babelfeed.Feed{}, fmt.Errorf("get feed by URL: feed %s: %w", url, store.ErrNotFound)
	}
	if err != nil {
		return babelfeed.Feed{}, fmt.Errorf("get feed by URL %s: %w", url, err)
	}
	return f, nil
}

// UpdateFeed saves f (fetch state, errors, next poll, edited fields)
// without touching its items, as store.DB.UpdateFeed: the derived counts
// are kept from the stored copy, and a changed URL is indexed while the old
// one keeps finding the feed and is remembered in PrevURLs. The last writer
// of a feed wins for every non-derived field.
func (s *DB) UpdateFeed(f babelfeed.Feed) error {
	ctx, cancel := opContext()
	defer cancel()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		stored, err := feedByID(ctx, tx, f.ID, true)
		if err != nil {
			return err
		}
		nf := f
		b := &pgx.Batch{}
		if err := queueFeedState(b, &stored, &nf); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write feed %d: %w", f.ID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update feed %d: %w", f.ID, err)
	}
	return nil
}

// queueFeedState queues the writes of f's non-derived fields over stored
// (whose row the transaction has locked), maintaining the URL index, as
// bbolt's saveFeedState.
func queueFeedState(b *pgx.Batch, stored, f *babelfeed.Feed) error {
	f.URL = strings.TrimSpace(f.URL)
	curNorm, err := store.NormalizeURL(f.URL)
	if err != nil {
		return fmt.Errorf("feed %d: %w", f.ID, err)
	}
	oldNorm, err := store.NormalizeURL(stored.URL)
	if err != nil {
		oldNorm = stored.URL
	}
	prev := append(append([]string(nil), stored.PrevURLs...), f.PrevURLs...)
	if curNorm != oldNorm {
		// A URL already taken by another feed keeps finding that feed.
		b.Queue(`INSERT INTO feed_urls (url, feed_id) VALUES ($1, $2) ON CONFLICT (url) DO NOTHING`, curNorm, int64(f.ID))
		prev = append(prev, stored.URL)
	}
	f.PrevURLs = store.UniqueURLs(prev, curNorm)
	data, err := encodeFeed(f)
	if err != nil {
		return err
	}
	b.Queue(`UPDATE feeds SET url = $2, next_poll = $3, state = $4, data = $5 WHERE id = $1`,
		int64(f.ID), curNorm, nullTime(f.NextPoll), string(f.State), data)
	return nil
}

// RemoveFeed removes a feed, all its items, its tombstones and every URL
// that found it (and, by their foreign keys, its drop records and the rules
// scoped to it: see rules.go); duplicates of its items in other feeds are promoted as
// store.DB.RemoveFeed does (see forgetDuplicates).
func (s *DB) RemoveFeed(id uint64) error {
	ctx, cancel := opContext()
	defer cancel()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := feedByID(ctx, tx, id, true); err != nil {
			return err
		}
		var ids []int64
		rows, err := tx.Query(ctx, `SELECT id FROM items WHERE feed_id = $1`, int64(id))
		if err != nil {
			return fmt.Errorf("list items: %w", err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("list items: %w", err)
		}
		if err := forgetDuplicates(ctx, tx, ids); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM tombstones WHERE feed_id = $1`, int64(id))
		b.Queue(`DELETE FROM items WHERE feed_id = $1`, int64(id))
		b.Queue(`DELETE FROM feeds WHERE id = $1`, int64(id)) // feed_urls cascade
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("delete feed: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove feed %d: %w", id, err)
	}
	return nil
}
