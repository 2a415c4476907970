package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/search"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
)

// checkStore builds a store with items in two feeds, cross-feed
// duplicates and tombstones, which Check must find sound.
func checkStore(t *testing.T) (*DB, []babelfeed.Feed) {
	t.Helper()
	s, err := Open(context.Background(), pgtest.DSN(t), Options{Indexer: search.Indexer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	feeds, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://a.example/feed"}, {URL: "HTTPS://B.example:443/feed"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for fi, f := range feeds {
		var items []babelfeed.Item
		for i := range 8 {
			lang := []string{"it", "en"}[i%2]
			key := fmt.Sprintf("k%d", i)
			if i == 7 {
				key = strings.Repeat("x", 300) // hashed key_id
			}
			items = append(items, babelfeed.Item{
				Key: key, URL: fmt.Sprintf("https://news.example/%d/story-%d", fi*(i%2), i),
				Title:     fmt.Sprintf("story number %d about the market square of the town", i),
				Summary:   "il mercato della piazza",
				Published: base.Add(time.Duration(i) * time.Hour), Lang: lang, ContentHash: fmt.Sprint("h", i),
			})
		}
		if _, err := s.SaveFetch(f, items); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: 6}, base); err != nil {
		t.Fatal(err)
	}
	return s, feeds
}

func TestCheckSoundStore(t *testing.T) {
	s, _ := checkStore(t)
	rep, err := s.Check(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("Check: %v\n%s", err, strings.Join(rep.Problems, "\n"))
	}
	if rep.Feeds != 2 || rep.Items != 12 || rep.Tombstones != 4 {
		t.Errorf("report counts %d feeds, %d items, %d tombstones; want 2, 12, 4", rep.Feeds, rep.Items, rep.Tombstones)
	}
	groups, err := s.DuplicateGroups()
	if err != nil || len(groups) == 0 {
		t.Errorf("the store has no duplicates to check: %v %v", groups, err)
	}
}

// Each damage a writer could leave behind is reported.
func TestCheckFindsDamage(t *testing.T) {
	s, feeds := checkStore(t)
	ctx := context.Background()
	var ids []int64
	rows, _ := s.pool.Query(ctx, `SELECT id FROM items ORDER BY id`)
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	a, b := int64(feeds[0].ID), int64(feeds[1].ID)
	damage := []struct {
		sql  string
		args []any
		want string
	}{
		{`UPDATE items SET feed_id = 999 WHERE id = $1`, []any{ids[0]}, fmt.Sprintf("item %d: its feed 999 does not exist", ids[0])},
		{`UPDATE items SET duplicate_of = 12345 WHERE id = $1`, []any{ids[1]}, fmt.Sprintf("item %d: duplicate of item 12345, which does not exist", ids[1])},
		{`UPDATE items SET terms = NULL WHERE id = $1`, []any{ids[2]}, fmt.Sprintf("item %d: no keyword terms", ids[2])},
		{`UPDATE items SET lang = 'de' WHERE id = $1`, []any{ids[3]}, fmt.Sprintf("item %d: lang column \"de\"", ids[3])},
		{`UPDATE items SET sort_ns = sort_ns + 1 WHERE id = $1`, []any{ids[4]}, fmt.Sprintf("item %d: sort_ns", ids[4])},
		{`UPDATE items SET key_id = 'other' WHERE id = $1`, []any{ids[5]}, fmt.Sprintf("item %d: key_id \"other\"", ids[5])},
		{`UPDATE items SET data = '\x00'::bytea WHERE id = $1`, []any{ids[6]}, fmt.Sprintf("item %d: corrupt", ids[6])},
		{`UPDATE feeds SET items = items + 1 WHERE id = $1`, []any{b}, fmt.Sprintf("feed %d: counts", b)},
		{`UPDATE feeds SET url = 'https://elsewhere.example/' WHERE id = $1`, []any{b}, fmt.Sprintf("feed %d: url column", b)},
		{`INSERT INTO tombstones (feed_id, key_id, content_hash) SELECT feed_id, key_id, content_hash FROM items WHERE id = $1`,
			[]any{ids[len(ids)-1]}, "a live item"},
		{`INSERT INTO tombstones (feed_id, key_id, content_hash) VALUES (4242, 'k', 'h')`, nil, "tombstone k of feed 4242: its feed does not exist"},
		{`UPDATE dup_url SET root = 777777 WHERE url_key = (SELECT url_key FROM dup_url ORDER BY url_key LIMIT 1)`, nil, "which does not exist"},
		{`SELECT setval('items_id_seq', 1)`, nil, "items_id_seq: next ID 2 is not past item"},
		{`UPDATE meta SET value = 'x' WHERE key = 'schema'`, nil, `schema version "x"`},
	}
	for _, d := range damage {
		if _, err := s.pool.Exec(ctx, d.sql, d.args...); err != nil {
			t.Fatalf("%s: %v", d.sql, err)
		}
	}
	// A duplicate whose original is a duplicate itself.
	var dup, orig int64
	if err := s.pool.QueryRow(ctx, `SELECT id, duplicate_of FROM items WHERE duplicate_of IS NOT NULL AND feed_id = $1 ORDER BY id LIMIT 1`, b).Scan(&dup, &orig); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE items SET duplicate_of = $1 WHERE id = $2`, dup, orig); err != nil {
		t.Fatal(err)
	}
	_ = a

	rep, err := s.Check(ctx)
	if !errors.Is(err, store.ErrInconsistent) {
		t.Fatalf("Check of a damaged store: %v", err)
	}
	all := strings.Join(rep.Problems, "\n")
	for _, d := range damage {
		if !strings.Contains(all, d.want) {
			t.Errorf("not reported: %q (after %s)", d.want, d.sql)
		}
	}
	if want := fmt.Sprintf("itself a duplicate of %d", dup); !strings.Contains(all, want) {
		t.Errorf("not reported: %q", want)
	}
	if t.Failed() {
		t.Logf("problems:\n%s", all)
	}
}
