package opml

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode"

	"babelfeed"
)

// Namespace is babelfeed's XML namespace in OPML files. It is an
// identifier, not a page to fetch, and will not change: files exported
// with it must stay readable.
//
// Rules travel in one attribute of this namespace, babelfeed:rules, whose
// value is a JSON array of {"action": "block"|"keep", "query": "..."}:
//
//	<opml version="2.0" xmlns:babelfeed="https://babelfeed.example/ns">
//	  <body babelfeed:rules='[{"action":"keep","query":"lang:it,es"}]'>  global rules
//	    <outline text="Sport" babelfeed:rules="...">                     rules of a folder and everything below it
//	      <outline type="rss" xmlUrl="..." babelfeed:rules="..."/>      rules of one feed
//
// JSON survives the attribute-value normalisation other OPML tools apply
// (it needs no newlines), and other readers ignore the attribute.
const Namespace = "https://babelfeed.example/ns"

// NamespacePrefix is the prefix Write declares for Namespace.
const NamespacePrefix = "babelfeed"

// RuleRef is a rule found in a document: global (no Category, no FeedURL),
// of a folder (Rule.Category is the folder path, "/"-separated), or of the
// feed outline whose xmlUrl is FeedURL. Rule.FeedID is never set: the
// importer finds the feed by URL.
type RuleRef struct {
	Rule    babelfeed.Rule
	FeedURL string
	Line    int
}

// ruleJSON is one rule as written in the attribute.
type ruleJSON struct {
	Action babelfeed.RuleAction `json:"action"`
	Query  string               `json:"query"`
}

func (rs *ruleSet) empty() bool {
	return rs == nil || (len(rs.global) == 0 && len(rs.cats) == 0 && len(rs.byFeed) == 0)
}

// rulesAttr returns the babelfeed:rules attribute of an element. An
// undeclared "babelfeed" prefix is accepted too (Go's decoder then reports
// the prefix as the namespace), as hand-edited files may forget the
// declaration.
func rulesAttr(t xml.StartElement) (string, bool) {
	for _, a := range t.Attr {
		if (a.Name.Space == Namespace || a.Name.Space == NamespacePrefix) && a.Name.Local == "rules" {
			return a.Value, true
		}
	}
	return "", false
}

// decodeRules reads the attribute's JSON into rules of the given scope.
func decodeRules(v string) ([]babelfeed.Rule, error) {
	var raw []ruleJSON
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, fmt.Errorf("babelfeed:rules is not a JSON array of rules: %w", err)
	}
	rules := make([]babelfeed.Rule, 0, len(raw))
	for i, r := range raw {
		if r.Action != babelfeed.RuleBlock && r.Action != babelfeed.RuleKeep {
			return nil, fmt.Errorf("babelfeed:rules[%d]: action must be block or keep, got %q", i, r.Action)
		}
		if strings.TrimSpace(r.Query) == "" {
			return nil, fmt.Errorf("babelfeed:rules[%d]: empty query", i)
		}
		rules = append(rules, babelfeed.Rule{Action: r.Action, Query: strings.TrimSpace(r.Query)})
	}
	return rules, nil
}

func encodeRules(rules []babelfeed.Rule) string {
	raw := make([]ruleJSON, len(rules))
	for i, r := range rules {
		raw[i] = ruleJSON{Action: r.Action, Query: r.Query}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(raw) // strings and a fixed shape: cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// readRules records the rules an element carries; category is the folder
// path for folder rules, feedURL the xmlUrl for feed rules. It reports
// whether the element carried any.
func (p *parser) readRules(t xml.StartElement, line int, category []string, feedURL string) bool {
	v, ok := rulesAttr(t)
	if !ok {
		return false
	}
	rules, err := decodeRules(v)
	if err != nil {
		p.doc.RuleErrors = append(p.doc.RuleErrors, Skipped{URL: feedURL, Line: line, Title: strings.Join(category, "/"), Reason: err.Error()})
		return false
	}
	for _, r := range rules {
		r.Category = strings.Join(category, "/")
		p.doc.Rules = append(p.doc.Rules, RuleRef{Rule: r, FeedURL: feedURL, Line: line})
	}
	return len(rules) > 0
}

// lostRules reports the rules of a feed outline that was skipped.
func (p *parser) lostRules(t xml.StartElement, line int, feedURL string) {
	if _, ok := rulesAttr(t); ok {
		p.doc.RuleErrors = append(p.doc.RuleErrors, Skipped{URL: feedURL, Line: line, Reason: "babelfeed:rules of a skipped outline not imported"})
	}
}

// ruleSet sorts the rules to write by where they go.
type ruleSet struct {
	global []babelfeed.Rule
	byCat  map[string][]babelfeed.Rule // lower-cased folder path
	cats   [][]string                  // folder paths in first-seen order
	byFeed map[uint64][]babelfeed.Rule
}

func newRuleSet(rules []babelfeed.Rule, feeds []babelfeed.Feed) (*ruleSet, error) {
	rs := &ruleSet{byCat: map[string][]babelfeed.Rule{}, byFeed: map[uint64][]babelfeed.Rule{}}
	ids := map[uint64]bool{}
	for _, f := range feeds {
		ids[f.ID] = true
	}
	for _, r := range rules {
		switch {
		case r.FeedID != 0:
			if !ids[r.FeedID] {
				return nil, fmt.Errorf("rule %d is scoped to feed %d, which is not being written", r.ID, r.FeedID)
			}
			rs.byFeed[r.FeedID] = append(rs.byFeed[r.FeedID], r)
		case splitPath(r.Category) != nil:
			path := splitPath(r.Category)
			if len(path) > MaxCategoryDepth {
				return nil, fmt.Errorf("rule %d: category %q is deeper than %d levels", r.ID, r.Category, MaxCategoryDepth)
			}
			key := strings.ToLower(strings.Join(path, "/"))
			if _, ok := rs.byCat[key]; !ok {
				rs.cats = append(rs.cats, path)
			}
			rs.byCat[key] = append(rs.byCat[key], r)
		default:
			rs.global = append(rs.global, r)
		}
	}
	return rs, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s = clean(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// childFold finds a subfolder by name ignoring case (rule categories match
// folders that way), or makes it.
func (n *node) childFold(name string) *node {
	if c, ok := n.sub[name]; ok {
		return c
	}
	for k, c := range n.sub {
		if strings.EqualFold(k, name) {
			return c
		}
	}
	return n.child(name)
}

// attach hangs the folder rules on the tree, making folders that hold no
// feed.
func (rs *ruleSet) attach(root *node) {
	for _, path := range rs.cats {
		n := root
		for _, name := range path {
			n = n.childFold(name)
		}
		n.rules = append(n.rules, rs.byCat[strings.ToLower(strings.Join(path, "/"))]...)
	}
}

// writeRulesAttr writes ` babelfeed:rules="..."` when there are rules.
func writeRulesAttr(ew *escWriter, rules []babelfeed.Rule) {
	if len(rules) == 0 {
		return
	}
	// Single quotes keep the JSON's double quotes readable.
	ew.raw(" " + NamespacePrefix + ":rules='")
	ew.raw(escapeSingleQuoted(encodeRules(rules)))
	ew.raw("'")
}

// escapeSingleQuoted escapes s for a single-quoted attribute value:
// markup characters, the quote, and the whitespace that attribute-value
// normalisation would turn into spaces; characters XML cannot carry become
// U+FFFD, as xml.EscapeText does.
func escapeSingleQuoted(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '\t':
			b.WriteString("&#x9;")
		case r == '\n':
			b.WriteString("&#xA;")
		case r == '\r':
			b.WriteString("&#xD;")
		case !isXMLChar(r):
			b.WriteRune(unicode.ReplacementChar)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// WriteWithRules writes feeds as Write does, and rules in the babelfeed
// namespace (see Namespace): global rules on <body>, category rules on
// their folder outline (made if no feed is in it), feed rules on the
// feed's outline (rules are matched to feeds by FeedID). Parse reads them
// back into Document.Rules.
func WriteWithRules(w io.Writer, title string, feeds []babelfeed.Feed, rules []babelfeed.Rule) error {
	rs, err := newRuleSet(rules, feeds)
	if err != nil {
		return fmt.Errorf("write OPML: %w", err)
	}
	return write(w, title, feeds, rs)
}
