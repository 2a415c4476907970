package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// buckets holds every bucket of one transaction.
type buckets struct {
	meta, feeds, urls, items, keys, idxTime, idxLang, idxFeed *bolt.Bucket
}

func bucketsOf(tx *bolt.Tx) buckets {
	return buckets{
		meta:    tx.Bucket(bucketMeta),
		feeds:   tx.Bucket(bucketFeeds),
		urls:    tx.Bucket(bucketFeedURLs),
		items:   tx.Bucket(bucketItems),
		keys:    tx.Bucket(bucketItemKeys),
		idxTime: tx.Bucket(bucketIdxTime),
		idxLang: tx.Bucket(bucketIdxLang),
		idxFeed: tx.Bucket(bucketIdxFeed),
	}
}

func decodeFeed(v []byte) (babelfeed.Feed, error) {
	var f babelfeed.Feed
	if err := json.Unmarshal(v, &f); err != nil {
		return f, fmt.Errorf("decode feed record: %w", err)
	}
	if f.Languages == nil {
		f.Languages = map[string]int{}
	}
	return f, nil
}

func (b buckets) feed(id uint64) (babelfeed.Feed, error) {
	v := b.feeds.Get(u64(id))
	if v == nil {
		return babelfeed.Feed{}, fmt.Errorf("feed %d: %w", id, ErrNotFound)
	}
	f, err := decodeFeed(v)
	if err != nil {
		return f, fmt.Errorf("feed %d: %w", id, err)
	}
	return f, nil
}

func (b buckets) putFeed(f *babelfeed.Feed) error {
	v, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode feed %d: %w", f.ID, err)
	}
	if err := b.feeds.Put(u64(f.ID), v); err != nil {
		return fmt.Errorf("write feed %d: %w", f.ID, err)
	}
	return nil
}

// allFeeds returns every feed, ordered by ID.
func (b buckets) allFeeds() ([]babelfeed.Feed, error) {
	var feeds []babelfeed.Feed
	err := b.feeds.ForEach(func(k, v []byte) error {
		f, err := decodeFeed(v)
		if err != nil {
			return fmt.Errorf("feed %d: %w", binary.BigEndian.Uint64(k), err)
		}
		feeds = append(feeds, f)
		return nil
	})
	return feeds, err
}

// AddFeeds subscribes to feeds, deduplicated by NormalizeURL (against the
// stored feeds, their earlier URLs, and earlier entries of the same call).
// A new feed gets an ID, Added = now, State ok, a zero NextPoll (due now) and
// zero counts; its other fields are kept as given. It returns the feeds added
// and, for the duplicates, the stored copies. All of it happens in one
// transaction; with dryRun the answer is computed the same way (including
// the IDs that would be assigned) but nothing is written.
func (s *DB) AddFeeds(feeds []babelfeed.Feed, dryRun bool) (added, existing []babelfeed.Feed, err error) {
	run := s.db.Update
	if dryRun {
		run = s.db.View
	}
	err = run(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		seq := b.feeds.Sequence()
		now := time.Now().UTC()
		inCall := map[string]int{} // normalised URL -> index in added
		for _, f := range feeds {
			norm, err := NormalizeURL(f.URL)
			if err != nil {
				return fmt.Errorf("add feed %q: %w", f.Title, err)
			}
			if i, ok := inCall[norm]; ok {
				existing = append(existing, added[i])
				continue
			}
			if v := b.urls.Get([]byte(norm)); v != nil {
				stored, err := b.feed(binary.BigEndian.Uint64(v))
				if err != nil {
					return fmt.Errorf("add feed %s: %w", f.URL, err)
				}
				existing = append(existing, stored)
				continue
			}
			seq++
			nf := NewFeed(f, now)
			nf.ID = seq
			inCall[norm] = len(added)
			added = append(added, nf)
			if dryRun {
				continue
			}
			if err := b.putFeed(&nf); err != nil {
				return err
			}
			if err := b.urls.Put([]byte(norm), u64(nf.ID)); err != nil {
				return fmt.Errorf("index feed URL %s: %w", nf.URL, err)
			}
			// Earlier addresses a feed brings along (say, from an export)
			// find it too, unless another feed already has them.
			for _, prev := range nf.PrevURLs {
				if pn, err := NormalizeURL(prev); err == nil && b.urls.Get([]byte(pn)) == nil {
					if err := b.urls.Put([]byte(pn), u64(nf.ID)); err != nil {
						return fmt.Errorf("index feed URL %s: %w", prev, err)
					}
				}
			}
		}
		if dryRun {
			return nil
		}
		if err := b.feeds.SetSequence(seq); err != nil {
			return fmt.Errorf("advance feed IDs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("add feeds: %w", err)
	}
	return added, existing, nil
}

// feedsIn returns every feed as of the read transaction tx, ordered by ID,
// decoding the records only if something was committed since the last call.
// The result is shared: callers must not modify it.
func (s *DB) feedsIn(tx *bolt.Tx) ([]babelfeed.Feed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.feeds != nil && s.feedsTxID == tx.ID() {
		return s.feeds, nil
	}
	feeds, err := bucketsOf(tx).allFeeds()
	if err != nil {
		return nil, err
	}
	if feeds == nil {
		feeds = []babelfeed.Feed{}
	}
	s.feeds, s.feedsTxID = feeds, tx.ID()
	return feeds, nil
}

// Feeds returns every feed ordered by ID, with its Items and Languages counts.
func (s *DB) Feeds() ([]babelfeed.Feed, error) {
	var shared []babelfeed.Feed
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		shared, err = s.feedsIn(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	feeds := make([]babelfeed.Feed, len(shared))
	for i, f := range shared {
		f.Category = slices.Clone(f.Category)
		f.PrevURLs = slices.Clone(f.PrevURLs)
		f.Languages = maps.Clone(f.Languages)
		feeds[i] = f
	}
	return feeds, nil
}

// Feed returns one feed; a missing one gives an error wrapping ErrNotFound.
func (s *DB) Feed(id uint64) (babelfeed.Feed, error) {
	var f babelfeed.Feed
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		f, err = bucketsOf(tx).feed(id)
		return err
	})
	if err != nil {
		return babelfeed.Feed{}, fmt.Errorf("get feed: %w", err)
	}
	return f, nil
}

// FeedByURL finds a feed by its URL or any URL it had before a permanent
// redirect, compared after NormalizeURL.
func (s *DB) FeedByURL(url string) (babelfeed.Feed, error) {
	norm, err := NormalizeURL(url)
	if err != nil {
		return babelfeed.Feed{}, fmt.Errorf("get feed by URL: %w", err)
	}
	var f babelfeed.Feed
	err = s.db.View(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		v := b.urls.Get([]byte(norm))
		if v == nil {
			return fmt.Errorf("feed %s: %w", url, ErrNotFound)
		}
		f, err = b.feed(binary.BigEndian.Uint64(v))
		return err
	})
	if err != nil {
		return babelfeed.Feed{}, fmt.Errorf("get feed by URL: %w", err)
	}
	return f, nil
}

// UpdateFeed saves f (fetch state, errors, next poll, and any edited field
// such as Title or Category) without touching its items. The derived counts
// (Items, Languages) are kept from the stored copy, whatever f says. If
// f.URL changed (a permanent redirect), the new URL is indexed and the old
// one keeps finding the feed and is remembered in PrevURLs.
//
// The store does not merge concurrent edits: the last writer of a feed wins
// for every non-derived field.
func (s *DB) UpdateFeed(f babelfeed.Feed) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		stored, err := b.feed(f.ID)
		if err != nil {
			return err
		}
		f.Items, f.Languages = stored.Items, stored.Languages
		return b.saveFeedState(&stored, &f)
	})
	if err != nil {
		return fmt.Errorf("update feed %d: %w", f.ID, err)
	}
	return nil
}

// saveFeedState writes f over stored, maintaining the URL index. f's counts
// must already be right.
func (b buckets) saveFeedState(stored, f *babelfeed.Feed) error {
	f.URL = strings.TrimSpace(f.URL)
	curNorm, err := NormalizeURL(f.URL)
	if err != nil {
		return fmt.Errorf("feed %d: %w", f.ID, err)
	}
	oldNorm, err := NormalizeURL(stored.URL)
	if err != nil {
		oldNorm = stored.URL
	}
	prev := append(append([]string(nil), stored.PrevURLs...), f.PrevURLs...)
	if curNorm != oldNorm {
		// A URL already taken by another feed keeps finding that feed: the
		// caller decides what to do with two subscriptions to one address.
		v := b.urls.Get([]byte(curNorm))
		if v == nil {
			if err := b.urls.Put([]byte(curNorm), u64(f.ID)); err != nil {
				return fmt.Errorf("index feed URL %s: %w", f.URL, err)
			}
		}
		prev = append(prev, stored.URL)
	}
	f.PrevURLs = UniqueURLs(prev, curNorm)
	return b.putFeed(f)
}

// NewFeed is f as both stores add it at now, before it gets its ID: its
// URL trimmed, Added now, State ok, no NextPoll (due at once), no items
// and no languages counted. Both engines' AddFeeds start a feed with it,
// so a new feed is the same in either.
func NewFeed(f babelfeed.Feed, now time.Time) babelfeed.Feed {
	f.URL = strings.TrimSpace(f.URL)
	f.Added = now
	f.State = babelfeed.StateOK
	f.NextPoll = time.Time{}
	f.Items = 0
	f.Languages = map[string]int{}
	return f
}

// UniqueURLs drops from urls the duplicates (compared by NormalizeURL; a
// URL it cannot parse stands for itself) and those that normalise to
// current, the feed's normalised URL, keeping the first spelling and the
// order: what a feed keeps as PrevURLs. Both engines' UpdateFeed keep
// PrevURLs with it, so they hold the same ones.
func UniqueURLs(urls []string, current string) []string {
	seen := map[string]bool{current: true}
	var out []string
	for _, u := range urls {
		n, err := NormalizeURL(u)
		if err != nil {
			n = u
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, u)
		}
	}
	return out
}

// RemoveFeed removes a feed, all its items, their index entries and every
// URL that found the feed.
func (s *DB) RemoveFeed(id uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		if _, err := b.feed(id); err != nil {
			return err
		}
		// idx_feed has time, ID and language of every item of the feed,
		// which is all it takes to find the other index entries without
		// decoding items. Collect first: deleting under a cursor skips keys.
		prefix := feedPrefix(id)
		var feedKeys [][]byte
		var langs []string
		c := b.idxFeed.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			feedKeys = append(feedKeys, bytes.Clone(k))
			langs = append(langs, string(v))
		}
		ids := make([]uint64, len(feedKeys))
		for i, k := range feedKeys {
			_, ids[i] = parseSuffix(k[len(prefix):])
		}
		if err := b.forgetDuplicates(tx, ids); err != nil {
			return err
		}
		if err := forgetFeedRules(tx, id); err != nil {
			return err
		}
		if err := forgetTombstones(tx, id); err != nil {
			return err
		}
		if err := s.unindexItems(tx, b, ids); err != nil {
			return err
		}
		for i, k := range feedKeys {
			n, itemID := parseSuffix(k[len(prefix):])
			for _, del := range []struct {
				bucket *bolt.Bucket
				key    []byte
			}{
				{b.idxTime, idxTimeKey(n, itemID)},
				{b.idxLang, idxLangKey(langs[i], n, itemID)},
				{b.idxFeed, k},
				{b.items, u64(itemID)},
			} {
				if err := del.bucket.Delete(del.key); err != nil {
					return fmt.Errorf("delete item %d: %w", itemID, err)
				}
			}
		}
		if err := deletePrefix(b.keys, prefix); err != nil {
			return fmt.Errorf("delete item keys: %w", err)
		}
		var urls [][]byte
		idBytes := u64(id)
		if err := b.urls.ForEach(func(k, v []byte) error {
			if bytes.Equal(v, idBytes) {
				urls = append(urls, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range urls {
			if err := b.urls.Delete(k); err != nil {
				return fmt.Errorf("delete feed URL %s: %w", k, err)
			}
		}
		if err := b.feeds.Delete(idBytes); err != nil {
			return fmt.Errorf("delete feed record: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove feed %d: %w", id, err)
	}
	return nil
}

func deletePrefix(bk *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
