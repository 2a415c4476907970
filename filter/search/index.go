package search

import (
	"container/heap"
	"math"
	"slices"

	"babelfeed"
	"babelfeed/filter/analyze"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// set is the items of one language an expression selects, as far as the
// index can tell.
type set struct {
	// all: every item of the language except ids; else exactly ids.
	all bool
	ids []uint64 // sorted, distinct
	// exact: the set is the expression's answer; else a superset of it,
	// whose items must be checked with Node.Match.
	exact bool
}

var (
	everything = set{all: true, exact: true}
	unknown    = set{all: true} // the index cannot narrow this down
)

func intersect(a, b set) set {
	out := set{exact: a.exact && b.exact}
	switch {
	case !a.all && !b.all:
		out.ids = andIDs(a.ids, b.ids)
	case a.all && !b.all:
		out.ids = minusIDs(b.ids, a.ids)
	case !a.all && b.all:
		out.ids = minusIDs(a.ids, b.ids)
	default:
		out.all, out.ids = true, orIDs(a.ids, b.ids)
	}
	return out
}

func union(a, b set) set {
	out := set{exact: a.exact && b.exact}
	switch {
	case !a.all && !b.all:
		out.ids = orIDs(a.ids, b.ids)
	case a.all && !b.all:
		out.all, out.ids = true, minusIDs(a.ids, b.ids)
	case !a.all && b.all:
		out.all, out.ids = true, minusIDs(b.ids, a.ids)
	default:
		out.all, out.ids = true, andIDs(a.ids, b.ids)
	}
	return out
}

func complement(a set) set {
	if !a.exact {
		// A superset's complement is a subset: useless for finding
		// candidates.
		return unknown
	}
	return set{all: !a.all, ids: a.ids, exact: true}
}

// andIDs intersects sorted lists; a short list probes a long one by binary
// search.
func andIDs(a, b []uint64) []uint64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	var out []uint64
	if len(a)*16 < len(b) {
		for _, id := range a {
			if i, ok := slices.BinarySearch(b, id); ok {
				out = append(out, id)
				b = b[i+1:]
			}
		}
		return out
	}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func orIDs(a, b []uint64) []uint64 {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func minusIDs(a, b []uint64) []uint64 {
	if len(b) == 0 {
		return a
	}
	var out []uint64
	j := 0
	for _, id := range a {
		for j < len(b) && b[j] < id {
			j++
		}
		if j < len(b) && b[j] == id {
			continue
		}
		out = append(out, id)
	}
	return out
}

// scorer is one positive term of the query in one language, for BM25.
type scorer struct {
	lang int
	list *plist // field-filtered; pays nil means frequency 1
}

// evalCtx is the state of compiling the query for one language.
type evalCtx struct {
	lang     string
	langIdx  int
	scorers  *[]scorer
	scoreKey map[string]bool
	err      error
}

// list returns the postings of term in lang, filtered to field.
func (e *engine) list(lang, term string, field query.Field) (*plist, error) {
	key := bytesKey(lang, term)
	pl := e.postings[key]
	if pl == nil {
		pl = &plist{}
		var err error
		if pl.ids, pl.pays, err = e.r.AppendPostings(lang, term, nil, nil); err != nil {
			return nil, err
		}
		if e.postings == nil {
			e.postings = map[string]*plist{}
		}
		e.postings[key] = pl
	}
	if field != query.FieldTitle && field != query.FieldAuthor {
		return pl, nil
	}
	out := &plist{}
	for i, pay := range pl.pays {
		p := store.PostingOf(pay)
		if (field == query.FieldTitle && p.Title) || (field == query.FieldAuthor && p.Author) {
			out.ids = append(out.ids, pl.ids[i])
			out.pays = append(out.pays, pay)
		}
	}
	return out, nil
}

// prefixList returns the items with a term of lang that starts with the
// spaceless unit u (see analyze.PrefixMatch), filtered to field.
func (e *engine) prefixList(lang, u string, field query.Field) (*plist, error) {
	var terms []string
	err := e.r.TermsWithPrefix(lang, u, func(term string) bool {
		if analyze.PrefixMatch(term, u) {
			terms = append(terms, term)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := &plist{}
	for _, t := range terms {
		pl, err := e.list(lang, t, field)
		if err != nil {
			return nil, err
		}
		out.ids = orIDs(out.ids, pl.ids)
	}
	return out, nil
}

// terms intersects the lists of terms and records them for scoring.
func (e *engine) terms(c *evalCtx, terms []string, field query.Field, positive bool) set {
	out := everything
	first := true
	for _, t := range terms {
		pl, err := e.list(c.lang, t, field)
		if err != nil {
			c.err = err
			return unknown
		}
		if positive {
			e.addScorer(c, t, field, pl)
		}
		if first {
			out, first = set{ids: pl.ids, exact: true}, false
			continue
		}
		out = intersect(out, set{ids: pl.ids, exact: true})
	}
	return out
}

func (e *engine) addScorer(c *evalCtx, term string, field query.Field, pl *plist) {
	if c.scorers == nil {
		return
	}
	key := bytesKey(c.lang, term) + "\x00" + string(rune('0'+field))
	if c.scoreKey[key] {
		return
	}
	c.scoreKey[key] = true
	*c.scorers = append(*c.scorers, scorer{lang: c.langIdx, list: pl})
}

// eval compiles n for one language; positive says whether n's words
// count for the score (they do not under a '-').
func (e *engine) eval(c *evalCtx, n query.Node, positive bool) set {
	if c.err != nil {
		return unknown
	}
	switch n := n.(type) {
	case *query.And:
		out := everything
		for _, x := range n.Nodes {
			out = intersect(out, e.eval(c, x, positive))
		}
		return out
	case *query.Or:
		var out set
		for i, x := range n.Nodes {
			s := e.eval(c, x, positive)
			if i == 0 {
				out = s
				continue
			}
			out = union(out, s)
		}
		return out
	case *query.Not:
		return complement(e.eval(c, n.Node, false))
	case *query.Word:
		if n.Field == query.FieldURL {
			return unknown
		}
		q := e.a.WordQuery(c.lang, n.Tokens)
		if q.Prefix != "" {
			pl, err := e.prefixList(c.lang, q.Prefix, n.Field)
			if err != nil {
				c.err = err
				return unknown
			}
			if positive {
				e.addScorer(c, "\x01"+q.Prefix, n.Field, pl)
			}
			return set{ids: pl.ids, exact: q.Exact}
		}
		if len(q.Terms) == 0 {
			return unknown // a stopword: matched as a whole word
		}
		s := e.terms(c, q.Terms, n.Field, positive)
		s.exact = s.exact && q.Exact
		return s
	case *query.Phrase:
		if n.Field == query.FieldURL {
			return unknown
		}
		q := e.a.PhraseQuery(c.lang, n.Tokens)
		if len(q.Terms) == 0 {
			return unknown
		}
		s := e.terms(c, q.Terms, n.Field, positive)
		s.exact = false
		return s
	case *query.Lang:
		if slices.Contains(n.Codes, c.lang) {
			return everything
		}
		return set{exact: true}
	case *query.FeedRef, *query.Category:
		ids, err := e.feedItems(n, c.lang)
		if err != nil {
			c.err = err
			return unknown
		}
		return set{ids: ids, exact: true}
	case *query.Since:
		return e.timeRange(c, store.UnixNanos(n.T), math.MaxInt64)
	case *query.Until:
		return e.timeRange(c, math.MinInt64, store.UnixNanos(n.T))
	}
	// Regex.
	return unknown
}

// feedItems returns the items of lang in the feeds a feed: or cat: term
// below the top level names (the top level ones narrow the scan instead).
func (e *engine) feedItems(n query.Node, lang string) ([]uint64, error) {
	if e.byFeed == nil {
		e.byFeed = map[query.Node]map[string][]uint64{}
	}
	byLang := e.byFeed[n]
	if byLang == nil {
		byLang = map[string][]uint64{}
		for _, f := range e.feeds {
			if !n.Match(&babelfeed.Item{FeedID: f.ID}, f) {
				continue
			}
			err := e.r.FeedItems(f.ID, func(id uint64, l string) bool {
				byLang[l] = append(byLang[l], id)
				return true
			})
			if err != nil {
				return nil, err
			}
		}
		for _, ids := range byLang {
			slices.Sort(ids)
		}
		e.byFeed[n] = byLang
	}
	return byLang[lang], nil
}

// timeRange returns the items of the language sorted in [lo, hi).
func (e *engine) timeRange(c *evalCtx, lo, hi int64) set {
	var ids []uint64
	if err := e.r.LangItems(c.lang, lo, hi, func(id uint64) bool {
		ids = append(ids, id)
		return true
	}); err != nil {
		c.err = err
		return unknown
	}
	slices.Sort(ids)
	return set{ids: ids, exact: true}
}

// LangsToSearch returns the languages an indexed search looks in: of
// langs, the restriction SplitQuery gave (nil: any), those with items in
// stats, or, with no restriction, every language with items, sorted. Both
// this package's engine and store/postgres's search choose languages with
// it, so the two search and rank over the same ones.
func LangsToSearch(langs []string, stats map[string]store.LangStats) []string {
	var out []string
	if langs != nil {
		for _, l := range langs {
			if stats[l].Docs > 0 {
				out = append(out, l)
			}
		}
		return out
	}
	for l, st := range stats {
		if st.Docs > 0 {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// indexed answers the query from the index.
func (e *engine) indexed() error {
	stats, err := e.r.Langs()
	if err != nil {
		return err
	}
	relevance := e.req.Sort == Relevance
	if relevance && e.hasCur && e.cur.Kind == CursorRelevance {
		stats = e.cur.Stats
	}
	langs := LangsToSearch(e.scan.Langs, stats)
	var scorers []scorer
	sets := make([]set, len(langs))
	for i, l := range langs {
		c := &evalCtx{lang: l, langIdx: i}
		if relevance {
			c.scorers, c.scoreKey = &scorers, map[string]bool{}
		}
		sets[i] = e.eval(c, e.rest, true)
		if c.err != nil {
			return c.err
		}
	}
	if relevance && len(scorers) > 0 {
		if e.hasCur && e.cur.Kind != CursorRelevance {
			return ErrCursor
		}
		return e.ranked(langs, sets, scorers, stats)
	}
	// Nothing to rank by (no words outside a '-'): newest first.
	if e.hasCur && e.cur.Kind != CursorNewest {
		return ErrCursor
	}
	return e.newest(langs, sets, stats)
}

// filter holds the restrictions and the cursor, applied to candidates.
type filter struct {
	feeds  map[uint64]bool // nil: any
	lo, hi int64
	after  *store.Position
	maxID  uint64 // 0: any
}

func (e *engine) filter() filter {
	f := filter{}
	if e.scan.FeedIDs != nil {
		f.feeds = map[uint64]bool{}
		for _, id := range e.scan.FeedIDs {
			f.feeds[id] = true
		}
	}
	f.lo, f.hi = e.sinceUntil()
	if e.hasCur && e.cur.Kind == CursorNewest {
		f.after = &e.cur.Pos
	}
	return f
}

// row returns the position and length of a candidate that passes the
// filter.
func (e *engine) row(f *filter, id uint64) (store.Row, bool, error) {
	if f.maxID != 0 && id > f.maxID {
		return store.Row{}, false, nil
	}
	row, ok, err := e.r.Row(id)
	if err != nil {
		return row, false, err
	}
	if !ok {
		// Every item of a usable index has a row; be safe anyway.
		it, err := e.r.Item(id)
		if err != nil {
			return row, false, err
		}
		row = store.Row{Pos: store.PositionOf(&it), FeedID: it.FeedID}
	}
	if f.feeds != nil && !f.feeds[row.FeedID] {
		return row, false, nil
	}
	if row.Pos.Nanos < f.lo || row.Pos.Nanos >= f.hi {
		return row, false, nil
	}
	if f.after != nil && !f.after.Before(row.Pos) {
		return row, false, nil
	}
	return row, true, nil
}

// take loads a candidate, checks it if the index was not exact, and adds it
// to the page; it reports whether the page wants more.
func (e *engine) take(c *candidate) (bool, error) {
	it, err := e.r.Item(c.pos.ID)
	if err != nil {
		return false, err
	}
	f := e.feed(it.FeedID)
	if !c.exact {
		e.page.Checked++
		if !e.rest.Match(&it, &f) {
			return true, nil
		}
	}
	if e.hideDuplicate(&it) {
		return true, nil
	}
	e.page.Hits = append(e.page.Hits, Hit{Item: it, Feed: f, Score: c.score})
	return !e.full(), nil
}

// newest lists the candidates newest first: the finite sets through a
// heap, the languages the index could not narrow through the store's
// newest-first scan, merged.
func (e *engine) newest(langs []string, sets []set, stats map[string]store.LangStats) error {
	f := e.filter()
	l := &lazyCands{e: e, f: &f}
	langIdx := map[string]int{}
	var streamLangs []string
	total := 0
	want := float64(e.req.Limit + 1)
	for i, lang := range langs {
		s := sets[i]
		langIdx[lang] = i
		// A language whose candidates are many is better walked newest
		// first through the language index, keeping its candidates: a
		// page of k items out of n candidates among N items takes about
		// k·N/n index entries that way, and n row reads the other.
		n := float64(len(s.ids))
		if s.all || (e.req.Limit > 0 && n*n > want*float64(stats[lang].Docs)) {
			streamLangs = append(streamLangs, lang)
			continue
		}
		if len(s.ids) > 0 {
			l.lists = append(l.lists, s.ids)
			l.langs = append(l.langs, i)
			l.exact = append(l.exact, s.exact)
			total += len(s.ids)
		}
	}
	from := lazyFrom
	if e.req.lazyFrom > 0 {
		from = e.req.lazyFrom
	}
	if total > from {
		l.bounds(e.r.RowBounds())
	}
	more := true
	drainUntil := func(stop *store.Position) error {
		for more {
			c, ok, err := l.pop(stop)
			if err != nil || !ok {
				return err
			}
			if more, err = e.take(&c); err != nil {
				return err
			}
		}
		return nil
	}
	if len(streamLangs) > 0 {
		q := e.scan
		if q.Langs != nil || len(streamLangs) < len(langs) {
			q.Langs = streamLangs
		}
		var err error
		scanErr := e.r.Scan(e.ctx, q, f.after, func(se store.ScanEntry) bool {
			i, ok := langIdx[se.Lang]
			// An item of a complemented set is a candidate unless listed;
			// of a finite set, if listed.
			if !ok || idsContain(sets[i].ids, se.Pos.ID) == sets[i].all {
				return true
			}
			if err = drainUntil(&se.Pos); err != nil || !more {
				return false
			}
			e.page.Candidates++
			c := candidate{pos: se.Pos, lang: i, exact: sets[i].exact}
			more, err = e.take(&c)
			return err == nil && more
		})
		if err == nil {
			err = scanErr
		}
		if err != nil {
			return err
		}
	}
	if err := drainUntil(nil); err != nil {
		return err
	}
	e.finish(newestCursor)
	return nil
}

// lazyFrom is how many candidates it takes to read rows lazily; fewer are
// read at once.
const lazyFrom = 1024

// lazyCands gives the candidates of the finite sets newest first. Item IDs
// grow with arrival, and so, mostly, do sort times: rows are read a block
// of IDs at a time from the highest IDs down, and a candidate is given once
// no unread one can be newer, which the index's newest time per block of
// IDs (store.IndexReader.RowBounds) tells. A query for a common word then
// reads the rows of the newest few hundred candidates, not of all of them.
type lazyCands struct {
	e     *engine
	f     *filter
	lists [][]uint64 // per language, ascending; read from the end
	langs []int
	exact []bool
	h     newestHeap
	// upTo[b] is the newest time of any item in ID blocks 0..b; nil: no
	// bounds, so everything is read before the first candidate is given.
	upTo []int64
}

func (l *lazyCands) bounds(perBlock []int64) {
	if perBlock == nil {
		return
	}
	l.upTo = make([]int64, len(perBlock))
	newest := int64(math.MinInt64)
	for b, t := range perBlock {
		newest = max(newest, t)
		l.upTo[b] = newest
	}
}

// nextID returns the highest unread candidate ID.
func (l *lazyCands) nextID() (uint64, bool) {
	var best uint64
	found := false
	for _, ids := range l.lists {
		if n := len(ids); n > 0 && (!found || ids[n-1] > best) {
			best, found = ids[n-1], true
		}
	}
	return best, found
}

// unreadBound returns a time no unread candidate that passes the filter is
// newer than; math.MinInt64 when none is left.
func (l *lazyCands) unreadBound() int64 {
	id, ok := l.nextID()
	if !ok {
		return math.MinInt64
	}
	b := int64(math.MaxInt64)
	if bn := id / store.RowBlock; bn < uint64(len(l.upTo)) {
		b = l.upTo[bn]
	}
	b = min(b, l.f.hi-1)
	if l.f.after != nil {
		b = min(b, l.f.after.Nanos)
	}
	if b < l.f.lo {
		// Every unread candidate is older than since:.
		for i := range l.lists {
			l.lists[i] = nil
		}
		return math.MinInt64
	}
	return b
}

// read reads the rows of the unread candidates in the next block of IDs
// (or of all of them, without bounds).
func (l *lazyCands) read() error {
	id, ok := l.nextID()
	if !ok {
		return nil
	}
	floor := uint64(0)
	if l.upTo != nil {
		floor = id / store.RowBlock * store.RowBlock
	}
	for i, ids := range l.lists {
		n := len(ids)
		for n > 0 && ids[n-1] >= floor {
			n--
			row, ok, err := l.e.row(l.f, ids[n])
			if err != nil {
				return err
			}
			l.e.page.Candidates++
			if ok {
				heap.Push(&l.h, candidate{pos: row.Pos, lang: l.langs[i], exact: l.exact[i]})
			}
		}
		l.lists[i] = ids[:n]
	}
	return nil
}

// pop returns the newest candidate if it comes before stop (nil: any).
func (l *lazyCands) pop(stop *store.Position) (candidate, bool, error) {
	for {
		unread := l.unreadBound()
		if len(l.h.items) > 0 && l.h.items[0].pos.Nanos >= unread {
			// Unread candidates are no newer, and have lower IDs.
			if stop != nil && !l.h.items[0].pos.Before(*stop) {
				return candidate{}, false, nil
			}
			return heap.Pop(&l.h).(candidate), true, nil
		}
		if unread == math.MinInt64 {
			return candidate{}, false, nil // nothing left
		}
		if stop != nil && unread < stop.Nanos {
			return candidate{}, false, nil // stop comes first
		}
		if err := l.read(); err != nil {
			return candidate{}, false, err
		}
	}
}

type newestHeap struct{ items []candidate }

func (h *newestHeap) Len() int           { return len(h.items) }
func (h *newestHeap) Less(i, j int) bool { return h.items[i].pos.Before(h.items[j].pos) }
func (h *newestHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *newestHeap) Push(x any)         { h.items = append(h.items, x.(candidate)) }
func (h *newestHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// BM25 parameters: the usual k1 and b; a title occurrence counts
// titleBoost times.
const (
	bm25K1     = 1.2
	bm25B      = 0.75
	titleBoost = 3
)

// ranked orders every candidate by score. The corpus statistics (items and
// total length per language) come from the cursor after the first page,
// and document frequencies count only items up to the first page's highest
// ID, so the scores of a listing do not move while new items arrive; items
// newer than the first page are left out of its later pages.
func (e *engine) ranked(langs []string, sets []set, scorers []scorer, stats map[string]store.LangStats) error {
	f := e.filter()
	maxID := e.r.MaxItemID()
	if e.hasCur {
		maxID = e.cur.MaxID
	}
	f.maxID = maxID
	var cands []candidate
	var lens []int
	index := map[uint64]int{}
	add := func(row store.Row, lang int, exact bool) {
		index[row.Pos.ID] = len(cands)
		cands = append(cands, candidate{pos: row.Pos, lang: lang, exact: exact})
		lens = append(lens, row.Len)
	}
	langIdx := map[string]int{}
	var streamLangs []string
	for i, l := range langs {
		s := sets[i]
		langIdx[l] = i
		if s.all {
			streamLangs = append(streamLangs, l)
			continue
		}
		for _, id := range s.ids {
			row, ok, err := e.row(&f, id)
			if err != nil {
				return err
			}
			if ok {
				add(row, i, s.exact)
			}
		}
	}
	if len(streamLangs) > 0 {
		q := e.scan
		q.Langs = streamLangs
		var err error
		scanErr := e.r.Scan(e.ctx, q, nil, func(se store.ScanEntry) bool {
			i, ok := langIdx[se.Lang]
			if !ok || se.Pos.ID > maxID || idsContain(sets[i].ids, se.Pos.ID) {
				return true
			}
			var row store.Row
			if row, ok, err = e.r.Row(se.Pos.ID); err != nil {
				return false
			}
			if !ok {
				row = store.Row{Pos: se.Pos, FeedID: se.FeedID}
			}
			add(row, i, sets[i].exact)
			return true
		})
		if err == nil {
			err = scanErr
		}
		if err != nil {
			return err
		}
	}
	e.page.Candidates = len(cands)

	// Scores, term by term in a fixed order, so that a score computed for
	// a later page is the same float.
	for _, sc := range scorers {
		l := langs[sc.lang]
		st := stats[l]
		n := float64(st.Docs)
		avg := 1.0
		if st.Docs > 0 && st.SumLen > 0 {
			avg = float64(st.SumLen) / n
		}
		df := 0
		for _, id := range sc.list.ids {
			if id <= maxID {
				df++
			}
		}
		idf := math.Log(1 + (n-float64(df)+0.5)/(float64(df)+0.5))
		for j, id := range sc.list.ids {
			ci, ok := index[id]
			if !ok || cands[ci].lang != sc.lang {
				continue
			}
			tf := 1.0
			if sc.list.pays != nil {
				p := store.PostingOf(sc.list.pays[j])
				tf = float64(p.Freq)
				if p.Title {
					tf += titleBoost - 1
				}
			}
			norm := bm25K1 * (1 - bm25B + bm25B*float64(lens[ci])/avg)
			cands[ci].score += idf * tf * (bm25K1 + 1) / (tf + norm)
		}
	}
	h := &rankHeap{}
	for _, c := range cands {
		if e.hasCur && !rankedAfter(&e.cur, &c) {
			continue
		}
		h.items = append(h.items, c)
	}
	heap.Init(h)
	for len(h.items) > 0 {
		c := heap.Pop(h).(candidate)
		more, err := e.take(&c)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	snapshot := map[string]store.LangStats{}
	for _, l := range langs {
		snapshot[l] = stats[l]
	}
	e.finish(func(last *Hit) Cursor {
		return Cursor{Kind: CursorRelevance, Pos: store.PositionOf(&last.Item), Score: last.Score, MaxID: maxID, Stats: snapshot}
	})
	return nil
}

// rankedAfter reports whether c comes after the cursor by score, then
// newest first.
func rankedAfter(cur *Cursor, c *candidate) bool {
	if c.score != cur.Score {
		return c.score < cur.Score
	}
	return cur.Pos.Before(c.pos)
}

type rankHeap struct{ items []candidate }

func (h *rankHeap) Len() int { return len(h.items) }
func (h *rankHeap) Less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	if a.score != b.score {
		return a.score > b.score
	}
	return a.pos.Before(b.pos)
}
func (h *rankHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *rankHeap) Push(x any)    { h.items = append(h.items, x.(candidate)) }
func (h *rankHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
