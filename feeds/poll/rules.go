package poll

import (
	"fmt"
	"log/slog"
	"time"

	"babelfeed"
	"babelfeed/filter/rules"
	"babelfeed/store"
)

// ruleGate applies the user's rules to the items of one fetched document.
//
// Rules judge an item when it first arrives, after its language is tagged
// (lang: needs it) and before it is stored; they never remove items already
// stored, and an update of a stored item is stored whatever the rules say
// now. A dropped item is remembered (store.SaveRuleOutcome) with its
// content hash and the rules version, and skipped on later polls without
// being tagged or matched again, until its content or the rules change.
//
// A nil *ruleGate is valid and keeps everything: the state of a feed with
// no rules in scope and nothing dropped before.
type ruleGate struct {
	rules   *rules.FeedRules
	version uint64
	dropped map[string]store.DroppedItem
	out     store.RuleOutcome
	log     *slog.Logger
}

// ruleGate reads the rules and the feed's drop records.
func (p *Poller) ruleGate(f *babelfeed.Feed, log *slog.Logger) (*ruleGate, error) {
	all, version, err := p.Store.Rules()
	if err != nil {
		return nil, err
	}
	set, errs := rules.NewSet(all, version, p.now())
	for _, err := range errs {
		log.Warn("rule left out: its query does not compile", "error", err)
	}
	set.Timeout = p.RuleTimeout
	if p.adjustRules != nil {
		p.adjustRules(set)
	}
	fr := set.ForFeed(f)
	dropped, err := p.Store.Dropped(f.ID)
	if err != nil {
		return nil, err
	}
	if fr.Empty() && len(dropped) == 0 {
		return nil, nil
	}
	return &ruleGate{
		rules: fr, version: version, dropped: dropped, log: log,
		out: store.RuleOutcome{FeedID: f.ID, Version: version, Kept: map[uint64]int{}, Timeouts: map[uint64]int{}},
	}, nil
}

// remembered reports whether the item was dropped before, with this
// content and these rules: it is skipped without any more work.
func (g *ruleGate) remembered(it *babelfeed.Item) bool {
	if g == nil {
		return false
	}
	d, ok := g.dropped[it.Key]
	return ok && d.ContentHash == it.ContentHash && d.Version == g.version
}

// keep judges a tagged item; stored says whether the store already has it
// (an update), which the rules leave alone.
func (g *ruleGate) keep(it *babelfeed.Item, stored bool) bool {
	if g == nil || stored {
		return true
	}
	d := g.rules.Decide(it)
	if d.TimedOut {
		g.out.Timeouts[d.RuleID]++
		g.log.Warn("rules ran out of time on an item: kept", "item", it.Key, "rule", d.RuleID)
	} else if d.Keep && d.RuleID != 0 {
		g.out.Kept[d.RuleID]++
	}
	if d.Keep {
		if _, was := g.dropped[it.Key]; was {
			g.out.Forget = append(g.out.Forget, it.Key)
		}
		return true
	}
	g.out.Drops = append(g.out.Drops, store.Drop{Key: it.Key, ContentHash: it.ContentHash, RuleID: d.RuleID})
	return false
}

// dropRecordAge is the age past which save asks the store to prune the
// drop records of items no longer in the document (the store keeps them
// for 90 days after that).
const dropRecordAge = 90 * 24 * time.Hour

// save records the decisions (before SaveFetch: see
// store.SaveRuleOutcome). docItems are every item of the document, to
// prune records of items the feed no longer carries.
func (g *ruleGate) save(s store.Store, docItems []babelfeed.Item, now time.Time) error {
	if g == nil {
		return nil
	}
	present := make(map[string]bool, len(docItems))
	for i := range docItems {
		present[docItems[i].Key] = true
	}
	for key, d := range g.dropped {
		if !present[key] && now.Sub(d.At) > dropRecordAge {
			g.out.Present = present // only then: pruning costs a write
			break
		}
	}
	g.out.At = now
	if err := s.SaveRuleOutcome(g.out); err != nil {
		return fmt.Errorf("record rule decisions: %w", err)
	}
	return nil
}

// counts returns the items dropped now and the evaluations that timed out.
func (g *ruleGate) counts() (dropped, timeouts int) {
	if g == nil {
		return 0, 0
	}
	for _, n := range g.out.Timeouts {
		timeouts += n
	}
	return len(g.out.Drops), timeouts
}
