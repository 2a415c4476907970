package postgres

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"babelfeed/filter/search"
	"babelfeed/store"
)

// A pgCursor marks where a page ended: the position of its last item, and
// for a ranked listing its score and what the scores were computed from.
// It is opaque to users: base64url of
//
//	'P' | version 1 | kind | fingerprint (8 bytes) | varint nanos (store.Position) | uvarint ID
//	relevance: float64 score | uvarint max ID | uvarint languages
//	           { uvarint len | lang | uvarint items | uvarint total length }
//
// The fingerprint ties the cursor to its query and sort.
type pgCursor struct {
	kind  byte
	pos   store.Position
	score float64
	maxID uint64
	stats map[string]store.LangStats
}

const (
	cursorMagic   = 'P'
	cursorVersion = 1
	kindNewest    = 1
	kindRelevance = 2
)

func (c pgCursor) encode(fingerprint uint64) string {
	b := []byte{cursorMagic, cursorVersion, c.kind}
	b = binary.BigEndian.AppendUint64(b, fingerprint)
	b = binary.AppendVarint(b, c.pos.Nanos)
	b = binary.AppendUvarint(b, c.pos.ID)
	if c.kind == kindRelevance {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.score))
		b = binary.AppendUvarint(b, c.maxID)
		langs := make([]string, 0, len(c.stats))
		for l := range c.stats {
			langs = append(langs, l)
		}
		slices.Sort(langs)
		b = binary.AppendUvarint(b, uint64(len(langs)))
		for _, l := range langs {
			b = binary.AppendUvarint(b, uint64(len(l)))
			b = append(b, l...)
			b = binary.AppendUvarint(b, uint64(max(c.stats[l].Docs, 0)))
			b = binary.AppendUvarint(b, uint64(max(c.stats[l].SumLen, 0)))
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePGCursor(s string, fingerprint uint64) (pgCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 11 || b[0] != cursorMagic || b[1] != cursorVersion {
		return pgCursor{}, fmt.Errorf("%w: not a cursor of this babelfeed store", search.ErrCursor)
	}
	c := pgCursor{kind: b[2]}
	if binary.BigEndian.Uint64(b[3:]) != fingerprint {
		return pgCursor{}, fmt.Errorf("%w: it belongs to another query or sort order", search.ErrCursor)
	}
	d := cursorDecoder{b: b[11:]}
	c.pos.Nanos = d.varint()
	c.pos.ID = d.uvarint()
	switch c.kind {
	case kindNewest:
	case kindRelevance:
		c.score = math.Float64frombits(d.u64())
		c.maxID = d.uvarint()
		n := d.uvarint()
		if n > 1<<12 {
			d.bad = true
		}
		c.stats = map[string]store.LangStats{}
		for range min(n, 1<<12) {
			l := string(d.bytes(d.uvarint()))
			docs, sum := d.uvarint(), d.uvarint()
			c.stats[l] = store.LangStats{Docs: int64(min(docs, math.MaxInt64)), SumLen: int64(min(sum, math.MaxInt64))}
		}
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return pgCursor{}, fmt.Errorf("%w: malformed", search.ErrCursor)
	}
	return c, nil
}

type cursorDecoder struct {
	b   []byte
	bad bool
}

func (d *cursorDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *cursorDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *cursorDecoder) u64() uint64 {
	if len(d.b) < 8 {
		d.bad, d.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *cursorDecoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
