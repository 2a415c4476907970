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
