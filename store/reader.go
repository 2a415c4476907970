package store

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// IndexReader reads the keyword index, the item rows and the other indexes
// in one read transaction, for a query engine outside the store (see
// filter/search). It is valid only inside the function given to ReadIndex.
type IndexReader struct {
	s     *DB
	tx    *bolt.Tx
	b     buckets
	state IndexState
	post  *bolt.Bucket
	rows  *bolt.Bucket
	langs *bolt.Bucket

	// The row block last read.
	rowBlock uint64
	rowData  []byte
}

// ReadIndex calls fn with a reader over one consistent state of the store.
// fn must not call the store: a write waiting for the reader could block
// a nested transaction.
func (s *DB) ReadIndex(fn func(r *IndexReader) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		r := &IndexReader{
			s: s, tx: tx, b: bucketsOf(tx),
			state:    readIndexState(tx.Bucket(bucketMeta)),
			post:     tx.Bucket(bucketPostings),
			rows:     tx.Bucket(bucketPostRows),
			langs:    tx.Bucket(bucketPostLangs),
			rowBlock: ^uint64(0),
		}
		if r.post == nil || r.rows == nil || r.langs == nil {
			r.state = IndexState{}
		}
		return fn(r)
	})
}

// State says what the keyword index covers. Postings, Row and Langs are
// only meaningful when it is usable (see IndexState.Usable).
func (r *IndexReader) State() IndexState { return r.state }

// Indexer returns the Indexer the store was opened with, or nil.
func (r *IndexReader) Indexer() *Indexer { return r.s.indexer }

// Langs returns the index's totals per language.
func (r *IndexReader) Langs() (map[string]LangStats, error) {
	out := map[string]LangStats{}
	if r.langs == nil {
		return out, nil
	}
	err := r.langs.ForEach(func(k, v []byte) error {
		out[string(k)] = readLangStats(v)
		return nil
	})
	return out, err
}

// Postings calls fn for every posting of term in lang, in ascending item ID
// order, until fn returns false.
func (r *IndexReader) Postings(lang, term string, fn func(id uint64, p Posting) bool) error {
	if r.post == nil {
		return nil
	}
	return r.postings(postingsPrefix(lang, term), fn)
}

func (r *IndexReader) postings(prefix []byte, fn func(id uint64, p Posting) bool) error {
	// Keys hold ^K, so the oldest block is the last of the term: walk
	// backwards from the end of the term's range.
	end := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	c := r.post.Cursor()
	k, v := c.Seek(end)
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var buf []posting
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		if len(k) != len(prefix)+8 {
			continue
		}
		var err error
		buf, err = decodeBlock(buf[:0], ^binary.BigEndian.Uint64(k[len(prefix):]), v)
		if err != nil {
			return fmt.Errorf("postings block %x: %w", k, err)
		}
		for _, p := range buf {
			if !fn(p.id, postingOf(p.pay)) {
				return nil
			}
		}
	}
	return nil
}

// Count returns how many items have term in lang, from the block headers.
func (r *IndexReader) Count(lang, term string) (int, error) {
	if r.post == nil {
		return 0, nil
	}
	prefix := postingsPrefix(lang, term)
	n := 0
	c := r.post.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		count, m := binary.Uvarint(v)
		if m <= 0 {
			return 0, fmt.Errorf("postings block %x: %w", k, errCorrupt)
		}
		n += int(count)
	}
	return n, nil
}

// TermsWithPrefix calls fn with every term of lang that starts with prefix,
// in byte order, until fn returns false.
func (r *IndexReader) TermsWithPrefix(lang, prefix string, fn func(term string) bool) error {
	if r.post == nil {
		return nil
	}
	start := postingsPrefix(lang, prefix)
	start = start[:len(start)-1] // lang 0x00 prefix, without the term's end
	c := r.post.Cursor()
	last := ""
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, _ = c.Next() {
		rest := k[len(lang)+1:]
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			continue
		}
		term := string(rest[:end])
		if term == last {
			continue
		}
		last = term
		if !fn(term) {
			return nil
		}
	}
	return nil
}

// Row returns what the index keeps of item id; false if the item is not
// indexed.
func (r *IndexReader) Row(id uint64) (Row, bool, error) {
	if r.rows == nil {
		return Row{}, false, nil
	}
	bn := id / rowsPerBlock
	if bn != r.rowBlock {
		r.rowBlock, r.rowData = bn, r.rows.Get(u64(bn))
	}
	off := int(id%rowsPerBlock) * rowSize
	if len(r.rowData) < off+rowSize {
		return Row{}, false, nil
	}
	b := r.rowData[off : off+rowSize]
	if b[14]&rowPresent == 0 {
		return Row{}, false, nil
	}
	row := Row{
		Pos:    Position{Nanos: int64(binary.BigEndian.Uint64(b)), ID: id},
		FeedID: uint64(binary.BigEndian.Uint32(b[8:])),
		Len:    int(binary.BigEndian.Uint16(b[12:])),
	}
	if b[14]&rowBigFeed != 0 {
		it, err := r.b.item(id)
		if err != nil {
			return Row{}, false, err
		}
		row.FeedID = it.FeedID
	}
	return row, true, nil
}

// RowBounds returns, per block of RowBlock item IDs (ID / RowBlock), the
// newest sort time (Unix nanoseconds) of the items indexed in it,
// math.MinInt64 for none; nil when the index keeps no bounds (built by an
// older babelfeed).
func (r *IndexReader) RowBounds() []int64 {
	var out []int64
	if r.rows == nil {
		return nil
	}
	rowMax := r.tx.Bucket(bucketPostRowMax)
	if rowMax == nil {
		return nil
	}
	maxID := r.b.items.Sequence()
	out = make([]int64, maxID/rowsPerBlock+1)
	for i := range out {
		out[i] = math.MinInt64
	}
	// The bucket is made together with the rows (by the first index or a
	// Reindex) and kept with them, so a block without a bound has no rows.
	c := rowMax.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if bn := binary.BigEndian.Uint64(k); bn < uint64(len(out)) && len(v) == 8 {
			out[bn] = int64(binary.BigEndian.Uint64(v))
		}
	}
	return out
}

// RowBlock is the number of item IDs that share a bound of RowBounds.
const RowBlock = rowsPerBlock

// Item returns a stored item.
func (r *IndexReader) Item(id uint64) (babelfeed.Item, error) { return r.b.item(id) }

// Feeds returns every feed with its counts, ordered by ID. The slice is
// shared: do not modify it.
func (r *IndexReader) Feeds() ([]babelfeed.Feed, error) { return r.s.feedsIn(r.tx) }

// MaxItemID returns the highest item ID ever assigned.
func (r *IndexReader) MaxItemID() uint64 { return r.b.items.Sequence() }

// ScanEntry is one item found by Scan, from an index entry.
type ScanEntry struct {
	Pos    Position
	FeedID uint64
	Lang   string
}

// Scan calls fn for the items matching q's languages, feeds, category and
// time range (q.Words and q.Limit are ignored), newest first, starting
// after the position after (nil: from the newest), until fn returns false.
// It walks the narrowest of the time, language and feed indexes, as Items
// does, and decodes no item.
func (r *IndexReader) Scan(ctx context.Context, q babelfeed.Query, after *Position, fn func(e ScanEntry) bool) error {
	feeds, err := r.Feeds()
	if err != nil {
		return err
	}
	p := planFor(q, feeds)
	if p == nil {
		return nil
	}
	if after != nil && after.Nanos < p.until-1 {
		// Items at after's own instant may still come (those with a lower
		// ID); the check below skips the rest of them.
		p.until = after.Nanos + 1
	}
	idx := map[indexKind]*bolt.Bucket{byTime: r.b.idxTime, byLang: r.b.idxLang, byFeed: r.b.idxFeed}[p.kind]
	h := &sourceHeap{}
	for _, src := range p.sources {
		start := append(bytes.Clone(src.prefix), p.startSuffix()...)
		src.c = idx.Cursor()
		src.k, src.v = src.c.Seek(start)
		if p.valid(src) {
			h.items = append(h.items, src)
		}
	}
	heap.Init(h)
	for len(h.items) > 0 {
		src := h.items[0]
		k, v := src.k, src.v
		src.k, src.v = src.c.Next()
		if p.valid(src) {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
		if p.scanned++; p.scanned%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n, id := parseSuffix(k[len(src.prefix):])
		if n >= p.until {
			continue
		}
		if after != nil && !after.Before(Position{n, id}) {
			continue
		}
		feedID, lang, err := entryData(p.kind, src, v)
		if err != nil {
			return fmt.Errorf("index entry %x: %w", k, err)
		}
		if (p.feeds != nil && !p.feeds[feedID]) || (p.langs != nil && !p.langs[lang]) {
			continue
		}
		if !fn(ScanEntry{Pos: Position{n, id}, FeedID: feedID, Lang: lang}) {
			return nil
		}
	}
	return nil
}

// Space is what one bucket takes in the file.
type Space struct {
	Keys  int   // keys
	Alloc int64 // bytes of the pages allocated to it
	InUse int64 // bytes of those pages holding data
}

// SpaceByBucket returns the space each top-level bucket takes: items,
// indexes, keyword postings ... (bbolt's page statistics; reading them
// walks every page, so it takes a while on a big store).
func (s *DB) SpaceByBucket() (map[string]Space, error) {
	out := map[string]Space{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats()
			out[string(name)] = Space{
				Keys:  st.KeyN,
				Alloc: int64(st.BranchAlloc + st.LeafAlloc),
				InUse: int64(st.BranchInuse + st.LeafInuse),
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("space by bucket: %w", err)
	}
	return out, nil
}

// FeedItems calls fn with the ID and language of every item of a feed,
// newest first, until fn returns false.
func (r *IndexReader) FeedItems(feedID uint64, fn func(id uint64, lang string) bool) error {
	prefix := feedPrefix(feedID)
	c := r.b.idxFeed.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+suffixLen {
			continue
		}
		_, id := parseSuffix(k[len(prefix):])
		if !fn(id, string(v)) {
			return nil
		}
	}
	return nil
}

// LangItems calls fn with the ID of every item of lang whose sort time, in
// Unix nanoseconds, is in [lo, hi), newest first, until fn returns false.
func (r *IndexReader) LangItems(lang string, lo, hi int64, fn func(id uint64) bool) error {
	prefix := langPrefix(lang)
	start := bytes.Clone(prefix)
	if hi != math.MaxInt64 {
		start = appendSuffix(start, hi-1, ^uint64(0))
	}
	c := r.b.idxLang.Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+suffixLen {
			continue
		}
		n, id := parseSuffix(k[len(prefix):])
		if n < lo {
			return nil
		}
		if n >= hi {
			continue
		}
		if !fn(id) {
			return nil
		}
	}
	return nil
}

// AppendPostings appends the IDs of the items that have term in lang, in
// ascending order, to ids, and their payloads (see PostingOf) to pays:
// the fast way to read a whole list, sized once from the block headers.
func (r *IndexReader) AppendPostings(lang, term string, ids []uint64, pays []byte) ([]uint64, []byte, error) {
	if r.post == nil {
		return ids, pays, nil
	}
	prefix := postingsPrefix(lang, term)
	type block struct {
		k uint64
		v []byte
	}
	var blocks []block
	total := 0
	c := r.post.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		count, n := binary.Uvarint(v)
		if n <= 0 {
			return ids, pays, fmt.Errorf("postings block %x: %w", k, errCorrupt)
		}
		total += int(count)
		blocks = append(blocks, block{^binary.BigEndian.Uint64(k[len(prefix):]), v})
	}
	ids = slices.Grow(ids, total)
	pays = slices.Grow(pays, total)
	// Keys hold ^K: the oldest block is the last.
	for i := len(blocks) - 1; i >= 0; i-- {
		v := blocks[i].v
		count, n := binary.Uvarint(v)
		v = v[n:]
		_, n = binary.Uvarint(v)
		if n <= 0 {
			return ids, pays, errCorrupt
		}
		v = v[n:]
		prev := blocks[i].k
		for range count {
			x, n := binary.Uvarint(v)
			if n <= 0 {
				return ids, pays, errCorrupt
			}
			v = v[n:]
			id, pay := prev+x>>1, byte(plainPayload)
			if x&1 != 0 {
				if len(v) == 0 {
					return ids, pays, errCorrupt
				}
				pay, v = v[0], v[1:]
			}
			ids = append(ids, id)
			pays = append(pays, pay)
			prev = id
		}
	}
	return ids, pays, nil
}

// PostingOf decodes a payload byte of AppendPostings.
func PostingOf(pay byte) Posting { return postingOf(pay) }
