package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// wordIndexer is a test Indexer: lower-cased space-separated words of the
// title, summary and author, the title ones flagged.
func wordIndexer(version string) *Indexer {
	return &Indexer{Version: version, Terms: func(it *babelfeed.Item, dst []Term) []Term {
		seen := map[string]int{}
		add := func(s string, title, author bool) {
			for _, w := range strings.Fields(strings.ToLower(s)) {
				i, ok := seen[w]
				if !ok {
					i = len(dst)
					seen[w] = i
					dst = append(dst, Term{Text: w})
				}
				dst[i].Freq++
				dst[i].Title = dst[i].Title || title
				dst[i].Author = dst[i].Author || author
			}
		}
		add(it.Title, true, false)
		add(it.Summary, false, false)
		add(it.Author, false, true)
		return dst
	}}
}

func openIndexed(t testing.TB, path string, ix *Indexer) *DB {
	t.Helper()
	s, err := Open(path, Options{noSync: true, Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantIndex is what the index must hold for a set of items: postings per
// language and term, rows, totals.
type wantIndex struct {
	postings map[string]map[uint64]Posting // lang 0 term -> item -> posting
	rows     map[uint64]Row
	langs    map[string]LangStats
}

func indexOf(ix *Indexer, items []babelfeed.Item) wantIndex {
	w := wantIndex{postings: map[string]map[uint64]Posting{}, rows: map[uint64]Row{}, langs: map[string]LangStats{}}
	for i := range items {
		it := &items[i]
		n := 0
		for _, t := range ix.Terms(it, nil) {
			k := it.Lang + "\x00" + t.Text
			if w.postings[k] == nil {
				w.postings[k] = map[uint64]Posting{}
			}
			w.postings[k][it.ID] = postingOf(payloadOf(&t))
			n += t.Freq
		}
		w.rows[it.ID] = Row{Pos: PositionOf(it), FeedID: it.FeedID, Len: n}
		st := w.langs[it.Lang]
		st.Docs++
		st.SumLen += int64(n)
		w.langs[it.Lang] = st
	}
	return w
}

// readIndex reads back everything the index holds.
func readIndex(t *testing.T, s *DB) (wantIndex, IndexState) {
	t.Helper()
	got := wantIndex{postings: map[string]map[uint64]Posting{}, rows: map[uint64]Row{}}
	var st IndexState
	err := s.ReadIndex(func(r *IndexReader) error {
		st = r.State()
		var err error
		if got.langs, err = r.Langs(); err != nil {
			return err
		}
		for lang := range got.langs {
			var terms []string
			if err := r.TermsWithPrefix(lang, "", func(term string) bool { terms = append(terms, term); return true }); err != nil {
				return err
			}
			for _, term := range terms {
				m := map[uint64]Posting{}
				last := uint64(0)
				if err := r.Postings(lang, term, func(id uint64, p Posting) bool {
					if id <= last && len(m) > 0 {
						t.Errorf("postings of %s/%s not ascending: %d after %d", lang, term, id, last)
					}
					last = id
					m[id] = p
					return true
				}); err != nil {
					return err
				}
				if n, err := r.Count(lang, term); err != nil || n != len(m) {
					t.Errorf("Count(%s, %s) = %d, %v; %d postings", lang, term, n, err, len(m))
				}
				ids, pays, err := r.AppendPostings(lang, term, nil, nil)
				if err != nil || len(ids) != len(m) || len(pays) != len(ids) {
					t.Errorf("AppendPostings(%s, %s): %d ids, %d payloads, %v; %d postings", lang, term, len(ids), len(pays), err, len(m))
				}
				for i, id := range ids {
					if p, ok := m[id]; !ok || PostingOf(pays[i]) != p || (i > 0 && ids[i-1] >= id) {
						t.Errorf("AppendPostings(%s, %s)[%d] = %d %+v, want %+v", lang, term, i, id, PostingOf(pays[i]), p)
					}
				}
				if len(m) > 0 {
					got.postings[lang+"\x00"+term] = m
				}
			}
		}
		return r.tx.Bucket(bucketItems).ForEach(func(k, _ []byte) error {
			id := u64From(k)
			row, ok, err := r.Row(id)
			if err != nil {
				return err
			}
			if ok {
				got.rows[id] = row
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func u64From(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func allItems(t *testing.T, s *DB) []babelfeed.Item {
	t.Helper()
	var items []babelfeed.Item
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			it, err := decodeItem(u64From(k), v)
			items = append(items, it)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func checkIndex(t *testing.T, s *DB, ix *Indexer) {
	t.Helper()
	want := indexOf(ix, allItems(t, s))
	got, st := readIndex(t, s)
	if !st.Usable(ix.Version) {
		t.Fatalf("index state %+v, want ready %s", st, ix.Version)
	}
	for k := range want.postings {
		if !reflect.DeepEqual(got.postings[k], want.postings[k]) {
			t.Errorf("postings of %q:\n got %v\nwant %v", k, got.postings[k], want.postings[k])
		}
	}
	for k := range got.postings {
		if want.postings[k] == nil {
			t.Errorf("postings of %q left over: %v", k, got.postings[k])
		}
	}
	if !reflect.DeepEqual(got.rows, want.rows) {
		t.Errorf("rows differ:\n got %v\nwant %v", got.rows, want.rows)
	}
	if !reflect.DeepEqual(got.langs, want.langs) {
		t.Errorf("language totals %v, want %v", got.langs, want.langs)
	}
	// The newest time of each block of rows.
	var bounds []int64
	s.ReadIndex(func(r *IndexReader) error { bounds = r.RowBounds(); return nil })
	wantBounds := map[uint64]int64{}
	for id, row := range want.rows {
		bn := id / RowBlock
		if b, ok := wantBounds[bn]; !ok || row.Pos.Nanos > b {
			wantBounds[bn] = row.Pos.Nanos
		}
	}
	for bn, b := range bounds {
		w, ok := wantBounds[uint64(bn)]
		if !ok {
			w = math.MinInt64
		}
		if b != w {
			t.Errorf("bound of row block %d: %d, want %d", bn, b, w)
		}
	}
}

// TestIndexFollowsWrites applies random saves, revisions, retags and feed
// removals and checks after each round that the index equals one built from
// scratch over the items stored. A small vocabulary makes long posting
// lists, so blocks are cut and later edited in the middle.
func TestIndexFollowsWrites(t *testing.T) {
	ix := wordIndexer("w/1")
	s := openIndexed(t, filepath.Join(t.TempDir(), "ix.db"), ix)
	r := rand.New(rand.NewPCG(7, 11))
	vocab := []string{"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"}
	for i := range 40 {
		vocab = append(vocab, fmt.Sprint("rare", i))
	}
	text := func(n int) string {
		var w []string
		for range n {
			// Skewed: the first words are much more frequent.
			w = append(w, vocab[min(r.IntN(len(vocab)), r.IntN(len(vocab)), r.IntN(len(vocab)))])
		}
		return strings.Join(w, " ")
	}
	langs := []string{"it", "de", "und"}
	var feeds []babelfeed.Feed
	addFeeds := func(n int) {
		for range n {
			feeds = append(feeds, addFeed(t, s, fmt.Sprintf("https://f%d.example/rss", r.Int())))
		}
	}
	addFeeds(4)
	version := 0
	for round := range 12 {
		for range 30 {
			switch k := r.IntN(30); {
			case k == 0 && len(feeds) > 2:
				i := r.IntN(len(feeds))
				if err := s.RemoveFeed(feeds[i].ID); err != nil {
					t.Fatal(err)
				}
				feeds = slices.Delete(feeds, i, i+1)
				addFeeds(1)
			case k == 1:
				d, to := uint64(2+r.IntN(4)), langs[r.IntN(len(langs))]
				err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
					if it.ID%d != 0 {
						return false
					}
					it.Lang = to
					it.Summary += " " + text(1)
					return true
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
			default:
				f := feeds[r.IntN(len(feeds))]
				var batch []babelfeed.Item
				for j := range 1 + r.IntN(60) {
					version++
					key := fmt.Sprint("k", r.IntN(150))
					if slices.ContainsFunc(batch, func(it babelfeed.Item) bool { return it.Key == key }) {
						continue
					}
					it := item(key, langs[r.IntN(len(langs))], base.Add(time.Duration(r.IntN(1000))*time.Minute), text(1+r.IntN(4)))
					it.Summary = text(r.IntN(12))
					it.ContentHash = fmt.Sprint(version, j)
					if r.IntN(5) == 0 {
						it.Author = text(1)
					}
					batch = append(batch, it)
				}
				if _, err := s.SaveFetch(f, batch); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Run(fmt.Sprint("round", round), func(t *testing.T) { checkIndex(t, s, ix) })
		if t.Failed() {
			return
		}
	}
	// Long lists were cut into several blocks.
	var blocks int
	s.db.View(func(tx *bolt.Tx) error {
		blocks = tx.Bucket(bucketPostings).Stats().KeyN
		return nil
	})
	got, _ := readIndex(t, s)
	if blocks <= len(got.postings) {
		t.Errorf("%d blocks for %d posting lists: no list was cut", blocks, len(got.postings))
	}
}

func TestIndexStaleAndReindex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ix.db")
	ix := wordIndexer("w/1")
	s, err := Open(path, Options{noSync: true, Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	f := addFeed(t, s, "https://a.example/rss")
	g := addFeed(t, s, "https://b.example/rss")
	langs := []string{"it", "de", "en", "und"}
	save := func(s *DB, f babelfeed.Feed, n int, prefix string) {
		var batch []babelfeed.Item
		for i := range n {
			it := item(fmt.Sprint(prefix, i), langs[i%len(langs)], base.Add(time.Duration(i)*time.Minute), fmt.Sprintf("news %s %d", prefix, i%7))
			batch = append(batch, it)
		}
		if _, err := s.SaveFetch(f, batch); err != nil {
			t.Fatal(err)
		}
	}
	save(s, f, 50, "a")
	checkIndex(t, s, ix)
	s.Close()

	// A write without the Indexer makes the index stale.
	s, err = Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	save(s, f, 30, "b")
	save(s, g, 12, "g")
	if st, _ := s.IndexState(); st.Version != "" || st.Ready {
		t.Errorf("after a write without the Indexer: %+v, want stale", st)
	}
	if err := s.Reindex(context.Background(), nil); err == nil {
		t.Error("Reindex without an Indexer succeeded")
	}
	s.Close()

	// Reindex while a writer revises, adds, retags and removes items: in
	// the bulk part (the changes are noted and redone), and in the
	// incremental part, which is interrupted and then resumed.
	s = openIndexed(t, path, ix)
	s.reindexBatchSize = 4
	ctx, cancel := context.WithCancel(context.Background())
	var sawBulk, wroteInBulk bool
	var bulkUpto uint64
	err = s.Reindex(ctx, func(done, total int) {
		st, err := s.IndexState()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case st.Bulk && !wroteInBulk:
			sawBulk, wroteInBulk, bulkUpto = true, true, st.Upto
			revised := item("a3", "de", base, "neue nachricht")
			revised.ContentHash = "revised"
			if _, err := s.SaveFetch(f, []babelfeed.Item{revised}); err != nil {
				t.Fatal(err)
			}
			save(s, f, 10, "c") // new items, for the incremental part
			if err := s.RemoveFeed(g.ID); err != nil {
				t.Fatal(err)
			}
			err := s.UpdateItems(context.Background(), func(it *babelfeed.Item) bool {
				if it.ID%5 != 0 {
					return false
				}
				it.Lang = "fr"
				return true
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
		case !st.Bulk && !st.Ready && st.Upto > bulkUpto:
			cancel() // after the first incremental batch
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Reindex interrupted: %v", err)
	}
	if !sawBulk {
		t.Fatal("no progress call during the bulk part")
	}
	st, _ := s.IndexState()
	if st.Ready || st.Bulk || st.Upto <= bulkUpto || st.Version != ix.Version {
		t.Errorf("interrupted: %+v (bulk part up to %d)", st, bulkUpto)
	}
	// Revise an item that is already indexed and one that is not yet.
	revised := []babelfeed.Item{item("a5", "de", base, "neue nachricht"), item("c9", "en", base, "fresh news")}
	revised[0].ContentHash, revised[1].ContentHash = "r1", "r2"
	if _, err := s.SaveFetch(f, revised); err != nil {
		t.Fatal(err)
	}
	var progress [][2]int
	if err := s.Reindex(context.Background(), func(done, total int) { progress = append(progress, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	if last := progress[len(progress)-1]; last[0] != 90 || last[1] != 90 || progress[0][0] < 80 {
		t.Errorf("progress %v, want from at least 80 to 90 of 90", progress)
	}
	checkIndex(t, s, ix)

	// A new analysis version: the index is stale until rebuilt; writes
	// skip it meanwhile.
	s.Close()
	ix2 := wordIndexer("w/2")
	s = openIndexed(t, path, ix2)
	save(s, f, 3, "d")
	if st, _ := s.IndexState(); st.Usable(ix2.Version) || st.Version != "" {
		t.Errorf("with another Indexer version: %+v", st)
	}
	if err := s.Reindex(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s, ix2)
}

// TestBulkBuildMatchesIncremental: the bulk build gives the index the
// item-by-item one does, also when a language outgrows its memory budget
// and is written the incremental way.
func TestBulkBuildMatchesIncremental(t *testing.T) {
	ix := wordIndexer("w/1")
	s := openIndexed(t, filepath.Join(t.TempDir(), "ix.db"), ix)
	f := addFeed(t, s, "https://a.example/rss")
	r := rand.New(rand.NewPCG(3, 4))
	var batch []babelfeed.Item
	for i := range 3000 {
		var w []string
		for range 1 + r.IntN(20) {
			w = append(w, fmt.Sprint("w", min(r.IntN(400), r.IntN(400))))
		}
		it := item(fmt.Sprint("k", i), []string{"it", "de"}[i%2], base.Add(time.Duration(r.IntN(9999))*time.Minute), strings.Join(w, " "))
		it.ContentHash = fmt.Sprint(i)
		batch = append(batch, it)
	}
	if _, err := s.SaveFetch(f, batch); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s, ix) // built item by item
	if err := s.Reindex(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s, ix) // built in bulk
	s.bulkBudget = 2000
	if err := s.Reindex(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s, ix) // built in bulk, spilling
}

func TestSchemaUpgradeLeavesNoIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	f := addFeed(t, s, "https://a.example/rss")
	if _, err := s.SaveFetch(f, []babelfeed.Item{item("x", "it", base, "ciao mondo")}); err != nil {
		t.Fatal(err)
	}
	// Make it a version 1 file.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64(1)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a version 1 file: %v", err)
	}
	ro.Close()
	ix := wordIndexer("w/1")
	s = openIndexed(t, path, ix)
	var version uint64
	s.db.View(func(tx *bolt.Tx) error { version = u64From(tx.Bucket(bucketMeta).Get(keySchema)); return nil })
	if version != SchemaVersion {
		t.Errorf("schema %d after a read-write open, want %d", version, SchemaVersion)
	}
	if st, _ := s.IndexState(); st.Version != "" {
		t.Errorf("upgraded file has an index: %+v", st)
	}
	if err := s.Reindex(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s, ix)
}

func TestBlockCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		k := r.Uint64N(1 << 40)
		var ps []posting
		id := k
		for range 1 + r.IntN(300) {
			id += r.Uint64N(1 << uint(r.IntN(30)))
			pay := byte(plainPayload)
			if r.IntN(3) == 0 {
				pay = byte(r.IntN(256)) | 1
			}
			ps = append(ps, posting{id, pay})
			id++
		}
		got, err := decodeBlock(nil, k, encodeBlock(k, ps))
		if err != nil || !slices.Equal(got, ps) {
			t.Fatalf("round trip: %v\n got %v\nwant %v", err, got, ps)
		}
	}
	if _, err := decodeBlock(nil, 0, []byte{5, 0, 2}); err == nil {
		t.Error("a truncated block decoded")
	}
}

func TestApplyOps(t *testing.T) {
	ps := []posting{{1, 1}, {3, 1}, {5, 1}}
	got := applyOps(slices.Clone(ps), []op{{id: 2, add: true, pay: 7}, {id: 3}, {id: 5}, {id: 5, add: true, pay: 9}, {id: 6, add: true, pay: 1}})
	want := []posting{{1, 1}, {2, 7}, {5, 9}, {6, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("applyOps = %v, want %v", got, want)
	}
	got = applyOps(slices.Clone(ps), []op{{id: 9, add: true, pay: 1}, {id: 9}})
	if !slices.Equal(got, ps) {
		t.Errorf("add then delete past the end: %v", got)
	}
}
