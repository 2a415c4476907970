package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// The keyword index. The store does not analyse text: an Indexer given in
// Options turns each item into terms, and the store keeps, in the same
// transaction as the item, the postings of those terms, a row of numbers
// per item that queries filter and rank by, and per-language totals.
//
//	postings   lang 0x00 term 0x00 ^K -> block of postings with IDs >= K
//	post_rows  blockNo -> rowsPerBlock rows of 16 bytes (see row)
//	post_langs lang -> documents | sum of document lengths (uint64 each)
//	meta       "index" -> state | uvarint upto | indexer version
//
// A block holds the postings of one term in one language for IDs from K
// up to the K of the next newer block, in ascending ID order:
// uvarint(count) uvarint(last ID - K), then per posting
// uvarint((ID - previous ID) << 1 | p) and, when p is 1, a payload byte
// (see Posting); the first posting's previous ID is K. Item IDs only grow,
// so new postings are appended to the newest block of each term (the first
// key of the term, as keys hold ^K); a block past blockTarget bytes is cut
// in two, so no write copies more than a few kilobytes. Measured on 1M
// items, this layout costs about a third of one key per posting (see
// docs/BENCHMARKS.md).
//
// The index describes every item, or every item up to "upto" while a
// Reindex is building it; items above are skipped by writers and picked up
// by the Reindex. A write made without an Indexer, or with an Indexer of
// another version, removes the "index" record: the index is then stale
// until the next Reindex, and readers do not use it.
var (
	bucketPostings  = []byte("postings")
	bucketPostRows  = []byte("post_rows")
	bucketPostLangs = []byte("post_langs")
	// post_rowmax: blockNo -> newest sort time (int64) of the rows of that
	// block of post_rows, so that a newest-first query can stop reading
	// older candidates.
	bucketPostRowMax = []byte("post_rowmax")
	// post_pending: itemID -> (empty), the items writers changed during a
	// bulk build.
	bucketPostPending = []byte("post_pending")
	keyIndex          = []byte("index")
)

// Term is one distinct term of an item, as an Indexer analysed it.
type Term struct {
	Text   string // no NUL byte, at most MaxTermLen bytes
	Freq   int    // occurrences in the item (title, text and author)
	Title  bool   // occurs in the title
	Author bool   // occurs in the author field
}

// MaxTermLen bounds the length of a term in bytes; longer ones are not
// indexed.
const MaxTermLen = 255

// Indexer analyses items for the keyword index.
type Indexer struct {
	// Version names the analysis. An index built by another version is
	// not used: Reindex rebuilds it.
	Version string
	// Terms appends to dst the distinct terms of it, analysed in its
	// language it.Lang, and returns the result. It must be safe for
	// concurrent use.
	Terms func(it *babelfeed.Item, dst []Term) []Term
}

// IndexState says what the keyword index covers.
type IndexState struct {
	// Version is the Indexer version that built the index; "" when there
	// is none (never built, or made stale by a write without the Indexer).
	Version string
	// Ready means the index covers every item.
	Ready bool
	// Upto is, while a Reindex is building the index, the highest item ID
	// it covers.
	Upto uint64
	// Bulk means a Reindex is writing the index of every item up to Upto
	// language by language; writers only note which of those items they
	// change (see bulkBuild).
	Bulk bool
}

// Usable reports whether the index was built by version and covers every
// item.
func (st IndexState) Usable(version string) bool { return st.Ready && st.Version == version }

const (
	indexBuilding byte = 1
	indexReady    byte = 2
	indexBulk     byte = 3
)

func readIndexState(meta *bolt.Bucket) IndexState {
	v := meta.Get(keyIndex)
	if len(v) < 2 {
		return IndexState{}
	}
	upto, n := binary.Uvarint(v[1:])
	if n <= 0 {
		return IndexState{}
	}
	return IndexState{Version: string(v[1+n:]), Ready: v[0] == indexReady, Bulk: v[0] == indexBulk, Upto: upto}
}

func writeIndexState(meta *bolt.Bucket, st IndexState) error {
	v := []byte{indexBuilding}
	switch {
	case st.Ready:
		v[0] = indexReady
	case st.Bulk:
		v[0] = indexBulk
	}
	v = binary.AppendUvarint(v, st.Upto)
	v = append(v, st.Version...)
	if err := meta.Put(keyIndex, v); err != nil {
		return fmt.Errorf("write index state: %w", err)
	}
	return nil
}

// IndexState returns what the keyword index covers.
func (s *DB) IndexState() (IndexState, error) {
	var st IndexState
	err := s.db.View(func(tx *bolt.Tx) error {
		st = readIndexState(tx.Bucket(bucketMeta))
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read index state: %w", err)
	}
	return st, nil
}

// initIndex creates the index buckets and marks the empty index ready: for
// a new file opened with an Indexer.
func (s *DB) initIndex(tx *bolt.Tx) error {
	if err := createIndexBuckets(tx); err != nil {
		return err
	}
	return writeIndexState(tx.Bucket(bucketMeta), IndexState{Version: s.indexer.Version, Ready: true})
}

func createIndexBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketPostings, bucketPostRows, bucketPostLangs, bucketPostRowMax} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Posting is what the index knows of one term in one item.
type Posting struct {
	Freq   int // occurrences, capped at 63
	Title  bool
	Author bool
}

// Payload byte: title, author, then the frequency in the low six bits.
const (
	payTitle  = 0x80
	payAuthor = 0x40
	payFreq   = 0x3f
)

func payloadOf(t *Term) byte {
	p := byte(min(max(t.Freq, 1), payFreq))
	if t.Title {
		p |= payTitle
	}
	if t.Author {
		p |= payAuthor
	}
	return p
}

func postingOf(p byte) Posting {
	return Posting{Freq: int(p & payFreq), Title: p&payTitle != 0, Author: p&payAuthor != 0}
}

// plainPayload is the payload that is not written: once, in the body only.
const plainPayload = 1

type posting struct {
	id  uint64
	pay byte
}

// blockTarget is the size at which a block is cut: small enough that an
// append copies little, big enough that the key (term, language, K: some
// 30 bytes with bbolt's element header) is a small part of it.
const blockTarget = 1024

func postingsPrefix(lang, term string) []byte {
	b := make([]byte, 0, len(lang)+len(term)+2+8)
	b = append(b, lang...)
	b = append(b, 0)
	b = append(b, term...)
	return append(b, 0)
}

func blockKey(prefix []byte, k uint64) []byte {
	return appendU64(append(make([]byte, 0, len(prefix)+8), prefix...), ^k)
}

// decodeBlock appends the postings of block v (lower bound k) to dst.
func decodeBlock(dst []posting, k uint64, v []byte) ([]posting, error) {
	count, n := binary.Uvarint(v)
	if n <= 0 {
		return dst, errCorrupt
	}
	v = v[n:]
	if _, n = binary.Uvarint(v); n <= 0 {
		return dst, errCorrupt
	}
	v = v[n:]
	prev := k
	for range count {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return dst, errCorrupt
		}
		v = v[n:]
		p := posting{id: prev + x>>1, pay: plainPayload}
		if x&1 != 0 {
			if len(v) == 0 {
				return dst, errCorrupt
			}
			p.pay, v = v[0], v[1:]
		}
		dst = append(dst, p)
		prev = p.id
	}
	return dst, nil
}

func postingLen(delta uint64, pay byte) int {
	x := delta << 1
	if pay != plainPayload {
		return uvarintLen(x|1) + 1
	}
	return uvarintLen(x)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func encodeBlock(k uint64, ps []posting) []byte {
	size := 2 * binary.MaxVarintLen64
	prev := k
	for _, p := range ps {
		size += postingLen(p.id-prev, p.pay)
		prev = p.id
	}
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(ps)))
	b = binary.AppendUvarint(b, ps[len(ps)-1].id-k)
	prev = k
	for _, p := range ps {
		x := (p.id - prev) << 1
		if p.pay != plainPayload {
			b = binary.AppendUvarint(b, x|1)
			b = append(b, p.pay)
		} else {
			b = binary.AppendUvarint(b, x)
		}
		prev = p.id
	}
	return b
}

// Rows: per item ID, 16 bytes: sort time (int64 nanoseconds), feed ID
// (uint32), document length (uint16, the sum of its term frequencies),
// flags. Queries read them for candidates from the postings, without
// decoding items. rowsPerBlock rows share a key; two blocks fill an 8 KB
// page.
const (
	rowSize      = 16
	rowsPerBlock = 252
	rowPresent   = 1
	rowBigFeed   = 2 // the feed ID does not fit 32 bits: read the item
)

// Row is what the index keeps of one item.
type Row struct {
	Pos    Position
	FeedID uint64
	Len    int // number of indexed words
}

func putRow(b []byte, r Row) {
	binary.BigEndian.PutUint64(b[0:], uint64(r.Pos.Nanos))
	flags := byte(rowPresent)
	if r.FeedID > math.MaxUint32 {
		flags |= rowBigFeed
	} else {
		binary.BigEndian.PutUint32(b[8:], uint32(r.FeedID))
	}
	binary.BigEndian.PutUint16(b[12:], uint16(min(r.Len, math.MaxUint16)))
	b[14] = flags
	b[15] = 0
}

// Position is where an item sorts in a newest-first listing: its sort
// time (see SortTime) in Unix nanoseconds, clamped, then its ID.
type Position struct {
	Nanos int64
	ID    uint64
}

// PositionOf returns where it sorts newest first.
func PositionOf(it *babelfeed.Item) Position { return Position{UnixNanos(SortTime(it)), it.ID} }

// Before reports whether p comes before q newest first: newer, or as new
// with a higher ID.
func (p Position) Before(q Position) bool {
	if p.Nanos != q.Nanos {
		return p.Nanos > q.Nanos
	}
	return p.ID > q.ID
}

// LangStats are the index's totals for one language.
type LangStats struct {
	Docs   int64 // items
	SumLen int64 // sum of their lengths (see Row.Len)
}

// indexTx maintains the keyword index within one write transaction. Changes
// are collected and applied by flush, sorted by key, so that each block is
// rewritten once per transaction however many items touch it.
type indexTx struct {
	ix    *Indexer
	meta  *bolt.Bucket
	state IndexState
	// skip: the index is not maintained (none, stale, or stale now).
	skip    bool
	checked bool
	// pending: a bulk build is running; changed items are noted here.
	pending *bolt.Bucket

	post, rows, langs *bolt.Bucket
	adds              map[string][]posting
	dels              map[string][]uint64
	rowBlocks         map[uint64][]byte
	langDelta         map[string]*LangStats
	terms, oldTerms   []Term
}

func (s *DB) indexTx(tx *bolt.Tx) *indexTx {
	return &indexTx{ix: s.indexer, meta: tx.Bucket(bucketMeta)}
}

// check decides, on the first change, whether the index is maintained.
func (x *indexTx) check(tx *bolt.Tx) error {
	if x.checked {
		return nil
	}
	x.checked = true
	x.state = readIndexState(x.meta)
	if x.state.Version == "" {
		x.skip = true
		return nil
	}
	if x.ix == nil || x.ix.Version != x.state.Version {
		// This write cannot keep the index right: mark it stale.
		x.skip = true
		if err := x.meta.Delete(keyIndex); err != nil {
			return fmt.Errorf("mark index stale: %w", err)
		}
		return nil
	}
	if x.state.Bulk {
		x.skip = true
		if x.pending = tx.Bucket(bucketPostPending); x.pending == nil {
			return errors.New("index bucket post_pending missing")
		}
		return nil
	}
	x.post, x.rows, x.langs = tx.Bucket(bucketPostings), tx.Bucket(bucketPostRows), tx.Bucket(bucketPostLangs)
	if x.post == nil || x.rows == nil || x.langs == nil {
		return errors.New("index buckets missing")
	}
	x.adds, x.dels = map[string][]posting{}, map[string][]uint64{}
	x.rowBlocks, x.langDelta = map[uint64][]byte{}, map[string]*LangStats{}
	return nil
}

// covers says whether the index describes item id.
func (x *indexTx) covers(id uint64) bool {
	return x.state.Ready || (!x.state.Bulk && id <= x.state.Upto)
}

// note records, during a bulk build, that item id changed.
func (x *indexTx) note(id uint64) error {
	if x.pending == nil || id > x.state.Upto {
		return nil
	}
	if err := x.pending.Put(u64(id), nil); err != nil {
		return fmt.Errorf("note item %d for the index build: %w", id, err)
	}
	return nil
}

// put records that old (nil: none) became it (nil: deleted). Both have the
// same ID.
func (x *indexTx) put(tx *bolt.Tx, old, it *babelfeed.Item) error {
	if err := x.check(tx); err != nil {
		return err
	}
	id := uint64(0)
	if it != nil {
		id = it.ID
	} else if old != nil {
		id = old.ID
	}
	if x.skip {
		return x.note(id)
	}
	if !x.covers(id) {
		return nil
	}
	var oldTerms, newTerms []Term
	if old != nil {
		x.oldTerms = x.ix.Terms(old, x.oldTerms[:0])
		oldTerms = x.oldTerms
	}
	if it != nil {
		x.terms = x.ix.Terms(it, x.terms[:0])
		newTerms = x.terms
	}
	return x.apply(id, old, oldTerms, it, newTerms)
}

// apply records the change of item id from old with oldTerms (nil: none)
// to it with newTerms (nil: deleted).
func (x *indexTx) apply(id uint64, old *babelfeed.Item, oldTerms []Term, it *babelfeed.Item, newTerms []Term) error {
	var oldMap map[string]byte
	if old != nil && it != nil && it.Lang == old.Lang {
		oldMap = make(map[string]byte, len(oldTerms))
		for i := range oldTerms {
			oldMap[oldTerms[i].Text] = payloadOf(&oldTerms[i])
		}
	}
	var newLen int
	if it != nil {
		newMap := map[string]bool{}
		for i := range newTerms {
			t := &newTerms[i]
			if !validTerm(t.Text) || newMap[t.Text] {
				continue
			}
			newMap[t.Text] = true
			newLen += max(t.Freq, 1)
			pay := payloadOf(t)
			if p, ok := oldMap[t.Text]; ok && p == pay {
				continue // unchanged
			}
			k := string(postingsPrefix(it.Lang, t.Text))
			if _, ok := oldMap[t.Text]; ok {
				x.dels[k] = append(x.dels[k], id)
			}
			x.adds[k] = append(x.adds[k], posting{id, pay})
		}
		if err := x.setRow(id, Row{Pos: PositionOf(it), FeedID: it.FeedID, Len: newLen}); err != nil {
			return err
		}
		x.lang(it.Lang).Docs++
		x.lang(it.Lang).SumLen += int64(min(newLen, math.MaxUint16))
		if old != nil {
			for i := range oldTerms {
				t := oldTerms[i].Text
				if validTerm(t) && (oldMap == nil || !newMap[t]) {
					k := string(postingsPrefix(old.Lang, t))
					x.dels[k] = append(x.dels[k], id)
				}
			}
		}
	} else {
		for i := range oldTerms {
			if t := oldTerms[i].Text; validTerm(t) {
				k := string(postingsPrefix(old.Lang, t))
				x.dels[k] = append(x.dels[k], id)
			}
		}
		if err := x.setRow(id, Row{}); err != nil {
			return err
		}
	}
	if old != nil {
		oldLen := 0
		seen := map[string]bool{}
		for i := range oldTerms {
			if t := &oldTerms[i]; validTerm(t.Text) && !seen[t.Text] {
				seen[t.Text] = true
				oldLen += max(t.Freq, 1)
			}
		}
		x.lang(old.Lang).Docs--
		x.lang(old.Lang).SumLen -= int64(min(oldLen, math.MaxUint16))
	}
	return nil
}

func validTerm(t string) bool {
	return t != "" && len(t) <= MaxTermLen && strings.IndexByte(t, 0) < 0
}

func (x *indexTx) lang(l string) *LangStats {
	st := x.langDelta[l]
	if st == nil {
		st = &LangStats{}
		x.langDelta[l] = st
	}
	return st
}

// setRow writes id's row; the zero Row clears it.
func (x *indexTx) setRow(id uint64, r Row) error {
	bn := id / rowsPerBlock
	blk := x.rowBlocks[bn]
	if blk == nil {
		blk = make([]byte, rowsPerBlock*rowSize)
		copy(blk, x.rows.Get(u64(bn)))
		x.rowBlocks[bn] = blk
	}
	slot := blk[(id%rowsPerBlock)*rowSize:][:rowSize]
	if r == (Row{}) {
		clear(slot)
		return nil
	}
	putRow(slot, r)
	return nil
}

// flush writes the collected changes.
func (x *indexTx) flush() error {
	if !x.checked || x.skip {
		return nil
	}
	rowMax := x.rows.Tx().Bucket(bucketPostRowMax)
	for bn, blk := range x.rowBlocks {
		if err := putRowBlock(x.rows, rowMax, bn, blk); err != nil {
			return err
		}
	}
	for l, d := range x.langDelta {
		if *d == (LangStats{}) {
			continue
		}
		st := readLangStats(x.langs.Get([]byte(l)))
		st.Docs += d.Docs
		st.SumLen += d.SumLen
		var err error
		if st.Docs <= 0 {
			err = x.langs.Delete([]byte(l))
		} else {
			v := appendU64(appendU64(make([]byte, 0, 16), uint64(st.Docs)), uint64(max(st.SumLen, 0)))
			err = x.langs.Put([]byte(l), v)
		}
		if err != nil {
			return fmt.Errorf("write index totals of %s: %w", l, err)
		}
	}
	keys := make([]string, 0, len(x.adds)+len(x.dels))
	for k := range x.adds {
		keys = append(keys, k)
	}
	for k := range x.dels {
		if _, ok := x.adds[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	x.post.FillPercent = postingsFillPercent
	for _, k := range keys {
		if err := applyPostings(x.post, []byte(k), x.dels[k], x.adds[k]); err != nil {
			return fmt.Errorf("write postings of %q: %w", k, err)
		}
	}
	return nil
}

// unindexItems removes the postings of items about to be deleted.
func (s *DB) unindexItems(tx *bolt.Tx, b buckets, ids []uint64) error {
	x := s.indexTx(tx)
	if err := x.check(tx); err != nil {
		return err
	}
	if x.skip {
		for _, id := range ids {
			if err := x.note(id); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range ids {
		if !x.covers(id) {
			continue
		}
		old, err := b.item(id)
		if err != nil {
			return err
		}
		if err := x.put(tx, &old, nil); err != nil {
			return err
		}
	}
	return x.flush()
}

// postingsFillPercent: blocks are written all over the bucket, never only
// at its end; pages split at 90% keep the file small at the cost of more
// splits later.
const postingsFillPercent = 0.9

// putRowBlock writes (or, empty, deletes) a block of rows and its newest
// time. rowMax may be nil (a store indexed before it existed).
func putRowBlock(rows, rowMax *bolt.Bucket, bn uint64, blk []byte) error {
	newest, any := int64(math.MinInt64), false
	for off := 0; off+rowSize <= len(blk); off += rowSize {
		if blk[off+14]&rowPresent != 0 {
			newest, any = max(newest, int64(binary.BigEndian.Uint64(blk[off:]))), true
		}
	}
	var err error
	if !any {
		err = rows.Delete(u64(bn))
		if err == nil && rowMax != nil {
			err = rowMax.Delete(u64(bn))
		}
	} else {
		err = rows.Put(u64(bn), blk)
		if err == nil && rowMax != nil {
			err = rowMax.Put(u64(bn), u64(uint64(newest)))
		}
	}
	if err != nil {
		return fmt.Errorf("write index rows: %w", err)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func readLangStats(v []byte) LangStats {
	if len(v) != 16 {
		return LangStats{}
	}
	return LangStats{Docs: int64(binary.BigEndian.Uint64(v)), SumLen: int64(binary.BigEndian.Uint64(v[8:]))}
}

// op is one change to a term's postings: a deletion, or an addition (which
// replaces any posting of the same ID).
type op struct {
	id  uint64
	add bool
	pay byte
}

// applyPostings applies deletions and additions to the blocks of one
// term in one language.
func applyPostings(bk *bolt.Bucket, prefix []byte, dels []uint64, adds []posting) error {
	ops := make([]op, 0, len(dels)+len(adds))
	for _, id := range dels {
		ops = append(ops, op{id: id})
	}
	for _, p := range adds {
		ops = append(ops, op{id: p.id, add: true, pay: p.pay})
	}
	// By ID; for one ID the deletion first, so an addition wins.
	slices.SortStableFunc(ops, func(a, b op) int {
		if a.id != b.id {
			if a.id < b.id {
				return -1
			}
			return 1
		}
		if a.add == b.add {
			return 0
		}
		if !a.add {
			return -1
		}
		return 1
	})
	c := bk.Cursor()
	var buf []posting
	for i := 0; i < len(ops); {
		id := ops[i].id
		// The block holding id is the one with the greatest K <= id.
		k, v := c.Seek(blockKey(prefix, id))
		var blockK uint64
		upper := uint64(math.MaxUint64) // first ID of the next newer block
		exists := k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8
		if exists {
			blockK = ^binary.BigEndian.Uint64(k[len(prefix):])
			if pk, _ := c.Prev(); pk != nil && bytes.HasPrefix(pk, prefix) && len(pk) == len(prefix)+8 {
				upper = ^binary.BigEndian.Uint64(pk[len(prefix):])
			}
			j := i
			for j < len(ops) && ops[j].id < upper {
				j++
			}
			// The common case, new items: additions past the block's end
			// are appended without decoding it.
			if done, err := appendToBlock(bk, prefix, blockK, v, ops[i:j]); err != nil {
				return err
			} else if done {
				i = j
				continue
			}
			var err error
			if buf, err = decodeBlock(buf[:0], blockK, v); err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
		} else {
			// No block starts at or below id: a new one will, up to the
			// oldest existing block.
			buf = buf[:0]
			blockK = id
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			if k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 {
				upper = ^binary.BigEndian.Uint64(k[len(prefix):])
			}
		}
		j := i
		for j < len(ops) && ops[j].id < upper {
			j++
		}
		buf = applyOps(buf, ops[i:j])
		if err := writeBlocks(bk, prefix, blockK, exists, buf); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// appendToBlock appends ops to block v (lower bound k) when they are all
// additions past its last posting; false means they are not, and nothing
// was written. A block already at blockTarget is left as it is and the
// additions start a new one.
func appendToBlock(bk *bolt.Bucket, prefix []byte, k uint64, v []byte, ops []op) (bool, error) {
	count, n1 := binary.Uvarint(v)
	if n1 <= 0 {
		return false, nil
	}
	lastOff, n2 := binary.Uvarint(v[n1:])
	if n2 <= 0 {
		return false, nil
	}
	last := k + lastOff
	prev := last
	for _, o := range ops {
		if !o.add || o.id <= prev {
			return false, nil
		}
		prev = o.id
	}
	body := v[n1+n2:]
	if len(body) >= blockTarget {
		ps := make([]posting, len(ops))
		for i, o := range ops {
			ps[i] = posting{o.id, o.pay}
		}
		return true, writeBlocks(bk, prefix, ops[0].id, false, ps)
	}
	added := 0
	prev = last
	for _, o := range ops {
		added += postingLen(o.id-prev, o.pay)
		prev = o.id
	}
	if len(body)+added > 2*blockTarget {
		return false, nil // cut it the general way
	}
	b := make([]byte, 0, len(v)+added+4)
	b = binary.AppendUvarint(b, count+uint64(len(ops)))
	b = binary.AppendUvarint(b, ops[len(ops)-1].id-k)
	b = append(b, body...)
	prev = last
	for _, o := range ops {
		x := (o.id - prev) << 1
		if o.pay != plainPayload {
			b = binary.AppendUvarint(b, x|1)
			b = append(b, o.pay)
		} else {
			b = binary.AppendUvarint(b, x)
		}
		prev = o.id
	}
	if err := bk.Put(blockKey(prefix, k), b); err != nil {
		return false, fmt.Errorf("write block: %w", err)
	}
	return true, nil
}

// applyOps applies ops (sorted by ID) to the sorted postings ps.
func applyOps(ps []posting, ops []op) []posting {
	// The common case: additions past the end (new items).
	if len(ps) == 0 || ops[0].id > ps[len(ps)-1].id {
		for _, o := range ops {
			if o.add {
				if n := len(ps); n > 0 && ps[n-1].id == o.id {
					ps[n-1].pay = o.pay
					continue
				}
				ps = append(ps, posting{o.id, o.pay})
			} else if n := len(ps); n > 0 && ps[n-1].id == o.id {
				ps = ps[:n-1]
			}
		}
		return ps
	}
	out := make([]posting, 0, len(ps)+len(ops))
	i := 0
	for _, o := range ops {
		for i < len(ps) && ps[i].id < o.id {
			out = append(out, ps[i])
			i++
		}
		if i < len(ps) && ps[i].id == o.id {
			i++ // replaced or deleted
		}
		if n := len(out); n > 0 && out[n-1].id == o.id {
			out = out[:n-1] // an earlier op on the same ID
		}
		if o.add {
			out = append(out, posting{o.id, o.pay})
		}
	}
	return append(out, ps[i:]...)
}

// writeBlocks stores ps as the block at blockK (which exists or not),
// cutting it into blocks of about blockTarget bytes; the first keeps
// blockK, the others start at their first ID.
func writeBlocks(bk *bolt.Bucket, prefix []byte, blockK uint64, exists bool, ps []posting) error {
	if len(ps) == 0 {
		if exists {
			if err := bk.Delete(blockKey(prefix, blockK)); err != nil {
				return fmt.Errorf("delete block: %w", err)
			}
		}
		return nil
	}
	start, size := 0, 0
	k := blockK
	prev := blockK
	for i, p := range ps {
		size += postingLen(p.id-prev, p.pay)
		prev = p.id
		if size >= blockTarget && i+1 < len(ps) {
			if err := bk.Put(blockKey(prefix, k), encodeBlock(k, ps[start:i+1])); err != nil {
				return fmt.Errorf("write block: %w", err)
			}
			start, size = i+1, 0
			k, prev = ps[i+1].id, ps[i+1].id
		}
	}
	if err := bk.Put(blockKey(prefix, k), encodeBlock(k, ps[start:])); err != nil {
		return fmt.Errorf("write block: %w", err)
	}
	return nil
}

// defaultReindexBatch is how many items one Reindex transaction indexes:
// each transaction rewrites every block it touches, so bigger batches write
// less in all, at the cost of memory and of holding the writer lock longer.
const defaultReindexBatch = 20000

// Reindex rebuilds the keyword index with the store's Indexer while the
// store stays in use: first every existing item, language by language (see
// bulkBuild), then, in batches, the items that arrived meanwhile; writers
// keep the part already built up to date. A Reindex interrupted in its
// second part resumes there; otherwise the index is dropped and built
// anew. progress, if not nil, is called now and then with the items
// indexed so far and the total.
func (s *DB) Reindex(ctx context.Context, progress func(done, total int)) error {
	if s.indexer == nil {
		return errors.New("reindex: the store was opened without an Indexer")
	}
	total, err := s.ItemCount()
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	report := func(done int) {
		if progress != nil {
			progress(done, max(total, done))
		}
	}
	st, err := s.IndexState()
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	done := 0
	if st.Version == s.indexer.Version && !st.Ready && !st.Bulk {
		// Resume: count what is already done, for the progress bar.
		err = s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketItems).Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= st.Upto; k, _ = c.Next() {
				done++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		report(done)
	} else {
		report(0)
		upto, err := s.bulkBuild(ctx, func(n int) { done = n; report(n) })
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		st = IndexState{Version: s.indexer.Version, Upto: upto}
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		n, finished, err := s.reindexBatch(ctx, &st)
		if err != nil {
			return fmt.Errorf("reindex after item %d: %w", st.Upto, err)
		}
		done += n
		report(done)
		if finished {
			return nil
		}
	}
}

type reindexEntry struct {
	raw   []byte
	item  babelfeed.Item
	terms []Term
}

// reindexBatch indexes the next batch of items above st.Upto. Items are
// read and analysed outside the write transaction; an item that changed
// meanwhile is analysed again inside it.
func (s *DB) reindexBatch(ctx context.Context, st *IndexState) (n int, finished bool, err error) {
	var batch []reindexEntry
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		size := s.reindexBatchSize
		if size <= 0 {
			size = defaultReindexBatch
		}
		for k, v := c.Seek(u64(st.Upto + 1)); k != nil && len(batch) < size; k, v = c.Next() {
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			batch = append(batch, reindexEntry{raw: bytes.Clone(v), item: it})
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	for i := range batch {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, false, err
			}
		}
		batch[i].terms = s.indexer.Terms(&batch[i].item, nil)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		cur := readIndexState(meta)
		if cur.Version != st.Version || cur.Ready || cur.Upto != st.Upto {
			return errors.New("the index changed under the rebuild (another reindex, or a write without the Indexer)")
		}
		x := s.indexTx(tx)
		if err := x.check(tx); err != nil {
			return err
		}
		if x.skip {
			return errors.New("the index is not being built")
		}
		// Index these items as new: they are above upto, so no writer
		// has touched their postings.
		items := tx.Bucket(bucketItems)
		for i := range batch {
			e := &batch[i]
			v := items.Get(u64(e.item.ID))
			if v == nil {
				continue // removed meanwhile
			}
			if !bytes.Equal(v, e.raw) {
				it, err := decodeItem(e.item.ID, v)
				if err != nil {
					return err
				}
				e.item, e.terms = it, s.indexer.Terms(&it, nil)
			}
			if err := x.apply(e.item.ID, nil, nil, &e.item, e.terms); err != nil {
				return err
			}
		}
		if err := x.flush(); err != nil {
			return err
		}
		next := IndexState{Version: st.Version, Upto: st.Upto}
		if len(batch) > 0 {
			next.Upto = batch[len(batch)-1].item.ID
		} else {
			next.Ready = true
		}
		if err := writeIndexState(meta, next); err != nil {
			return err
		}
		*st = next
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return len(batch), st.Ready, nil
}
