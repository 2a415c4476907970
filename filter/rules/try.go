package rules

import (
	"context"
	"fmt"
	"time"

	"babelfeed"
	"babelfeed/feeds/opml"
	"babelfeed/store"
)

// Effect is what adding a rule would do to one stored item.
type Effect struct {
	Item          babelfeed.Item
	Feed          babelfeed.Feed
	Before, After Decision // without and with the rule
}

// Changed reports whether the rule changes the item's fate.
func (e Effect) Changed() bool { return e.Before.Keep != e.After.Keep }

// TrySummary counts the stored items in a rule's scope by what the rules
// would do with them once the rule is added.
type TrySummary struct {
	InScope int // stored items of the feeds the rule applies to
	Kept    int // kept by the rules with the new one
	Dropped int // dropped by the rules with the new one
	// NewlyDropped and NewlyKept are the items whose fate the rule changes.
	NewlyDropped, NewlyKept int
}

// Try shows what adding cand to set would do to the stored items in
// cand's scope, newest first, duplicates included (rules act at ingest,
// before duplicates are marked). fn, if not nil, sees each item's effect
// and may stop the walk by returning false. Nothing is written. Rules are
// evaluated without a time limit here.
func Try(ctx context.Context, s store.Store, set *Set, cand *Compiled, fn func(Effect) bool) (TrySummary, error) {
	var sum TrySummary
	feeds, err := s.Feeds()
	if err != nil {
		return sum, fmt.Errorf("try rule: %w", err)
	}
	without := &Set{Version: set.Version, Timeout: -1, rules: set.rules}
	with := without.With(cand)
	byID := map[uint64]*babelfeed.Feed{}
	var q babelfeed.Query
	before := map[uint64]*FeedRules{}
	after := map[uint64]*FeedRules{}
	for i := range feeds {
		f := &feeds[i]
		if !AppliesTo(&cand.Rule, f) {
			continue
		}
		byID[f.ID] = f
		q.FeedIDs = append(q.FeedIDs, f.ID)
		before[f.ID], after[f.ID] = without.ForFeed(f), with.ForFeed(f)
	}
	if len(q.FeedIDs) == 0 {
		return sum, nil
	}
	err = s.Items(ctx, q, nil, func(it babelfeed.Item) bool {
		e := Effect{Item: it, Feed: *byID[it.FeedID]}
		e.Before = before[it.FeedID].Decide(&it)
		e.After = after[it.FeedID].Decide(&it)
		sum.InScope++
		if e.After.Keep {
			sum.Kept++
		} else {
			sum.Dropped++
		}
		switch {
		case e.Before.Keep && !e.After.Keep:
			sum.NewlyDropped++
		case !e.Before.Keep && e.After.Keep:
			sum.NewlyKept++
		}
		return fn == nil || fn(e)
	})
	if err != nil {
		return sum, fmt.Errorf("try rule: %w", err)
	}
	return sum, nil
}

// FromOPML turns the rules an OPML document carries into rules to store:
// a feed outline's rules get the ID feedID finds for its URL. Rules whose
// query does not compile, or whose feed is not found, are left out and
// described in problems.
func FromOPML(refs []opml.RuleRef, feedID func(url string) (uint64, bool), now time.Time) (rules []babelfeed.Rule, problems []string) {
	for _, ref := range refs {
		r := ref.Rule
		if ref.FeedURL != "" {
			id, ok := feedID(ref.FeedURL)
			if !ok {
				problems = append(problems, fmt.Sprintf("line %d: rule %q: feed %s not subscribed", ref.Line, r.Query, ref.FeedURL))
				continue
			}
			r.FeedID = id
		}
		if _, err := Compile(r, now); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %v", ref.Line, err))
			continue
		}
		rules = append(rules, r)
	}
	return rules, problems
}
