package query

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"babelfeed"
	"babelfeed/filter/analyze"
	"babelfeed/filter/text"
)

// The query language, one for the CLI, the API, rules and saved feeds:
//
//	xiaomi telefono          both words, anywhere (title, text, author)
//	"telefono pieghevole"    the words in this order
//	apple OR samsung         either
//	-calcio                  not this
//	(apple OR samsung) -usato
//	lang:it  lang:it,es  -lang:en
//	feed:12  feed:https://example.org/rss
//	cat:Italiano/Tecnologia  cat:"Notizie locali"
//	author:rossi  intitle:xiaomi  intitle:"nuovo modello"
//	inurl:sport  /regex/  intitle:/^breaking/i  inurl:/\/sport\//
//	since:24h  since:7d  since:2026-11-01  until:2026-11-20
//
// Words are matched in the language of each item (see filter/analyze):
// case- and accent-insensitively, elisions stripped, by their stem where
// the language has a stemmer ("informazioni" finds "informazione"); a
// stopword of the item's language ("la", "the") matches as a whole word; a
// word in a script written without spaces (Chinese, Japanese, Thai ...)
// matches where its characters appear in a row. A phrase ("...", or a
// term that splits into several words, like e-mail) matches its words in
// this order, as written (folded, not stemmed). inurl: words match whole
// words of the URL, not stemmed. OR binds tighter than the implicit AND
// between terms, as in most search engines: "a b OR c" means a AND (b OR c).
// since: and until: compare an item's sort time: its published time, or
// when it was first seen if it has none.

// Node is a parsed query expression.
type Node interface {
	// Match reports whether the item (of feed f, which may be nil) matches.
	Match(it *babelfeed.Item, f *babelfeed.Feed) bool
	// String renders the node back in query syntax.
	String() string
	// match is Match sharing the analysis of one item across the nodes.
	match(c *matchCtx) bool
}

// Field says where a word, phrase or pattern is looked for.
type Field int

const (
	FieldAny    Field = iota // title, text and author
	FieldTitle               // intitle:
	FieldAuthor              // author:
	FieldURL                 // inurl:
)

func (f Field) prefix() string {
	switch f {
	case FieldTitle:
		return "intitle:"
	case FieldAuthor:
		return "author:"
	case FieldURL:
		return "inurl:"
	}
	return ""
}

// And matches when every node matches.
type And struct{ Nodes []Node }

// Or matches when any node matches.
type Or struct{ Nodes []Node }

// Not matches when its node does not.
type Not struct{ Node Node }

// Word is one search word: one word, or one run of characters of a script
// written without spaces.
type Word struct {
	Field  Field
	Word   string          // as typed
	Tokens []analyze.Token // analyze.Tokenize(Word)
}

// Phrase is a sequence of words that must appear in order: quoted, or a
// term that splits into several words.
type Phrase struct {
	Field  Field
	Raw    string          // as typed, without quotes
	Tokens []analyze.Token // analyze.Tokenize(Raw)
}

// Regex is a /pattern/ over the field's original text.
type Regex struct {
	Field Field
	Raw   string // as typed, with slashes and flags
	Re    *regexp.Regexp
}

// Lang matches items tagged with any of Codes.
type Lang struct{ Codes []string }

// FeedRef matches items of the feeds named by ID or URL.
type FeedRef struct{ Values []string }

// Category matches items whose feed sits in Path or below it.
type Category struct{ Path string }

// Since matches items published at or after T; Until, before T.
type Since struct {
	Raw string
	T   time.Time
}

// Until matches items published before T.
type Until struct {
	Raw string
	T   time.Time
}

// SyntaxError points at the problem in a query.
type SyntaxError struct {
	Query string
	Pos   int // byte offset in Query
	Msg   string
}

func (e *SyntaxError) Error() string {
	col := utf8.RuneCountInString(e.Query[:min(e.Pos, len(e.Query))])
	return fmt.Sprintf("query %q, at character %d: %s\n  %s\n  %s^", e.Query, col+1, e.Msg, e.Query, strings.Repeat(" ", col))
}

// Parse parses a query in the language above. now anchors relative times
// (since:24h). An empty query parses to nil, which matches everything.
func Parse(q string, now time.Time) (Node, error) {
	p := &parser{src: q, now: now}
	if err := p.lex(); err != nil {
		return nil, err
	}
	if len(p.toks) == 0 {
		return nil, nil
	}
	n, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		if t.kind == tokRParen {
			return nil, p.errAt(t.pos, "unbalanced ')': no '(' before it")
		}
		return nil, p.errAt(t.pos, "unexpected "+t.describe())
	}
	return n, nil
}

type tokKind int

const (
	tokTerm tokKind = iota // a word, field:value, "phrase" or /regex/
	tokLParen
	tokRParen
	tokOr
	tokNot // a leading '-'
)

type token struct {
	kind   tokKind
	pos    int
	field  string // "lang", "intitle", ... or "" for a bare term
	value  string // word, phrase text or regex source
	quoted bool
	regex  bool
	flags  string // regex flags after the closing slash
}

func (t token) describe() string {
	switch t.kind {
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokOr:
		return "OR"
	case tokNot:
		return "'-'"
	}
	return fmt.Sprintf("%q", t.value)
}

type parser struct {
	src  string
	now  time.Time
	toks []token
	pos  int
}

func (p *parser) errAt(pos int, msg string) error {
	return &SyntaxError{Query: p.src, Pos: pos, Msg: msg}
}

var fields = map[string]bool{
	"lang": true, "feed": true, "cat": true, "category": true, "author": true,
	"intitle": true, "title": true, "inurl": true, "url": true, "since": true, "until": true,
}

func (p *parser) lex() error {
	s := p.src
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '(':
			p.toks = append(p.toks, token{kind: tokLParen, pos: i})
			i++
		case r == ')':
			p.toks = append(p.toks, token{kind: tokRParen, pos: i})
			i++
		case r == '-' && atTermStart(s, i) && (i+1 == len(s) || isSpaceByte(s[i+1]) || s[i+1] == ')'):
			return p.errAt(i, "'-' needs a term to exclude")
		case r == '-' && atTermStart(s, i):
			p.toks = append(p.toks, token{kind: tokNot, pos: i})
			i++
		default:
			t, next, err := p.lexTerm(i)
			if err != nil {
				return err
			}
			if t.field == "" && !t.quoted && !t.regex && t.value == "OR" {
				t = token{kind: tokOr, pos: i}
			}
			p.toks = append(p.toks, t)
			i = next
		}
	}
	return nil
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// atTermStart: a '-' negates only at the start of a term, not inside
// "e-mail".
func atTermStart(s string, i int) bool {
	return i == 0 || isSpaceByte(s[i-1]) || s[i-1] == '('
}

// lexTerm reads one term starting at i: [field:](word | "phrase" | /re/flags).
func (p *parser) lexTerm(i int) (token, int, error) {
	s := p.src
	t := token{kind: tokTerm, pos: i}
	// A field prefix is letters followed by ':'.
	j := i
	for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
		j++
	}
	if j < len(s) && s[j] == ':' && j > i && fields[s[i:j]] {
		t.field = s[i:j]
		j++
		if j >= len(s) || isSpaceByte(s[j]) || s[j] == ')' {
			return t, j, p.errAt(i, fmt.Sprintf("%s: needs a value", t.field))
		}
	} else {
		j = i
	}
	switch {
	case s[j] == '"':
		end := strings.IndexByte(s[j+1:], '"')
		if end < 0 {
			return t, len(s), p.errAt(j, "unclosed quote")
		}
		t.quoted = true
		t.value = s[j+1 : j+1+end]
		return t, j + 2 + end, nil
	case s[j] == '/' && (t.field == "" || t.field == "intitle" || t.field == "title" || t.field == "inurl" || t.field == "url" || t.field == "author"):
		// Find the closing slash, honouring backslash escapes.
		k := j + 1
		for k < len(s) && s[k] != '/' {
			if s[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(s) {
			return t, len(s), p.errAt(j, "unclosed /regex/")
		}
		t.regex = true
		t.value = s[j+1 : k]
		k++
		f := k
		for k < len(s) && (s[k] == 'i' || s[k] == 's' || s[k] == 'm') {
			k++
		}
		t.flags = s[f:k]
		if k < len(s) && !isSpaceByte(s[k]) && s[k] != ')' {
			return t, k, p.errAt(k, "unexpected text after /regex/ (flags can be i, s, m)")
		}
		return t, k, nil
	}
	k := j
	for k < len(s) {
		r, size := utf8.DecodeRuneInString(s[k:])
		if unicode.IsSpace(r) || r == '(' || r == ')' {
			break
		}
		if r == '"' {
			return t, k, p.errAt(k, "a quote inside a word: put the quoted phrase apart")
		}
		k += size
	}
	t.value = s[j:k]
	return t, k, nil
}

// parseAnd reads terms until ')' or the end; OR groups bind tighter.
func (p *parser) parseAnd() (Node, error) {
	var nodes []Node
	for p.pos < len(p.toks) && p.toks[p.pos].kind != tokRParen {
		if p.toks[p.pos].kind == tokOr {
			return nil, p.errAt(p.toks[p.pos].pos, "OR needs a term on its left")
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		pos := len(p.src)
		if p.pos < len(p.toks) {
			pos = p.toks[p.pos].pos
		}
		return nil, p.errAt(pos, "empty group")
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return &And{Nodes: nodes}, nil
}

func (p *parser) parseOr() (Node, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	nodes := []Node{first}
	for p.pos < len(p.toks) && p.toks[p.pos].kind == tokOr {
		orPos := p.toks[p.pos].pos
		p.pos++
		if p.pos >= len(p.toks) || p.toks[p.pos].kind == tokRParen || p.toks[p.pos].kind == tokOr {
			return nil, p.errAt(orPos, "OR needs a term on its right")
		}
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return first, nil
	}
	return &Or{Nodes: nodes}, nil
}

func (p *parser) parseUnary() (Node, error) {
	t := p.toks[p.pos]
	switch t.kind {
	case tokNot:
		p.pos++
		if p.pos >= len(p.toks) || p.toks[p.pos].kind == tokRParen || p.toks[p.pos].kind == tokOr {
			return nil, p.errAt(t.pos, "'-' needs a term to exclude")
		}
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &Not{Node: n}, nil
	case tokLParen:
		p.pos++
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokRParen {
			return nil, p.errAt(t.pos, "unclosed '('")
		}
		p.pos++
		return n, nil
	case tokTerm:
		p.pos++
		return p.term(t)
	}
	return nil, p.errAt(t.pos, "unexpected "+t.describe())
}

func (p *parser) term(t token) (Node, error) {
	field := FieldAny
	switch t.field {
	case "lang":
		codes, err := ParseLangs(t.value)
		if err != nil || len(codes) == 0 {
			return nil, p.errAt(t.pos, fmt.Sprintf("lang:%s: want ISO 639-1 codes like it or it,es", t.value))
		}
		return &Lang{Codes: codes}, nil
	case "feed":
		var vals []string
		for _, v := range strings.Split(t.value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return nil, p.errAt(t.pos, "feed: needs a feed ID or URL")
		}
		return &FeedRef{Values: vals}, nil
	case "cat", "category":
		path := strings.Trim(strings.TrimSpace(t.value), "/")
		if path == "" {
			return nil, p.errAt(t.pos, "cat: needs a folder name")
		}
		return &Category{Path: path}, nil
	case "since", "until":
		when, err := ParseWhen(t.value, p.now)
		if err != nil {
			return nil, p.errAt(t.pos, fmt.Sprintf("%s:%s", t.field, err))
		}
		if t.field == "since" {
			return &Since{Raw: t.value, T: when}, nil
		}
		return &Until{Raw: t.value, T: when}, nil
	case "intitle", "title":
		field = FieldTitle
	case "author":
		field = FieldAuthor
	case "inurl", "url":
		field = FieldURL
	}
	if t.regex {
		src := t.value
		if t.flags != "" {
			src = "(?" + t.flags + ")" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, p.errAt(t.pos, "bad /regex/: "+err.Error())
		}
		return &Regex{Field: field, Raw: "/" + t.value + "/" + t.flags, Re: re}, nil
	}
	toks := analyze.Tokenize(nil, t.value)
	if t.quoted || (len(toks) > 0 && !analyze.IsWord(toks)) {
		if len(toks) == 0 {
			return nil, p.errAt(t.pos, "the phrase has no words")
		}
		return &Phrase{Field: field, Raw: t.value, Tokens: toks}, nil
	}
	if len(toks) == 0 {
		return nil, p.errAt(t.pos, fmt.Sprintf("%q has no letters or digits to search for", t.value))
	}
	return &Word{Field: field, Word: t.value, Tokens: toks}, nil
}

// Match implementations: the reference semantics, used by rules at ingest
// and as the baseline the keyword index must agree with (filter/search).

// matchCtx holds the analysis of one item, made on first use and shared by
// every node of one Match.
type matchCtx struct {
	it     *babelfeed.Item
	f      *babelfeed.Feed
	a      *analyze.Analyzer
	docs   [3]*analyze.Doc // by Field: any, title, author
	url    []analyze.Token
	hasURL bool
}

func newMatchCtx(it *babelfeed.Item, f *babelfeed.Feed) *matchCtx {
	return &matchCtx{it: it, f: f}
}

func (c *matchCtx) analyzer() *analyze.Analyzer {
	if c.a == nil {
		c.a = analyze.Get()
	}
	return c.a
}

func (c *matchCtx) done() {
	if c.a != nil {
		analyze.Put(c.a)
		c.a = nil
	}
}

// doc returns the analysis of the texts of field (not FieldURL).
func (c *matchCtx) doc(field Field) *analyze.Doc {
	if d := c.docs[field]; d != nil {
		return d
	}
	it := c.it
	var texts []string
	switch field {
	case FieldTitle:
		texts = []string{it.Title}
	case FieldAuthor:
		texts = []string{it.Author}
	default:
		texts = []string{it.Title, it.Summary, it.Content, it.Author}
	}
	d := c.analyzer().NewDoc(it.Lang, texts...)
	c.docs[field] = d
	return d
}

func (c *matchCtx) urlTokens() []analyze.Token {
	if !c.hasURL {
		c.url, c.hasURL = analyze.Tokenize(nil, c.it.URL), true
	}
	return c.url
}

func run(n Node, it *babelfeed.Item, f *babelfeed.Feed) bool {
	c := newMatchCtx(it, f)
	defer c.done()
	return n.match(c)
}

func (n *And) Match(it *babelfeed.Item, f *babelfeed.Feed) bool    { return run(n, it, f) }
func (n *Or) Match(it *babelfeed.Item, f *babelfeed.Feed) bool     { return run(n, it, f) }
func (n *Not) Match(it *babelfeed.Item, f *babelfeed.Feed) bool    { return run(n, it, f) }
func (n *Word) Match(it *babelfeed.Item, f *babelfeed.Feed) bool   { return run(n, it, f) }
func (n *Phrase) Match(it *babelfeed.Item, f *babelfeed.Feed) bool { return run(n, it, f) }
func (n *Regex) Match(it *babelfeed.Item, f *babelfeed.Feed) bool  { return run(n, it, f) }
func (n *Lang) Match(it *babelfeed.Item, f *babelfeed.Feed) bool   { return run(n, it, f) }
func (n *FeedRef) Match(it *babelfeed.Item, f *babelfeed.Feed) bool {
	return run(n, it, f)
}
func (n *Category) Match(it *babelfeed.Item, f *babelfeed.Feed) bool {
	return run(n, it, f)
}
func (n *Since) Match(it *babelfeed.Item, f *babelfeed.Feed) bool { return run(n, it, f) }
func (n *Until) Match(it *babelfeed.Item, f *babelfeed.Feed) bool { return run(n, it, f) }

func (n *And) match(c *matchCtx) bool {
	for _, x := range n.Nodes {
		if !x.match(c) {
			return false
		}
	}
	return true
}

func (n *Or) match(c *matchCtx) bool {
	for _, x := range n.Nodes {
		if x.match(c) {
			return true
		}
	}
	return false
}

func (n *Not) match(c *matchCtx) bool { return !n.Node.match(c) }

func (n *Word) match(c *matchCtx) bool {
	if n.Field == FieldURL {
		return analyze.Contains(c.urlTokens(), n.Tokens)
	}
	return c.analyzer().HasWord(c.doc(n.Field), n.Tokens)
}

func (n *Phrase) match(c *matchCtx) bool {
	if n.Field == FieldURL {
		return analyze.Contains(c.urlTokens(), n.Tokens)
	}
	return c.doc(n.Field).HasPhrase(n.Tokens)
}

func fieldTexts(field Field, it *babelfeed.Item) []string {
	switch field {
	case FieldTitle:
		return []string{it.Title}
	case FieldAuthor:
		return []string{it.Author}
	case FieldURL:
		return []string{it.URL}
	}
	return []string{it.Title, it.Summary, it.Content, it.Author}
}

func (n *Regex) match(c *matchCtx) bool {
	for _, t := range fieldTexts(n.Field, c.it) {
		if n.Re.MatchString(t) {
			return true
		}
	}
	return false
}

func (n *Lang) match(c *matchCtx) bool {
	for _, code := range n.Codes {
		if c.it.Lang == code {
			return true
		}
	}
	return false
}

func (n *FeedRef) match(c *matchCtx) bool {
	for _, v := range n.Values {
		if id, err := strconv.ParseUint(v, 10, 64); err == nil && id == c.it.FeedID {
			return true
		}
		if c.f != nil && c.f.URL == v {
			return true
		}
	}
	return false
}

func (n *Category) match(c *matchCtx) bool {
	if c.f == nil {
		return false
	}
	return CategoryHas(c.f.CategoryPath(), n.Path)
}

// CategoryHas reports whether a feed in category path sits in want or below
// it, comparing folder names case- and accent-insensitively.
func CategoryHas(path, want string) bool {
	if want == "" {
		return true
	}
	p, w := text.Fold(path), text.Fold(want)
	return p == w || strings.HasPrefix(p, w+"/")
}

// SortTime is the time since: and until: compare: the item's published
// time, or when it was first seen if it has none (as store.SortTime).
func SortTime(it *babelfeed.Item) time.Time {
	if it.Published.IsZero() {
		return it.FirstSeen
	}
	return it.Published
}

func (n *Since) match(c *matchCtx) bool { return !SortTime(c.it).Before(n.T) }
func (n *Until) match(c *matchCtx) bool { return SortTime(c.it).Before(n.T) }

func (n *And) String() string { return joinNodes(n.Nodes, " ") }
func (n *Or) String() string  { return "(" + joinNodes(n.Nodes, " OR ") + ")" }
func (n *Not) String() string { return "-" + grouped(n.Node) }
func (n *Word) String() string {
	return n.Field.prefix() + n.Word
}
func (n *Phrase) String() string   { return n.Field.prefix() + `"` + n.Raw + `"` }
func (n *Regex) String() string    { return n.Field.prefix() + n.Raw }
func (n *Lang) String() string     { return "lang:" + strings.Join(n.Codes, ",") }
func (n *FeedRef) String() string  { return "feed:" + strings.Join(n.Values, ",") }
func (n *Category) String() string { return `cat:"` + n.Path + `"` }
func (n *Since) String() string    { return "since:" + n.Raw }
func (n *Until) String() string    { return "until:" + n.Raw }

func joinNodes(nodes []Node, sep string) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = grouped(n)
	}
	return strings.Join(parts, sep)
}

// grouped renders an And in parentheses so that it stays one operand.
func grouped(n Node) string {
	if _, ok := n.(*And); ok {
		return "(" + n.String() + ")"
	}
	return n.String()
}
