package poll

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/store"
)

// Shared mode: several daemons, in several processes or on several
// machines, poll one store (store.Coordinator). Nothing is scheduled in
// memory: the store's NextPoll times are the schedule, and each daemon
// claims due feeds under a lease (one poller per feed at a time), as many
// as it has idle workers. A worker starts the request only once it holds
// one of the host's request slots in the store and the host's reserved
// start has come, so the per-host limits hold across all pollers; the
// local host gate stays in front of it, so that one process does not send
// the store more contenders for a host than it may use. A lease is
// released once the poll's outcome is saved; a crashed poller's leases
// and slots expire on the store's clock and other pollers take over.

const (
	defaultLease      = time.Minute
	defaultClaimEvery = 2 * time.Second
	// releaseTimeout bounds the store calls that give a lease or a slot
	// back, which run even when the daemon is stopping.
	releaseTimeout = 10 * time.Second
	// heldRetry is when a feed asked for by PollWait but held by another
	// poller is asked for again.
	heldRetry = time.Second
	// minSlotHold is the least time a host slot is taken for by default
	// (see Daemon.SlotHold).
	minSlotHold = 2 * time.Minute
)

// leaseRenewer is implemented by shared stores that can extend an owner's
// leases without taking new ones (store/postgres). With it a daemon keeps
// the leases of the feeds it is polling alive however long a poll takes.
type leaseRenewer interface {
	RenewLeases(ctx context.Context, owner string, ids []uint64, lease time.Duration) ([]uint64, error)
}

// ErrLeased is wrapped by the error of a poll not made because another
// poller of a shared store holds the feed (see PollFeeds).
var ErrLeased = errors.New("being polled by another poller")

// pollLeased polls one feed of a PollFeeds pass on a shared store: it
// leases the feed, polls it as the daemon polls what it claimed, and
// releases it.
func (d *Daemon) pollLeased(ctx context.Context, co store.Coordinator, gate *hostGate, f babelfeed.Feed) Outcome {
	claimed := time.Now()
	got, err := co.ClaimFeeds(ctx, d.Owner, []uint64{f.ID}, d.lease())
	if err != nil {
		return Outcome{Feed: f, Err: fmt.Errorf("lease feed %d: %w", f.ID, err)}
	}
	if len(got) == 0 {
		return Outcome{Feed: f, Err: fmt.Errorf("poll feed %d: %w", f.ID, ErrLeased)}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := co.Release(rctx, d.Owner, f.ID); err != nil {
			d.Poller.log().Warn("release feed lease", "feed", f.ID, "error", err)
		}
	}()
	o, polled := d.pollShared(ctx, co, gate, sharedJob{feed: got[0], forced: true, claimed: claimed})
	if !polled {
		return Outcome{Feed: got[0], Err: fmt.Errorf("poll feed %d: %w", f.ID, ErrLeased)}
	}
	return o
}

// sharedJob is a feed this daemon holds a lease on.
type sharedJob struct {
	feed babelfeed.Feed // as read when claimed
	// forced: asked for by PollNow or PollWait, polled due or not.
	forced bool
	// claimed is when the claim was asked for, on the local monotonic
	// clock: the store took the lease later, so it lasts at least Lease
	// from then.
	claimed time.Time
}

// coordinator returns the Poller's store as a store.Coordinator when it is
// shared by several pollers.
func (d *Daemon) coordinator() (store.Coordinator, bool) {
	co, ok := d.Poller.Store.(store.Coordinator)
	return co, ok
}

func (d *Daemon) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return defaultLease
}

func (d *Daemon) claimEvery() time.Duration {
	if d.ClaimEvery > 0 {
		return d.ClaimEvery
	}
	return defaultClaimEvery
}

// NewOwnerID returns a name for a poller that no other poller of a store
// shares: host name, process ID and random bits.
func NewOwnerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "poller"
	}
	var b [4]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand panics instead)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// runShared is Run on a shared store.
func (d *Daemon) runShared(ctx context.Context, co store.Coordinator) error {
	if d.Owner == "" {
		d.Owner = NewOwnerID()
	}
	d.mu.Lock()
	d.unsaved = map[uint64]bool{}
	d.mu.Unlock()
	workers := d.Poller.Workers
	if workers <= 0 {
		workers = 8
	}
	d.Poller.log().Info("polling a shared store", "owner", d.Owner, "lease", d.lease(), "workers", workers)
	gate := d.Poller.gate()
	// Buffered for every worker: the loop never hands out more jobs than
	// there are idle workers, so a send never blocks.
	jobs := make(chan sharedJob, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				d.pollClaimed(ctx, co, gate, j)
			}
		})
	}
	if r, ok := co.(leaseRenewer); ok {
		wg.Go(func() { d.renewLeases(ctx, r) })
	}
	defer func() {
		// Jobs handed out but not started end at once (their context is
		// done) and give their leases back.
		close(jobs)
		wg.Wait()
	}()

	for {
		if ctx.Err() != nil {
			return nil
		}
		wait, err := d.claim(ctx, co, jobs, workers)
		if err != nil && ctx.Err() == nil {
			d.Poller.log().Warn("claim due feeds", "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// renewLeases extends the leases of the feeds this daemon holds every
// third of a lease, until ctx ends, so that they stay its own while their
// polls last. A lease already lost (the process stood still longer than a
// lease) is not taken back: the worker's check before its request finds
// out.
func (d *Daemon) renewLeases(ctx context.Context, r leaseRenewer) {
	t := time.NewTicker(max(d.lease()/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		ids := make([]uint64, 0, len(d.running))
		for id := range d.running {
			ids = append(ids, id)
		}
		d.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if _, err := r.RenewLeases(ctx, d.Owner, ids, d.lease()); err != nil && ctx.Err() == nil {
			d.Poller.log().Warn("renew feed leases", "error", err)
		}
	}
}

// claim leases feeds for the idle workers, the ones asked for first, then
// the due ones, hands them out, and says how long to sleep before looking
// again.
//
// ClaimDue gives an owner back the due feeds it already holds: those
// still running here are left to their workers. A feed whose worker gave
// its lease back while ClaimDue ran may come back as it was before its
// poll was saved (the statement's snapshot can predate the save): it was
// just polled, so it is released again rather than polled twice. A feed
// released before ClaimDue began comes back only if the store, which had
// its new schedule by then, says it is due.
func (d *Daemon) claim(ctx context.Context, co store.Coordinator, jobs chan<- sharedJob, workers int) (time.Duration, error) {
	p := d.Poller
	now := p.now()
	sleep := d.claimEvery()

	d.mu.Lock()
	free := workers - len(d.running)
	var asked []uint64
	for len(asked) < free {
		id, at, ok := d.queue.Peek()
		if !ok || at.After(now) {
			break
		}
		d.queue.Pop()
		if !d.running[id] { // a running poll answers its waiters too
			asked = append(asked, id)
		}
	}
	d.mu.Unlock()
	if free <= 0 {
		// Every worker is busy: one finishing pokes the loop.
		return sleep, nil
	}

	if len(asked) > 0 {
		claimed := time.Now()
		got, err := co.ClaimFeeds(ctx, d.Owner, asked, d.lease())
		if err != nil {
			d.requeue(asked, now.Add(heldRetry))
			return sleep, fmt.Errorf("claim feeds asked for: %w", err)
		}
		have := map[uint64]bool{}
		d.mu.Lock()
		for _, f := range got {
			have[f.ID] = true
			d.running[f.ID] = true
			jobs <- sharedJob{feed: f, forced: true, claimed: claimed}
			free--
		}
		var missing []uint64
		for _, id := range asked {
			// Another poller holds it, so it is being polled now. Who
			// waits for an outcome of this daemon's asks again (or learns
			// that there is no such feed).
			if !have[id] && len(d.waiters[id]) > 0 {
				missing = append(missing, id)
			}
		}
		d.mu.Unlock()
		for _, id := range missing {
			if _, err := p.Store.Feed(id); errors.Is(err, store.ErrNotFound) {
				d.answer(id, Outcome{Feed: babelfeed.Feed{ID: id}, Err: fmt.Errorf("poll feed %d: %w", id, err)})
			} else {
				d.requeue([]uint64{id}, now.Add(heldRetry))
			}
		}
	}

	if free > 0 {
		d.mu.Lock()
		held := len(d.unsaved)
		d.finished = map[uint64]bool{}
		d.mu.Unlock()
		// Ask for enough to fill the idle workers even when the store
		// hands back every due feed this daemon holds (those whose new
		// schedule is not saved yet: the others are not due). Any more
		// than that are given back.
		claimed := time.Now()
		got, err := co.ClaimDue(ctx, d.Owner, now, free+held, d.lease())
		if err != nil {
			return sleep, err
		}
		var extra []uint64
		d.mu.Lock()
		for _, f := range got {
			switch {
			case d.running[f.ID]:
				// Already being polled here: the claim renewed its lease.
			case d.finished[f.ID]:
				extra = append(extra, f.ID) // polled just now
			case free > 0:
				d.running[f.ID] = true
				d.unsaved[f.ID] = true
				d.queue.Remove(f.ID) // its waiters get this poll's outcome
				jobs <- sharedJob{feed: f, claimed: claimed}
				free--
			default:
				extra = append(extra, f.ID)
			}
		}
		d.mu.Unlock()
		for _, id := range extra {
			if err := co.Release(ctx, d.Owner, id); err != nil {
				return sleep, err
			}
		}
	}

	if free <= 0 {
		return sleep, nil
	}
	// Idle workers remain: sleep until the next feed falls due, here or
	// in the store.
	d.mu.Lock()
	if _, at, ok := d.queue.Peek(); ok {
		sleep = min(sleep, at.Sub(now))
	}
	d.mu.Unlock()
	next, ok, err := co.NextDue(ctx)
	if err != nil {
		return sleep, fmt.Errorf("next due feed: %w", err)
	}
	if ok {
		sleep = min(sleep, next.Sub(p.now()))
	}
	return max(sleep, 0), nil
}

// answer hands o to whoever waits for feed id.
func (d *Daemon) answer(id uint64, o Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ch := range d.waiters[id] {
		ch <- o
	}
	delete(d.waiters, id)
}

// requeue puts feeds asked for back in the queue at at.
func (d *Daemon) requeue(ids []uint64, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if len(d.waiters[id]) > 0 {
			d.queue.Push(id, at)
		}
	}
}

// pollClaimed polls a feed this daemon holds the lease of, then releases
// the lease, after the outcome is saved.
func (d *Daemon) pollClaimed(ctx context.Context, co store.Coordinator, gate *hostGate, j sharedJob) {
	p := d.Poller
	f := j.feed
	var o Outcome
	polled := true
	if f.State == babelfeed.StateGone {
		o = Outcome{Feed: f}
	} else {
		start := p.now()
		o, polled = d.pollShared(ctx, co, gate, j)
		if polled && !j.forced && !f.NextPoll.IsZero() && start.After(f.NextPoll) {
			o.Lag = start.Sub(f.NextPoll)
		}
	}
	d.mu.Lock()
	delete(d.unsaved, f.ID)
	d.mu.Unlock()

	// Released after the outcome is saved, so that no poller claims the
	// feed before its new schedule is in the store.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	if err := co.Release(rctx, d.Owner, f.ID); err != nil {
		// The lease runs out by itself.
		p.log().Warn("release feed lease", "feed", f.ID, "error", err)
	}
	cancel()
	d.mu.Lock()
	delete(d.running, f.ID)
	if d.finished != nil {
		d.finished[f.ID] = true
	}
	if polled {
		for _, ch := range d.waiters[f.ID] {
			ch <- o
		}
		delete(d.waiters, f.ID)
	} else if len(d.waiters[f.ID]) > 0 && ctx.Err() == nil {
		d.queue.Push(f.ID, p.now().Add(heldRetry))
	}
	d.mu.Unlock()
	if polled && d.OnOutcome != nil && ctx.Err() == nil {
		d.OnOutcome(o)
	}
	d.poke()
}

// pollShared is pollPolitely across pollers: it waits for the local host
// gate, makes sure the lease is still this daemon's (renewing it and
// reading the feed afresh when it has waited), checks the host's shared
// Retry-After, waits for one of the host's request slots in the store and
// for the start the store reserved, and polls. polled is false when the
// feed turned out to be another poller's or already polled by one: then
// there is no outcome.
//
// No store round trip comes between the reserved start and the request
// unless the wait for a slot was long: a request that goes late shortens
// its gap to the next one, which another poller may start on time.
func (d *Daemon) pollShared(ctx context.Context, co store.Coordinator, gate *hostGate, j sharedJob) (o Outcome, polled bool) {
	p := d.Poller
	f := j.feed
	host := hostOf(f.URL)
	if until := gate.BlockedUntil(host); until.After(p.now()) {
		return p.deferToHost(f, until), true
	}
	release, err := gate.Acquire(ctx, host)
	if err != nil {
		return Outcome{Feed: f, Err: fmt.Errorf("wait for host %s: %w", host, err)}, true
	}
	defer release()

	leased := j.claimed
	// ready renews the lease when it may be running short (or have run
	// out while the feed waited, and another poller polled it since) and
	// checks that the host has not asked everyone to wait. stop means
	// the feed is not to be polled now; o says why, when polled.
	ready := func() (o Outcome, polled, stop bool) {
		if time.Since(leased) > d.lease()/10 {
			asked := time.Now()
			got, err := co.ClaimFeeds(ctx, d.Owner, []uint64{f.ID}, d.lease())
			if err != nil {
				return Outcome{Feed: f, Err: fmt.Errorf("renew lease of feed %d: %w", f.ID, err)}, true, true
			}
			if len(got) == 0 {
				return Outcome{}, false, true
			}
			leased = asked
			fresh := got[0]
			if !j.forced && fresh.NextPoll.After(p.now()) {
				return Outcome{}, false, true
			}
			if fresh.State == babelfeed.StateGone {
				return Outcome{Feed: fresh}, true, true
			}
			f = fresh
		}
		// A Retry-After another poller (or another feed here) got from
		// this host applies to this feed too.
		until, err := co.HostBlockedUntil(ctx, host)
		if err != nil {
			return Outcome{Feed: f, Err: fmt.Errorf("wait for host %s: %w", host, err)}, true, true
		}
		if until.After(p.now()) {
			gate.Block(host, until)
			return p.deferToHost(f, until), true, true
		}
		return Outcome{}, true, false
	}
	if o, polled, stop := ready(); stop {
		return o, polled
	}
	// While every slot is taken, other pollers' requests to the host are
	// being answered (one may bring a Retry-After) and the lease ages:
	// look again before each new attempt, never between a granted slot
	// and its request.
	slot, start, stopped, err := d.acquireHost(ctx, co, host, func() bool {
		var stop bool
		o, polled, stop = ready()
		return stop
	})
	if err != nil {
		return Outcome{Feed: f, Err: fmt.Errorf("wait for host %s: %w", host, err)}, true
	}
	if stopped {
		return o, polled
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := co.ReleaseHost(rctx, d.Owner, host, slot); err != nil {
			// The slot's hold runs out by itself.
			p.log().Warn("release host slot", "host", host, "error", err)
		}
	}()
	if err := sleepUntil(ctx, start); err != nil {
		return Outcome{Feed: f, Err: fmt.Errorf("wait for host %s: %w", host, err)}, true
	}
	// This process's own Retry-Afters are known at once.
	if until := gate.BlockedUntil(host); until.After(p.now()) {
		return p.deferToHost(f, until), true
	}

	o = p.PollOne(ctx, f)
	// Block before giving the slot back, or a feed waiting for it could
	// slip through between the two.
	var se *fetch.StatusError
	if errors.As(o.Err, &se) && se.RetryAfter > 0 {
		until := p.now().Add(min(se.RetryAfter, p.maxBackoff()))
		gate.Block(host, until)
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		if err := co.BlockHost(bctx, host, until); err != nil {
			p.log().Warn("share a host's Retry-After", "host", host, "error", err)
		}
		cancel()
	}
	return o, true
}

// sleepUntil waits for the monotonic time t, or for ctx to end.
func sleepUntil(ctx context.Context, t time.Time) error {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquireHost takes one of the host's request slots in the store, waiting
// while all are taken, and returns it with the request start the store
// reserved (on the local monotonic clock). Before each new attempt it
// calls between, which may end the wait (stop). The slot is held until
// released, or for long enough to cover the wait and a whole poll.
func (d *Daemon) acquireHost(ctx context.Context, co store.Coordinator, host string, between func() (stop bool)) (slot int, start time.Time, stop bool, err error) {
	p := d.Poller
	perHost := p.gate().perHost
	gap := p.MinHostGap
	// The hold must cover the wait for the reserved start (reservations
	// are made only by slot holders, so at most about perHost gaps) and
	// the request, whose length the fetch timeout bounds (slots are not
	// renewed as leases are).
	hold := d.SlotHold
	if hold <= 0 {
		hold = max(d.lease(), minSlotHold)
	}
	hold += time.Duration(perHost+1) * gap
	// Slots free up when other pollers' requests end; look again soon,
	// at varied times so that waiting pollers do not ask in step.
	retry := min(max(gap, 50*time.Millisecond), 500*time.Millisecond)
	for {
		slot, wait, ok, err := co.AcquireHost(ctx, d.Owner, host, perHost, gap, hold)
		if err != nil {
			return 0, time.Time{}, false, err
		}
		if ok {
			// The store counted the wait from its clock reading, made
			// somewhere during the call (after waiting for a connection
			// and for the host's lock, perhaps long): counting it from
			// the call's end is never early, and late only by the
			// answer's way back.
			return slot, time.Now().Add(wait), false, nil
		}
		if err := sleepUntil(ctx, time.Now().Add(retry/2+rand.N(retry))); err != nil {
			return 0, time.Time{}, false, err
		}
		if between() {
			return 0, time.Time{}, true, nil
		}
	}
}
