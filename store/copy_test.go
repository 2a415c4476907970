package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"babelfeed"
)

// copySource builds a store with something of every kind a copy must
// carry: feeds with categories and a redirect, items in several
// languages with a hashed key, cross-feed duplicates, rules with counts
// and gaps in their IDs, drop records, saved queries, and tombstones
// (one of a hashed key, some of items no longer carried).
func copySource(t *testing.T, ix *Indexer) *DB {
	t.Helper()
	s := openIndexed(t, filepath.Join(t.TempDir(), "src.db"), ix)
	a := addFeed(t, s, "https://a.example/feed", "Notizie", "Italia")
	b := addFeed(t, s, "https://b.example/feed")
	c := addFeed(t, s, "https://c.example/old")
	c.URL = "https://c.example/new" // a permanent redirect
	c.ETag, c.LastStatus = `"v1"`, 200
	if err := s.UpdateFeed(c); err != nil {
		t.Fatal(err)
	}

	long := strings.Repeat("guid-", 80) // stored hashed
	docA := feedDoc("a", 0, 8)
	docA[0].Key, docA[0].GUID = long, long
	docA[3].Lang, docA[3].Author = "de", "Hans Müller"
	save(t, s, a.ID, docA...)
	// Feed b carries the same stories as a (by link and by title).
	dup1 := item("b1", "it", base.Add(5*time.Hour), "something else entirely, b")
	dup1.URL = docA[5].URL + "?utm_source=x"
	dup2 := item("b2", "en", base.Add(6*time.Hour), docA[6].Title)
	own := item("b3", "es", base.Add(7*time.Hour), "una noticia propia del feed b")
	save(t, s, b.ID, dup1, dup2, own)
	save(t, s, c.ID, feedDoc("c", 0, 3)...)

	r1, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	r2, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it", FeedID: b.ID})
	r3, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "oroscopo", Category: "Notizie"})
	if err := s.RemoveRule(r2.ID); err != nil {
		t.Fatal(err)
	}
	_, version, _ := s.Rules()
	err := s.SaveRuleOutcome(RuleOutcome{FeedID: a.ID, Version: version,
		Drops:    []Drop{{Key: "x1", ContentHash: "hx1", RuleID: r1.ID}, {Key: strings.Repeat("y", 300), ContentHash: "hy", RuleID: r3.ID}},
		Kept:     map[uint64]int{r3.ID: 2},
		Timeouts: map[uint64]int{r1.ID: 1},
		At:       base.Add(123456789)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRuleOutcome(RuleOutcome{FeedID: c.ID, Version: version, Drops: []Drop{{Key: "z", ContentHash: "hz", RuleID: r1.ID}}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []SavedQuery{{Name: "italiano", Query: "lang:it -calcio"}, {Name: "Tutto", Query: "lang:it,es,de"}} {
		if err := s.SaveQuery(q, false); err != nil {
			t.Fatal(err)
		}
	}
	// Retention removes the oldest items of a (the hashed key among them),
	// then a document without two of them marks those missing.
	if _, err := s.Prune(context.Background(), Retention{MaxPerFeed: 5}, base); err != nil {
		t.Fatal(err)
	}
	f, _ := s.Feed(a.ID)
	if _, err := s.SaveFetch(f, docA[1:]); err != nil {
		t.Fatal(err)
	}
	return s
}

func exportAll(t *testing.T, s *DB) []Record {
	t.Helper()
	var recs []Record
	if err := s.Export(context.Background(), func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// importAll imports recs in batches of n and finishes the import.
func importAll(t *testing.T, s *DB, recs []Record, n int) {
	t.Helper()
	for i := 0; i < len(recs); i += n {
		if err := s.Import(context.Background(), recs[i:min(i+n, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishImport(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// kinds counts records by kind, so the test knows it exercised each.
func kinds(recs []Record) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		switch {
		case r.Feed != nil:
			m["feed"]++
		case r.Item != nil:
			m["item"]++
			if r.Item.DuplicateOf != 0 {
				m["duplicate"]++
			}
		case r.Rule != nil:
			m["rule"]++
		case r.Saved != nil:
			m["saved"]++
		case r.Dropped != nil:
			m["dropped"]++
		case r.Tombstone != nil:
			m["tombstone"]++
			if r.Tombstone.Key[0] == 0xff {
				m["hashed tombstone"]++
			}
			if !r.Tombstone.Missing.IsZero() {
				m["missing tombstone"]++
			}
		}
	}
	return m
}

func TestCopyKeepsEverything(t *testing.T) {
	ix := wordIndexer("copy-test")
	src := copySource(t, ix)
	recs := exportAll(t, src)
	k := kinds(recs)
	for _, kind := range []string{"feed", "item", "duplicate", "rule", "saved", "dropped", "tombstone", "hashed tombstone", "missing tombstone"} {
		if k[kind] == 0 {
			t.Errorf("the source has no %s record: %v", kind, k)
		}
	}

	dst := openIndexed(t, filepath.Join(t.TempDir(), "dst.db"), ix)
	importAll(t, dst, recs, 4)
	got := exportAll(t, dst)
	if len(got) != len(recs) {
		t.Fatalf("%d records after the copy, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !reflect.DeepEqual(got[i], recs[i]) {
			t.Errorf("record %d:\n got %s\nwant %s", i, showRecord(got[i]), showRecord(recs[i]))
		}
	}

	mustCheck(t, dst)
	checkIndex(t, dst, ix)
	srcGroups, _ := src.DuplicateGroups()
	dstGroups, _ := dst.DuplicateGroups()
	if !reflect.DeepEqual(srcGroups, dstGroups) || len(srcGroups) == 0 {
		t.Errorf("duplicate groups %v, want %v", dstGroups, srcGroups)
	}
	_, sv, _ := src.Rules()
	_, dv, _ := dst.Rules()
	if sv != dv {
		t.Errorf("rules version %d, want %d", dv, sv)
	}
	feeds, _ := src.Feeds()
	for _, f := range feeds {
		sk, _ := src.Known(f.ID)
		dk, _ := dst.Known(f.ID)
		if !reflect.DeepEqual(sk, dk) {
			t.Errorf("Known(%d) = %v, want %v", f.ID, dk, sk)
		}
		sd, _ := src.Dropped(f.ID)
		dd, _ := dst.Dropped(f.ID)
		if !reflect.DeepEqual(sd, dd) {
			t.Errorf("Dropped(%d) = %v, want %v", f.ID, dd, sd)
		}
	}
	if f, err := dst.FeedByURL("https://c.example/old"); err != nil || f.ID != feeds[2].ID {
		t.Errorf("the URL before the redirect: %+v %v", f, err)
	}

	// The copy behaves as the source: a tombstoned item stays out (the
	// hashed one too), a duplicate is recognised, and new IDs follow the
	// imported ones.
	a := feeds[0]
	for _, s := range []*DB{src, dst} {
		f, _ := s.Feed(a.ID)
		doc := feedDoc("a", 0, 8)
		doc[0].Key, doc[0].GUID = strings.Repeat("guid-", 80), strings.Repeat("guid-", 80)
		res, err := s.SaveFetch(f, doc)
		if err != nil || res.Added != 0 || res.Tombstoned != 3 {
			t.Errorf("%s: the document again: %+v %v", filepath.Base(s.Path()), res, err)
		}
	}
	added, _, err := dst.AddFeeds([]babelfeed.Feed{{URL: "https://d.example/feed"}}, false)
	if err != nil || added[0].ID != feeds[len(feeds)-1].ID+1 {
		t.Errorf("new feed after import: %+v %v", added, err)
	}
	last := recs[k["feed"]+k["item"]-1].Item.ID
	story := item("d1", "en", base, "a headline of the story told by feed a")
	story.URL = "https://example.org/a007"
	save(t, dst, added[0].ID, story)
	items := query(t, dst, babelfeed.Query{FeedIDs: []uint64{added[0].ID}}, nil)
	if len(items) != 1 || items[0].ID != last+1 || items[0].DuplicateOf == 0 {
		t.Errorf("new item after import (last imported ID %d): %+v", last, items)
	}
	rules, _, _ := dst.Rules()
	r, _, err := dst.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "new"})
	if err != nil || r.ID != rules[len(rules)-1].ID+1 {
		t.Errorf("new rule after import: %+v %v", r, err)
	}

	// A store that holds anything refuses what it has.
	if err := dst.Import(context.Background(), recs[:1]); !errors.Is(err, errNotEmpty) {
		t.Errorf("importing a feed twice: %v", err)
	}
	if err := dst.Import(context.Background(), recs[k["feed"]:k["feed"]+1]); !errors.Is(err, errNotEmpty) {
		t.Errorf("importing an item twice: %v", err)
	}
}

// An item whose feed is not there is refused; drop records and tombstones
// of a feed that is gone are left out.
func TestImportMissingFeed(t *testing.T) {
	s := openTemp(t)
	it := item("k", "it", base, "titolo")
	it.ID, it.FeedID = 1, 7
	if err := s.Import(context.Background(), []Record{{Item: &it}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("item of a missing feed: %v", err)
	}
	orphans := []Record{
		{Dropped: &DroppedRecord{FeedID: 7, Key: "k", DroppedItem: DroppedItem{RuleID: 1, Version: 1, At: base}}},
		{Tombstone: &Tombstone{FeedID: 7, Key: "k", ContentHash: "h"}},
	}
	if err := s.Import(context.Background(), orphans); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(7); len(d) != 0 {
		t.Errorf("orphan drop records imported: %v", d)
	}
	mustCheck(t, s)
}

// Drop records outliving every rule: the copy's rules version must be past
// theirs, or a rule added later could make them look current.
func TestImportDropsWithoutRules(t *testing.T) {
	src := openTemp(t)
	f := addFeed(t, src, "https://a.example/feed")
	r, _, _ := src.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	_, v, _ := src.Rules()
	if err := src.SaveRuleOutcome(RuleOutcome{FeedID: f.ID, Version: v, Drops: []Drop{{Key: "k", RuleID: r.ID}}}); err != nil {
		t.Fatal(err)
	}
	if err := src.RemoveRule(r.ID); err != nil {
		t.Fatal(err)
	}
	dst := openTemp(t)
	importAll(t, dst, exportAll(t, src), 100)
	_, dv, _ := dst.Rules()
	if d, _ := dst.Dropped(f.ID); len(d) != 1 || d["k"].Version >= dv {
		t.Errorf("drop records %v with rules version %d", d, dv)
	}
}

func showRecord(r Record) string {
	switch {
	case r.Feed != nil:
		return fmt.Sprintf("feed %+v", *r.Feed)
	case r.Item != nil:
		return fmt.Sprintf("item %+v", *r.Item)
	case r.Rule != nil:
		return fmt.Sprintf("rule %+v (version %d)", *r.Rule, r.RulesVersion)
	case r.Saved != nil:
		return fmt.Sprintf("saved %+v", *r.Saved)
	case r.Dropped != nil:
		return fmt.Sprintf("dropped %+v", *r.Dropped)
	case r.Tombstone != nil:
		return fmt.Sprintf("tombstone %+v", *r.Tombstone)
	}
	return "empty record"
}
