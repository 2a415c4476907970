package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

func testRulesAddListRemove(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://a.example/rss", "Italiano")
	rules, v0, err := s.Rules()
	if err != nil || len(rules) != 0 {
		t.Fatalf("empty store: %v %v", rules, err)
	}
	r1, added, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: " intitle:calcio ", Category: "/Italiano/"})
	if err != nil || !added || r1.ID == 0 || r1.Query != "intitle:calcio" || r1.Category != "Italiano" || r1.Added.IsZero() {
		t.Fatalf("add: %+v %v %v; want an ID, the query and category trimmed, Added set", r1, added, err)
	}
	again, added, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "intitle:calcio", Category: "Italiano"})
	if err != nil || added || again.ID != r1.ID {
		t.Errorf("the same rule twice: %+v added=%v %v; want rule %d, not added", again, added, err, r1.ID)
	}
	r2, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it", FeedID: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []babelfeed.Rule{
		{Action: "drop", Query: "x"},
		{Action: babelfeed.RuleKeep, Query: "  "},
		{Action: babelfeed.RuleKeep, Query: "x", FeedID: f.ID, Category: "A"},
		{Action: babelfeed.RuleKeep, Query: "x", FeedID: 999},
	} {
		if _, _, err := s.AddRule(bad); err == nil {
			t.Errorf("AddRule(%+v): want an error", bad)
		}
	}
	rules, v1, err := s.Rules()
	if err != nil || len(rules) != 2 || rules[0].ID != r1.ID || rules[1].ID != r2.ID {
		t.Fatalf("list: %+v %v; want rules %d and %d", rules, err, r1.ID, r2.ID)
	}
	if rules[0].Action != babelfeed.RuleBlock || rules[0].Query != "intitle:calcio" || rules[0].Category != "Italiano" ||
		rules[1].Action != babelfeed.RuleKeep || rules[1].FeedID != f.ID || rules[1].Added.IsZero() {
		t.Errorf("listed rules differ from the added ones: %+v", rules)
	}
	if v1 == v0 {
		t.Error("adding rules did not change the rules version")
	}
	if _, v, _ := s.Rules(); v != v1 {
		t.Errorf("the rules version moved from %d to %d without a change", v1, v)
	}
	if err := s.RemoveRule(r1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(r1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing a removed rule: %v, want ErrNotFound", err)
	}
	rules, v2, _ := s.Rules()
	if len(rules) != 1 || v2 == v1 {
		t.Errorf("after remove: %+v version %d→%d", rules, v1, v2)
	}
	// A new rule never reuses a removed one's ID.
	r3, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	if err != nil || r3.ID <= r2.ID {
		t.Errorf("new rule %+v, %v; want an ID above %d", r3, err, r2.ID)
	}
	// Removing the feed removes the rules scoped to it.
	if err := s.RemoveFeed(f.ID); err != nil {
		t.Fatal(err)
	}
	if rules, _, _ := s.Rules(); len(rules) != 1 || rules[0].ID != r3.ID {
		t.Errorf("after removing the feed: %+v, want only rule %d", rules, r3.ID)
	}
}

func testRuleOutcome(t *testing.T, open Opener) {
	s := open(t)
	f := addFeed(t, s, "https://a.example/rss")
	block, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	keep, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it"})
	_, version, _ := s.Rules()
	long := strings.Repeat("g", 400) // a key the bbolt store keeps hashed
	err := s.SaveRuleOutcome(store.RuleOutcome{
		FeedID: f.ID, Version: version,
		Drops:    []store.Drop{{Key: "a", ContentHash: "h1", RuleID: block.ID}, {Key: long, ContentHash: "h2", RuleID: keep.ID}},
		Kept:     map[uint64]int{keep.ID: 3},
		Timeouts: map[uint64]int{block.ID: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Dropped(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d["a"].ContentHash != "h1" || d["a"].RuleID != block.ID || d["a"].Version != version || d["a"].At.IsZero() || d[long].ContentHash != "h2" {
		t.Fatalf("drop records: %+v", d)
	}
	// The same item dropped again by the same rule (say, its content
	// changed) is counted once; by another rule it counts for that one.
	err = s.SaveRuleOutcome(store.RuleOutcome{FeedID: f.ID, Version: version,
		Drops: []store.Drop{{Key: "a", ContentHash: "h1b", RuleID: block.ID}, {Key: "b", ContentHash: "h3", RuleID: block.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := s.Rules()
	counts := map[uint64][3]int{}
	for _, r := range rules {
		counts[r.ID] = [3]int{r.Dropped, r.Kept, r.Timeouts}
	}
	if counts[block.ID] != [3]int{2, 0, 1} || counts[keep.ID] != [3]int{1, 3, 0} {
		t.Errorf("counts (dropped, kept, timeouts): block %v keep %v; want [2 0 1] and [1 3 0]", counts[block.ID], counts[keep.ID])
	}
	if d, _ := s.Dropped(f.ID); d["a"].ContentHash != "h1b" {
		t.Errorf("record not updated: %+v", d["a"])
	}
	// Another feed's records are its own.
	g := addFeed(t, s, "https://b.example/rss")
	if d, _ := s.Dropped(g.ID); len(d) != 0 {
		t.Errorf("drop records of a new feed: %+v", d)
	}

	// Forget: the item was kept after all.
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: f.ID, Forget: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(f.ID); len(d) != 2 || d["b"].RuleID != 0 {
		t.Errorf("after forget: %+v", d)
	}
	// Pruning: records older than the retention whose items left the
	// document go; the others stay.
	later := time.Now().Add(dropRetention + 24*time.Hour)
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: f.ID, Present: map[string]bool{"a": true}, At: later}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(f.ID); len(d) != 1 || d["a"].ContentHash == "" {
		t.Errorf("after prune: %+v, want only the record of a", d)
	}
	// Removing the feed removes its drop records.
	if err := s.RemoveFeed(f.ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(f.ID); len(d) != 0 {
		t.Errorf("drop records of a removed feed: %+v", d)
	}
}

func testSavedQueries(t *testing.T, open Opener) {
	s := open(t)
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
	for _, bad := range []string{"", "a b", "a.atom", "../x", "-x", strings.Repeat("a", 65), "città"} {
		if err := s.SaveQuery(store.SavedQuery{Name: bad, Query: "x"}, false); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "blank", Query: "  "}, false); err == nil {
		t.Error("an empty query accepted")
	}
	q, err := s.SavedQuery("italiano")
	if err != nil || q.Query != "lang:it,es" || q.Added.IsZero() || q.Name != "italiano" {
		t.Errorf("get: %+v %v", q, err)
	}
	if _, err := s.SavedQuery("Italiano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("names are case-sensitive: SavedQuery(Italiano) = %v, want ErrNotFound", err)
	}
	qs, _ := s.SavedQueries()
	if len(qs) != 2 || qs[0].Name != "Zeta_2" || qs[1].Name != "italiano" {
		t.Errorf("list: %+v, want Zeta_2 then italiano (byte order)", qs)
	}
	if err := s.RemoveSavedQuery("italiano"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavedQuery("italiano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed query: %v, want ErrNotFound", err)
	}
	if err := s.RemoveSavedQuery("italiano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing twice: %v, want ErrNotFound", err)
	}
}
