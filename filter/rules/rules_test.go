package rules

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/feeds/opml"
	"babelfeed/store"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

var (
	feedSport = babelfeed.Feed{ID: 1, URL: "https://sport.example.it/rss", Category: []string{"Italiano", "Sport"}}
	feedNews  = babelfeed.Feed{ID: 2, URL: "https://notizie.example.it/rss", Category: []string{"Italiano"}}
	feedES    = babelfeed.Feed{ID: 3, URL: "https://noticias.example.es/rss", Category: []string{"Español"}}
	feedNone  = babelfeed.Feed{ID: 4, URL: "https://misc.example.org/rss"}
)

func it(lang, title, text, author, link string) *babelfeed.Item {
	return &babelfeed.Item{Lang: lang, Title: title, Summary: text, Author: author, URL: link, Published: now.Add(-time.Hour)}
}

func mustSet(t *testing.T, rules ...babelfeed.Rule) *Set {
	t.Helper()
	for i := range rules {
		rules[i].ID = uint64(i + 1)
	}
	set, errs := NewSet(rules, 7, now)
	if len(errs) > 0 {
		t.Fatalf("compile: %v", errs)
	}
	return set
}

func TestScopesAndOrdering(t *testing.T) {
	set := mustSet(t,
		// 1: global: only Italian and Spanish
		babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it,es"},
		// 2: category Italiano (and below): no horoscopes
		babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "oroscopo", Category: "italiano"},
		// 3: the sport feed: also keep football, in any language
		babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "intitle:calcio", FeedID: feedSport.ID},
		// 4: category Español: no items by one author
		babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "author:publicidad", Category: "Espanol"},
		// 5: global: drop live blogs by a regex on the title
		babelfeed.Rule{Action: babelfeed.RuleBlock, Query: `intitle:/^(LIVE|DIRETTA)\b/i`},
		// 6: the news feed: drop links into the /sponsor/ section
		babelfeed.Rule{Action: babelfeed.RuleBlock, Query: `inurl:/\/sponsor\//`, FeedID: feedNews.ID},
	)
	cases := []struct {
		name string
		feed babelfeed.Feed
		item *babelfeed.Item
		keep bool
		rule uint64
	}{
		{"italian news kept by the global keep rule", feedNews, it("it", "Il sindaco inaugura la piazza", "testo", "", "https://notizie.example.it/piazza"), true, 1},
		{"english news dropped by the global keep rule", feedNews, it("en", "The mayor opens the square", "text", "", ""), false, 1},
		{"category block applies to a subfolder", feedSport, it("it", "Il calcio e l'oroscopo", "oroscopo del giorno", "", ""), false, 2},
		{"category block is accent- and case-insensitive on the folder", feedES, it("es", "Oferta", "texto", "Publicidad", ""), false, 4},
		{"category block does not reach another folder", feedNone, it("it", "Oroscopo", "oroscopo", "", ""), true, 1},
		{"block before keep: a match of both is dropped", feedSport, it("it", "DIRETTA calcio", "la partita", "", ""), false, 5},
		{"keep rules in scope are alternatives: the global one keeps what the feed's misses", feedSport, it("it", "Pallavolo, finale", "la partita", "", ""), true, 1},
		{"matching no keep rule in scope drops, credited to the narrowest", feedSport, it("en", "Volleyball final", "the match", "", ""), false, 3},
		{"the feed keep rule keeps what the language rule would not", feedSport, it("en", "Calcio: the derby preview", "the match", "", ""), true, 3},
		{"feed keep rule credited before the global one", feedSport, it("it", "Calcio, il derby", "la partita", "", ""), true, 3},
		{"the global keep rule still keeps in the sport feed", feedSport, it("it", "Tennis", "la partita di calcio", "", ""), true, 1},
		{"regex on the URL", feedNews, it("it", "Un prodotto", "testo", "", "https://notizie.example.it/sponsor/42"), false, 6},
		{"URL rule scoped to another feed", feedES, it("es", "Un producto", "texto", "", "https://noticias.example.es/sponsor/42"), true, 1},
		{"words match whole words in the text", feedNews, it("it", "Stelle", "L'oroscopo di oggi", "", ""), false, 2},
	}
	for _, c := range cases {
		d := set.ForFeed(&c.feed).Decide(c.item)
		if d.Keep != c.keep || d.RuleID != c.rule || d.TimedOut {
			t.Errorf("%s: got %+v, want keep=%v by rule %d", c.name, d, c.keep, c.rule)
		}
	}
	// No rule in scope: every item is kept, decided by nobody.
	empty := mustSet(t, babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:de", FeedID: 99})
	if fr := empty.ForFeed(&feedNews); !fr.Empty() || fr.Decide(it("en", "x", "y", "", "")) != (Decision{Keep: true}) {
		t.Errorf("a rule of another feed applied")
	}
}

// slowNode matches after release is closed: a rule that takes too long.
type slowNode struct{ release chan struct{} }

func (n slowNode) Match(*babelfeed.Item, *babelfeed.Feed) bool { <-n.release; return true }
func (n slowNode) String() string                              { return "slow" }

func TestTimeLimitKeepsTheItemAndNamesTheRule(t *testing.T) {
	set := mustSet(t,
		babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"},
		babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "placeholder"},
	)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	set.rules[1].Matcher = slowNode{release} // rule 2 never finishes in time
	set.Timeout = time.Millisecond
	fr := set.ForFeed(&feedNews)
	item := it("it", "Una notizia qualunque", "testo", "", "")
	d := fr.Decide(item)
	if !d.Keep || !d.TimedOut || d.RuleID != 2 {
		t.Fatalf("timed-out evaluation: %+v, want kept, timed out, on rule 2", d)
	}
	// A rule that decides before the slow one is reached still decides.
	if d := fr.Decide(it("it", "Il calcio", "testo", "", "")); d.Keep || d.TimedOut || d.RuleID != 1 {
		t.Errorf("rule 1 should drop before rule 2 runs: %+v", d)
	}
	// The caller may change the item after a timeout: the abandoned
	// evaluation works on a copy (the race detector checks this).
	item.Title = "changed"
}

func TestNoTimeLimitRunsInline(t *testing.T) {
	set := mustSet(t, babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio"})
	set.Timeout = -1
	if d := set.ForFeed(&feedNews).Decide(it("it", "calcio", "", "", "")); d.Keep || d.RuleID != 1 {
		t.Errorf("inline: %+v", d)
	}
}

func TestBadRuleLeftOutOthersApply(t *testing.T) {
	set, errs := NewSet([]babelfeed.Rule{
		{ID: 1, Action: babelfeed.RuleBlock, Query: "(unclosed"},
		{ID: 2, Action: babelfeed.RuleBlock, Query: "calcio"},
		{ID: 3, Action: "drop", Query: "x"},
		{ID: 4, Action: babelfeed.RuleKeep, Query: "   "},
	}, 1, now)
	if len(errs) != 3 || set.Len() != 1 {
		t.Fatalf("errs %v, %d rules compiled", errs, set.Len())
	}
	if !strings.Contains(errs[0].Error(), "rule 1") {
		t.Errorf("error does not name the rule: %v", errs[0])
	}
	if d := set.ForFeed(&feedNews).Decide(it("it", "calcio", "", "", "")); d.Keep {
		t.Errorf("the good rule did not apply: %+v", d)
	}
}

func TestTryShowsEffectOnStoredItems(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	added, _, err := s.AddFeeds([]babelfeed.Feed{
		{URL: "https://sport.example.it/rss", Category: []string{"Italiano", "Sport"}},
		{URL: "https://noticias.example.es/rss", Category: []string{"Español"}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(key, lang, title string, h int) babelfeed.Item {
		return babelfeed.Item{Key: key, Lang: lang, Title: title, Summary: title, Published: now.Add(-time.Duration(h) * time.Hour), ContentHash: key}
	}
	if _, err := s.SaveFetch(added[0], []babelfeed.Item{mk("a", "it", "Calcio, il derby", 1), mk("b", "it", "Oroscopo della settimana", 2), mk("c", "en", "Football news", 3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveFetch(added[1], []babelfeed.Item{mk("d", "es", "Fútbol", 1)}); err != nil {
		t.Fatal(err)
	}
	existing, _ := NewSet([]babelfeed.Rule{{ID: 1, Action: babelfeed.RuleBlock, Query: "lang:en"}}, 1, now)
	cand, err := Compile(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "oroscopo", Category: "Italiano"}, now)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	sum, err := Try(context.Background(), s, existing, cand, func(e Effect) bool {
		if e.Changed() {
			changed = append(changed, e.Item.Key)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := TrySummary{InScope: 3, Kept: 1, Dropped: 2, NewlyDropped: 1}
	if sum != want || strings.Join(changed, ",") != "b" {
		t.Errorf("try block: %+v changed %v, want %+v changed [b]", sum, changed, want)
	}
	// A keep rule: everything in scope that does not match would go.
	keep, _ := Compile(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "intitle:calcio"}, now)
	sum, err = Try(context.Background(), s, &Set{}, keep, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (TrySummary{InScope: 4, Kept: 1, Dropped: 3, NewlyDropped: 3}); sum != want {
		t.Errorf("try keep: %+v, want %+v", sum, want)
	}
}

func TestFromOPML(t *testing.T) {
	refs := []opml.RuleRef{
		{Rule: babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it"}, Line: 3},
		{Rule: babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "calcio", Category: "Italiano"}, Line: 4},
		{Rule: babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "x"}, FeedURL: "https://a.example/rss", Line: 5},
		{Rule: babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "y"}, FeedURL: "https://unknown.example/rss", Line: 6},
		{Rule: babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "lang:italian"}, Line: 7},
	}
	rules, problems := FromOPML(refs, func(u string) (uint64, bool) { return 42, u == "https://a.example/rss" }, now)
	if len(rules) != 3 || rules[2].FeedID != 42 || rules[1].Category != "Italiano" {
		t.Errorf("rules: %+v", rules)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "line 6") || !strings.Contains(problems[1], "line 7") {
		t.Errorf("problems: %q", problems)
	}
}
