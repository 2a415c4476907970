package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// Rules and what they dropped. Buckets (created by the first write that
// needs them):
//
//	rules       ruleID -> JSON babelfeed.Rule (counts left out)
//	rule_stats  ruleID -> dropped | kept | timeouts (uint64 each)
//	dropped     feedID | item key -> ruleID | rules version | dropped at (ns) | content hash
//	meta        "rules_version" -> uint64, bumped by every change of the rules
//
// A drop record makes the poller skip an item it dropped before without
// tagging or matching it again, as long as its content hash and the rules
// are the same; item keys are stored as in item_keys (long ones hashed).
var (
	bucketRules     = []byte("rules")
	bucketRuleStats = []byte("rule_stats")
	bucketDropped   = []byte("dropped")
	keyRulesVersion = []byte("rules_version")
)

// DropRetention is how long a drop record outlives the item's presence in
// its feed: feeds rarely bring an item back after months, and a record that
// is pruned costs one evaluation if it does come back. Both engines prune
// drop records after it, so they keep the same ones.
const DropRetention = 90 * 24 * time.Hour

// PrepareRule puts r in the form both stores keep rules in, its Query
// trimmed of spaces and its Category of spaces and slashes, and checks it:
// a known action, a query, and one scope at most (a feed or a category).
// Both engines' AddRule call it, so they accept the same rules and find
// the same stored rule to be the same as a new one.
func PrepareRule(r *babelfeed.Rule) error {
	r.Query = strings.TrimSpace(r.Query)
	r.Category = strings.Trim(strings.TrimSpace(r.Category), "/")
	switch r.Action {
	case babelfeed.RuleBlock, babelfeed.RuleKeep:
	default:
		return fmt.Errorf("rule action must be %q or %q, got %q", babelfeed.RuleBlock, babelfeed.RuleKeep, r.Action)
	}
	if strings.TrimSpace(r.Query) == "" {
		return fmt.Errorf("rule has no query")
	}
	if r.FeedID != 0 && r.Category != "" {
		return fmt.Errorf("rule scope is one feed or one category, not both")
	}
	return nil
}

func rulesVersion(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(keyRulesVersion); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func bumpRulesVersion(tx *bolt.Tx) error {
	return tx.Bucket(bucketMeta).Put(keyRulesVersion, u64(rulesVersion(tx)+1))
}

// Rules returns every rule ordered by ID, with its counts, and the rules
// version: a number that changes whenever a rule is added or removed.
func (s *DB) Rules() ([]babelfeed.Rule, uint64, error) {
	var rules []babelfeed.Rule
	var version uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		version = rulesVersion(tx)
		var err error
		rules, err = readRules(tx)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list rules: %w", err)
	}
	return rules, version, nil
}

func readRules(tx *bolt.Tx) ([]babelfeed.Rule, error) {
	bk := tx.Bucket(bucketRules)
	if bk == nil {
		return nil, nil
	}
	stats := tx.Bucket(bucketRuleStats)
	var rules []babelfeed.Rule
	err := bk.ForEach(func(k, v []byte) error {
		var r babelfeed.Rule
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("rule %x: %w", k, err)
		}
		if stats != nil {
			if sv := stats.Get(k); len(sv) == 24 {
				r.Dropped = int(binary.BigEndian.Uint64(sv))
				r.Kept = int(binary.BigEndian.Uint64(sv[8:]))
				r.Timeouts = int(binary.BigEndian.Uint64(sv[16:]))
			}
		}
		rules = append(rules, r)
		return nil
	})
	return rules, err
}

// AddRule stores a rule and returns it with its ID. A rule that does the
// same as a stored one (same action, query and scope) is not added twice:
// the stored one comes back with added false. The query is stored as
// given; callers validate it (filter/rules.Compile).
func (s *DB) AddRule(r babelfeed.Rule) (stored babelfeed.Rule, added bool, err error) {
	if err := PrepareRule(&r); err != nil {
		return r, false, fmt.Errorf("add rule: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if r.FeedID != 0 {
			if _, err := bucketsOf(tx).feed(r.FeedID); err != nil {
				return err
			}
		}
		rules, err := readRules(tx)
		if err != nil {
			return err
		}
		for _, o := range rules {
			if o.SameAs(&r) {
				stored = o
				return nil
			}
		}
		bk, err := tx.CreateBucketIfNotExists(bucketRules)
		if err != nil {
			return err
		}
		if r.ID, err = bk.NextSequence(); err != nil {
			return err
		}
		if r.Added.IsZero() {
			r.Added = time.Now().UTC()
		}
		r.Dropped, r.Kept, r.Timeouts = 0, 0, 0
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := bk.Put(u64(r.ID), v); err != nil {
			return err
		}
		stored, added = r, true
		return bumpRulesVersion(tx)
	})
	if err != nil {
		return babelfeed.Rule{}, false, fmt.Errorf("add rule: %w", err)
	}
	return stored, added, nil
}

// RemoveRule deletes a rule and its counts. Items it dropped are looked at
// again the next time their feed brings them (the rules version changes).
func (s *DB) RemoveRule(id uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRules)
		if bk == nil || bk.Get(u64(id)) == nil {
			return fmt.Errorf("rule %d: %w", id, ErrNotFound)
		}
		if err := bk.Delete(u64(id)); err != nil {
			return err
		}
		if st := tx.Bucket(bucketRuleStats); st != nil {
			if err := st.Delete(u64(id)); err != nil {
				return err
			}
		}
		return bumpRulesVersion(tx)
	})
	if err != nil {
		return fmt.Errorf("remove rule: %w", err)
	}
	return nil
}

// DroppedItem is the record of an item the rules dropped.
type DroppedItem struct {
	ContentHash string
	RuleID      uint64    // the rule that decided
	Version     uint64    // the rules version it was decided with
	At          time.Time // when
}

// Dropped returns item key -> drop record for a feed.
func (s *DB) Dropped(feedID uint64) (map[string]DroppedItem, error) {
	out := map[string]DroppedItem{}
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDropped)
		if bk == nil {
			return nil
		}
		prefix := feedPrefix(feedID)
		c := bk.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			d, key, err := decodeDrop(k[len(prefix):], v)
			if err != nil {
				return fmt.Errorf("drop record %x: %w", k, err)
			}
			out[key] = d
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dropped items of feed %d: %w", feedID, err)
	}
	return out, nil
}

// The drop record value: ruleID | version | at (ns) | key length (uvarint)
// and key when the bucket key is hashed | content hash.
func encodeDrop(key string, d DroppedItem) []byte {
	v := appendU64(nil, d.RuleID)
	v = appendU64(v, d.Version)
	v = appendU64(v, uint64(UnixNanos(d.At)))
	if hashedItemKey(key) {
		v = appendString(v, key)
	} else {
		v = append(v, 0)
	}
	return append(v, d.ContentHash...)
}

func decodeDrop(rawKey, v []byte) (DroppedItem, string, error) {
	if len(v) < 25 {
		return DroppedItem{}, "", errCorrupt
	}
	d := DroppedItem{
		RuleID:  binary.BigEndian.Uint64(v),
		Version: binary.BigEndian.Uint64(v[8:]),
		At:      time.Unix(0, int64(binary.BigEndian.Uint64(v[16:]))).UTC(),
	}
	dec := decoder{b: v[24:]}
	key := dec.string()
	if dec.err != nil {
		return DroppedItem{}, "", dec.err
	}
	if key == "" {
		key = string(rawKey)
	}
	d.ContentHash = string(dec.b)
	return d, key, nil
}

// Drop is one item the rules dropped in a poll.
type Drop struct {
	Key         string
	ContentHash string
	RuleID      uint64
}

// RuleOutcome is what the rules decided on one fetched document of a feed.
type RuleOutcome struct {
	FeedID  uint64
	Version uint64 // the rules version the decisions were made with
	Drops   []Drop
	// Forget lists keys whose drop record no longer holds: the item was
	// looked at again and kept.
	Forget []string
	// Kept and Timeouts count, per rule ID, the items a keep rule let
	// through and the evaluations that ran out of time on a rule.
	Kept, Timeouts map[uint64]int
	// Present, when not nil, holds every item key of the document: drop
	// records of items no longer in it are pruned once older than 90 days.
	Present map[string]bool
	At      time.Time // when the decisions were made; zero means now
}

// SaveRuleOutcome records drops and counts in one transaction. A drop
// counts for its rule unless the item's previous record already named that
// rule (an item is counted once per rule, however often it is looked at
// again).
//
// The poller saves this before the items it kept (SaveFetch, with the
// feed's validators), so a failure between the two leaves drops remembered
// and the document fetched again: never validators without the decisions.
func (s *DB) SaveRuleOutcome(o RuleOutcome) error {
	if len(o.Drops) == 0 && len(o.Forget) == 0 && len(o.Kept) == 0 && len(o.Timeouts) == 0 && o.Present == nil {
		return nil
	}
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketDropped)
		if err != nil {
			return err
		}
		stats, err := tx.CreateBucketIfNotExists(bucketRuleStats)
		if err != nil {
			return err
		}
		rules := tx.Bucket(bucketRules)
		add := func(ruleID uint64, field, n int) error {
			if n == 0 || rules == nil || rules.Get(u64(ruleID)) == nil {
				return nil // a rule removed meanwhile
			}
			v := make([]byte, 24)
			copy(v, stats.Get(u64(ruleID)))
			off := field * 8
			binary.BigEndian.PutUint64(v[off:], binary.BigEndian.Uint64(v[off:])+uint64(n))
			return stats.Put(u64(ruleID), v)
		}
		dropped := map[uint64]int{}
		for _, d := range o.Drops {
			k := itemKeysKey(o.FeedID, d.Key)
			counted := false
			if prev := bk.Get(k); prev != nil {
				pd, _, err := decodeDrop(k[8:], prev)
				counted = err == nil && pd.RuleID == d.RuleID
			}
			if !counted {
				dropped[d.RuleID]++
			}
			rec := DroppedItem{ContentHash: d.ContentHash, RuleID: d.RuleID, Version: o.Version, At: at}
			if err := bk.Put(k, encodeDrop(d.Key, rec)); err != nil {
				return fmt.Errorf("record drop of %q: %w", d.Key, err)
			}
		}
		for _, key := range o.Forget {
			if err := bk.Delete(itemKeysKey(o.FeedID, key)); err != nil {
				return err
			}
		}
		for id, n := range dropped {
			if err := add(id, 0, n); err != nil {
				return err
			}
		}
		for id, n := range o.Kept {
			if err := add(id, 1, n); err != nil {
				return err
			}
		}
		for id, n := range o.Timeouts {
			if err := add(id, 2, n); err != nil {
				return err
			}
		}
		if o.Present != nil {
			return pruneDrops(bk, o.FeedID, o.Present, at.Add(-DropRetention))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save rule outcome of feed %d: %w", o.FeedID, err)
	}
	return nil
}

// pruneDrops deletes the drop records of a feed that are older than cutoff
// and whose items are not in the feed's current document.
func pruneDrops(bk *bolt.Bucket, feedID uint64, present map[string]bool, cutoff time.Time) error {
	prefix := feedPrefix(feedID)
	var old [][]byte
	c := bk.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		d, key, err := decodeDrop(k[len(prefix):], v)
		if err != nil || (d.At.Before(cutoff) && !present[key]) {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// forgetFeedRules deletes what the rules keep about a removed feed: its
// drop records and the rules scoped to it.
func forgetFeedRules(tx *bolt.Tx, feedID uint64) error {
	if bk := tx.Bucket(bucketDropped); bk != nil {
		if err := deletePrefix(bk, feedPrefix(feedID)); err != nil {
			return fmt.Errorf("delete drop records: %w", err)
		}
	}
	rules, err := readRules(tx)
	if err != nil {
		return err
	}
	changed := false
	for _, r := range rules {
		if r.FeedID != feedID {
			continue
		}
		if err := tx.Bucket(bucketRules).Delete(u64(r.ID)); err != nil {
			return err
		}
		if st := tx.Bucket(bucketRuleStats); st != nil {
			if err := st.Delete(u64(r.ID)); err != nil {
				return err
			}
		}
		changed = true
	}
	if changed {
		return bumpRulesVersion(tx)
	}
	return nil
}
