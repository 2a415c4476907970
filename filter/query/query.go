// Package query is babelfeed's query language: what a user types on the
// CLI, in an API request, in a rule or a saved query is parsed once into a
// typed expression (Node) with errors that point at the problem, and
// Node.Match is its reference meaning for one item. The CLI, the HTTP API,
// rules and published feeds all use it, so a query means the same thing
// everywhere; filter/search answers it from the keyword index.
package query

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var langCode = regexp.MustCompile(`^([a-z]{2}|und)$`)

// ParseLangs validates language filters: ISO 639-1 codes (or "und"),
// separated by commas or given one by one; it lower-cases them.
func ParseLangs(vals ...string) ([]string, error) {
	var out []string
	for _, v := range vals {
		for _, code := range strings.Split(v, ",") {
			code = strings.ToLower(strings.TrimSpace(code))
			if code == "" {
				continue
			}
			if !langCode.MatchString(code) {
				return nil, fmt.Errorf("%q is not an ISO 639-1 language code (like it, en, es) or und", code)
			}
			out = append(out, code)
		}
	}
	return out, nil
}

// ParseWhen reads a point in time: empty (none), a duration back from now
// (90m, 24h, 7d, 2w) or a date (2026-11-01, 2026-11-01T10:00:00Z; dates
// without a zone are local).
func ParseWhen(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if n := len(v); n > 1 && (v[n-1] == 'd' || v[n-1] == 'w') {
		if k, err := strconv.Atoi(v[:n-1]); err == nil && k >= 0 {
			unit := 24 * time.Hour
			if v[n-1] == 'w' {
				unit *= 7
			}
			return now.Add(-time.Duration(k) * unit), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: use a positive duration back from now", v)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a date (2026-11-01)", v)
}

// Filters narrow a query from outside its text: the CLI's flags and the
// API's parameters (lang=, feed=, category=, since=, until=).
type Filters struct {
	Langs    []string // "it,es" or separate values
	Feeds    []string // feed IDs, or URLs (see FeedRef)
	Category string
	Since    string // see ParseWhen
	Until    string
}

// Compose parses q (the query language; "" selects everything) and ANDs
// the filters to it. now anchors relative times. Errors name the part at
// fault: a *SyntaxError for q, "lang: ..." and so on for the filters.
func Compose(q string, f Filters, now time.Time) (Node, error) {
	n, err := Parse(q, now)
	if err != nil {
		return nil, err
	}
	var nodes []Node
	if n != nil {
		nodes = append(nodes, n)
	}
	langs, err := ParseLangs(f.Langs...)
	if err != nil {
		return nil, fmt.Errorf("lang: %w", err)
	}
	if len(langs) > 0 {
		nodes = append(nodes, &Lang{Codes: langs})
	}
	var feeds []string
	for _, v := range f.Feeds {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				feeds = append(feeds, part)
			}
		}
	}
	if len(feeds) > 0 {
		nodes = append(nodes, &FeedRef{Values: feeds})
	}
	if c := strings.Trim(strings.TrimSpace(f.Category), "/"); c != "" {
		nodes = append(nodes, &Category{Path: c})
	}
	var since, until time.Time
	if since, err = ParseWhen(f.Since, now); err != nil {
		return nil, fmt.Errorf("since: %w", err)
	}
	if until, err = ParseWhen(f.Until, now); err != nil {
		return nil, fmt.Errorf("until: %w", err)
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return nil, fmt.Errorf("since (%s) is not before until (%s)", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	if !since.IsZero() {
		nodes = append(nodes, &Since{Raw: strings.TrimSpace(f.Since), T: since})
	}
	if !until.IsZero() {
		nodes = append(nodes, &Until{Raw: strings.TrimSpace(f.Until), T: until})
	}
	return AndOf(nodes...), nil
}

// AndOf joins nodes with AND, flattening nested Ands and dropping nils; it
// returns nil for none and the node itself for one.
func AndOf(nodes ...Node) Node {
	var out []Node
	for _, n := range nodes {
		switch n := n.(type) {
		case nil:
		case *And:
			out = append(out, n.Nodes...)
		default:
			out = append(out, n)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return &And{Nodes: out}
}
