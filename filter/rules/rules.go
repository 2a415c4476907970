// Package rules decides, at ingest, which items the user's rules keep and
// which they drop: block rules first, then keep rules, as in Miniflux, each
// scoped to every feed, a category folder or one feed, each a query in the
// language of filter/query. Evaluation of one item has a time limit.
package rules

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"babelfeed"
	"babelfeed/filter/query"
)

// DefaultTimeout is the time limit for evaluating every rule on one item
// when the caller sets none. Matching is linear in the text (Go's regexp
// never backtracks) and texts are capped by feeds/parse, so ten rules on a
// news item take well under a millisecond (BenchmarkDecide); the limit
// stops many rules over very long texts from holding up a poll. It is
// wall-clock time, so it must also ride out a machine too busy to run the
// evaluation at once: at 100ms, a benchmark on a shared 2-core machine
// (load 12) saw a spurious timeout.
const DefaultTimeout = time.Second

// Matcher tells whether an item of feed f matches; query.Node is one.
type Matcher interface {
	Match(it *babelfeed.Item, f *babelfeed.Feed) bool
}

// Compiled is a rule with its query parsed.
type Compiled struct {
	babelfeed.Rule
	Node query.Node
	// Matcher is what evaluation calls: Node, unless replaced (tests put a
	// slow matcher here to exercise the time limit).
	Matcher Matcher
}

// Compile parses a rule's query; now anchors relative times (since:7d).
// A query that parses to nothing (only spaces) is an error: a rule must
// say what it matches.
func Compile(r babelfeed.Rule, now time.Time) (*Compiled, error) {
	if r.Action != babelfeed.RuleBlock && r.Action != babelfeed.RuleKeep {
		return nil, fmt.Errorf("rule action must be %q or %q, got %q", babelfeed.RuleBlock, babelfeed.RuleKeep, r.Action)
	}
	n, err := query.Parse(r.Query, now)
	if err != nil {
		return nil, fmt.Errorf("rule query: %w", err)
	}
	if n == nil {
		return nil, fmt.Errorf("rule query is empty")
	}
	return &Compiled{Rule: r, Node: n, Matcher: n}, nil
}

// AppliesTo reports whether the rule's scope covers feed f: every feed for
// a global rule, a feed in the rule's category folder or below it (folder
// names compared ignoring case and accents), or the one feed.
func AppliesTo(r *babelfeed.Rule, f *babelfeed.Feed) bool {
	switch {
	case r.FeedID != 0:
		return f.ID == r.FeedID
	case r.Category != "":
		return query.CategoryHas(f.CategoryPath(), r.Category)
	}
	return true
}

// scopeRank orders rules from the narrowest scope to the widest: when
// several rules could decide, the most specific one is credited.
func scopeRank(r *babelfeed.Rule) int {
	switch {
	case r.FeedID != 0:
		return 0
	case r.Category != "":
		return 1
	}
	return 2
}

// Set is the compiled rules of a store at one rules version.
type Set struct {
	Version uint64
	// Timeout is the time limit per item; 0 means DefaultTimeout, negative
	// means none (rules run in the caller's goroutine).
	Timeout time.Duration
	rules   []*Compiled
}

// NewSet compiles rules (as stored at version). A rule whose query no
// longer parses is left out and reported in errs; the others still apply.
func NewSet(rules []babelfeed.Rule, version uint64, now time.Time) (set *Set, errs []error) {
	set = &Set{Version: version}
	for _, r := range rules {
		c, err := Compile(r, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d (%s %s): %w", r.ID, r.Action, r.Query, err))
			continue
		}
		set.rules = append(set.rules, c)
	}
	return set, errs
}

// Len returns the number of compiled rules.
func (s *Set) Len() int { return len(s.rules) }

// Rules returns the compiled rules in the order they were given. They are
// shared with the set.
func (s *Set) Rules() []*Compiled { return s.rules }

// With returns a copy of the set with one more rule, for trying a rule
// before saving it.
func (s *Set) With(c *Compiled) *Set {
	return &Set{Version: s.Version, Timeout: s.Timeout, rules: append(slices.Clone(s.rules), c)}
}

// ForFeed returns the rules that apply to feed f, in evaluation order:
// block rules, then keep rules, each from the narrowest scope to the
// widest, then by ID.
func (s *Set) ForFeed(f *babelfeed.Feed) *FeedRules {
	fr := &FeedRules{feed: *f, timeout: s.Timeout}
	for _, c := range s.rules {
		if !AppliesTo(&c.Rule, f) {
			continue
		}
		if c.Action == babelfeed.RuleBlock {
			fr.block = append(fr.block, c)
		} else {
			fr.keep = append(fr.keep, c)
		}
	}
	order := func(a, b *Compiled) int {
		if d := scopeRank(&a.Rule) - scopeRank(&b.Rule); d != 0 {
			return d
		}
		return cmp.Compare(a.ID, b.ID)
	}
	slices.SortStableFunc(fr.block, order)
	slices.SortStableFunc(fr.keep, order)
	return fr
}

// FeedRules are the rules that apply to one feed.
type FeedRules struct {
	feed        babelfeed.Feed
	block, keep []*Compiled
	timeout     time.Duration
}

// Empty reports whether no rule applies: every item is kept.
func (fr *FeedRules) Empty() bool { return len(fr.block) == 0 && len(fr.keep) == 0 }

// Decision is what the rules say about one item.
type Decision struct {
	Keep bool
	// RuleID is the rule that decided: the first block rule that matched
	// (dropped), the first keep rule that matched (kept), or, for an item
	// that no keep rule in scope matched, the first keep rule in scope
	// (dropped). 0 when no rule applies. On a timeout it is the rule being
	// matched when time ran out.
	RuleID uint64
	// TimedOut means the evaluation ran out of time: the item is kept
	// (Keep is true), because losing an item silently is worse than
	// letting one through, and the timeout is counted on RuleID.
	TimedOut bool
}

// Decide evaluates the rules on one item within the time limit. Block
// rules first: any match drops the item. Then keep rules: if any apply,
// the item must match one of them to be kept.
//
// When the time limit passes, Decide returns at once with the item kept;
// the abandoned evaluation finishes in the background (it is bounded:
// matching is linear in the text) and its answer is ignored.
func (fr *FeedRules) Decide(it *babelfeed.Item) Decision {
	if fr.Empty() {
		return Decision{Keep: true}
	}
	timeout := fr.timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	var current atomic.Uint64 // the rule being matched, for a timeout
	if timeout < 0 {
		return fr.decide(it, &current)
	}
	// The evaluation reads a copy, so that the caller may go on with the
	// item after a timeout.
	cp := *it
	done := make(chan Decision, 1) // buffered: an abandoned evaluation never blocks
	go func() { done <- fr.decide(&cp, &current) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case d := <-done:
		return d
	case <-timer.C:
		return Decision{Keep: true, RuleID: current.Load(), TimedOut: true}
	}
}

// decide evaluates the rules, sharing one analysis of the item's text
// among their queries (query.ItemMatch): analysing the text is most of the
// cost of a query, and rules are many queries on one item.
func (fr *FeedRules) decide(it *babelfeed.Item, current *atomic.Uint64) Decision {
	im := query.NewItemMatch(it, &fr.feed)
	defer im.Close()
	matches := func(c *Compiled) bool {
		if c.Matcher == Matcher(c.Node) {
			return im.Match(c.Node)
		}
		return c.Matcher.Match(it, &fr.feed)
	}
	for _, c := range fr.block {
		current.Store(c.ID)
		if matches(c) {
			return Decision{Keep: false, RuleID: c.ID}
		}
	}
	for _, c := range fr.keep {
		current.Store(c.ID)
		if matches(c) {
			return Decision{Keep: true, RuleID: c.ID}
		}
	}
	if len(fr.keep) > 0 {
		return Decision{Keep: false, RuleID: fr.keep[0].ID}
	}
	return Decision{Keep: true}
}
