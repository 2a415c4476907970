package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/text/unicode/norm"

	"babelfeed"
)

// Cross-feed duplicates. When SaveFetch stores a new item, it looks the
// item up by canonical URL (CanonicalURL) and by normalised title
// (NormalizeTitle) within a day of its SortTime; if an item of another feed
// was stored first with either, the new item gets DuplicateOf = that
// item's ID. Duplicates are stored like any item; readers hide them.
//
// Buckets (created by the first write that needs them, so a store written
// before they existed opens read-only as before and reads as "no
// duplicates"):
//
//	dup_url    canonical URL -> rootID | root feedID
//	dup_title  day | SHA-256(normalised title)[:12] -> rootID | root feedID | sort nanos
//	dup_of     rootID | dupID -> (empty): the duplicates of each original
//
// The key layouts keep writes local, which is what they cost: canonical
// URLs start with the host and usually grow at the end of the path, and
// title keys start with the day, so the items of one fetch land on a few
// neighbouring pages. Hashing the URLs too measured 20% more CPU per item,
// every insert dirtying a page of its own. A title hash of 96 bits does
// not collide by chance.
//
// The root is always an original (DuplicateOf 0): keys a duplicate brings
// that were not known yet point at its original, so a third copy of a
// story is a duplicate of the first, not of the second. The decision is
// taken once, when an item is first stored: an update adds the keys its
// new URL or title bring but does not change DuplicateOf. Items stored
// before this index existed are not in it.
var (
	bucketDupURL   = []byte("dup_url")
	bucketDupTitle = []byte("dup_title")
	bucketDupOf    = []byte("dup_of")
)

// dupWindow is how far apart in time two items with the same normalised
// title may be and still count as one story.
const dupWindow = 24 * time.Hour

// trackingParams are query parameters that say who sent the reader, not
// what they read. Parameters starting with "utm_" are dropped too.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "gbraid": true, "wbraid": true,
	"msclkid": true, "yclid": true, "mc_cid": true, "mc_eid": true, "igshid": true,
	"ref": true, "ref_src": true, "ref_url": true, "_ga": true, "_gl": true,
	"cmpid": true, "at_medium": true, "at_campaign": true, "xtor": true, "ito": true,
	"__twitter_impression": true, "ocid": true, "ncid": true,
}

// CanonicalURL is the form in which two item links count as the same story:
// scheme ignored (http and https are one), host lower-cased without
// "www." and default port, fragment dropped, trailing slash of the path
// dropped, tracking parameters (utm_*, fbclid, gclid, ref, ... see
// trackingParams) removed and the other parameters sorted. It returns ""
// for a link that names no story: not http(s), no host, or a site's home
// page (some feeds link every item to it).
func CanonicalURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	host = strings.TrimPrefix(host, "www.")
	if host == "" {
		return ""
	}
	if port := u.Port(); port != "" && port != "80" && port != "443" {
		host += ":" + port
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	query := ""
	if u.RawQuery != "" {
		if vals, err := url.ParseQuery(u.RawQuery); err == nil {
			for k := range vals {
				lk := strings.ToLower(k)
				if strings.HasPrefix(lk, "utm_") || trackingParams[lk] {
					delete(vals, k)
				}
			}
			query = vals.Encode() // sorted by key
		} else {
			query = u.RawQuery
		}
	}
	if path == "" && query == "" {
		return ""
	}
	if query != "" {
		return host + path + "?" + query
	}
	return host + path
}

// NormalizeTitle is the form in which two titles count as the same:
// case-folded, accents removed, punctuation and spacing reduced to single
// spaces. It returns "" for a title too short to identify a story
// ("News", "Editoriale"): fewer than 16 letters and digits, or fewer
// than 6 in Chinese, Japanese or Korean script.
func NormalizeTitle(title string) string {
	var b strings.Builder
	b.Grow(len(title))
	letters, cjk := 0, false
	space := false
	if !isASCII(title) {
		// Compatibility decomposition splits accents off their letters
		// (and ligatures, full-width forms) so that dropping marks folds
		// "Città" to "citta".
		title = norm.NFKD.String(title)
	}
	for _, r := range title {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
			letters++
			if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
				cjk = true
			}
		default:
			space = true
		}
	}
	if letters < 16 && !(cjk && letters >= 6) {
		return ""
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// maxDupKey bounds URL keys stored verbatim; longer ones are hashed.
const maxDupKey = 512

// DupURLKey is the key a canonical URL (CanonicalURL) is indexed by to
// find duplicates: the URL itself, or 0xff and its SHA-256 when longer
// than 512 bytes (UTF-8 text never starts with 0xff). The bbolt store's
// dup_url bucket and the PostgreSQL store's duplicate index hold the same
// keys, so a URL matches the same items in either.
func DupURLKey(canonical string) []byte {
	if len(canonical) <= maxDupKey {
		return []byte(canonical)
	}
	sum := sha256.Sum256([]byte(canonical))
	return append([]byte{0xff}, sum[:]...)
}

// DupDay is the day, counted from the Unix epoch and rounded down, that
// an item sorting at n (UnixNanos of its SortTime) is filed under when
// items of the same normalised title are looked for: an item's candidates
// are those of its day and of the days either side. Both engines file and
// look up title keys by it, so they find the same duplicates.
func DupDay(n int64) int64 {
	d := n / int64(24*time.Hour)
	if n < 0 && n%int64(24*time.Hour) != 0 {
		d--
	}
	return d
}

func titleKey(title string, day int64) []byte {
	sum := sha256.Sum256([]byte(title))
	// The sign bit flipped keeps days before 1970 in order too.
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 16), uint32(day)^(1<<31)), sum[:12]...)
}

func dupOfKey(root, dup uint64) []byte { return appendU64(u64(root), dup) }

// dupIndex is the duplicate index of one write transaction.
type dupIndex struct {
	url, title, of *bolt.Bucket
}

// openDups returns the duplicate index of a write transaction, creating
// its buckets on first use.
func openDups(tx *bolt.Tx) (*dupIndex, error) {
	var d dupIndex
	var err error
	for _, p := range []struct {
		b    **bolt.Bucket
		name []byte
	}{{&d.url, bucketDupURL}, {&d.title, bucketDupTitle}, {&d.of, bucketDupOf}} {
		if *p.b, err = tx.CreateBucketIfNotExists(p.name); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", p.name, err)
		}
	}
	return &d, nil
}

// dupKeys are the index keys of one item.
type dupKeys struct {
	url   []byte // nil: no canonical URL
	title string // "": no usable title
	nanos int64
}

func keysOf(it *babelfeed.Item) dupKeys {
	k := dupKeys{title: NormalizeTitle(it.Title), nanos: UnixNanos(SortTime(it))}
	if c := CanonicalURL(it.URL); c != "" {
		k.url = DupURLKey(c)
	}
	return k
}

// lookup finds the original of a story with these keys stored from a feed
// other than feedID, and the original's feed; 0 if none.
func (d *dupIndex) lookup(k dupKeys, feedID uint64) (root, rootFeed uint64) {
	if k.url != nil {
		if v := d.url.Get(k.url); len(v) == 16 {
			if root, rf := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]); rf != feedID {
				return root, rf
			}
		}
	}
	if k.title != "" {
		day := DupDay(k.nanos)
		for _, dd := range []int64{day, day - 1, day + 1} {
			v := d.title.Get(titleKey(k.title, dd))
			if len(v) != 24 {
				continue
			}
			root, rf := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
			n := int64(binary.BigEndian.Uint64(v[16:]))
			if rf != feedID && WithinDupWindow(n, k.nanos) {
				return root, rf
			}
		}
	}
	return 0, 0
}

// WithinDupWindow says whether items sorting at a and b (UnixNanos of
// their SortTime) are near enough in time, 24 hours at most apart, for the
// same normalised title to make them one story. Both engines decide
// duplicates by it, so they find the same ones.
func WithinDupWindow(a, b int64) bool { return absDiff(a, b) <= int64(dupWindow) }

func absDiff(a, b int64) int64 {
	if a > b {
		a, b = b, a
	}
	if d := b - a; d >= 0 {
		return d
	}
	return 1<<63 - 1 // overflow: far apart
}

// addKeys records the keys of an item not known yet, pointing at root (of
// feed rootFeed).
func (d *dupIndex) addKeys(k dupKeys, root, rootFeed uint64) error {
	if k.url != nil && d.url.Get(k.url) == nil {
		if err := d.url.Put(k.url, appendU64(u64(root), rootFeed)); err != nil {
			return fmt.Errorf("index item %d by canonical URL: %w", root, err)
		}
	}
	if k.title != "" {
		key := titleKey(k.title, DupDay(k.nanos))
		if d.title.Get(key) == nil {
			v := appendU64(appendU64(u64(root), rootFeed), uint64(k.nanos))
			if err := d.title.Put(key, v); err != nil {
				return fmt.Errorf("index item %d by title: %w", root, err)
			}
		}
	}
	return nil
}

// markNew decides whether a new item (ID assigned, not yet written)
// duplicates one stored from another feed, sets it.DuplicateOf and indexes
// its keys.
func (d *dupIndex) markNew(it *babelfeed.Item) error {
	k := keysOf(it)
	it.DuplicateOf = 0
	root, rootFeed := d.lookup(k, it.FeedID)
	if root != 0 {
		it.DuplicateOf = root
		if err := d.of.Put(dupOfKey(root, it.ID), nil); err != nil {
			return fmt.Errorf("record item %d as duplicate of %d: %w", it.ID, root, err)
		}
	} else {
		root, rootFeed = it.ID, it.FeedID
	}
	return d.addKeys(k, root, rootFeed)
}

// markUpdated keeps an updated item's DuplicateOf and indexes the keys its
// new content brings.
func (d *dupIndex) markUpdated(b buckets, old, it *babelfeed.Item) error {
	it.DuplicateOf = old.DuplicateOf
	root, rootFeed := it.ID, it.FeedID
	if it.DuplicateOf != 0 {
		orig, err := b.item(it.DuplicateOf)
		if err != nil {
			// The original is gone and this item was not promoted: an
			// inconsistency, but not one worth failing a poll over.
			return nil
		}
		root, rootFeed = orig.ID, orig.FeedID
	}
	return d.addKeys(keysOf(it), root, rootFeed)
}

// forgetDuplicates is called by RemoveFeed before the items of a feed are
// deleted (ids, in any order). Duplicates of a removed original in other
// feeds would otherwise stay hidden behind an item that no longer exists:
// the oldest surviving one becomes the original, the others its
// duplicates, and the index entries that pointed at the removed item are
// moved to it or deleted.
func (b buckets) forgetDuplicates(tx *bolt.Tx, ids []uint64) error {
	d := dupIndex{url: tx.Bucket(bucketDupURL), title: tx.Bucket(bucketDupTitle), of: tx.Bucket(bucketDupOf)}
	if d.url == nil || d.title == nil || d.of == nil {
		return nil // never written: nothing indexed
	}
	removed := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		removed[id] = true
	}
	type heir struct{ id, feed uint64 }
	heirs := map[uint64]heir{} // removed original -> its successor
	var rekey []babelfeed.Item // surviving items whose keys may point at a removed original
	for _, id := range ids {
		prefix := u64(id)
		var dups []uint64
		c := d.of.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) == 16 {
				if dup := binary.BigEndian.Uint64(k[8:]); !removed[dup] {
					dups = append(dups, dup)
				}
			}
		}
		if err := deletePrefix(d.of, prefix); err != nil {
			return fmt.Errorf("forget duplicates of item %d: %w", id, err)
		}
		if len(dups) == 0 {
			continue
		}
		slices.Sort(dups)
		var buf []byte
		var newRoot heir
		for i, dupID := range dups {
			it, err := b.item(dupID)
			if err != nil {
				return fmt.Errorf("forget duplicates of item %d: %w", id, err)
			}
			if i == 0 {
				newRoot = heir{it.ID, it.FeedID}
				it.DuplicateOf = 0
			} else {
				it.DuplicateOf = newRoot.id
				if err := d.of.Put(dupOfKey(newRoot.id, it.ID), nil); err != nil {
					return fmt.Errorf("record item %d as duplicate of %d: %w", it.ID, newRoot.id, err)
				}
			}
			buf = encodeItem(buf[:0], &it)
			if err := b.items.Put(u64(it.ID), bytes.Clone(buf)); err != nil {
				return fmt.Errorf("write item %d: %w", it.ID, err)
			}
			rekey = append(rekey, it)
		}
		heirs[id] = newRoot
	}
	// Entries owned by a removed item: the keys of its surviving duplicates
	// and its own (and those of removed duplicates).
	var gone []babelfeed.Item
	for _, id := range ids {
		it, err := b.item(id)
		if err != nil {
			continue
		}
		if it.DuplicateOf != 0 && !removed[it.DuplicateOf] {
			if err := d.of.Delete(dupOfKey(it.DuplicateOf, it.ID)); err != nil {
				return fmt.Errorf("forget duplicate %d: %w", it.ID, err)
			}
		}
		gone = append(gone, it)
	}
	fix := func(bk *bolt.Bucket, key []byte) error {
		v := bk.Get(key)
		if len(v) < 16 {
			return nil
		}
		owner := binary.BigEndian.Uint64(v)
		if !removed[owner] {
			return nil
		}
		h, ok := heirs[owner]
		if !ok {
			return bk.Delete(key)
		}
		nv := bytes.Clone(v)
		binary.BigEndian.PutUint64(nv, h.id)
		binary.BigEndian.PutUint64(nv[8:], h.feed)
		return bk.Put(key, nv)
	}
	for _, it := range append(rekey, gone...) {
		k := keysOf(&it)
		if k.url != nil {
			if err := fix(d.url, k.url); err != nil {
				return fmt.Errorf("re-index item %d: %w", it.ID, err)
			}
		}
		if k.title != "" {
			if err := fix(d.title, titleKey(k.title, DupDay(k.nanos))); err != nil {
				return fmt.Errorf("re-index item %d: %w", it.ID, err)
			}
		}
	}
	return nil
}

// DuplicateGroups returns, for every original that has duplicates, the IDs
// of its duplicates in ascending order: what the duplicate index holds.
func (s *DB) DuplicateGroups() (map[uint64][]uint64, error) {
	groups := map[uint64][]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		of := tx.Bucket(bucketDupOf)
		if of == nil {
			return nil
		}
		return of.ForEach(func(k, _ []byte) error {
			if len(k) == 16 {
				root := binary.BigEndian.Uint64(k)
				groups[root] = append(groups[root], binary.BigEndian.Uint64(k[8:]))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("duplicate groups: %w", err)
	}
	for _, g := range groups {
		slices.Sort(g)
	}
	return groups, nil
}
