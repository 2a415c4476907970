// Package store keeps babelfeed's feeds and items in one bbolt file: it
// deduplicates items, maintains the secondary indexes (time, language,
// feed) that serve queries newest first, and keeps per-feed counts.
//
// Times come back in UTC (the instant is kept, the zone is not).
//
// It is the only package that imports bbolt. A Store is safe for concurrent
// use by several goroutines; only one process can hold the file read-write at
// a time (bbolt takes an exclusive flock), and while it does, every other open
// of the same file, read-only ones included, waits for Options.Timeout and
// then fails with ErrLocked.
//
// Layout (all integers big-endian):
//
//	meta       "schema" -> uint64 schema version
//	feeds      feedID -> JSON babelfeed.Feed (with its derived counts)
//	feed_urls  normalised URL -> feedID (old URLs stay after a redirect)
//	items      itemID -> compact binary item (see codec.go)
//	item_keys  feedID | item key -> itemID | content hash
//	idx_time   ^time | ^itemID -> feedID | lang
//	idx_lang   lang 0x00 ^time | ^itemID -> feedID
//	idx_feed   feedID | ^time | ^itemID -> lang
//
// ^time is the bitwise inverse of an order-preserving encoding of the item's
// sort time (see SortTime) and ^itemID the inverse of its ID, so a forward
// cursor yields the newest item first and, among equal times, the highest ID
// first. The index values carry the feed and language so that queries filter
// candidates without decoding items.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

// SchemaVersion is the layout version this package writes. A file written by
// a newer version is refused rather than misread.
//
// Version 2 adds the keyword index (see postings.go): a babelfeed that
// does not maintain it must not write to a file that has one. A version 1
// file opened read-write is marked version 2 with no index, which
// Reindex builds.
const SchemaVersion = 2

// Errors returned (wrapped) by the store; test them with errors.Is.
var (
	// ErrNotFound means the feed or item asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLocked means another process holds the database file.
	ErrLocked = errors.New("store is locked")
	// ErrNewerSchema means the file was written by a newer babelfeed.
	ErrNewerSchema = errors.New("store has a newer schema version")
	// ErrNotStore means the file is not a babelfeed store: not a bbolt
	// file, a damaged one, an empty one, or another program's bbolt file.
	ErrNotStore = errors.New("not a babelfeed store")
)

var (
	bucketMeta     = []byte("meta")
	bucketFeeds    = []byte("feeds")
	bucketFeedURLs = []byte("feed_urls")
	bucketItems    = []byte("items")
	bucketItemKeys = []byte("item_keys")
	bucketIdxTime  = []byte("idx_time")
	bucketIdxLang  = []byte("idx_lang")
	bucketIdxFeed  = []byte("idx_feed")

	allBuckets = [][]byte{bucketMeta, bucketFeeds, bucketFeedURLs, bucketItems,
		bucketItemKeys, bucketIdxTime, bucketIdxLang, bucketIdxFeed}

	keySchema = []byte("schema")
)

// pageSize is the page size of new files (an existing file keeps its own).
// Item records are around a kilobyte: measured on 100k news items, 4 KB
// pages of the items bucket were 69% used, 8 KB pages 87%, and the whole
// file went from 2.3 KB to 1.9 KB per item, with no cost to reads.
const pageSize = 8192

// defaultTimeout is how long Open waits for the file lock when Options
// leaves it zero.
const defaultTimeout = time.Second

// Options for Open.
type Options struct {
	// ReadOnly opens the file with a shared lock and never writes; the file
	// must exist.
	ReadOnly bool
	// Timeout is how long to wait for the file lock; 0 (or negative) means
	// 1s. Open never blocks forever.
	Timeout time.Duration
	// MmapSize overrides the initial size of the memory map in bytes; 0
	// picks a default (see Open).
	MmapSize int
	// Indexer analyses items for the keyword index, which every write
	// then keeps up to date. Without one, a write makes an existing index
	// stale (see Reindex). A new file opened with one starts with an empty,
	// ready index.
	Indexer *Indexer

	// NoSync skips fsync on commit: for throwaway stores (tests of other
	// packages, benchmarks that build a store to query it), where a crash
	// loses nothing of value. A crash can corrupt such a file.
	NoSync bool

	// noSync skips fsync on commit: tests only, where a crash loses nothing
	// of value and the shared disk makes every fsync slow.
	noSync bool
}

// DB is an open bbolt store: the embedded implementation of Store.
type DB struct {
	db      *bolt.DB
	path    string
	indexer *Indexer
	// reindexBatchSize overrides defaultReindexBatch (tests).
	reindexBatchSize int
	// bulkBudget overrides bulkBudget (tests).
	bulkBudget int

	// feeds caches the decoded feed records of one committed state (every
	// query plans from them); a commit changes the transaction ID and so
	// invalidates it.
	mu        sync.Mutex
	feedsTxID int
	feeds     []babelfeed.Feed
}

// Open opens (creating it and its directories unless ReadOnly) the store at
// path. It checks the schema version recorded in the file and writes it into
// a new file. A file of a newer schema version is refused with ErrNewerSchema
// and left untouched; a file locked by another process gives ErrLocked after
// opts.Timeout; a directory, an empty file (read-only), a file that is not
// bbolt, or another program's bbolt file gives ErrNotStore, untouched.
//
// The memory map starts at 1 GiB of address space on 64-bit systems (or
// twice the file size if larger): a read transaction blocks bbolt from
// remapping a growing file, so a map that is large from the start keeps long
// queries from stalling the poller's writes. It reserves address space only,
// not memory.
func Open(path string, opts Options) (*DB, error) {
	return openRetry(path, opts, 3)
}

func openRetry(path string, opts Options, retries int) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	var size int64
	before, err := os.Stat(path)
	switch {
	case err == nil && before.IsDir():
		return nil, fmt.Errorf("open store %s: %w: it is a directory", path, ErrNotStore)
	case err == nil && before.Size() == 0 && opts.ReadOnly:
		// bbolt would try to initialise it and fail on the read-only file.
		return nil, fmt.Errorf("open store %s: %w: the file is empty", path, ErrNotStore)
	case err == nil:
		size = before.Size()
	case opts.ReadOnly || !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := checkFileLength(path, size); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open store %s: create directory: %w", path, err)
		}
	}
	mmap := opts.MmapSize
	if mmap <= 0 {
		mmap = defaultMmapSize(size)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         timeout,
		ReadOnly:        opts.ReadOnly,
		InitialMmapSize: mmap,
		FreelistType:    bolt.FreelistMapType,
		PageSize:        pageSize,
		NoSync:          opts.noSync || opts.NoSync,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w: another babelfeed process (probably `babelfeed run`) holds the file; waited %s", path, ErrLocked, timeout)
	}
	if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrVersionMismatch) || errors.Is(err, bolt.ErrChecksum) {
		return nil, fmt.Errorf("open store %s: %w (not a bbolt database, or its header is damaged): %w", path, ErrNotStore, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Compact replaces the file by renaming a new one over it while it
	// holds the lock. An open that was waiting for that lock got it on
	// the old, unlinked file, where every write would be lost: open again.
	if after, err := os.Stat(path); before != nil && (err != nil || !os.SameFile(before, after)) {
		db.Close()
		if retries > 0 {
			return openRetry(path, opts, retries-1)
		}
		return nil, fmt.Errorf("open store %s: the file was replaced while opening it", path)
	}
	s := &DB{db: db, path: path, indexer: opts.Indexer}
	if err := s.checkSchema(opts.ReadOnly); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

func defaultMmapSize(fileSize int64) int {
	if strconv.IntSize < 64 {
		// 32-bit address space is scarce: let bbolt grow the map.
		return 0
	}
	const base = 1 << 30
	if 2*fileSize > base {
		return int(2 * fileSize)
	}
	return base
}

// checkSchema reads the schema version without writing, so that a newer
// file is left byte-for-byte unchanged, and initialises a new file.
func (s *DB) checkSchema(readOnly bool) error {
	var version uint64
	var fresh bool
	var missing [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				missing = append(missing, name)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// A new file has no bucket at all; one with buckets but no
			// meta belongs to another program: never write into it.
			var other []byte
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				other = name
				return errors.New("found")
			})
			if other != nil {
				return fmt.Errorf("%w: a bbolt file with a bucket %q and no babelfeed schema", ErrNotStore, other)
			}
			// bbolt creates a file of 4 pages. A larger one with no data
			// had its newest header damaged and bbolt fell back to an
			// older, empty state: initialising it would bury the rest.
			if fi, err := os.Stat(s.path); err == nil && fi.Size() > 4*int64(s.db.Info().PageSize) {
				return fmt.Errorf("%w: damaged: bbolt finds no data in this %d-byte file (its newest header page is probably damaged); not initialising it (if it is a store whose creation was interrupted, delete it)", ErrNotStore, fi.Size())
			}
			fresh = true
			return nil
		}
		v := meta.Get(keySchema)
		if len(v) != 8 {
			return fmt.Errorf("meta bucket has no valid schema version (%d bytes)", len(v))
		}
		version = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: the file has schema version %d, this babelfeed understands up to %d; upgrade babelfeed", ErrNewerSchema, version, SchemaVersion)
	}
	if len(missing) == 0 && (readOnly || version == SchemaVersion) {
		return nil
	}
	if readOnly {
		if fresh {
			return errors.New("not a babelfeed store (no meta bucket); open it read-write once to initialise it")
		}
		return fmt.Errorf("damaged store: bucket %s missing", missing[0])
	}
	// Creating the missing buckets also repairs a file whose first open was
	// interrupted (bbolt creates the file before our first transaction).
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range missing {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if fresh && s.indexer != nil {
			if err := s.initIndex(tx); err != nil {
				return err
			}
		}
		if fresh || version < SchemaVersion {
			// Upgrading from version 1 needs no change: the file has no
			// keyword index until Reindex builds one.
			return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("initialise: %w", err)
	}
	return nil
}

// Close releases the file and its lock.
func (s *DB) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Path returns the file the store was opened from.
func (s *DB) Path() string { return s.path }

// CompactTo writes a compacted copy of the store to the new file dst, with
// every page filled and the space of deleted items given back; bbolt files
// never shrink otherwise. The caller swaps the files while no babelfeed
// process has the store open. The copy keeps the ID sequences, so IDs are
// never reused.
func (s *DB) CompactTo(dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("compact store to %s: %w", dst, fs.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("compact store to %s: %w", dst, err)
	}
	db, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: defaultTimeout, PageSize: pageSize, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("compact store to %s: %w", dst, err)
	}
	// Commit every 64 MB so a big store does not build one huge transaction
	// in memory.
	if err := bolt.Compact(db, s.db, 64<<20); err != nil {
		db.Close()
		return fmt.Errorf("compact store to %s: %w", dst, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("compact store to %s: %w", dst, err)
	}
	return nil
}

// Backup writes a consistent copy of the whole file to w while the store
// stays in use (one read transaction), and returns the bytes written.
func (s *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("back up store %s: %w", s.path, err)
	}
	return n, nil
}
