package postgres

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
)

// openRulesTest opens a store in a fresh schema of the test server.
func openRulesTest(t *testing.T) *DB {
	t.Helper()
	dsn := pgtest.DSN(t)
	s, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rulesTestFeed inserts a bare feed row: the rules need only its ID.
func rulesTestFeed(t *testing.T, s *DB, id uint64) {
	t.Helper()
	url := fmt.Sprintf("https://f%d.example/rss", id)
	_, err := s.pool.Exec(context.Background(), `INSERT INTO feeds (id, url, data) VALUES ($1, $2, $3)`,
		int64(id), url, fmt.Sprintf(`{"id":%d,"url":%q}`, id, url))
	if err != nil {
		t.Fatal(err)
	}
}

// rulesTestRemoveFeed deletes a feed row, as RemoveFeed does in the end.
func rulesTestRemoveFeed(t *testing.T, s *DB, id uint64) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `DELETE FROM feeds WHERE id = $1`, int64(id)); err != nil {
		t.Fatal(err)
	}
}

func TestRulesAddListRemove(t *testing.T) {
	s := openRulesTest(t)
	rulesTestFeed(t, s, 1)
	rules, v0, err := s.Rules()
	if err != nil || len(rules) != 0 {
		t.Fatalf("empty store: %v %v", rules, err)
	}
	r1, added, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: " intitle:calcio ", Category: "/Italiano/"})
	if err != nil || !added || r1.ID == 0 || r1.Query != "intitle:calcio" || r1.Category != "Italiano" || r1.Added.IsZero() {
		t.Fatalf("add: %+v %v %v", r1, added, err)
	}
	again, added, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "intitle:calcio", Category: "Italiano"})
	if err != nil || added || again.ID != r1.ID {
		t.Errorf("the same rule twice: %+v added=%v %v", again, added, err)
	}
	r2, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it", FeedID: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []babelfeed.Rule{
		{Action: "drop", Query: "x"},
		{Action: babelfeed.RuleKeep, Query: "  "},
		{Action: babelfeed.RuleKeep, Query: "x", FeedID: 1, Category: "A"},
		{Action: babelfeed.RuleKeep, Query: "x", FeedID: 999},
	} {
		if _, _, err := s.AddRule(bad); err == nil {
			t.Errorf("AddRule(%+v): want an error", bad)
		}
	}
	if _, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "x", FeedID: 999}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rule of a missing feed: %v, want ErrNotFound", err)
	}
	rules, v1, err := s.Rules()
	if err != nil || len(rules) != 2 || rules[0].ID != r1.ID || rules[1].ID != r2.ID {
		t.Fatalf("list: %+v %v", rules, err)
	}
	if !rules[0].Added.Equal(r1.Added) || rules[0].Added.Nanosecond() != r1.Added.Nanosecond() {
		t.Errorf("added time: stored %v, read %v", r1.Added, rules[0].Added)
	}
	if v1 == v0 {
		t.Error("adding rules did not change the rules version")
	}
	if err := s.RemoveRule(r1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(r1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing a removed rule: %v", err)
	}
	rules, v2, _ := s.Rules()
	if len(rules) != 1 || v2 == v1 {
		t.Errorf("after remove: %+v version %d→%d", rules, v1, v2)
	}
	// Removing the feed removes the rules scoped to it, and that changes
	// the version too.
	rulesTestRemoveFeed(t, s, 1)
	rules, v3, _ := s.Rules()
	if len(rules) != 0 || v3 == v2 {
		t.Errorf("rules of a removed feed: %+v, version %d→%d", rules, v2, v3)
	}
	// IDs are never reused.
	r3, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "intitle:calcio"})
	if err != nil || r3.ID <= r2.ID {
		t.Errorf("new rule after removals: %+v %v", r3, err)
	}
}

func TestRuleOutcomeDropsAndCounts(t *testing.T) {
	s := openRulesTest(t)
	rulesTestFeed(t, s, 1)
	rulesTestFeed(t, s, 2)
	block, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	keep, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it"})
	_, version, _ := s.Rules()
	long := strings.Repeat("g", 4000) // longer than a B-tree entry may be
	at := time.Date(2026, 11, 2, 10, 0, 0, 123456789, time.UTC)
	err := s.SaveRuleOutcome(store.RuleOutcome{
		FeedID: 1, Version: version, At: at,
		Drops:    []store.Drop{{Key: "a", ContentHash: "h1", RuleID: block.ID}, {Key: long, ContentHash: "h2", RuleID: keep.ID}},
		Kept:     map[uint64]int{keep.ID: 3},
		Timeouts: map[uint64]int{block.ID: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Dropped(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d["a"].ContentHash != "h1" || d["a"].RuleID != block.ID || d["a"].Version != version || d[long].ContentHash != "h2" || !d["a"].At.Equal(at) || d["a"].At.Nanosecond() != at.Nanosecond() {
		t.Fatalf("drop records: %+v", d)
	}
	if d, _ := s.Dropped(2); len(d) != 0 {
		t.Errorf("another feed's records: %+v", d)
	}
	// The same item dropped again by the same rule (say, its content
	// changed) is counted once; by another rule it counts for that one.
	err = s.SaveRuleOutcome(store.RuleOutcome{FeedID: 1, Version: version,
		Drops: []store.Drop{{Key: "a", ContentHash: "h1b", RuleID: block.ID}, {Key: "b", ContentHash: "h3", RuleID: block.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	// One key twice in one outcome: counted once, the last record stays.
	err = s.SaveRuleOutcome(store.RuleOutcome{FeedID: 2, Version: version,
		Drops: []store.Drop{{Key: "x", ContentHash: "1", RuleID: keep.ID}, {Key: "x", ContentHash: "2", RuleID: keep.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(2); len(d) != 1 || d["x"].ContentHash != "2" {
		t.Errorf("a key dropped twice in one outcome: %+v", d)
	}
	rules, _, _ := s.Rules()
	counts := map[uint64][3]int{}
	for _, r := range rules {
		counts[r.ID] = [3]int{r.Dropped, r.Kept, r.Timeouts}
	}
	if counts[block.ID] != [3]int{2, 0, 1} || counts[keep.ID] != [3]int{2, 3, 0} {
		t.Errorf("counts: block %v keep %v", counts[block.ID], counts[keep.ID])
	}
	if d, _ := s.Dropped(1); d["a"].ContentHash != "h1b" {
		t.Errorf("record not updated: %+v", d["a"])
	}
	// Counts of a removed rule are dropped silently.
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: 1, Kept: map[uint64]int{999: 1}}); err != nil {
		t.Errorf("counts of a missing rule: %v", err)
	}

	// Forget: the item was kept after all.
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: 1, Forget: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(1); len(d) != 2 || d["b"].RuleID != 0 {
		t.Errorf("after forget: %+v", d)
	}
	// Pruning: records older than the retention whose items left the
	// document go; the others stay.
	later := time.Now().Add(store.DropRetention + 24*time.Hour)
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: 1, Present: map[string]bool{"a": true}, At: later}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(1); len(d) != 1 || d["a"].ContentHash == "" {
		t.Errorf("after prune: %+v", d)
	}
	// An empty document prunes every old record.
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: 1, Present: map[string]bool{}, At: later}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(1); len(d) != 0 {
		t.Errorf("after prune with an empty document: %+v", d)
	}
	// Removing the feed removes its drop records; a feed that is gone
	// gets none.
	rulesTestRemoveFeed(t, s, 2)
	if d, _ := s.Dropped(2); len(d) != 0 {
		t.Errorf("drop records of a removed feed: %+v", d)
	}
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: 2, Drops: []store.Drop{{Key: "y", RuleID: keep.ID}}}); err != nil {
		t.Errorf("drops of a removed feed: %v", err)
	}
	if d, _ := s.Dropped(2); len(d) != 0 {
		t.Errorf("drop records of a removed feed: %+v", d)
	}
}

// Several pollers count decisions of the same rules at once, in different
// orders: no deadlock, no lost count.
func TestRuleCountsConcurrent(t *testing.T) {
	s := openRulesTest(t)
	var ids []uint64
	for i := range 4 {
		rulesTestFeed(t, s, uint64(i+1))
		r, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: fmt.Sprintf("w%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	const rounds = 25
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				kept := map[uint64]int{}
				for _, id := range ids {
					kept[id] = 1
				}
				o := store.RuleOutcome{FeedID: uint64(w + 1), Kept: kept,
					Drops: []store.Drop{{Key: fmt.Sprintf("k%d", i), RuleID: ids[(w+i)%len(ids)]}}}
				if err := s.SaveRuleOutcome(o); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rules, _, _ := s.Rules()
	dropped := 0
	for _, r := range rules {
		if r.Kept != 4*rounds {
			t.Errorf("rule %d kept %d, want %d", r.ID, r.Kept, 4*rounds)
		}
		dropped += r.Dropped
	}
	if dropped != 4*rounds {
		t.Errorf("%d drops counted, want %d", dropped, 4*rounds)
	}
}

func TestSavedQueries(t *testing.T) {
	s := openRulesTest(t)
	if qs, err := s.SavedQueries(); err != nil || len(qs) != 0 {
		t.Fatalf("empty: %v %v", qs, err)
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "italiano", Query: "lang:it -calcio"}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "italiano", Query: "lang:es"}, false); err == nil {
		t.Error("saving over an existing name without replace: want an error")
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "italiano", Query: "lang:it,es"}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "Zeta_2", Query: "x"}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "empty", Query: "  "}, false); err == nil {
		t.Error("an empty query accepted")
	}
	for _, bad := range []string{"", "a b", "a.atom", "../x", "-x", strings.Repeat("a", 65), "città"} {
		if err := s.SaveQuery(store.SavedQuery{Name: bad, Query: "x"}, false); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	q, err := s.SavedQuery("italiano")
	if err != nil || q.Query != "lang:it,es" || q.Added.IsZero() {
		t.Errorf("get: %+v %v", q, err)
	}
	qs, _ := s.SavedQueries()
	if len(qs) != 2 || qs[0].Name != "Zeta_2" || qs[1].Name != "italiano" {
		t.Errorf("list (byte order): %+v", qs)
	}
	if err := s.RemoveSavedQuery("italiano"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavedQuery("italiano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed query: %v", err)
	}
	if err := s.RemoveSavedQuery("italiano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
}

// The rules part of a whole-store copy: what exportRuleRecords reads,
// importRuleRecords writes back the same, IDs, counts and version
// included.
func TestRuleRecordsCopy(t *testing.T) {
	ctx := context.Background()
	src := openRulesTest(t)
	rulesTestFeed(t, src, 1)
	rulesTestFeed(t, src, 2)
	r1, _, _ := src.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	r2, _, _ := src.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it", FeedID: 2})
	r3, _, _ := src.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "oroscopo", Category: "Notizie"})
	if err := src.RemoveRule(r2.ID); err != nil {
		t.Fatal(err)
	}
	_, version, _ := src.Rules()
	err := src.SaveRuleOutcome(store.RuleOutcome{FeedID: 1, Version: version, At: time.Unix(0, 1234567891),
		Drops: []store.Drop{{Key: "a", ContentHash: "h", RuleID: r1.ID}, {Key: strings.Repeat("é", 3000), RuleID: r3.ID}},
		Kept:  map[uint64]int{r3.ID: 4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []store.SavedQuery{{Name: "b", Query: "lang:it"}, {Name: "A", Query: "x"}} {
		if err := src.SaveQuery(q, false); err != nil {
			t.Fatal(err)
		}
	}
	var recs []store.Record
	err = pgx.BeginFunc(ctx, src.pool, func(tx pgx.Tx) error {
		return exportRuleRecords(ctx, tx, func(r store.Record) error { recs = append(recs, r); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2+2+2 {
		t.Fatalf("%d records, want 6", len(recs))
	}

	dst := openRulesTest(t)
	rulesTestFeed(t, dst, 1)
	rulesTestFeed(t, dst, 2)
	orphan := store.Record{Dropped: &store.DroppedRecord{FeedID: 9, Key: "gone"}}
	for _, batch := range [][]store.Record{recs[:1], append(recs[1:], orphan)} {
		if err := pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error { return importRuleRecords(ctx, tx, batch) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error { return finishRuleImport(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	var again []store.Record
	err = pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error {
		return exportRuleRecords(ctx, tx, func(r store.Record) error { again = append(again, r); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, recs) {
		t.Errorf("after the copy:\n%+v\nwant\n%+v", again, recs)
	}
	if r, _, err := dst.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "new"}); err != nil || r.ID != r3.ID+1 {
		t.Errorf("a rule added after the copy: %+v %v", r, err)
	}
	// Drop records that outlived every rule: the version moves past them.
	dst2 := openRulesTest(t)
	rulesTestFeed(t, dst2, 1)
	drops := []store.Record{{Dropped: &store.DroppedRecord{FeedID: 1, Key: "k", DroppedItem: store.DroppedItem{Version: 7}}}}
	if err := pgx.BeginFunc(ctx, dst2.pool, func(tx pgx.Tx) error { return importRuleRecords(ctx, tx, drops) }); err != nil {
		t.Fatal(err)
	}
	if _, v, _ := dst2.Rules(); v <= 7 {
		t.Errorf("rules version %d after importing a drop record of version 7 without rules", v)
	}
}

// Several processes adding the same rule at once store it once.
func TestAddRuleConcurrent(t *testing.T) {
	dsn := pgtest.DSN(t)
	var stores []*DB
	for range 4 {
		s, err := Open(context.Background(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		ids := make([]uint64, len(stores))
		added := make([]bool, len(stores))
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, ok, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: fmt.Sprintf("parola%d", round)})
				if err != nil {
					t.Error(err)
				}
				ids[i], added[i] = r.ID, ok
			}()
		}
		wg.Wait()
		n := 0
		for i := range stores {
			if added[i] {
				n++
			}
			if ids[i] != ids[0] {
				t.Errorf("round %d: rule IDs %v", round, ids)
			}
		}
		if n != 1 {
			t.Errorf("round %d: added by %d processes", round, n)
		}
	}
	if rules, _, _ := stores[0].Rules(); len(rules) != 5 {
		t.Errorf("%d rules stored, want 5", len(rules))
	}
}

// A rule deleted by a session with another search_path (an administrator
// in psql, schema-qualified names) still bumps the version.
func TestRulesVersionOtherSearchPath(t *testing.T) {
	s := openRulesTest(t)
	r, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, v1, _ := s.Rules()
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET search_path TO public`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET search_path`)
	if _, err := conn.Exec(ctx, `DELETE FROM `+pgx.Identifier{schema, "rules"}.Sanitize()+` WHERE id = $1`, int64(r.ID)); err != nil {
		t.Fatal(err)
	}
	if _, v2, _ := s.Rules(); v2 == v1 {
		t.Errorf("rules version stayed %d", v2)
	}
}
