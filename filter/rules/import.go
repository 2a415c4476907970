package rules

import (
	"fmt"
	"time"

	"babelfeed"
	"babelfeed/feeds/opml"
	"babelfeed/store"
)

// ImportResult counts what Import did with the rules of an OPML document.
type ImportResult struct {
	Added    []babelfeed.Rule
	Existing []babelfeed.Rule // already stored: the same action, query and scope
	Problems []string         // rules left out, and why
}

// Import stores the rules an OPML document carries (see opml.Namespace).
// feeds are the document's subscriptions as stored (added and already
// present): a feed outline's rules attach to the feed with that URL. With
// dryRun nothing is written and Added lists what would be.
func Import(s store.Store, doc *opml.Document, feeds []babelfeed.Feed, dryRun bool, now time.Time) (ImportResult, error) {
	var res ImportResult
	for _, e := range doc.RuleErrors {
		res.Problems = append(res.Problems, fmt.Sprintf("line %d: %s", e.Line, e.Reason))
	}
	byURL := map[string]uint64{}
	for _, f := range feeds {
		if n, err := store.NormalizeURL(f.URL); err == nil {
			byURL[n] = f.ID
		}
	}
	lookup := func(u string) (uint64, bool) {
		if n, err := store.NormalizeURL(u); err == nil {
			if id, ok := byURL[n]; ok {
				return id, true
			}
		}
		if f, err := s.FeedByURL(u); err == nil {
			return f.ID, true
		}
		return 0, false
	}
	rules, problems := FromOPML(doc.Rules, lookup, now)
	res.Problems = append(res.Problems, problems...)
	if dryRun {
		stored, _, err := s.Rules()
		if err != nil {
			return res, fmt.Errorf("import rules: %w", err)
		}
	next:
		for _, r := range rules {
			for _, o := range stored {
				if o.SameAs(&r) {
					res.Existing = append(res.Existing, o)
					continue next
				}
			}
			res.Added = append(res.Added, r)
		}
		return res, nil
	}
	for _, r := range rules {
		stored, added, err := s.AddRule(r)
		if err != nil {
			return res, fmt.Errorf("import rules: %w", err)
		}
		if added {
			res.Added = append(res.Added, stored)
		} else {
			res.Existing = append(res.Existing, stored)
		}
	}
	return res, nil
}
