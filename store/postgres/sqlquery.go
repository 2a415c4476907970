package postgres

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// This file translates a query (filter/query) into SQL over the items
// table, one language at a time, the way filter/search compiles it into
// operations on posting lists: a query word is analysed for each language
// searched (analyze.WordQuery, PhraseQuery), and each of its terms is a
// lexeme of items.terms, which holds the same analysis as the bbolt index.
//
// A translated predicate is either exact (it selects exactly the items the
// query node matches in that language) or a superset of them, whose rows
// are checked with Node.Match in Go; the exactness rules are filter/search's,
// so that the two engines check the same items.

// sqlArgs collects the parameters of one statement, each value once.
type sqlArgs struct {
	vals []any
	keys map[string]int
}

// add returns the placeholder of v; key identifies equal values ("": a
// value of its own).
func (a *sqlArgs) add(key string, v any) string {
	if key == "" {
		a.vals = append(a.vals, v)
		return fmt.Sprintf("$%d", len(a.vals))
	}
	if i, ok := a.keys[key]; ok {
		return fmt.Sprintf("$%d", i+1)
	}
	if a.keys == nil {
		a.keys = map[string]int{}
	}
	a.keys[key] = len(a.vals)
	a.vals = append(a.vals, v)
	return fmt.Sprintf("$%d", len(a.vals))
}

var placeholder = regexp.MustCompile(`\$[0-9]+`)

// compact renumbers the placeholders sql uses and returns their values:
// a translation may drop a part whose values it had added (a word under
// another language's lang:), and PostgreSQL refuses a parameter it cannot
// type.
func (a *sqlArgs) compact(sql string) (string, []any) {
	var vals []any
	renum := map[string]string{}
	out := placeholder.ReplaceAllStringFunc(sql, func(p string) string {
		if r, ok := renum[p]; ok {
			return r
		}
		i, err := strconv.Atoi(p[1:])
		if err != nil || i < 1 || i > len(a.vals) {
			return p
		}
		vals = append(vals, a.vals[i-1])
		r := fmt.Sprintf("$%d", len(vals))
		renum[p] = r
		return r
	})
	return out, vals
}

func (a *sqlArgs) text(s string) string { return a.add("t\x00"+s, s) }

func (a *sqlArgs) tsquery(q string) string { return a.add("q\x00"+q, q) + "::tsquery" }

func (a *sqlArgs) ids(ids []uint64) string {
	var b strings.Builder
	vals := make([]int64, len(ids))
	for i, id := range ids {
		vals[i] = int64(id)
		fmt.Fprintf(&b, "%d,", id)
	}
	return a.add("i\x00"+b.String(), vals) + "::bigint[]"
}

func (a *sqlArgs) texts(ss []string) string {
	return a.add("s\x00"+strings.Join(ss, "\x00"), ss) + "::text[]"
}

// pred is a translated predicate.
type pred struct {
	sql   string // "" when constant
	konst bool   // the constant value when sql is ""
	exact bool
}

var (
	predTrue    = pred{konst: true, exact: true}
	predFalse   = pred{konst: false, exact: true}
	predUnknown = pred{konst: true} // every item is a candidate
)

func (p pred) isTrue() bool  { return p.sql == "" && p.konst }
func (p pred) isFalse() bool { return p.sql == "" && !p.konst }

func predAnd(ps ...pred) pred {
	out := predTrue
	var parts []string
	for _, p := range ps {
		out.exact = out.exact && p.exact
		switch {
		case p.isFalse():
			return pred{konst: false, exact: out.exact && allExact(ps)}
		case p.isTrue():
		default:
			parts = append(parts, p.sql)
		}
	}
	return joinPred(out, parts, " AND ")
}

func predOr(ps ...pred) pred {
	out := predFalse
	var parts []string
	for _, p := range ps {
		out.exact = out.exact && p.exact
		switch {
		case p.isTrue():
			return pred{konst: true, exact: out.exact && allExact(ps)}
		case p.isFalse():
		default:
			parts = append(parts, p.sql)
		}
	}
	return joinPred(out, parts, " OR ")
}

func allExact(ps []pred) bool {
	for _, p := range ps {
		if !p.exact {
			return false
		}
	}
	return true
}

func joinPred(out pred, parts []string, sep string) pred {
	switch len(parts) {
	case 0:
		return out
	case 1:
		return pred{sql: parts[0], exact: out.exact}
	}
	return pred{sql: "(" + strings.Join(parts, sep) + ")", exact: out.exact}
}

func predNot(p pred) pred {
	if !p.exact {
		// A superset's complement is a subset: no use for candidates.
		return predUnknown
	}
	if p.sql == "" {
		return pred{konst: !p.konst, exact: true}
	}
	return pred{sql: "NOT " + p.sql, exact: true}
}

// tsLexeme quotes a term as a tsquery operand.
func tsLexeme(term string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range term {
		switch r {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// fieldWeight is the tsquery weight restriction of a field: the terms
// vector marks title occurrences with weight A and author ones with B.
func fieldWeight(f query.Field) string {
	switch f {
	case query.FieldTitle:
		return "A"
	case query.FieldAuthor:
		return "B"
	}
	return ""
}

// termQuery is the tsquery of one term in a field; prefix asks for any
// lexeme starting with term.
func termQuery(term string, field query.Field, prefix bool) string {
	q := tsLexeme(term)
	w := fieldWeight(field)
	if prefix || w != "" {
		q += ":"
		if prefix {
			q += "*"
		}
		q += w
	}
	return q
}

// scorer is one positive term of the query in one language, for BM25, in
// the order filter/search scores them.
type scorer struct {
	lang  int
	field query.Field
	// terms: one term; or, for a prefix, every term of the language the
	// prefix matches (an item counts once, with frequency 1).
	terms  []string
	prefix bool
	// tsq is the tsquery that finds the items the scorer counts.
	tsq   string
	df    int
	probe int // see pgEngine.probes
}

// translator compiles the query for one language.
type translator struct {
	e        *pgEngine
	args     *sqlArgs
	lang     string
	langIdx  int
	scorers  *[]scorer // nil: not ranking
	scoreKey map[string]bool
	err      error
}

func (t *translator) addScorer(key string, sc scorer) {
	if t.scorers == nil {
		return
	}
	key += "\x00" + string(rune('0'+sc.field))
	if t.scoreKey[key] {
		return
	}
	t.scoreKey[key] = true
	sc.lang = t.langIdx
	*t.scorers = append(*t.scorers, sc)
}

// terms is the predicate "has every one of terms in field".
func (t *translator) terms(terms []string, field query.Field, positive bool) pred {
	parts := make([]string, 0, len(terms))
	for _, term := range terms {
		tq := termQuery(term, field, false)
		if positive {
			t.addScorer(t.lang+"\x00"+term, scorer{field: field, terms: []string{term}, tsq: tq})
		}
		parts = append(parts, tq)
	}
	return pred{sql: "i.terms @@ " + t.args.tsquery(strings.Join(parts, " & ")), exact: true}
}

// eval translates n; positive says whether n's words count for the score
// (they do not under a '-').
func (t *translator) eval(n query.Node, positive bool) pred {
	if t.err != nil {
		return predUnknown
	}
	switch n := n.(type) {
	case *query.And:
		ps := make([]pred, len(n.Nodes))
		for i, x := range n.Nodes {
			ps[i] = t.eval(x, positive)
		}
		return predAnd(ps...)
	case *query.Or:
		ps := make([]pred, len(n.Nodes))
		for i, x := range n.Nodes {
			ps[i] = t.eval(x, positive)
		}
		return predOr(ps...)
	case *query.Not:
		return predNot(t.eval(n.Node, false))
	case *query.Word:
		if n.Field == query.FieldURL {
			return predUnknown
		}
		q := t.e.a.WordQuery(t.lang, n.Tokens)
		if q.Prefix != "" {
			terms, err := t.e.prefixTerms(t.lang, q.Prefix)
			if err != nil {
				t.err = err
				return predUnknown
			}
			if len(terms) == 0 {
				if positive {
					t.addScorer(t.lang+"\x00\x01"+q.Prefix, scorer{field: n.Field, prefix: true})
				}
				return pred{konst: false, exact: q.Exact}
			}
			parts := make([]string, len(terms))
			for i, term := range terms {
				parts[i] = termQuery(term, n.Field, false)
			}
			tq := strings.Join(parts, " | ")
			if positive {
				t.addScorer(t.lang+"\x00\x01"+q.Prefix, scorer{field: n.Field, prefix: true, terms: terms, tsq: tq})
			}
			return pred{sql: "i.terms @@ " + t.args.tsquery(tq), exact: q.Exact}
		}
		if len(q.Terms) == 0 {
			return predUnknown // a stopword: matched as a whole word
		}
		p := t.terms(q.Terms, n.Field, positive)
		p.exact = q.Exact
		return p
	case *query.Phrase:
		if n.Field == query.FieldURL {
			return predUnknown
		}
		q := t.e.a.PhraseQuery(t.lang, n.Tokens)
		if len(q.Terms) == 0 {
			return predUnknown
		}
		p := t.terms(q.Terms, n.Field, positive)
		p.exact = false
		return p
	case *query.Lang:
		if slices.Contains(n.Codes, t.lang) {
			return predTrue
		}
		return predFalse
	case *query.FeedRef, *query.Category:
		var ids []uint64
		for _, f := range t.e.feedList {
			if n.Match(&babelfeed.Item{FeedID: f.ID}, &f) {
				ids = append(ids, f.ID)
			}
		}
		if len(ids) == 0 {
			return predFalse
		}
		return pred{sql: "i.feed_id = ANY(" + t.args.ids(ids) + ")", exact: true}
	case *query.Since:
		return pred{sql: "i.sort_ns >= " + t.args.add("", store.UnixNanos(n.T)), exact: true}
	case *query.Until:
		return pred{sql: "i.sort_ns < " + t.args.add("", store.UnixNanos(n.T)), exact: true}
	}
	// Regex.
	return predUnknown
}
