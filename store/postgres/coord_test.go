package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/internal/pgtest"
)

// coordSafety bounds how long a test waits for a lease or a hold to run
// out; reaching it is a failure, not a measurement.
const coordSafety = 30 * time.Second

func openCoord(t *testing.T, dsn string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, dsn, Options{MaxConns: 4})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// coordFeed describes a feed a coordination test subscribes to.
type coordFeed struct {
	next  time.Time // zero: never scheduled
	state babelfeed.FeedState
}

// addCoordFeeds subscribes db to one feed per spec and returns their IDs in
// order.
func addCoordFeeds(t *testing.T, db *DB, specs []coordFeed) []uint64 {
	t.Helper()
	feeds := make([]babelfeed.Feed, len(specs))
	for i := range specs {
		feeds[i] = babelfeed.Feed{URL: fmt.Sprintf("http://h%d.example/feed/%d-%d", i%3, time.Now().UnixNano(), i)}
	}
	added, _, err := db.AddFeeds(feeds, false)
	if err != nil || len(added) != len(specs) {
		t.Fatalf("add feeds: %d added, %v", len(added), err)
	}
	ids := make([]uint64, len(specs))
	for i, f := range added {
		f.NextPoll = specs[i].next
		if specs[i].state != "" {
			f.State = specs[i].state
		}
		if err := db.UpdateFeed(f); err != nil {
			t.Fatal(err)
		}
		ids[i] = f.ID
	}
	return ids
}

// reschedule stands for a poll's outcome being saved: the feed's next poll
// moves to next.
func reschedule(t testing.TB, db *DB, f babelfeed.Feed, next time.Time) {
	t.Helper()
	f.NextPoll = next
	if err := db.UpdateFeed(f); err != nil {
		t.Error(err)
	}
}

func feedIDs(feeds []babelfeed.Feed) []uint64 {
	ids := make([]uint64, len(feeds))
	for i, f := range feeds {
		ids[i] = f.ID
	}
	return ids
}

// Pollers with pools of their own claim at once, each polling what it gets
// (its next poll moves an hour on) and releasing it: every due feed is
// claimed exactly once, by one owner, and nothing else is.
func TestClaimDueExactlyOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := openCoord(t, dsn)
	now := time.Now()
	var specs []coordFeed
	for i := range 300 {
		switch i % 6 {
		case 0:
			specs = append(specs, coordFeed{next: now.Add(time.Hour)}) // not due
		case 1:
			specs = append(specs, coordFeed{next: now.Add(-time.Minute), state: babelfeed.StateGone})
		case 2:
			specs = append(specs, coordFeed{}) // never scheduled: due
		default:
			specs = append(specs, coordFeed{next: now.Add(-time.Duration(i) * time.Second), state: babelfeed.StateFailing})
		}
	}
	ids := addCoordFeeds(t, db, specs)
	wantDue := map[uint64]bool{}
	for i, id := range ids {
		if i%6 != 0 && i%6 != 1 {
			wantDue[id] = true
		}
	}

	var mu sync.Mutex
	claims := map[uint64][]string{}
	var wg sync.WaitGroup
	const pools, perPool = 6, 4
	for p := range pools {
		pdb := openCoord(t, dsn)
		for g := range perPool {
			owner := fmt.Sprintf("poller-%d-%d", p, g)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				for empty := 0; empty < 2; {
					got, err := pdb.ClaimDue(ctx, owner, now, 5, time.Minute)
					if err != nil {
						t.Errorf("%s: ClaimDue: %v", owner, err)
						return
					}
					if len(got) == 0 {
						empty++
						continue
					}
					mu.Lock()
					for _, f := range got {
						claims[f.ID] = append(claims[f.ID], owner)
					}
					mu.Unlock()
					for _, f := range got {
						reschedule(t, pdb, f, now.Add(time.Hour))
						if err := pdb.Release(ctx, owner, f.ID); err != nil {
							t.Errorf("%s: Release: %v", owner, err)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	for id, owners := range claims {
		if !wantDue[id] {
			t.Errorf("feed %d claimed but not due (or gone): %v", id, owners)
		} else if len(owners) != 1 {
			t.Errorf("feed %d claimed %d times: %v", id, len(owners), owners)
		}
	}
	for id := range wantDue {
		if _, ok := claims[id]; !ok {
			t.Errorf("due feed %d never claimed", id)
		}
	}
	owners := map[string]bool{}
	for _, o := range claims {
		owners[o[0]] = true
	}
	t.Logf("%d due feeds claimed by %d of %d owners", len(claims), len(owners), pools*perPool)
}

// ClaimDue hands out the earliest due feeds first (never scheduled ones
// before all), at most n, and gives an owner back the due feeds it holds.
func TestClaimDueOrder(t *testing.T) {
	db := openCoord(t, pgtest.DSN(t))
	ctx := context.Background()
	now := time.Now()
	ids := addCoordFeeds(t, db, []coordFeed{
		{next: now.Add(-time.Minute)},
		{next: now.Add(-time.Hour)},
		{},
		{next: now.Add(time.Minute)},
		{next: now.Add(-2 * time.Hour), state: babelfeed.StateGone},
		{next: now},
	})
	got, err := db.ClaimDue(ctx, "a", now, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{ids[2], ids[1]}; !slices.Equal(feedIDs(got), want) {
		t.Fatalf("first claim %v, want %v", feedIDs(got), want)
	}
	if got[1].URL == "" || got[1].NextPoll.IsZero() {
		t.Errorf("claimed feed not read whole: %+v", got[1])
	}
	got, err = db.ClaimDue(ctx, "b", now, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{ids[0], ids[5]}; !slices.Equal(feedIDs(got), want) {
		t.Fatalf("second owner's claim %v, want %v", feedIDs(got), want)
	}
	// a's own leases are renewed, b's are not a's.
	got, err = db.ClaimDue(ctx, "a", now, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{ids[2], ids[1]}; !slices.Equal(feedIDs(got), want) {
		t.Fatalf("owner's repeated claim %v, want %v", feedIDs(got), want)
	}
	if got, err := db.ClaimDue(ctx, "c", now, 0, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("claim of 0 feeds: %v, %v", got, err)
	}
	// A later now makes the scheduled feed due.
	got, err = db.ClaimDue(ctx, "c", now.Add(2*time.Minute), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{ids[3]}; !slices.Equal(feedIDs(got), want) {
		t.Fatalf("later claim %v, want %v", feedIDs(got), want)
	}
}

// A lease that has run out counts as none: another owner takes the feed
// over, and the first owner's late Release leaves the new lease alone.
func TestLeaseExpiryTakeover(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openCoord(t, dsn), openCoord(t, dsn)
	ctx := context.Background()
	now := time.Now()
	ids := addCoordFeeds(t, a, []coordFeed{{next: now.Add(-time.Minute)}, {next: now.Add(-time.Second)}})

	got, err := a.ClaimDue(ctx, "a", now, 10, 300*time.Millisecond)
	if err != nil || len(got) != 2 {
		t.Fatalf("a's claim: %v, %v", feedIDs(got), err)
	}
	if got, err := b.ClaimDue(ctx, "b", now, 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("b claimed leased feeds: %v, %v", feedIDs(got), err)
	}
	if _, ok, err := b.NextDue(ctx); err != nil || ok {
		t.Fatalf("NextDue with every feed leased: ok %v, err %v", ok, err)
	}
	// a "crashes": its leases run out on the database's clock.
	deadline := time.Now().Add(coordSafety)
	for {
		got, err = b.ClaimDue(ctx, "b", now, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(feedIDs(got), ids) {
		t.Fatalf("b took over %v, want %v", feedIDs(got), ids)
	}
	if err := a.Release(ctx, "a", ids[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ClaimDue(ctx, "c", now, 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("a's late release freed b's lease: c claimed %v, %v", feedIDs(got), err)
	}
	if got, err := a.ClaimFeeds(ctx, "c", ids, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("c forced a claim on b's feeds: %v, %v", feedIDs(got), err)
	}
	// b releases one: it is due again and claimable by anyone.
	if err := b.Release(ctx, "b", ids[1]); err != nil {
		t.Fatal(err)
	}
	next, ok, err := a.NextDue(ctx)
	if err != nil || !ok || !next.Equal(now.Add(-time.Second).Truncate(time.Microsecond)) {
		t.Errorf("NextDue after release: %v %v %v", next, ok, err)
	}
	if got, err := a.ClaimDue(ctx, "c", now, 10, time.Minute); err != nil || !slices.Equal(feedIDs(got), ids[1:]) {
		t.Fatalf("claim after release: %v, %v", feedIDs(got), err)
	}
}

// ClaimFeeds leases feeds due or not, gone or not, in the order asked,
// leaves out another owner's and unknown IDs, and renews the caller's own.
func TestClaimFeeds(t *testing.T) {
	db := openCoord(t, pgtest.DSN(t))
	ctx := context.Background()
	now := time.Now()
	ids := addCoordFeeds(t, db, []coordFeed{
		{next: now.Add(time.Hour)},
		{next: now.Add(-time.Hour), state: babelfeed.StateGone},
		{next: now.Add(-time.Hour)},
		{},
	})
	if got, err := db.ClaimFeeds(ctx, "b", ids[2:3], time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("b's claim: %v, %v", feedIDs(got), err)
	}
	ask := []uint64{ids[3], 9999, ids[0], ids[2], ids[1], ids[0]}
	got, err := db.ClaimFeeds(ctx, "a", ask, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{ids[3], ids[0], ids[1]}; !slices.Equal(feedIDs(got), want) {
		t.Fatalf("claimed %v, want %v", feedIDs(got), want)
	}
	if got[2].State != babelfeed.StateGone {
		t.Errorf("gone feed came back as %q", got[2].State)
	}
	if got, err := db.ClaimFeeds(ctx, "a", ids[:1], time.Minute); err != nil || len(got) != 1 {
		t.Errorf("renewal of a's own lease: %v, %v", feedIDs(got), err)
	}
	if got, err := db.ClaimDue(ctx, "c", now, 10, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("c claimed held feeds: %v, %v", feedIDs(got), err)
	}
	if got, err := db.ClaimFeeds(ctx, "a", nil, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("claim of no IDs: %v, %v", got, err)
	}
}

// NextDue is the earliest next poll among feeds neither gone nor leased.
func TestNextDue(t *testing.T) {
	db := openCoord(t, pgtest.DSN(t))
	ctx := context.Background()
	if _, ok, err := db.NextDue(ctx); err != nil || ok {
		t.Fatalf("NextDue of no feeds: ok %v, err %v", ok, err)
	}
	now := time.Now().Truncate(time.Microsecond)
	ids := addCoordFeeds(t, db, []coordFeed{
		{next: now.Add(time.Hour)},
		{next: now.Add(-time.Hour), state: babelfeed.StateGone},
		{next: now.Add(time.Minute)},
	})
	next, ok, err := db.NextDue(ctx)
	if err != nil || !ok || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("NextDue: %v %v %v", next, ok, err)
	}
	if _, err := db.ClaimFeeds(ctx, "a", ids[2:], time.Minute); err != nil {
		t.Fatal(err)
	}
	if next, ok, err := db.NextDue(ctx); err != nil || !ok || !next.Equal(now.Add(time.Hour)) {
		t.Fatalf("NextDue with the earliest leased: %v %v %v", next, ok, err)
	}
	addCoordFeeds(t, db, []coordFeed{{}})
	if next, ok, err := db.NextDue(ctx); err != nil || !ok || !next.IsZero() {
		t.Fatalf("NextDue with a feed never scheduled: %v %v %v", next, ok, err)
	}
}

// Owners with pools of their own hammer three hosts: no host ever has more
// than perHost slots held at once, and no slot two holders.
func TestAcquireHostSlots(t *testing.T) {
	dsn := pgtest.DSN(t)
	const perHost, owners, rounds = 2, 8, 25
	hosts := []string{"a.example", "b.example", "c.example"}
	var mu sync.Mutex
	held := map[string]int{}
	holder := map[string]string{}
	peak := map[string]int{}
	refused := 0
	var wg sync.WaitGroup
	for o := range owners {
		db := openCoord(t, dsn)
		owner := fmt.Sprintf("owner-%d", o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for r := range rounds {
				host := hosts[(o+r)%len(hosts)]
				slot, wait, ok, err := db.AcquireHost(ctx, owner, host, perHost, 0, time.Minute)
				if err != nil {
					t.Errorf("AcquireHost: %v", err)
					return
				}
				if !ok {
					mu.Lock()
					refused++
					mu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				}
				key := fmt.Sprintf("%s/%d", host, slot)
				mu.Lock()
				if slot < 0 || slot >= perHost {
					t.Errorf("slot %d out of range", slot)
				}
				if h, taken := holder[key]; taken {
					t.Errorf("%s given to %s while %s holds it", key, owner, h)
				}
				holder[key] = owner
				held[host]++
				peak[host] = max(peak[host], held[host])
				if wait != 0 {
					t.Errorf("wait %v with no gap", wait)
				}
				mu.Unlock()
				time.Sleep(time.Millisecond) // the "request"
				mu.Lock()
				held[host]--
				delete(holder, key)
				mu.Unlock()
				if err := db.ReleaseHost(ctx, owner, host, slot); err != nil {
					t.Errorf("ReleaseHost: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for _, h := range hosts {
		if peak[h] > perHost {
			t.Errorf("host %s: %d slots held at once, limit %d", h, peak[h], perHost)
		}
	}
	t.Logf("peak slots held per host %v; %d acquisitions refused (all slots taken)", peak, refused)
}

// Every acquisition reserves a start at least gap after the previous one,
// whoever made it; a full host refuses; a hold that runs out frees its slot;
// a released slot is free at once.
func TestAcquireHostGapAndHold(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	// With an hour's gap, the few milliseconds between the calls cannot
	// blur which reservation is which.
	const gap = time.Hour
	const n = 6
	waits := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		db := openCoord(t, dsn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, wait, ok, err := db.AcquireHost(ctx, fmt.Sprint("owner-", i), "gap.example", n, gap, time.Minute)
			if err != nil || !ok {
				t.Errorf("AcquireHost: ok %v, err %v", ok, err)
			}
			waits[i] = wait
		}()
	}
	wg.Wait()
	slices.Sort(waits)
	for i, w := range waits {
		if lo, hi := time.Duration(i)*gap-coordSafety, time.Duration(i)*gap; w < lo || w > hi {
			t.Errorf("reservation %d: wait %v, want about %v", i, w, hi)
		}
	}

	db := openCoord(t, dsn)
	if _, _, ok, err := db.AcquireHost(ctx, "late", "gap.example", n, gap, time.Minute); err != nil || ok {
		t.Fatalf("acquired a slot of a full host: ok %v, err %v", ok, err)
	}
	// Holds that run out: a crashed poller's slots come back.
	for i := range 2 {
		if _, _, ok, err := db.AcquireHost(ctx, "crashed", "hold.example", 2, 0, 200*time.Millisecond); err != nil || !ok {
			t.Fatalf("slot %d: ok %v, err %v", i, ok, err)
		}
	}
	if _, _, ok, err := db.AcquireHost(ctx, "other", "hold.example", 2, 0, time.Minute); err != nil || ok {
		t.Fatalf("acquired a slot of a full host: ok %v, err %v", ok, err)
	}
	deadline := time.Now().Add(coordSafety)
	var slot int
	for {
		s, _, ok, err := db.AcquireHost(ctx, "other", "hold.example", 2, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			slot = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired hold never freed its slot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Releasing the slot frees it; releasing someone else's does not.
	if err := db.ReleaseHost(ctx, "crashed", "hold.example", slot); err != nil {
		t.Fatal(err)
	}
	s2, _, ok, err := db.AcquireHost(ctx, "third", "hold.example", 2, 0, time.Minute)
	if err != nil || !ok || s2 == slot {
		t.Fatalf("second expired slot: slot %d ok %v err %v (other holds %d)", s2, ok, err, slot)
	}
	if _, _, ok, _ := db.AcquireHost(ctx, "fourth", "hold.example", 2, 0, time.Minute); ok {
		t.Fatal("a foreign ReleaseHost freed the slot")
	}
	if err := db.ReleaseHost(ctx, "other", "hold.example", slot); err != nil {
		t.Fatal(err)
	}
	if got, _, ok, err := db.AcquireHost(ctx, "fourth", "hold.example", 2, 0, time.Minute); err != nil || !ok || got != slot {
		t.Fatalf("released slot: got %d ok %v err %v, want %d", got, ok, err, slot)
	}
}

// BlockHost keeps the latest Retry-After per host, shared by every pool.
func TestBlockHost(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openCoord(t, dsn), openCoord(t, dsn)
	ctx := context.Background()
	if until, err := a.HostBlockedUntil(ctx, "x.example"); err != nil || !until.IsZero() {
		t.Fatalf("unknown host: %v, %v", until, err)
	}
	t1 := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if err := a.BlockHost(ctx, "x.example", t1); err != nil {
		t.Fatal(err)
	}
	if err := b.BlockHost(ctx, "x.example", t1.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if until, err := b.HostBlockedUntil(ctx, "x.example"); err != nil || !until.Equal(t1) {
		t.Fatalf("blocked until %v (%v), want %v", until, err, t1)
	}
	if err := b.BlockHost(ctx, "x.example", t1.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if until, err := a.HostBlockedUntil(ctx, "x.example"); err != nil || !until.Equal(t1.Add(time.Minute)) {
		t.Fatalf("blocked until %v (%v), want %v", until, err, t1.Add(time.Minute))
	}
	// A host with slot history but no Retry-After is not blocked, and a
	// block leaves the start reservations alone.
	if _, _, ok, err := a.AcquireHost(ctx, "a", "y.example", 1, time.Hour, time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if until, err := a.HostBlockedUntil(ctx, "y.example"); err != nil || !until.IsZero() {
		t.Fatalf("host never blocked: %v, %v", until, err)
	}
	if err := a.BlockHost(ctx, "y.example", t1); err != nil {
		t.Fatal(err)
	}
	if _, wait, ok, err := a.AcquireHost(ctx, "a", "y.example", 2, time.Hour, time.Minute); err != nil || !ok || wait < time.Hour-coordSafety {
		t.Fatalf("reservation after a block: wait %v ok %v err %v", wait, ok, err)
	}
}

// RenewLeases extends the owner's live leases only: not another owner's,
// not one that ran out.
func TestRenewLeases(t *testing.T) {
	db := openCoord(t, pgtest.DSN(t))
	ctx := context.Background()
	now := time.Now()
	ids := addCoordFeeds(t, db, []coordFeed{{}, {}, {}})
	if _, err := db.ClaimFeeds(ctx, "a", ids[:1], time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimFeeds(ctx, "b", ids[1:2], time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimFeeds(ctx, "a", ids[2:], 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(coordSafety)
	for {
		// Wait for the short lease to run out (a claim by c succeeds).
		if got, err := db.ClaimDue(ctx, "c", now, 10, time.Millisecond); err != nil {
			t.Fatal(err)
		} else if len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("short lease never ran out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond) // c's lease of a millisecond runs out too
	got, err := db.RenewLeases(ctx, "a", ids, time.Minute)
	if err != nil || !slices.Equal(got, ids[:1]) {
		t.Fatalf("renewed %v (%v), want %v", got, err, ids[:1])
	}
	if got, err := db.ClaimDue(ctx, "c", now, 10, time.Minute); err != nil || !slices.Equal(feedIDs(got), ids[2:]) {
		t.Fatalf("after renewal, c claimed %v (%v), want only the lapsed %v", feedIDs(got), err, ids[2:])
	}
	if got, err := db.RenewLeases(ctx, "a", nil, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("renewal of nothing: %v, %v", got, err)
	}
}
