package babelfeed

import (
	"strconv"
	"time"
)

// RuleAction says what a rule does with the items it matches.
type RuleAction string

const (
	// RuleBlock drops the items that match the rule's query.
	RuleBlock RuleAction = "block"
	// RuleKeep keeps only the items that match: when any keep rule applies
	// to a feed, an item of it must match one of them to be stored.
	RuleKeep RuleAction = "keep"
)

// Rule keeps or drops items at ingest by a query (the language of
// filter/query: lang:, words, intitle:, author:, /regex/ ...). Its scope is
// one feed (FeedID set), a category folder and everything below it
// (Category set), or every feed (neither). Block rules are applied first,
// then keep rules, as in Miniflux.
type Rule struct {
	ID       uint64     `json:"id"`
	Action   RuleAction `json:"action"`
	Query    string     `json:"query"`
	FeedID   uint64     `json:"feed_id,omitempty"`
	Category string     `json:"category,omitempty"` // "/"-separated folder path
	Added    time.Time  `json:"added"`

	// Counts maintained by the store: items the rule decided to drop (a
	// keep rule "drops" an item in its scope that matches no keep rule),
	// items a keep rule let through, and items whose evaluation ran out of
	// time while this rule was being matched (such items are kept).
	Dropped  int `json:"dropped"`
	Kept     int `json:"kept"`
	Timeouts int `json:"timeouts"`
}

// Scope describes where the rule applies: "global", "category Italiano/Sport"
// or "feed 12".
func (r *Rule) Scope() string {
	switch {
	case r.FeedID != 0:
		return "feed " + strconv.FormatUint(r.FeedID, 10)
	case r.Category != "":
		return "category " + r.Category
	}
	return "global"
}

// SameAs reports whether two rules do the same thing in the same scope,
// whatever their IDs and counts.
func (r *Rule) SameAs(o *Rule) bool {
	return r.Action == o.Action && r.Query == o.Query && r.FeedID == o.FeedID && r.Category == o.Category
}
