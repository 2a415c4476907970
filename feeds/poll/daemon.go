package poll

import (
	"context"
	"fmt"
	"sync"
	"time"

	"babelfeed"
	"babelfeed/feeds/schedule"
)

// Daemon polls feeds as they fall due, until its context ends. Feeds wait
// in a heap ordered by next poll time; a feed being fetched is out of the
// heap, so it can never be polled twice at once, and goes back with the
// next poll time its outcome decided. All schedule state lives in the
// store, so a restarted daemon carries on where the last one stopped.
//
// When the Poller's store is shared with other pollers (it implements
// store.Coordinator: PostgreSQL), the daemon runs in shared mode instead
// (see shared.go): it claims due feeds from the store under a lease rather
// than keeping its own heap, and its per-host limits hold across every
// poller of the store.
type Daemon struct {
	Poller *Poller
	// OnOutcome, if set, is called after each poll (from worker goroutines).
	OnOutcome func(Outcome)

	// Shared mode only (ignored on a store of one process).
	//
	// Owner names this daemon in the store's leases and host slots; it
	// must be unique among the pollers sharing the store. Empty: one is
	// made from the host name, the process ID and random bits.
	Owner string
	// Lease is how long a claimed feed stays this daemon's unless renewed:
	// after a crash, its feeds are polled by the others once it has
	// passed. While a poll lasts its lease is renewed every third of a
	// lease when the store can (PostgreSQL can), so that Lease need not
	// cover the longest poll; on a store that cannot, it must exceed the
	// longest poll (fetch timeout, parsing, saving), as it is renewed only
	// when the request is about to start. Zero: 1 minute.
	Lease time.Duration
	// SlotHold is how long a request slot of a host stays taken unless
	// given back: a crashed poller's slots come back after it. It must
	// exceed the longest request (the fetch timeout), or a slot whose
	// hold ran out mid-request would let one request too many in. Zero:
	// the longer of Lease and 2 minutes.
	SlotHold time.Duration
	// ClaimEvery bounds how long the daemon sleeps between looks at the
	// store when nothing is due earlier, so that feeds other processes add
	// or revive, and leases of crashed pollers, are seen within it. Zero:
	// 2 seconds.
	ClaimEvery time.Duration

	mu      sync.Mutex
	queue   schedule.Queue // shared mode: only the feeds asked for by PollNow and PollWait
	running map[uint64]bool
	waiters map[uint64][]chan Outcome
	wake    chan struct{}
	// In shared mode: finished holds the feeds whose leases were given
	// back since the claim loop's last ClaimDue began, unsaved the due
	// feeds being polled whose outcome is not saved yet (see claim).
	finished map[uint64]bool
	unsaved  map[uint64]bool
}

// NewDaemon returns a daemon around p.
func NewDaemon(p *Poller) *Daemon {
	return &Daemon{Poller: p, running: map[uint64]bool{}, waiters: map[uint64][]chan Outcome{}, wake: make(chan struct{}, 1)}
}

// Schedule puts a feed in the queue (or moves it) at its stored next poll
// time; gone feeds are taken out. Call it after importing or reviving feeds.
func (d *Daemon) Schedule(f babelfeed.Feed) {
	_, shared := d.coordinator()
	d.mu.Lock()
	if f.State == babelfeed.StateGone {
		d.queue.Remove(f.ID)
	} else if !d.running[f.ID] && !shared {
		// Shared mode reads the schedule from the store; its queue holds
		// only feeds asked for now.
		d.queue.Push(f.ID, f.NextPoll)
	}
	d.mu.Unlock()
	d.poke()
}

// Forget takes a feed out of the queue, for a removed subscription.
func (d *Daemon) Forget(id uint64) {
	d.mu.Lock()
	d.queue.Remove(id)
	d.mu.Unlock()
}

// PollNow makes the given feeds (every non-gone feed when ids is empty) due
// at once.
func (d *Daemon) PollNow(ids []uint64) error {
	feeds, err := d.Poller.Store.Feeds()
	if err != nil {
		return fmt.Errorf("poll now: %w", err)
	}
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	now := d.Poller.now()
	d.mu.Lock()
	for _, f := range feeds {
		if (len(ids) == 0 && f.State != babelfeed.StateGone) || want[f.ID] {
			if !d.running[f.ID] {
				d.dueNow(f.ID, now, f.LastFetched)
			}
		}
	}
	d.mu.Unlock()
	d.poke()
	return nil
}

// PollWait makes the given feeds due at once and waits until each has been
// polled by the daemon's workers (so the daemon's politeness and its
// one-fetch-per-feed rule hold), returning their outcomes in order. The
// daemon must be running.
func (d *Daemon) PollWait(ctx context.Context, ids []uint64) ([]Outcome, error) {
	chans := make([]chan Outcome, len(ids))
	now := d.Poller.now()
	d.mu.Lock()
	for i, id := range ids {
		ch := make(chan Outcome, 1)
		chans[i] = ch
		d.waiters[id] = append(d.waiters[id], ch)
		if !d.running[id] {
			d.dueNow(id, now, now)
		}
	}
	d.mu.Unlock()
	d.poke()
	out := make([]Outcome, len(ids))
	for i, ch := range chans {
		select {
		case o := <-ch:
			out[i] = o
		case <-ctx.Done():
			return out[:i], ctx.Err()
		}
	}
	return out, nil
}

// QueueLen reports how many feeds wait in the queue and how many are being
// fetched. In shared mode the queue holds only the feeds asked for by
// PollNow and PollWait (the rest of the schedule is in the store), and
// running counts the feeds this daemon holds leases on.
func (d *Daemon) QueueLen() (queued, running int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queue.Len(), len(d.running)
}

func (d *Daemon) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run loads the schedule from the store and polls until ctx ends. When it
// returns, every fetch it started has finished or been cancelled, and
// nothing is half written (each feed is saved in one transaction).
func (d *Daemon) Run(ctx context.Context) error {
	if co, ok := d.coordinator(); ok {
		return d.runShared(ctx, co)
	}
	feeds, err := d.Poller.Store.Feeds()
	if err != nil {
		return fmt.Errorf("load schedule: %w", err)
	}
	d.mu.Lock()
	for _, f := range feeds {
		if f.State == babelfeed.StateGone || d.running[f.ID] {
			continue
		}
		// A PollNow or PollWait that came before Run (the CLI socket is
		// served before the daemon starts) keeps its earlier time.
		if at, ok := d.queue.When(f.ID); ok && at.Before(f.NextPoll) {
			continue
		}
		d.queue.Push(f.ID, f.NextPoll)
	}
	d.mu.Unlock()
	workers := d.Poller.Workers
	if workers <= 0 {
		workers = 8
	}
	gate := d.Poller.gate()
	jobs := make(chan uint64)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				d.pollOne(ctx, gate, id)
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	for {
		now := d.Poller.now()
		d.mu.Lock()
		id, at, ok := d.queue.Peek()
		due := ok && !at.After(now)
		if due {
			d.queue.Pop()
			d.running[id] = true
		}
		d.mu.Unlock()
		if due {
			select {
			case jobs <- id:
				continue
			case <-ctx.Done():
				// Not handed out: put it back, so that a later Run polls it.
				d.mu.Lock()
				delete(d.running, id)
				d.queue.Push(id, at)
				d.mu.Unlock()
				return nil
			}
		}
		wait := time.Minute
		if ok {
			wait = min(at.Sub(now), wait)
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

func (d *Daemon) pollOne(ctx context.Context, gate *hostGate, id uint64) {
	// Re-read the feed: the CLI may have changed it since it was queued.
	f, err := d.Poller.Store.Feed(id)
	if err != nil {
		d.mu.Lock()
		delete(d.running, id)
		for _, ch := range d.waiters[id] {
			ch <- Outcome{Feed: babelfeed.Feed{ID: id}, Err: err}
		}
		delete(d.waiters, id)
		d.mu.Unlock()
		d.Poller.log().Warn("queued feed vanished", "feed", id, "error", err)
		return
	}
	var o Outcome
	if f.State == babelfeed.StateGone {
		o = Outcome{Feed: f}
	} else {
		start := d.Poller.now()
		o = d.Poller.pollPolitely(ctx, gate, f)
		if !f.NextPoll.IsZero() && start.After(f.NextPoll) {
			o.Lag = start.Sub(f.NextPoll)
		}
	}
	d.mu.Lock()
	delete(d.running, id)
	for _, ch := range d.waiters[id] {
		ch <- o
	}
	delete(d.waiters, id)
	if next, ok := d.requeueAt(o); ok && ctx.Err() == nil {
		d.queue.Push(id, next)
	}
	d.mu.Unlock()
	if d.OnOutcome != nil && ctx.Err() == nil {
		d.OnOutcome(o)
	}
	d.poke()
}

// requeueAt says when a polled feed goes back in the queue; ok is false for
// a gone feed, which does not.
func (d *Daemon) requeueAt(o Outcome) (next time.Time, ok bool) {
	if o.Feed.State == babelfeed.StateGone {
		return time.Time{}, false
	}
	next = o.Feed.NextPoll
	if now := d.Poller.now(); o.Err != nil && !next.After(now) {
		// A failure that could not even be recorded (the feed still has
		// the next-poll time that made it due, or none): retry later
		// rather than spin.
		next = now.Add(time.Minute)
	}
	return next, true
}
