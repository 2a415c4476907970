package search

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"babelfeed/store"
)

// A Cursor marks where a page ended: the position of its last item, and
// for a ranked listing its score and what the scores were computed from.
// It is opaque to users: base64url of
//
//	prefix | version 1 | kind | fingerprint (8 bytes) | varint nanos | uvarint ID
//	relevance: float64 score | uvarint max ID | uvarint languages
//	           { uvarint len | lang | uvarint items | uvarint total length }
//
// The fingerprint ties the cursor to its query and sort. The prefix names
// the engine (none for this package's, over the bbolt store): a cursor of
// one store is refused by the other. It is exported so that store/postgres
// writes and reads its cursors as this package does, with its own prefix.
type Cursor struct {
	Kind  byte // CursorNewest or CursorRelevance
	Pos   store.Position
	Score float64                    // relevance: the last hit's score
	MaxID uint64                     // relevance: the highest item ID scored
	Stats map[string]store.LangStats // relevance: the statistics scored with
}

// The kinds of Cursor: of a listing by time, or of a ranked listing.
const (
	CursorNewest    = 1
	CursorRelevance = 2
)

const cursorVersion = 1

// Encode returns c as the opaque Next cursor of a page of req, after
// prefix.
func (c Cursor) Encode(prefix string, req Request) string {
	return c.encode(prefix, fingerprint(req))
}

// DecodeCursor reads a cursor that Encode wrote with prefix for a request
// of the same query and sort as req. Its errors wrap ErrCursor.
func DecodeCursor(s, prefix string, req Request) (Cursor, error) {
	return decodeCursor(s, prefix, fingerprint(req))
}

// fingerprint ties a cursor to the query and sort it was made for.
func fingerprint(req Request) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range []byte(req.Sort.String() + "\x00" + queryString(req.Query)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

func (c Cursor) encode(prefix string, fingerprint uint64) string {
	b := append([]byte(prefix), cursorVersion, c.Kind)
	b = binary.BigEndian.AppendUint64(b, fingerprint)
	b = binary.AppendVarint(b, c.Pos.Nanos)
	b = binary.AppendUvarint(b, c.Pos.ID)
	if c.Kind == CursorRelevance {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.Score))
		b = binary.AppendUvarint(b, c.MaxID)
		langs := slices.Sorted(mapKeys(c.Stats))
		b = binary.AppendUvarint(b, uint64(len(langs)))
		for _, l := range langs {
			b = binary.AppendUvarint(b, uint64(len(l)))
			b = append(b, l...)
			b = binary.AppendUvarint(b, uint64(max(c.Stats[l].Docs, 0)))
			b = binary.AppendUvarint(b, uint64(max(c.Stats[l].SumLen, 0)))
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, prefix string, fingerprint uint64) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < len(prefix)+10 || string(b[:len(prefix)]) != prefix || b[len(prefix)] != cursorVersion {
		return Cursor{}, fmt.Errorf("%w: not a cursor of this babelfeed store", ErrCursor)
	}
	b = b[len(prefix):]
	c := Cursor{Kind: b[1]}
	if binary.BigEndian.Uint64(b[2:]) != fingerprint {
		return Cursor{}, fmt.Errorf("%w: it belongs to another query or sort order", ErrCursor)
	}
	d := decoder{b: b[10:]}
	c.Pos.Nanos = d.varint()
	c.Pos.ID = d.uvarint()
	switch c.Kind {
	case CursorNewest:
	case CursorRelevance:
		c.Score = math.Float64frombits(d.u64())
		c.MaxID = d.uvarint()
		n := d.uvarint()
		if n > 1<<12 {
			d.bad = true
		}
		c.Stats = map[string]store.LangStats{}
		for range min(n, 1<<12) {
			l := string(d.bytes(int(d.uvarint())))
			docs, sum := d.uvarint(), d.uvarint()
			c.Stats[l] = store.LangStats{Docs: int64(min(docs, math.MaxInt64)), SumLen: int64(min(sum, math.MaxInt64))}
		}
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return Cursor{}, fmt.Errorf("%w: malformed", ErrCursor)
	}
	return c, nil
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.bad = true
		d.b = nil
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.bad = true
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
