package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"babelfeed"
)

func TestRulesAddListRemove(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://a.example/rss", "Italiano")
	rules, v0, err := s.Rules()
	if err != nil || len(rules) != 0 {
		t.Fatalf("empty store: %v %v", rules, err)
	}
	r1, added, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: " intitle:calcio ", Category: "/Italiano/"})
	if err != nil || !added || r1.ID == 0 || r1.Query != "intitle:calcio" || r1.Category != "Italiano" {
		t.Fatalf("add: %+v %v %v", r1, added, err)
	}
	again, added, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "intitle:calcio", Category: "Italiano"})
	if err != nil || added || again.ID != r1.ID {
		t.Errorf("the same rule twice: %+v added=%v %v", again, added, err)
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
		t.Fatalf("list: %+v %v", rules, err)
	}
	if v1 == v0 {
		t.Error("adding rules did not change the rules version")
	}
	if err := s.RemoveRule(r1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(r1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing a removed rule: %v", err)
	}
	rules, v2, _ := s.Rules()
	if len(rules) != 1 || v2 == v1 {
		t.Errorf("after remove: %+v version %d→%d", rules, v1, v2)
	}
	// Removing the feed removes the rules scoped to it.
	if err := s.RemoveFeed(f.ID); err != nil {
		t.Fatal(err)
	}
	if rules, _, _ := s.Rules(); len(rules) != 0 {
		t.Errorf("rules of a removed feed left: %+v", rules)
	}
}

func TestRuleOutcomeDropsAndCounts(t *testing.T) {
	s := openTemp(t)
	f := addFeed(t, s, "https://a.example/rss")
	block, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	keep, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it"})
	_, version, _ := s.Rules()
	long := strings.Repeat("g", 400) // a key stored hashed
	err := s.SaveRuleOutcome(RuleOutcome{
		FeedID: f.ID, Version: version,
		Drops:    []Drop{{Key: "a", ContentHash: "h1", RuleID: block.ID}, {Key: long, ContentHash: "h2", RuleID: keep.ID}},
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
	if len(d) != 2 || d["a"].ContentHash != "h1" || d["a"].RuleID != block.ID || d["a"].Version != version || d[long].ContentHash != "h2" {
		t.Fatalf("drop records: %+v", d)
	}
	// The same item dropped again by the same rule (say, its content
	// changed) is counted once; by another rule it counts for that one.
	err = s.SaveRuleOutcome(RuleOutcome{FeedID: f.ID, Version: version,
		Drops: []Drop{{Key: "a", ContentHash: "h1b", RuleID: block.ID}, {Key: "b", ContentHash: "h3", RuleID: block.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := s.Rules()
	counts := map[uint64][3]int{}
	for _, r := range rules {
		counts[r.ID] = [3]int{r.Dropped, r.Kept, r.Timeouts}
	}
	if counts[block.ID] != [3]int{2, 0, 1} || counts[keep.ID] != [3]int{1, 3, 0} {
		t.Errorf("counts: block %v keep %v", counts[block.ID], counts[keep.ID])
	}
	if d, _ := s.Dropped(f.ID); d["a"].ContentHash != "h1b" {
		t.Errorf("record not updated: %+v", d["a"])
	}

	// Forget: the item was kept after all.
	if err := s.SaveRuleOutcome(RuleOutcome{FeedID: f.ID, Forget: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(f.ID); len(d) != 2 || d["b"].RuleID != 0 {
		t.Errorf("after forget: %+v", d)
	}
	// Pruning: records older than the retention whose items left the
	// document go; the others stay.
	later := time.Now().Add(dropRetention + 24*time.Hour)
	if err := s.SaveRuleOutcome(RuleOutcome{FeedID: f.ID, Present: map[string]bool{"a": true}, At: later}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(f.ID); len(d) != 1 || d["a"].ContentHash == "" {
		t.Errorf("after prune: %+v", d)
	}
	// Removing the feed removes its drop records.
	if err := s.RemoveFeed(f.ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(f.ID); len(d) != 0 {
		t.Errorf("drop records of a removed feed: %+v", d)
	}
}

func TestSavedQueries(t *testing.T) {
	s := openTemp(t)
	if qs, err := s.SavedQueries(); err != nil || len(qs) != 0 {
		t.Fatalf("empty: %v %v", qs, err)
	}
	if err := s.SaveQuery(SavedQuery{Name: "italiano", Query: "lang:it -calcio"}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(SavedQuery{Name: "italiano", Query: "lang:es"}, false); err == nil {
		t.Error("saving over an existing name without replace: want an error")
	}
	if err := s.SaveQuery(SavedQuery{Name: "italiano", Query: "lang:it,es"}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(SavedQuery{Name: "Zeta_2", Query: "x"}, false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a b", "a.atom", "../x", "-x", strings.Repeat("a", 65), "città"} {
		if err := s.SaveQuery(SavedQuery{Name: bad, Query: "x"}, false); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	q, err := s.SavedQuery("italiano")
	if err != nil || q.Query != "lang:it,es" || q.Added.IsZero() {
		t.Errorf("get: %+v %v", q, err)
	}
	qs, _ := s.SavedQueries()
	if len(qs) != 2 || qs[0].Name != "Zeta_2" || qs[1].Name != "italiano" {
		t.Errorf("list: %+v", qs)
	}
	if err := s.RemoveSavedQuery("italiano"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavedQuery("italiano"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed query: %v", err)
	}
	if err := s.RemoveSavedQuery("italiano"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
}
