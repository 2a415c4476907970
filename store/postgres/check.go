package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// DB is the PostgreSQL implementation of store.Store; Check is the last
// method it needed.
var _ store.Store = (*DB)(nil)

// checkMaxProblems bounds how many problems a report lists, as the bbolt
// store's Check does.
const checkMaxProblems = 50

func checkProblem(rep *store.CheckReport, format string, args ...any) {
	if len(rep.Problems) < checkMaxProblems {
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		return
	}
	rep.MoreProblems++
}

// checkEvery is how many items Check reads between looks at its context.
const checkEvery = 1000

// Check verifies the store without changing it. PostgreSQL keeps its own
// pages and the constraints (unique keys, foreign keys) hold by
// themselves, so this checks what they cannot: every item decodes, its
// columns (key, language, sort time, content hash) agree with its data,
// and its feed exists; duplicates point at an existing original that is
// not itself a duplicate; every item has its keyword terms when the index
// is marked ready (or built up to it); each feed's item and language
// counts match its items and its url column is its normalised URL; the
// ID sequences are ahead of every ID used; entries of the duplicate index
// point at existing items of the right feed; tombstones belong to stored
// feeds and no live item has a tombstoned key.
//
// It reads one snapshot (a repeatable-read transaction), so pollers may
// keep writing meanwhile. It returns the report and, when problems were
// found, an error wrapping store.ErrInconsistent; other errors mean the
// check could not run. CheckReport.Pages stays 0.
func (s *DB) Check(ctx context.Context) (store.CheckReport, error) {
	var rep store.CheckReport
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("check store %s: %w", s.name, err)
	}
	defer tx.Rollback(context.Background())
	if err := checkDB(ctx, tx, &rep); err != nil {
		return rep, fmt.Errorf("check store %s: %w", s.name, err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("check store %s: %w: %d problems", s.name, store.ErrInconsistent, len(rep.Problems)+rep.MoreProblems)
	}
	return rep, nil
}

func checkDB(ctx context.Context, tx pgx.Tx, rep *store.CheckReport) error {
	var schema string
	switch err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'schema'`).Scan(&schema); {
	case errors.Is(err, pgx.ErrNoRows):
		checkProblem(rep, "meta: no schema version")
	case err != nil:
		return err
	default:
		if _, err := strconv.Atoi(schema); err != nil {
			checkProblem(rep, "meta: schema version %q is not a number", schema)
		}
	}

	feeds, maxFeed, err := checkFeeds(ctx, tx, rep)
	if err != nil {
		return err
	}
	tally, maxItem, err := checkItems(ctx, tx, feeds, rep)
	if err != nil {
		return err
	}
	for id, f := range feeds {
		t := tally[id]
		if t == nil {
			t = &checkTally{langs: map[string]int{}}
		}
		if f.Items != t.items {
			checkProblem(rep, "feed %d: counts %d items, has %d", id, f.Items, t.items)
		}
		if !maps.Equal(f.Languages, t.langs) {
			checkProblem(rep, "feed %d: counts languages %v, items have %v", id, f.Languages, t.langs)
		}
	}

	var maxRule int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM rules`).Scan(&maxRule); err != nil {
		return err
	}
	for _, seq := range []struct {
		name, what string
		max        int64
	}{{"feeds_id_seq", "feed", maxFeed}, {"items_id_seq", "item", maxItem}, {"rules_id_seq", "rule", maxRule}} {
		var last int64
		var called bool
		if err := tx.QueryRow(ctx, `SELECT last_value, is_called FROM `+seq.name).Scan(&last, &called); err != nil {
			return fmt.Errorf("read %s: %w", seq.name, err)
		}
		// The next ID is last_value, or the one after once it was used.
		next := last
		if called {
			next++
		}
		if seq.max > 0 && next <= seq.max {
			checkProblem(rep, "%s: next ID %d is not past %s %d: IDs would be reused", seq.name, next, seq.what, seq.max)
		}
	}

	return checkQueries(ctx, tx, rep)
}

// checkTally is what the items say a feed's counts should be.
type checkTally struct {
	items int
	langs map[string]int
}

// checkFeeds reads every feed with its counts and checks its record
// against its columns.
func checkFeeds(ctx context.Context, tx pgx.Tx, rep *store.CheckReport) (map[uint64]babelfeed.Feed, int64, error) {
	rows, err := tx.Query(ctx, `SELECT id, url, data, items, langs FROM feeds ORDER BY id`)
	if err != nil {
		return nil, 0, err
	}
	feeds := map[uint64]babelfeed.Feed{}
	var maxID, id int64
	var url string
	var data, langs []byte
	var items int
	_, err = pgx.ForEachRow(rows, []any{&id, &url, &data, &items, &langs}, func() error {
		maxID = max(maxID, id)
		rep.Feeds++
		f, err := decodeFeed(data, items, langs)
		if err != nil {
			checkProblem(rep, "feed %d: %v", id, err)
			return nil
		}
		if f.ID != uint64(id) {
			checkProblem(rep, "feed %d: record says ID %d", id, f.ID)
		}
		if norm, err := store.NormalizeURL(f.URL); err != nil || norm != url {
			checkProblem(rep, "feed %d: url column %q, its URL %q normalises to %q (%v)", id, url, f.URL, norm, err)
		}
		feeds[uint64(id)] = f
		return nil
	})
	return feeds, maxID, err
}

// checkItems reads every item, checks it against its columns, its feed
// and the keyword index state, and counts items per feed and language.
func checkItems(ctx context.Context, tx pgx.Tx, feeds map[uint64]babelfeed.Feed, rep *store.CheckReport) (map[uint64]*checkTally, int64, error) {
	st, err := readIndexState(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	covers := func(id int64) bool {
		return st.Version != "" && (st.Ready || uint64(id) <= st.Upto)
	}
	rows, err := tx.Query(ctx, `SELECT id, feed_id, key_id, lang, sort_ns, content_hash, data, terms IS NULL
		FROM items ORDER BY id`)
	if err != nil {
		return nil, 0, err
	}
	tally := map[uint64]*checkTally{}
	var maxID, id, feedID, sortNS int64
	var kid, hash, data []byte
	var lang string
	var noTerms bool
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&id, &feedID, &kid, &lang, &sortNS, &hash, &data, &noTerms}, func() error {
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		maxID = max(maxID, id)
		rep.Items++
		if _, ok := feeds[uint64(feedID)]; !ok {
			checkProblem(rep, "item %d: its feed %d does not exist", id, feedID)
		}
		t := tally[uint64(feedID)]
		if t == nil {
			t = &checkTally{langs: map[string]int{}}
			tally[uint64(feedID)] = t
		}
		t.items++
		t.langs[lang]++
		if noTerms && covers(id) {
			checkProblem(rep, "item %d: no keyword terms, but the index (%s) is marked as covering it", id, st.Version)
		}
		it, err := decodeItem(data)
		if err != nil {
			checkProblem(rep, "item %d: %v", id, err)
			return nil
		}
		if want := store.ItemKeyID(it.Key); !bytes.Equal(kid, want) {
			checkProblem(rep, "item %d: key_id %q, its key %q", id, kid, it.Key)
		}
		if lang != it.Lang {
			checkProblem(rep, "item %d: lang column %q, the item says %q", id, lang, it.Lang)
		}
		if want := store.UnixNanos(store.SortTime(&it)); sortNS != want {
			checkProblem(rep, "item %d: sort_ns %d, its sort time is %d", id, sortNS, want)
		}
		if string(hash) != it.ContentHash {
			checkProblem(rep, "item %d: content_hash column %q, the item says %q", id, hash, it.ContentHash)
		}
		return nil
	})
	return tally, maxID, err
}

// checkQueries runs the checks that SQL answers by itself: each query
// returns one row per problem, as the text to report.
func checkQueries(ctx context.Context, tx pgx.Tx, rep *store.CheckReport) error {
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tombstones`).Scan(&rep.Tombstones); err != nil {
		return err
	}
	for _, q := range []string{
		`SELECT format('item %s: duplicate of item %s, which does not exist', i.id, i.duplicate_of)
			FROM items i LEFT JOIN items o ON o.id = i.duplicate_of
			WHERE i.duplicate_of IS NOT NULL AND o.id IS NULL ORDER BY i.id LIMIT 51`,
		`SELECT format('item %s: duplicate of item %s, itself a duplicate of %s', i.id, o.id, o.duplicate_of)
			FROM items i JOIN items o ON o.id = i.duplicate_of
			WHERE o.duplicate_of IS NOT NULL ORDER BY i.id LIMIT 51`,
		`SELECT format('dup_url %s: points to item %s of feed %s, %s', encode(d.url_key, 'escape'), d.root, d.root_feed,
				CASE WHEN i.id IS NULL THEN 'which does not exist' ELSE 'which is of feed ' || i.feed_id END)
			FROM dup_url d LEFT JOIN items i ON i.id = d.root
			WHERE i.id IS NULL OR i.feed_id <> d.root_feed ORDER BY d.root LIMIT 51`,
		`SELECT format('dup_title %s day %s: points to item %s of feed %s, %s', encode(d.title_hash, 'hex'), d.day, d.root, d.root_feed,
				CASE WHEN i.id IS NULL THEN 'which does not exist' ELSE 'which is of feed ' || i.feed_id END)
			FROM dup_title d LEFT JOIN items i ON i.id = d.root
			WHERE i.id IS NULL OR i.feed_id <> d.root_feed ORDER BY d.root LIMIT 51`,
		`SELECT format('tombstone %s of feed %s: its feed does not exist', encode(t.key_id, 'escape'), t.feed_id)
			FROM tombstones t LEFT JOIN feeds f ON f.id = t.feed_id
			WHERE f.id IS NULL ORDER BY t.feed_id, t.key_id LIMIT 51`,
		`SELECT format('tombstone %s of feed %s: a live item (%s) has that key', encode(t.key_id, 'escape'), t.feed_id, i.id)
			FROM tombstones t JOIN items i ON i.feed_id = t.feed_id AND i.key_id = t.key_id
			ORDER BY t.feed_id, t.key_id LIMIT 51`,
	} {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		var p string
		if _, err := pgx.ForEachRow(rows, []any{&p}, func() error {
			checkProblem(rep, "%s", p)
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
