package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"babelfeed"
)

// Items are stored in a compact binary form rather than JSON: JSON repeats
// every field name in every item and escapes non-ASCII text, which for
// multilingual feeds costs a third or more of the file. The item ID is the
// bbolt key and is not repeated in the value.
//
// Version 1 layout, after the version byte: feedID (uvarint), key, a flags
// byte saying whether GUID and URL repeat the key or the GUID (feeds very
// often use the link as GUID), GUID, URL (each only when not repeated),
// title, summary, content, author, categories (uvarint count then strings),
// published, updated, first seen, lang, confidence (float64 bits), method,
// declared lang, content hash. Strings are a uvarint length then the bytes;
// times are uvarint(nanoseconds+1) then varint(Unix seconds), or a single 0
// for the zero Time. Times come back in UTC.
//
// Version 2 is version 1 followed by DuplicateOf (uvarint). It is written
// only for items that have one, so originals keep the version 1 form and a
// store written before duplicates existed reads as it always did.
const (
	codecVersion   = 1
	codecVersionV2 = 2
)

const (
	flagGUIDIsKey = 1 << iota
	flagURLIsKey
	flagURLIsGUID
)

var errCorrupt = errors.New("corrupt item record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(t.Nanosecond())+1)
	return binary.AppendVarint(b, t.Unix())
}

// encodeItem appends the stored form of it to b.
func encodeItem(b []byte, it *babelfeed.Item) []byte {
	version := byte(codecVersion)
	if it.DuplicateOf != 0 {
		version = codecVersionV2
	}
	b = append(b, version)
	b = binary.AppendUvarint(b, it.FeedID)
	b = appendString(b, it.Key)
	var flags byte
	if it.GUID == it.Key {
		flags |= flagGUIDIsKey
	}
	if it.URL == it.Key {
		flags |= flagURLIsKey
	} else if it.URL == it.GUID {
		flags |= flagURLIsGUID
	}
	b = append(b, flags)
	if flags&flagGUIDIsKey == 0 {
		b = appendString(b, it.GUID)
	}
	if flags&(flagURLIsKey|flagURLIsGUID) == 0 {
		b = appendString(b, it.URL)
	}
	b = appendString(b, it.Title)
	b = appendString(b, it.Summary)
	b = appendString(b, it.Content)
	b = appendString(b, it.Author)
	b = binary.AppendUvarint(b, uint64(len(it.Categories)))
	for _, c := range it.Categories {
		b = appendString(b, c)
	}
	b = appendTime(b, it.Published)
	b = appendTime(b, it.Updated)
	b = appendTime(b, it.FirstSeen)
	b = appendString(b, it.Lang)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(it.LangConfidence))
	b = appendString(b, string(it.LangMethod))
	b = appendString(b, it.DeclaredLang)
	b = appendString(b, it.ContentHash)
	if version == codecVersionV2 {
		b = binary.AppendUvarint(b, it.DuplicateOf)
	}
	return b
}

// decoder reads fields in order and remembers the first error, so the
// decoding code reads like the encoding code.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// string copies, so the result outlives the bbolt transaction.
func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	ns := d.uvarint()
	if ns == 0 || d.err != nil {
		return time.Time{}
	}
	sec := d.varint()
	return time.Unix(sec, int64(ns-1)).UTC()
}

func (d *decoder) float64() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// decodeItem parses a stored item; id is its bbolt key. Strings are copied,
// so the item is safe to use after the transaction ends.
func decodeItem(id uint64, b []byte) (babelfeed.Item, error) {
	d := decoder{b: b}
	v := d.byte()
	if v != codecVersion && v != codecVersionV2 {
		if d.err == nil {
			return babelfeed.Item{}, fmt.Errorf("item %d: unknown record version %d", id, v)
		}
		return babelfeed.Item{}, fmt.Errorf("item %d: %w", id, d.err)
	}
	it := babelfeed.Item{ID: id}
	it.FeedID = d.uvarint()
	it.Key = d.string()
	flags := d.byte()
	if flags&flagGUIDIsKey != 0 {
		it.GUID = it.Key
	} else {
		it.GUID = d.string()
	}
	switch {
	case flags&flagURLIsKey != 0:
		it.URL = it.Key
	case flags&flagURLIsGUID != 0:
		it.URL = it.GUID
	default:
		it.URL = d.string()
	}
	it.Title = d.string()
	it.Summary = d.string()
	it.Content = d.string()
	it.Author = d.string()
	if n := d.uvarint(); n > 0 {
		if n > uint64(len(d.b)) { // each category takes at least one byte
			d.fail()
		} else {
			it.Categories = make([]string, n)
			for i := range it.Categories {
				it.Categories[i] = d.string()
			}
		}
	}
	it.Published = d.time()
	it.Updated = d.time()
	it.FirstSeen = d.time()
	it.Lang = d.string()
	it.LangConfidence = d.float64()
	it.LangMethod = babelfeed.LangMethod(d.string())
	it.DeclaredLang = d.string()
	it.ContentHash = d.string()
	if v == codecVersionV2 {
		it.DuplicateOf = d.uvarint()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	if d.err != nil {
		return babelfeed.Item{}, fmt.Errorf("item %d: %w", id, d.err)
	}
	return it, nil
}
