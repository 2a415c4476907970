package poll

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/lang"
	"babelfeed/filter/rules"
)

// countingTagger counts the items it is asked to tag.
type countingTagger struct {
	Tagger
	n atomic.Int64
}

func (c *countingTagger) Detect(title, text, declared string, prior map[string]int) lang.Result {
	c.n.Add(1)
	return c.Tagger.Detect(title, text, declared, prior)
}

// mutableServer serves one RSS document the test can change.
type mutableServer struct {
	*server
	mu  sync.Mutex
	doc string
}

func newMutableServer(t *testing.T, doc string) *mutableServer {
	m := &mutableServer{doc: doc}
	m.server = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		body := m.doc
		m.mu.Unlock()
		serveFeed(w, body)
	})
	return m
}

func (m *mutableServer) set(doc string) {
	m.mu.Lock()
	m.doc = doc
	m.mu.Unlock()
}

func storedKeys(e *testEnv, feedID uint64) []string {
	var keys []string
	for _, it := range e.items(feedID) {
		keys = append(keys, it.Key)
	}
	sort.Strings(keys)
	return keys
}

func ruleCounts(t *testing.T, e *testEnv) map[uint64][3]int {
	t.Helper()
	rs, _, err := e.store.Rules()
	if err != nil {
		t.Fatal(err)
	}
	m := map[uint64][3]int{}
	for _, r := range rs {
		m[r.ID] = [3]int{r.Dropped, r.Kept, r.Timeouts}
	}
	return m
}

func TestRulesDropAtIngestAndRemember(t *testing.T) {
	e := newEnv(t)
	tagger := &countingTagger{Tagger: detector(t)}
	e.poller.Tagger = tagger
	entries := []entry{
		{GUID: "it-1", Title: "Piste ciclabili approvate", Desc: sentIT, Pub: t0.Add(-5 * time.Hour)},
		{GUID: "en-1", Title: "Cycling lanes approved", Desc: sentEN, Pub: t0.Add(-4 * time.Hour)},
		{GUID: "es-1", Title: "Carriles para bicicletas", Desc: sentES, Pub: t0.Add(-3 * time.Hour)},
		{GUID: "it-calcio", Title: "Calcio: il derby finisce in parità", Desc: sentIT2, Pub: t0.Add(-2 * time.Hour)},
		{GUID: "de-1", Title: "Radwege beschlossen", Desc: sentDE, Pub: t0.Add(-time.Hour)},
	}
	srv := newMutableServer(t, rssDoc("Notizie", "it", entries...))
	f := e.add(srv.URL + "/feed")[0]
	keep, _, err := e.store.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it,es"})
	if err != nil {
		t.Fatal(err)
	}
	block, _, err := e.store.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "intitle:calcio", FeedID: f.ID})
	if err != nil {
		t.Fatal(err)
	}

	o := e.poll(f.ID)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	if o.Added != 2 || o.Dropped != 3 || o.RuleTimeouts != 0 {
		t.Fatalf("first poll: added %d dropped %d timeouts %d, want 2, 3, 0", o.Added, o.Dropped, o.RuleTimeouts)
	}
	if got := storedKeys(e, f.ID); len(got) != 2 || got[0] != "es-1" || got[1] != "it-1" {
		t.Errorf("stored %v, want es-1 and it-1", got)
	}
	if c := ruleCounts(t, e); c[keep.ID] != [3]int{2, 2, 0} || c[block.ID] != [3]int{1, 0, 0} {
		t.Errorf("rule counts: keep %v (want 2 dropped, 2 kept), block %v (want 1 dropped)", c[keep.ID], c[block.ID])
	}
	e.checkConsistent()

	// A new item arrives: the dropped ones are remembered, not tagged or
	// judged again, not counted again.
	tagged := tagger.n.Load()
	entries = append(entries, entry{GUID: "it-2", Title: "Letture in biblioteca", Desc: sentIT2, Pub: t0})
	srv.set(rssDoc("Notizie", "it", entries...))
	e.clock.Advance(time.Hour)
	o = e.poll(f.ID)
	if o.Err != nil || o.Added != 1 || o.Dropped != 0 {
		t.Fatalf("second poll: %+v", o)
	}
	if n := tagger.n.Load() - tagged; n != 1 {
		t.Errorf("second poll tagged %d items, want only the new one", n)
	}
	if c := ruleCounts(t, e); c[keep.ID][0] != 2 || c[block.ID][0] != 1 {
		t.Errorf("remembered drops counted again: %v", c)
	}

	// A dropped item whose content changes is judged again; dropped again
	// by the same rule, it is not counted twice.
	entries[1].Desc = sentEN + " Updated."
	srv.set(rssDoc("Notizie", "it", entries...))
	o = e.poll(f.ID)
	if o.Err != nil || o.Dropped != 1 || o.Added != 0 {
		t.Fatalf("third poll: %+v", o)
	}
	if c := ruleCounts(t, e); c[keep.ID][0] != 2 {
		t.Errorf("an item dropped again by the same rule was counted again: %v", c[keep.ID])
	}

	// Removing a rule changes the rules: what it dropped is judged again
	// the next time the feed brings it (and its document changed).
	if err := e.store.RemoveRule(block.ID); err != nil {
		t.Fatal(err)
	}
	entries = append(entries, entry{GUID: "es-2", Title: "Biblioteca abierta", Desc: sentES, Pub: t0.Add(time.Hour)})
	srv.set(rssDoc("Notizie", "it", entries...))
	o = e.poll(f.ID)
	if o.Err != nil || o.Added != 2 || o.Dropped != 2 {
		t.Fatalf("after removing the block rule: %+v (want the calcio item and es-2 added, en and de dropped again)", o)
	}
	if got := storedKeys(e, f.ID); len(got) != 5 {
		t.Errorf("stored %v", got)
	}
	d, err := e.store.Dropped(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d["it-calcio"]; ok || len(d) != 2 {
		t.Errorf("drop records %v: want en-1 and de-1 only (the kept item forgotten)", d)
	}
	e.checkConsistent()
}

// slowNode never matches before the test ends: a rule that takes too long.
type slowNode struct{ release chan struct{} }

func (n slowNode) Match(*babelfeed.Item, *babelfeed.Feed) bool { <-n.release; return true }
func (n slowNode) String() string                              { return "slow" }

func TestRuleTimeLimitKeepsItemsAndCounts(t *testing.T) {
	e := newEnv(t)
	srv := newMutableServer(t, italianFeed(t0))
	f := e.add(srv.URL + "/feed")[0]
	slow, _, err := e.store.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "placeholder"})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.poller.RuleTimeout = time.Millisecond
	e.poller.adjustRules = func(s *rules.Set) {
		for _, c := range s.Rules() {
			if c.ID == slow.ID {
				c.Matcher = slowNode{release}
			}
		}
	}
	o := e.poll(f.ID)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	if o.Added != 3 || o.Dropped != 0 || o.RuleTimeouts != 3 {
		t.Fatalf("added %d dropped %d timeouts %d, want every item kept and 3 timeouts", o.Added, o.Dropped, o.RuleTimeouts)
	}
	if c := ruleCounts(t, e)[slow.ID]; c != [3]int{0, 0, 3} {
		t.Errorf("rule counts %v, want 3 timeouts", c)
	}
}
