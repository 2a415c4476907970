package query

import "babelfeed"

// ItemMatch matches several queries against one item, analysing the item's
// text once: Node.Match analyses it on every call, and that analysis is
// most of the cost of a match. Rules use it to evaluate all their queries
// on an item. An ItemMatch is for one goroutine; call Close when done,
// and do not use it after.
type ItemMatch struct{ c *matchCtx }

// NewItemMatch prepares matching against item it of feed f (f may be nil).
func NewItemMatch(it *babelfeed.Item, f *babelfeed.Feed) *ItemMatch {
	return &ItemMatch{c: newMatchCtx(it, f)}
}

// Match reports whether the item matches n, as n.Match would.
func (m *ItemMatch) Match(n Node) bool { return n.match(m.c) }

// Close releases the analysis.
func (m *ItemMatch) Close() { m.c.done() }
