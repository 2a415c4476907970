package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"babelfeed"
	"babelfeed/store"
)

var _ store.Coordinator = (*DB)(nil)

// coordDDL creates what poller coordination needs: a lease per feed being
// polled, and per host a shared record of its next allowed request start,
// its Retry-After, and its request slots. Expiry times are written on the
// database's clock (clock_timestamp()), the one clock every poller shares.
//
// There is no foreign key to feeds: a lease or slot outlives nothing
// important (it expires), and a lease of a removed feed is dropped by its
// Release.
var coordDDL = []string{
	`CREATE TABLE IF NOT EXISTS feed_leases (
		feed_id bigint PRIMARY KEY,
		owner text NOT NULL,
		until timestamptz NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS hosts (
		host text PRIMARY KEY,
		next_start timestamptz,
		blocked_until timestamptz
	)`,
	`CREATE TABLE IF NOT EXISTS host_slots (
		host text NOT NULL,
		slot integer NOT NULL,
		owner text NOT NULL,
		until timestamptz NOT NULL,
		PRIMARY KEY (host, slot)
	)`,
	// ClaimDue and NextDue walk this index in due order and stop at the
	// first feed not due yet, however many feeds there are. A feed never
	// scheduled (NULL) is due first.
	`CREATE INDEX IF NOT EXISTS feeds_due_idx ON feeds
		((coalesce(next_poll, '-infinity'::timestamptz)), id) WHERE state <> 'gone'`,
}

// Advisory lock class of AcquireHost (two-key form; its key space is apart
// from the one-key lock createSchema takes).
const hostLockClass = 7465627

// claimDueSQL leases due feeds in one statement. FOR UPDATE SKIP LOCKED
// lets pollers claiming at the same moment take different feeds instead
// of queueing behind one another, and hands back the newest version of
// each row. The lease upsert is what makes a claim exclusive: its
// condition is checked on the newest lease row, so a claimer whose
// snapshot missed another's fresh lease gets nothing for that feed.
const claimDueSQL = `
WITH due AS (
	SELECT f.id, f.data, f.items, f.langs, coalesce(f.next_poll, '-infinity'::timestamptz) AS due_at
	FROM feeds f
	WHERE f.state <> 'gone'
		AND coalesce(f.next_poll, '-infinity'::timestamptz) <= $2
		AND NOT EXISTS (SELECT 1 FROM feed_leases l
			WHERE l.feed_id = f.id AND l.owner <> $1 AND l.until > clock_timestamp())
	ORDER BY coalesce(f.next_poll, '-infinity'::timestamptz), f.id
	LIMIT $3
	FOR UPDATE OF f SKIP LOCKED
), claimed AS (
	INSERT INTO feed_leases AS l (feed_id, owner, until)
	SELECT id, $1, clock_timestamp() + $4::bigint * interval '1 microsecond' FROM due
	ORDER BY id
	ON CONFLICT (feed_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE l.owner = excluded.owner OR l.until <= clock_timestamp()
	RETURNING l.feed_id
)
SELECT d.id, d.data, d.items, d.langs FROM due d JOIN claimed c ON c.feed_id = d.id
ORDER BY d.due_at, d.id`

// ClaimDue leases to owner up to n feeds that are due at now (the
// caller's schedule clock, the one NextPoll was written with) and that no
// other owner holds, earliest first. The lease lasts lease on the
// database's clock. Feeds owner already holds are claimed again (their
// lease renewed) when they are still due.
func (s *DB) ClaimDue(ctx context.Context, owner string, now time.Time, n int, lease time.Duration) ([]babelfeed.Feed, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimDueSQL, owner, now, n, lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("claim due feeds: %w", err)
	}
	feeds, err := collectFeeds(rows)
	if err != nil {
		return nil, fmt.Errorf("claim due feeds: %w", err)
	}
	return feeds, nil
}

// ClaimFeeds leases the feeds with the given IDs to owner, due or not, gone
// or not, leaving out those another owner holds and IDs of no feed. The
// feeds come back in the order of ids, read after the lease was taken, so
// they carry whatever the previous holder saved before releasing.
func (s *DB) ClaimFeeds(ctx context.Context, owner string, ids []uint64, lease time.Duration) ([]babelfeed.Feed, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]int64, len(ids))
	for i, id := range ids {
		keys[i] = int64(id)
	}
	// One round trip; the two statements run in one implicit transaction,
	// the second with a snapshot taken after the first took the leases.
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO feed_leases AS l (feed_id, owner, until)
		SELECT f.id, $1, clock_timestamp() + $3::bigint * interval '1 microsecond'
		FROM feeds f WHERE f.id = ANY($2::bigint[]) ORDER BY f.id
		ON CONFLICT (feed_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE l.owner = excluded.owner OR l.until <= clock_timestamp()`,
		owner, keys, lease.Microseconds())
	b.Queue(`SELECT f.id, f.data, f.items, f.langs FROM feeds f JOIN feed_leases l ON l.feed_id = f.id
		WHERE f.id = ANY($2::bigint[]) AND l.owner = $1 AND l.until > clock_timestamp()`,
		owner, keys)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("claim feeds: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("claim feeds: %w", err)
	}
	got, err := collectFeeds(rows)
	if err != nil {
		return nil, fmt.Errorf("claim feeds: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("claim feeds: %w", err)
	}
	byID := make(map[uint64]babelfeed.Feed, len(got))
	for _, f := range got {
		byID[f.ID] = f
	}
	out := make([]babelfeed.Feed, 0, len(got))
	for _, id := range ids {
		if f, ok := byID[id]; ok {
			out = append(out, f)
			delete(byID, id) // an ID asked twice comes back once
		}
	}
	return out, nil
}

// RenewLeases extends owner's unexpired leases on the given feeds to last
// lease from now (on the database's clock), and returns the IDs it
// renewed. Unlike ClaimFeeds it never takes a lease: one that ran out, or
// was released, stays so. (Not part of store.Coordinator: a daemon uses it
// when the store has it, to keep the feeds it is polling.)
func (s *DB) RenewLeases(ctx context.Context, owner string, ids []uint64, lease time.Duration) ([]uint64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]int64, len(ids))
	for i, id := range ids {
		keys[i] = int64(id)
	}
	rows, err := s.pool.Query(ctx, `UPDATE feed_leases SET until = clock_timestamp() + $3::bigint * interval '1 microsecond'
		WHERE owner = $1 AND feed_id = ANY($2::bigint[]) AND until > clock_timestamp()
		RETURNING feed_id`, owner, keys, lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	out := make([]uint64, len(got))
	for i, id := range got {
		out[i] = uint64(id)
	}
	return out, nil
}

// Release ends owner's lease on a feed. Another owner's lease (taken over
// after owner's expired) is left alone.
func (s *DB) Release(ctx context.Context, owner string, feedID uint64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM feed_leases WHERE feed_id = $1 AND owner = $2`, int64(feedID), owner); err != nil {
		return fmt.Errorf("release feed %d: %w", feedID, err)
	}
	return nil
}

// NextDue returns the earliest NextPoll among feeds that are not gone and
// not leased (an expired lease counts as none). A feed never scheduled
// comes back as the zero time.
func (s *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT f.next_poll FROM feeds f
		WHERE f.state <> 'gone'
			AND NOT EXISTS (SELECT 1 FROM feed_leases l WHERE l.feed_id = f.id AND l.until > clock_timestamp())
		ORDER BY coalesce(f.next_poll, '-infinity'::timestamptz), f.id
		LIMIT 1`).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due feed: %w", err)
	}
	if !next.Valid || next.InfinityModifier != pgtype.Finite {
		return time.Time{}, true, nil
	}
	return next.Time, true, nil
}

// acquireHostSQL takes the lowest free slot of a host and reserves the next
// request start, in one statement run under the host's advisory lock (so
// that the slots it reads are the ones it writes). $1 host, $2 owner,
// $3 slots per host, $4 gap and $5 hold in microseconds. The reserved start
// is the later of now and the host's previous reservation; the host's next
// reservation is one gap after it. No row: every slot is taken.
const acquireHostSQL = `
WITH clock AS (SELECT clock_timestamp() AS t),
slot AS (
	INSERT INTO host_slots AS hs (host, slot, owner, until)
	SELECT $1, s, $2, clock.t + $5::bigint * interval '1 microsecond'
	FROM clock, generate_series(0, $3::int - 1) AS s
	WHERE NOT EXISTS (SELECT 1 FROM host_slots x WHERE x.host = $1 AND x.slot = s AND x.until > clock.t)
	ORDER BY s
	LIMIT 1
	ON CONFLICT (host, slot) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE hs.until <= clock_timestamp()
	RETURNING hs.slot
), reserved AS (
	INSERT INTO hosts AS h (host, next_start)
	SELECT $1, clock.t + $4::bigint * interval '1 microsecond' FROM clock, slot
	ON CONFLICT (host) DO UPDATE
		SET next_start = greatest(h.next_start + $4::bigint * interval '1 microsecond', excluded.next_start)
	RETURNING h.next_start
)
SELECT slot.slot, (extract(epoch FROM reserved.next_start - clock.t) * 1000000)::bigint - $4::bigint
FROM slot, reserved, clock`

// AcquireHost takes one of perHost request slots of host for owner, held
// until ReleaseHost or for hold (on the database's clock), and reserves
// the next request start on the host, at least gap after the previous
// reservation by any poller. It returns how long the caller waits before
// starting its request; ok is false when every slot is taken.
//
// Every acquisition reserves a start, and only a slot holder reserves, so
// the wait is at most about perHost gaps (plus slots left by a crashed
// poller until their hold ends).
func (s *DB) AcquireHost(ctx context.Context, owner, host string, perHost int, gap, hold time.Duration) (slot int, wait time.Duration, ok bool, err error) {
	perHost = max(perHost, 1)
	gap = max(gap, 0)
	// One round trip: the lock and the claim run in one implicit
	// transaction, which holds the lock until the claim is written.
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, hostLockClass, host)
	b.Queue(acquireHostSQL, host, owner, perHost, gap.Microseconds(), hold.Microseconds())
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, 0, false, fmt.Errorf("acquire host %s: %w", host, err)
	}
	var slot32 int32
	var waitUS int64
	switch err := br.QueryRow().Scan(&slot32, &waitUS); {
	case errors.Is(err, pgx.ErrNoRows):
		ok = false
	case err != nil:
		return 0, 0, false, fmt.Errorf("acquire host %s: %w", host, err)
	default:
		ok = true
	}
	if err := br.Close(); err != nil {
		return 0, 0, false, fmt.Errorf("acquire host %s: %w", host, err)
	}
	if !ok {
		return 0, 0, false, nil
	}
	return int(slot32), time.Duration(max(waitUS, 0)) * time.Microsecond, true, nil
}

// ReleaseHost frees a slot AcquireHost gave owner.
func (s *DB) ReleaseHost(ctx context.Context, owner, host string, slot int) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM host_slots WHERE host = $1 AND slot = $2 AND owner = $3`, host, slot, owner); err != nil {
		return fmt.Errorf("release host %s slot %d: %w", host, slot, err)
	}
	return nil
}

// BlockHost records that host asked every poller to wait until until
// (Retry-After, a schedule time); an earlier time than the one recorded is
// ignored.
func (s *DB) BlockHost(ctx context.Context, host string, until time.Time) error {
	if until.IsZero() {
		return nil
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO hosts AS h (host, blocked_until) VALUES ($1, $2)
		ON CONFLICT (host) DO UPDATE SET blocked_until = greatest(h.blocked_until, excluded.blocked_until)`, host, until)
	if err != nil {
		return fmt.Errorf("block host %s: %w", host, err)
	}
	return nil
}

// HostBlockedUntil returns the time BlockHost recorded for host, or the
// zero time.
func (s *DB) HostBlockedUntil(ctx context.Context, host string) (time.Time, error) {
	var until pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT blocked_until FROM hosts WHERE host = $1`, host).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !until.Valid) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read Retry-After of host %s: %w", host, err)
	}
	return until.Time, nil
}

// collectFeeds reads rows of (id, data, items, langs) into feeds.
func collectFeeds(rows pgx.Rows) ([]babelfeed.Feed, error) {
	defer rows.Close()
	var feeds []babelfeed.Feed
	for rows.Next() {
		var id int64
		var data, langs []byte
		var items int
		if err := rows.Scan(&id, &data, &items, &langs); err != nil {
			return nil, err
		}
		f, err := decodeFeed(data, items, langs)
		if err != nil {
			return nil, fmt.Errorf("feed %d: %w", id, err)
		}
		f.ID = uint64(id)
		feeds = append(feeds, f)
	}
	return feeds, rows.Err()
}
