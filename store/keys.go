package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"babelfeed"
)

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// SortTime is the time an item is ordered and range-filtered by: its
// Published time, or when it was first seen if the feed gave no date.
func SortTime(it *babelfeed.Item) time.Time {
	if it.Published.IsZero() {
		return it.FirstSeen
	}
	return it.Published
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// UnixNanos is t as Unix nanoseconds, clamped to the int64 range (UnixNano
// is undefined outside it, and the zero Time is far outside it). It is the
// time every engine orders items by (of SortTime) and compares Since, Until,
// retention cutoffs and tombstone times with, so the bbolt and PostgreSQL
// stores agree on every boundary, however far out of range a time is.
func UnixNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// orderKey maps nanoseconds to an unsigned value with the same order (the
// sign bit flipped), then inverts it so that newer sorts first.
func orderKey(n int64) uint64 { return ^(uint64(n) ^ (1 << 63)) }

func nanosFromOrderKey(k uint64) int64 { return int64(^k ^ (1 << 63)) }

// suffixLen is the length of the ^time | ^id tail shared by every index key.
const suffixLen = 16

func appendSuffix(b []byte, n int64, id uint64) []byte {
	b = appendU64(b, orderKey(n))
	return appendU64(b, ^id)
}

// parseSuffix reads time and item ID back from an index key's tail.
func parseSuffix(tail []byte) (n int64, id uint64) {
	return nanosFromOrderKey(binary.BigEndian.Uint64(tail)), ^binary.BigEndian.Uint64(tail[8:])
}

func idxTimeKey(n int64, id uint64) []byte { return appendSuffix(make([]byte, 0, suffixLen), n, id) }

func langPrefix(lang string) []byte {
	b := make([]byte, 0, len(lang)+1+suffixLen)
	b = append(b, lang...)
	return append(b, 0)
}

func idxLangKey(lang string, n int64, id uint64) []byte {
	return appendSuffix(langPrefix(lang), n, id)
}

func feedPrefix(feedID uint64) []byte { return appendU64(make([]byte, 0, 8+suffixLen), feedID) }

func idxFeedKey(feedID uint64, n int64, id uint64) []byte {
	return appendSuffix(feedPrefix(feedID), n, id)
}

// maxRawItemKey bounds item keys stored verbatim in item_keys; longer ones
// (GUIDs can be anything) are replaced by their SHA-256 so that bbolt's key
// limit and page size are never a problem.
const maxRawItemKey = 256

// hashedItemKeyLen is the length of a hashed item key ID: 0xff and a
// SHA-256.
const hashedItemKeyLen = 1 + sha256.Size

func hashedItemKey(key string) bool {
	return len(key) > maxRawItemKey || (key != "" && key[0] == 0xff)
}

// ItemKeyID is an item's identity within its feed as the stores keep it:
// the key itself, or, when it is longer than 256 bytes or starts with 0xff,
// 0xff and its SHA-256 (hashed IDs start with 0xff, which raw ones never
// do). The bbolt store's item_keys and tombstones and the PostgreSQL
// store's key_id columns hold the same IDs, so the two agree on which
// items are the same and a migrated tombstone still matches its item.
func ItemKeyID(key string) []byte {
	return appendItemKeyID(make([]byte, 0, min(len(key), maxRawItemKey+1)), key)
}

// TombstoneKeyID is the ItemKeyID of a tombstone record's Key (see
// Copier): a Key that is already a hashed ID (33 bytes starting with 0xff,
// all a tombstone knows of a long key) is kept as it is. Both engines
// import tombstones with it, so a copy in either direction keeps them.
func TombstoneKeyID(key string) []byte {
	if len(key) == hashedItemKeyLen && key[0] == 0xff {
		return []byte(key)
	}
	return ItemKeyID(key)
}

func appendItemKeyID(b []byte, key string) []byte {
	if !hashedItemKey(key) {
		return append(b, key...)
	}
	sum := sha256.Sum256([]byte(key))
	b = append(b, 0xff)
	return append(b, sum[:]...)
}

func itemKeysKey(feedID uint64, key string) []byte {
	b := make([]byte, 0, 8+min(len(key), maxRawItemKey+1))
	return appendItemKeyID(appendU64(b, feedID), key)
}

func validLang(lang string) error {
	if strings.IndexByte(lang, 0) >= 0 {
		return fmt.Errorf("language code %q contains a NUL byte", lang)
	}
	return nil
}

// NormalizeURL returns the form feed URLs are deduplicated by: scheme and
// host lower-cased, the scheme's default port dropped, the fragment dropped;
// everything else (path, query, user info) as given.
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("normalise URL %q: %w", raw, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}
