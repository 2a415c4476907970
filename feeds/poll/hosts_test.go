package poll

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"babelfeed/feeds/fetch"
)

// PerHost bounds the requests one host sees at once, however many workers
// there are; outcomes come back in the order of the feeds.
func TestPerHostLimit(t *testing.T) {
	for _, perHost := range []int{1, 2} {
		t.Run(fmt.Sprintf("PerHost=%d", perHost), func(t *testing.T) {
			e := newEnv(t)
			e.poller.PerHost = perHost
			e.poller.Workers = 4
			var inFlight, most atomic.Int64
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond) // let other requests pile up if they could
				serveFeed(w, italianFeed(t0))
			})
			var urls []string
			for i := range 6 {
				urls = append(urls, fmt.Sprintf("%s/feed/%d", srv.URL, i))
			}
			feeds := e.add(urls...)
			var progressed []uint64
			outcomes := e.poller.PollFeeds(context.Background(), feeds, func(o Outcome) {
				progressed = append(progressed, o.Feed.ID) // calls are serialised
			})
			if m := most.Load(); m > int64(perHost) {
				t.Errorf("the host saw %d requests at once, PerHost is %d", m, perHost)
			}
			t.Logf("most requests at once: %d", most.Load())
			for i, o := range outcomes {
				if o.Feed.ID != feeds[i].ID || o.Err != nil || o.Added != 3 {
					t.Errorf("outcome %d: feed %d, added %d, err %v", i, o.Feed.ID, o.Added, o.Err)
				}
			}
			slices.Sort(progressed)
			if len(progressed) != 6 || slices.Compact(progressed)[5] != feeds[5].ID {
				t.Errorf("progress reported %v, want each of the 6 feeds once", progressed)
			}
			e.checkConsistent()
		})
	}
}

// Feeds on different hosts are fetched at the same time: each server
// waits until all of them have a request in flight, which only happens if
// the poller runs them in parallel.
func TestHostsInParallel(t *testing.T) {
	const hosts = 3
	e := newEnv(t)
	e.poller.PerHost = 1
	e.poller.Workers = hosts
	var arrived atomic.Int64
	all := make(chan struct{})
	var met atomic.Int64
	var urls []string
	for range hosts {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if arrived.Add(1) == hosts {
				close(all)
			}
			select {
			case <-all:
				met.Add(1)
			case <-time.After(20 * time.Second): // a safety net, not a measurement
			}
			serveFeed(w, italianFeed(t0))
		})
		urls = append(urls, srv.URL+"/feed")
	}
	outcomes := e.poller.PollFeeds(context.Background(), e.add(urls...), nil)
	if met.Load() != hosts {
		t.Errorf("only %d of %d hosts had their requests overlap", met.Load(), hosts)
	}
	for _, o := range outcomes {
		if o.Err != nil {
			t.Error(o.Err)
		}
	}
}

// gapFetcher records when each fetch starts.
type gapFetcher struct {
	Fetcher
	mu     sync.Mutex
	starts []time.Time
}

func (g *gapFetcher) Fetch(ctx context.Context, req fetch.Request) (*fetch.Response, error) {
	g.mu.Lock()
	g.starts = append(g.starts, time.Now())
	g.mu.Unlock()
	return g.Fetcher.Fetch(ctx, req)
}

// MinHostGap spaces the starts of requests to one host, measured on the
// real clock, even while the poller's injected clock stands still (the
// gate must not wait for a frozen clock to move).
func TestMinHostGap(t *testing.T) {
	const gap = 100 * time.Millisecond
	e := newEnv(t) // frozen clock
	e.poller.PerHost = 2
	e.poller.Workers = 4
	e.poller.MinHostGap = gap
	rec := &gapFetcher{Fetcher: e.poller.Fetch}
	e.poller.Fetch = rec
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serveFeed(w, italianFeed(t0)) })
	var urls []string
	for i := range 4 {
		urls = append(urls, fmt.Sprintf("%s/feed/%d", srv.URL, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, o := range e.poller.PollFeeds(ctx, e.add(urls...), nil) {
		if o.Err != nil {
			t.Fatalf("feed %d: %v", o.Feed.ID, o.Err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	slices.SortFunc(rec.starts, time.Time.Compare)
	for i := 1; i < len(rec.starts); i++ {
		// A loose bound: the gate spaces the moments it lets requests go,
		// the fetch starts a few instructions later.
		if d := rec.starts[i].Sub(rec.starts[i-1]); d < gap*3/4 {
			t.Errorf("requests %d and %d started %s apart, MinHostGap is %s", i-1, i, d, gap)
		}
	}
}

// The gate is shared by the passes of one Poller: a second pass right after
// the first still waits for the gap.
func TestHostGateSharedAcrossPasses(t *testing.T) {
	g := newHostGate(1, 80*time.Millisecond)
	ctx := context.Background()
	var starts []time.Time
	for range 3 {
		release, err := g.Acquire(ctx, "example.org")
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, time.Now())
		release()
	}
	for i := 1; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d < 60*time.Millisecond {
			t.Errorf("acquisitions %d and %d %s apart", i-1, i, d)
		}
	}
	// Another host has its own slots and gap.
	if release, err := g.Acquire(ctx, "example.com"); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	// A cancelled wait gives its slot back.
	release, err := g.Acquire(ctx, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Acquire(cctx, "example.net"); err == nil {
		t.Fatal("Acquire on a full host with a cancelled context succeeded")
	}
	release()
	if r2, err := g.Acquire(ctx, "example.net"); err != nil {
		t.Fatal(err)
	} else {
		r2()
	}
}

// Blocking a host holds the latest of the times given.
func TestHostGateBlock(t *testing.T) {
	g := newHostGate(2, 0)
	if !g.BlockedUntil("a").IsZero() {
		t.Fatal("a new host is blocked")
	}
	g.Block("a", t0.Add(time.Hour))
	g.Block("a", t0.Add(time.Minute)) // an earlier time does not shorten it
	if got := g.BlockedUntil("a"); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("BlockedUntil = %v", got)
	}
	if !g.BlockedUntil("b").IsZero() {
		t.Error("blocking one host blocked another")
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://Example.ORG/feed":  "example.org",
		"http://example.org:8080/x": "example.org:8080",
		"http://[::1]:80/feed":      "[::1]",
		"https://example.org:443/a": "example.org",
		"http://example.org:443/a":  "example.org:443",
		"not a url\x7f":             "not a url\x7f",
	} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
