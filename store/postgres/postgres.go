// Package postgres keeps babelfeed's feeds and items in a PostgreSQL
// database that several pollers share: it implements store.Store with the
// same behaviour as the embedded bbolt store (store.DB), plus
// store.Coordinator (leases on due feeds, per-host politeness across
// pollers), store.Copier (the migrate command) and search.Backend (keyword
// search on PostgreSQL's own indexes). It is the only package that
// imports pgx.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"babelfeed/store"
)

// Options for Open.
type Options struct {
	// Indexer analyses items for keyword search (search.Indexer()); the
	// same analysis as the bbolt store's keyword index, so both stores
	// find the same items.
	Indexer *store.Indexer
	// MaxConns bounds the connection pool; 0 means pgxpool's default.
	MaxConns int32
	// Timeout bounds connecting and creating the schema; 0 means 10 s.
	Timeout time.Duration
}

// DB is an open PostgreSQL store.
type DB struct {
	pool    *pgxpool.Pool
	name    string // the connection string without its password
	indexer *store.Indexer

	// langTotals caches the items per language of the whole store, which
	// Items uses only to pick an index (see planItems); a minute-old
	// estimate picks as well as an exact count.
	langTotals langTotalsCache
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value connection string; search_path selects a schema) and creates
// babelfeed's tables and indexes where they do not exist yet.
//
// Other parameters of the URL are set on every connection; for example
// synchronous_commit=off makes each SaveFetch several times faster on a
// slow disk (no wait for the WAL flush), at the price of losing the last
// fraction of a second of saves if the server crashes: those fetches are
// made again, since a feed's validators are saved with its items.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	name := redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL store %s: %w", name, err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL store %s: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL store %s: connect: %w", name, err)
	}
	s := &DB{pool: pool, name: name, indexer: opts.Indexer}
	if err := s.createSchema(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL store %s: %w", name, err)
	}
	if err := s.initMeta(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL store %s: %w", name, err)
	}
	return s, nil
}

// createSchema runs every package file's DDL, in order: core tables
// (coreDDL), rules, drop records and saved queries (rulesDDL), keyword
// search (searchDDL), poller coordination (coordDDL).
// Each statement is idempotent. An advisory lock keeps two pollers that
// start at once from racing on CREATE.
func (s *DB) createSchema(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7465626)"); err != nil {
		return fmt.Errorf("create schema: lock: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7465626)")
	for _, list := range [][]string{coreDDL, rulesDDL, searchDDL, coordDDL} {
		for _, stmt := range list {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("create schema: %w (in %.60q)", err, stmt)
			}
		}
	}
	return nil
}

// Path names the store for people: the connection string without its
// password.
func (s *DB) Path() string { return s.name }

// Close closes the connection pool.
func (s *DB) Close() error {
	s.pool.Close()
	return nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "PostgreSQL database"
	}
	return u.Redacted()
}

// initMeta records the schema version in a new database, refuses a newer
// one, and marks the (empty) keyword index of a new database ready when an
// Indexer is given, as bbolt does for a new file.
func (s *DB) initMeta(ctx context.Context) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO NOTHING`,
			strconv.Itoa(schemaVersion))
		if err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
		if tag.RowsAffected() == 1 {
			if s.indexer != nil {
				return setMeta(ctx, tx, metaIndexVersion, s.indexer.Version)
			}
			return nil
		}
		var v string
		if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("read schema version: %q is not a number", v)
		}
		if n > schemaVersion {
			return fmt.Errorf("%w: the database has schema version %d, this babelfeed understands up to %d; upgrade babelfeed",
				store.ErrNewerSchema, n, schemaVersion)
		}
		return nil
	})
}

func setMeta(ctx context.Context, tx pgx.Tx, key, value string) error {
	_, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// opTimeout bounds the methods of store.Store that take no context, so that
// a server that stops answering fails them instead of hanging the caller.
const opTimeout = 5 * time.Minute

func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// maxAttempts is how often inTx runs a transaction that lost a race.
const maxAttempts = 8

// inTx runs fn in a read-committed transaction and commits it. A
// transaction that lost a race with another poller (a serialization
// failure, a deadlock, or a unique key another transaction took first) is
// rolled back and run again, after a short random pause: fn must not keep
// state across attempts that it does not reset.
func (s *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		pause := time.Duration(attempt*attempt) * time.Millisecond * time.Duration(1+rand.IntN(5))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// retryable says whether err means the transaction lost a race and may
// succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"23505": // unique_violation: a concurrent insert of the same key won
		return true
	}
	return false
}
