package poll

import (
	"context"
	"sync"
	"time"
)

// hostGate keeps the poller polite to each host: at most perHost requests
// at once, at least minGap between the starts of two requests, and no
// request at all while the host has asked us to wait (Retry-After). It is
// shared by every pass of a Poller, so the daemon's passes and a "poll now"
// from the CLI obey the same limits.
//
// The gap is measured on the real (monotonic) clock, not the Poller's
// injected one, because it is waited out with real timers: with a frozen
// test clock an injected-clock gap would never pass. Retry-After times are
// schedule times, in the Poller's clock, as stored on the feeds.
type hostGate struct {
	perHost int
	minGap  time.Duration

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	slots     chan struct{}
	nextStart time.Time // earliest start of the next request (min gap), real clock
	blocked   time.Time // Retry-After from this host applies to all its feeds; Poller clock
}

func newHostGate(perHost int, minGap time.Duration) *hostGate {
	return &hostGate{perHost: perHost, minGap: minGap, hosts: map[string]*hostState{}}
}

func (g *hostGate) state(host string) *hostState {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.hosts[host]
	if !ok {
		h = &hostState{slots: make(chan struct{}, g.perHost)}
		g.hosts[host] = h
	}
	return h
}

// BlockedUntil reports until when the host asked not to be contacted.
func (g *hostGate) BlockedUntil(host string) time.Time {
	h := g.state(host)
	g.mu.Lock()
	defer g.mu.Unlock()
	return h.blocked
}

// Block records a host-wide Retry-After.
func (g *hostGate) Block(host string, until time.Time) {
	h := g.state(host)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(h.blocked) {
		h.blocked = until
	}
}

// Acquire waits for a request slot on host and for the minimum gap since
// the previous request started. The returned release must be called when
// the request is done.
func (g *hostGate) Acquire(ctx context.Context, host string) (release func(), err error) {
	h := g.state(host)
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release = func() { <-h.slots }
	for {
		g.mu.Lock()
		now := time.Now()
		wait := h.nextStart.Sub(now)
		if wait <= 0 {
			h.nextStart = now.Add(g.minGap)
			g.mu.Unlock()
			return release, nil
		}
		g.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, ctx.Err()
		}
	}
}
