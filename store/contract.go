package store

import (
	"context"
	"time"

	"babelfeed"
)

// Store is what babelfeed needs of its storage, whatever engine holds it:
// DB (bbolt, one embedded file, the default) and store/postgres (one
// PostgreSQL database shared by several pollers) implement it with the
// same behaviour, which store/storetest checks on both.
//
// The methods are documented on DB. In short: feeds are deduplicated by
// normalised URL; SaveFetch stores one fetch of a feed atomically (its new
// state with its new and changed items, deduplicated by item key); Items
// lists items newest first; nothing else in the program needs to know which
// engine answers.
type Store interface {
	// Feeds.
	AddFeeds(feeds []babelfeed.Feed, dryRun bool) (added, existing []babelfeed.Feed, err error)
	Feeds() ([]babelfeed.Feed, error)
	Feed(id uint64) (babelfeed.Feed, error)
	FeedByURL(url string) (babelfeed.Feed, error)
	UpdateFeed(f babelfeed.Feed) error
	RemoveFeed(id uint64) error

	// Items.
	Known(feedID uint64) (map[string]string, error)
	SaveFetch(f babelfeed.Feed, items []babelfeed.Item) (SaveResult, error)
	Item(id uint64) (babelfeed.Item, error)
	ItemCount() (int, error)
	Items(ctx context.Context, q babelfeed.Query, match func(*babelfeed.Item) bool, fn func(babelfeed.Item) bool) error
	UpdateItems(ctx context.Context, fn func(*babelfeed.Item) (changed bool), progress func(done int)) error
	RecentTimes(feedID uint64, n int) ([]time.Time, error)
	DuplicateGroups() (map[uint64][]uint64, error)
	Stats() (Stats, error)
	Prune(ctx context.Context, r Retention, now time.Time) (PruneResult, error)

	// The keyword index.
	IndexState() (IndexState, error)
	Reindex(ctx context.Context, progress func(done, total int)) error

	// Rules and what they dropped.
	Rules() ([]babelfeed.Rule, uint64, error)
	AddRule(r babelfeed.Rule) (stored babelfeed.Rule, added bool, err error)
	RemoveRule(id uint64) error
	Dropped(feedID uint64) (map[string]DroppedItem, error)
	SaveRuleOutcome(o RuleOutcome) error

	// Saved queries.
	SaveQuery(q SavedQuery, replace bool) error
	SavedQueries() ([]SavedQuery, error)
	SavedQuery(name string) (SavedQuery, error)
	RemoveSavedQuery(name string) error

	// Check verifies the store's internal consistency.
	Check(ctx context.Context) (CheckReport, error)
	// Path names the store for people: a file path, or a connection
	// string without its password.
	Path() string
	Close() error
}

var _ Store = (*DB)(nil)

// Coordinator is implemented by stores that several pollers, in several
// processes or on several machines, share (store/postgres). Leases give
// each due feed to exactly one poller at a time; host slots and reserved
// start times keep the per-host limits across all pollers. Lease and slot
// expiry run on the store's clock, so that a crashed poller's work is taken
// over after hold or lease has passed, whatever the pollers' clocks say.
type Coordinator interface {
	// ClaimDue leases to owner up to max feeds whose NextPoll is at or
	// before now, which are not gone and not leased to another owner (an
	// expired lease counts as none), earliest NextPoll first. A claimed
	// feed is handed to no other owner until its lease is released or has
	// lasted lease.
	ClaimDue(ctx context.Context, owner string, now time.Time, max int, lease time.Duration) ([]babelfeed.Feed, error)
	// ClaimFeeds leases the feeds with the given IDs to owner whether due
	// or not (a "poll now"), leaving out those another owner holds.
	ClaimFeeds(ctx context.Context, owner string, ids []uint64, lease time.Duration) ([]babelfeed.Feed, error)
	// Release ends owner's lease on a feed; another owner's lease is left
	// alone.
	Release(ctx context.Context, owner string, feedID uint64) error
	// NextDue returns the earliest NextPoll among feeds that are not gone
	// and not leased; ok is false when there is none.
	NextDue(ctx context.Context) (next time.Time, ok bool, err error)

	// AcquireHost takes one of perHost request slots of host for owner,
	// held until released or for hold, and reserves the next request
	// start on the host at least gap after the previous reservation by
	// any poller. It returns how long the caller must wait before it
	// starts its request. ok is false when every slot is taken: try again
	// later.
	AcquireHost(ctx context.Context, owner, host string, perHost int, gap, hold time.Duration) (slot int, wait time.Duration, ok bool, err error)
	// ReleaseHost frees a slot AcquireHost gave owner.
	ReleaseHost(ctx context.Context, owner, host string, slot int) error
	// BlockHost records that host asked every poller to wait until until
	// (Retry-After); an earlier time than the one recorded is ignored.
	BlockHost(ctx context.Context, host string, until time.Time) error
	// HostBlockedUntil returns the time BlockHost recorded for host (zero
	// when none).
	HostBlockedUntil(ctx context.Context, host string) (time.Time, error)
}

// Record is one piece of a store's contents as Copier moves it from one
// engine to another: exactly one field is set.
type Record struct {
	Feed *babelfeed.Feed
	Item *babelfeed.Item
	// Rule comes with RulesVersion, the version of the rule set after all
	// rules were added.
	Rule         *babelfeed.Rule
	RulesVersion uint64
	Saved        *SavedQuery
	Dropped      *DroppedRecord
	Tombstone    *Tombstone
}

// DroppedRecord is an item the rules dropped, with its feed and key.
type DroppedRecord struct {
	FeedID uint64
	Key    string
	DroppedItem
}

// Tombstone remembers an item retention removed, so that a feed still
// carrying it does not bring it back (see Prune).
type Tombstone struct {
	FeedID      uint64
	Key         string
	ContentHash string
	// Missing is when the feed's documents stopped carrying the item (zero
	// while they still do).
	Missing time.Time
}

// Copier is implemented by stores that can be copied whole, IDs included,
// into another engine (the migrate command).
type Copier interface {
	// Export calls fn with every record: feeds first, then items in ID
	// order, then rules, saved queries, drop records and tombstones.
	// It reads one consistent state where the engine allows.
	Export(ctx context.Context, fn func(Record) error) error
	// Import writes records, keeping their IDs, into a store that held no
	// feeds when the import began; it is called with successive batches in
	// Export's order and indexes what it writes. FinishImport ends it
	// (ID sequences continue after the highest imported ID).
	Import(ctx context.Context, batch []Record) error
	FinishImport(ctx context.Context) error
}
