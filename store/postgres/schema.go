package postgres

// schemaVersion is the layout version this package writes into meta
// ('schema'); a database written by a newer one is refused.
const schemaVersion = 1

// coreDDL creates the tables of feeds, items, tombstones and the duplicate
// index. Every statement is idempotent (createSchema runs them on every
// Open).
//
//	meta       key -> value: 'schema' (layout version), 'index_version'
//	           (the Indexer version every item's terms were computed
//	           with; absent when stale), 'index_building' and 'index_upto'
//	           while Reindex runs.
//	feeds      one row per feed: url is its normalised current URL (not
//	           unique: a redirect may land on a URL another feed has),
//	           next_poll and state mirror the JSON for the coordinator,
//	           items and langs are the derived counts, data is the whole
//	           babelfeed.Feed as JSON without its counts.
//	feed_urls  normalised URL -> feed, current and earlier URLs (as bbolt's
//	           feed_urls): AddFeeds deduplicates against it.
//	items      one row per item. key_id is the item's identity in its feed
//	           as bbolt's item_keys spells it: the key itself, or 0xff and
//	           its SHA-256 when longer than 256 bytes or starting with 0xff;
//	           unique with feed_id. sort_ns is store.SortTime as Unix
//	           nanoseconds clamped to int64 (bbolt's order key: ties on the
//	           nanosecond are broken by ID, descending); sort_time is the
//	           same instant as timestamptz (microseconds) for SQL readers;
//	           order and range-filter by sort_ns. content_hash and data
//	           (the item in the compact form of encodeItem, without ID,
//	           FeedID and DuplicateOf, which are columns) are bytea because
//	           feeds carry any bytes. terms is the keyword index input (see
//	           termsVector).
//	tombstones items retention removed, by feed and key_id (see Prune);
//	           missing_ns is when the feed's documents stopped carrying the
//	           item (0 while they do).
//	dup_url    canonical URL (or 0xff and its SHA-256 beyond 512 bytes) ->
//	           the original item of the story and its feed.
//	dup_title  (SHA-256(normalised title)[:12], day) -> the original, its
//	           feed and its sort time.
//
// The duplicate groups themselves are items.duplicate_of.
var coreDDL = []string{
	`CREATE TABLE IF NOT EXISTS meta (
		key text PRIMARY KEY,
		value text NOT NULL)`,
	`CREATE SEQUENCE IF NOT EXISTS feeds_id_seq`,
	`CREATE TABLE IF NOT EXISTS feeds (
		id bigint PRIMARY KEY,
		url text NOT NULL,
		next_poll timestamptz,
		state text NOT NULL DEFAULT 'ok',
		items integer NOT NULL DEFAULT 0,
		langs jsonb NOT NULL DEFAULT '{}',
		data json NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS feeds_next_poll ON feeds (next_poll)`,
	`CREATE TABLE IF NOT EXISTS feed_urls (
		url text PRIMARY KEY,
		feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE)`,
	`CREATE INDEX IF NOT EXISTS feed_urls_feed ON feed_urls (feed_id)`,
	`CREATE SEQUENCE IF NOT EXISTS items_id_seq`,
	`CREATE TABLE IF NOT EXISTS items (
		id bigint PRIMARY KEY,
		feed_id bigint NOT NULL,
		key_id bytea NOT NULL,
		lang text NOT NULL,
		sort_ns bigint NOT NULL,
		sort_time timestamptz NOT NULL,
		published timestamptz,
		content_hash bytea NOT NULL,
		duplicate_of bigint,
		data bytea NOT NULL,
		terms tsvector,
		UNIQUE (feed_id, key_id))`,
	`CREATE INDEX IF NOT EXISTS items_time ON items (sort_ns DESC, id DESC)`,
	`CREATE INDEX IF NOT EXISTS items_lang ON items (lang, sort_ns DESC, id DESC)`,
	`CREATE INDEX IF NOT EXISTS items_feed ON items (feed_id, sort_ns DESC, id DESC)`,
	`CREATE INDEX IF NOT EXISTS items_duplicate_of ON items (duplicate_of) WHERE duplicate_of IS NOT NULL`,
	`CREATE TABLE IF NOT EXISTS tombstones (
		feed_id bigint NOT NULL,
		key_id bytea NOT NULL,
		missing_ns bigint NOT NULL DEFAULT 0,
		content_hash bytea NOT NULL,
		PRIMARY KEY (feed_id, key_id))`,
	`CREATE TABLE IF NOT EXISTS dup_url (
		url_key bytea PRIMARY KEY,
		root bigint NOT NULL,
		root_feed bigint NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS dup_url_root ON dup_url (root)`,
	`CREATE TABLE IF NOT EXISTS dup_title (
		title_hash bytea NOT NULL,
		day integer NOT NULL,
		root bigint NOT NULL,
		root_feed bigint NOT NULL,
		sort_ns bigint NOT NULL,
		PRIMARY KEY (title_hash, day))`,
	`CREATE INDEX IF NOT EXISTS dup_title_root ON dup_title (root)`,
}

// coreTables are the tables coreDDL creates, for Stats.
var coreTables = []string{"meta", "feeds", "feed_urls", "items", "tombstones", "dup_url", "dup_title"}

// Keys of meta.
const (
	metaIndexVersion  = "index_version"
	metaIndexBuilding = "index_building"
	metaIndexUpto     = "index_upto"
)
