package poll

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/schedule"
	"babelfeed/store"
)

// The daemon's shared mode is tested twice: against memShared below (an
// in-process stand-in with the semantics of store.Coordinator, so that the
// daemon's side runs on any machine) and against PostgreSQL
// (shared_postgres_test.go), the store it is for.

// memShared stands for a store several pollers share: a bbolt store, with
// leases, host slots and reservations held in memory under one lock. Each
// poller reaches it through a memView of its own.
type memShared struct {
	db *store.DB

	mu     sync.Mutex // guards leases
	leases map[uint64]memHold

	hostMu  sync.Mutex // guards the rest
	slots   map[string]map[int]memHold
	next    map[string]time.Time
	blocked map[string]time.Time
}

type memHold struct {
	owner string
	until time.Time
}

func (h memHold) heldBy(other string, now time.Time) bool {
	return h.owner != "" && h.owner != other && h.until.After(now)
}

func newMemShared(t *testing.T) *memShared {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "shared.db"), store.Options{MmapSize: 1 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &memShared{db: db, leases: map[uint64]memHold{}, slots: map[string]map[int]memHold{},
		next: map[string]time.Time{}, blocked: map[string]time.Time{}}
}

// memView is one poller's connection to a memShared. Once crashed, every
// write and every coordination call fails, as they would for a process
// that died: its leases and slots stay until they run out.
type memView struct {
	store.Store
	s       *memShared
	crashed atomic.Bool
}

var errCrashed = errors.New("poller crashed")

func (s *memShared) view() *memView { return &memView{Store: s.db, s: s} }

func (v *memView) UpdateFeed(f babelfeed.Feed) error {
	if v.crashed.Load() {
		return errCrashed
	}
	return v.Store.UpdateFeed(f)
}

func (v *memView) SaveFetch(f babelfeed.Feed, items []babelfeed.Item) (store.SaveResult, error) {
	if v.crashed.Load() {
		return store.SaveResult{}, errCrashed
	}
	return v.Store.SaveFetch(f, items)
}

func (v *memView) lock() error {
	if v.crashed.Load() {
		return errCrashed
	}
	v.s.mu.Lock()
	return nil
}

func (v *memView) lockHosts() error {
	if v.crashed.Load() {
		return errCrashed
	}
	v.s.hostMu.Lock()
	return nil
}

func (v *memView) ClaimDue(ctx context.Context, owner string, now time.Time, n int, lease time.Duration) ([]babelfeed.Feed, error) {
	if err := v.lock(); err != nil {
		return nil, err
	}
	defer v.s.mu.Unlock()
	feeds, err := v.s.db.Feeds()
	if err != nil {
		return nil, err
	}
	clock := time.Now()
	var due []babelfeed.Feed
	for _, f := range feeds {
		if f.State != babelfeed.StateGone && !f.NextPoll.After(now) && !v.s.leases[f.ID].heldBy(owner, clock) {
			due = append(due, f)
		}
	}
	slices.SortStableFunc(due, func(a, b babelfeed.Feed) int { return a.NextPoll.Compare(b.NextPoll) })
	due = due[:min(n, len(due))]
	for _, f := range due {
		v.s.leases[f.ID] = memHold{owner, clock.Add(lease)}
	}
	return due, nil
}

func (v *memView) ClaimFeeds(ctx context.Context, owner string, ids []uint64, lease time.Duration) ([]babelfeed.Feed, error) {
	if err := v.lock(); err != nil {
		return nil, err
	}
	defer v.s.mu.Unlock()
	clock := time.Now()
	var out []babelfeed.Feed
	for _, id := range ids {
		f, err := v.s.db.Feed(id)
		if err != nil || v.s.leases[id].heldBy(owner, clock) {
			continue
		}
		v.s.leases[id] = memHold{owner, clock.Add(lease)}
		out = append(out, f)
	}
	return out, nil
}

func (v *memView) RenewLeases(ctx context.Context, owner string, ids []uint64, lease time.Duration) ([]uint64, error) {
	if err := v.lock(); err != nil {
		return nil, err
	}
	defer v.s.mu.Unlock()
	clock := time.Now()
	var out []uint64
	for _, id := range ids {
		if h := v.s.leases[id]; h.owner == owner && h.until.After(clock) {
			v.s.leases[id] = memHold{owner, clock.Add(lease)}
			out = append(out, id)
		}
	}
	return out, nil
}

func (v *memView) Release(ctx context.Context, owner string, feedID uint64) error {
	if err := v.lock(); err != nil {
		return err
	}
	defer v.s.mu.Unlock()
	if v.s.leases[feedID].owner == owner {
		delete(v.s.leases, feedID)
	}
	return nil
}

func (v *memView) NextDue(ctx context.Context) (time.Time, bool, error) {
	if err := v.lock(); err != nil {
		return time.Time{}, false, err
	}
	defer v.s.mu.Unlock()
	feeds, err := v.s.db.Feeds()
	if err != nil {
		return time.Time{}, false, err
	}
	clock := time.Now()
	var next time.Time
	ok := false
	for _, f := range feeds {
		if f.State != babelfeed.StateGone && !v.s.leases[f.ID].heldBy("", clock) && (!ok || f.NextPoll.Before(next)) {
			next, ok = f.NextPoll, true
		}
	}
	return next, ok, nil
}

func (v *memView) AcquireHost(ctx context.Context, owner, host string, perHost int, gap, hold time.Duration) (int, time.Duration, bool, error) {
	if err := v.lockHosts(); err != nil {
		return 0, 0, false, err
	}
	defer v.s.hostMu.Unlock()
	clock := time.Now()
	slots := v.s.slots[host]
	if slots == nil {
		slots = map[int]memHold{}
		v.s.slots[host] = slots
	}
	for slot := range perHost {
		if slots[slot].heldBy("", clock) {
			continue
		}
		slots[slot] = memHold{owner, clock.Add(hold)}
		start := clock
		if n := v.s.next[host]; n.After(start) {
			start = n
		}
		v.s.next[host] = start.Add(gap)
		return slot, start.Sub(clock), true, nil
	}
	return 0, 0, false, nil
}

func (v *memView) ReleaseHost(ctx context.Context, owner, host string, slot int) error {
	if err := v.lockHosts(); err != nil {
		return err
	}
	defer v.s.hostMu.Unlock()
	if v.s.slots[host][slot].owner == owner {
		delete(v.s.slots[host], slot)
	}
	return nil
}

func (v *memView) BlockHost(ctx context.Context, host string, until time.Time) error {
	if err := v.lockHosts(); err != nil {
		return err
	}
	defer v.s.hostMu.Unlock()
	if until.After(v.s.blocked[host]) {
		v.s.blocked[host] = until
	}
	return nil
}

func (v *memView) HostBlockedUntil(ctx context.Context, host string) (time.Time, error) {
	if err := v.lockHosts(); err != nil {
		return time.Time{}, err
	}
	defer v.s.hostMu.Unlock()
	return v.s.blocked[host], nil
}

var _ store.Coordinator = (*memView)(nil)

// sharedPoller is one poller process of a shared-store test: its own
// connection to the store, and a way to make it die without a goodbye.
type sharedPoller struct {
	store store.Store
	crash func()
}

// farm serves feedsPerHost feeds on each of hosts local hosts, each feed
// three items of its own behind an ETag, every answer after delay. It
// records every request, and the most requests each host saw at once.
type farm struct {
	hosts []*httptest.Server
	delay time.Duration

	mu       sync.Mutex
	fetches  map[string][]time.Time // by feed path
	starts   map[string][]time.Time // by host
	inFlight map[string]int
	peak     map[string]int
}

func newFarm(t *testing.T, hosts, feedsPerHost int, delay time.Duration) (*farm, []string) {
	t.Helper()
	fm := &farm{delay: delay, fetches: map[string][]time.Time{}, starts: map[string][]time.Time{},
		inFlight: map[string]int{}, peak: map[string]int{}}
	var urls []string
	pub := time.Now().Add(-48 * time.Hour)
	for range hosts {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fm.mu.Lock()
			fm.fetches[r.URL.Path] = append(fm.fetches[r.URL.Path], time.Now())
			fm.starts[r.Host] = append(fm.starts[r.Host], time.Now())
			fm.inFlight[r.Host]++
			fm.peak[r.Host] = max(fm.peak[r.Host], fm.inFlight[r.Host])
			fm.mu.Unlock()
			defer func() {
				fm.mu.Lock()
				fm.inFlight[r.Host]--
				fm.mu.Unlock()
			}()
			time.Sleep(fm.delay) // let requests pile up if they could
			name := strings.TrimPrefix(r.URL.Path, "/feed/")
			w.Header().Set("ETag", `"`+name+`"`)
			if r.Header.Get("If-None-Match") == `"`+name+`"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			serveFeed(w, rssDoc("Feed "+name, "en",
				entry{GUID: name + "-1", Title: "One " + name, Desc: "first", Pub: pub},
				entry{GUID: name + "-2", Title: "Two " + name, Desc: "second", Pub: pub.Add(time.Hour)},
				entry{GUID: name + "-3", Title: "Three " + name, Desc: "third", Pub: pub.Add(2 * time.Hour)},
			))
		}))
		t.Cleanup(srv.Close)
		fm.hosts = append(fm.hosts, srv)
	}
	// Hosts take turns in the subscription list, as in most OPML files.
	for i := range feedsPerHost {
		for h, srv := range fm.hosts {
			urls = append(urls, fmt.Sprintf("%s/feed/h%d-%d", srv.URL, h, i))
		}
	}
	return fm, urls
}

// fetchCounts returns how many times each feed path was requested.
func (fm *farm) fetchCounts() map[string]int {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	out := map[string]int{}
	for p, ts := range fm.fetches {
		out[p] = len(ts)
	}
	return out
}

// minGap returns, per host, the shortest time between two request starts.
func (fm *farm) minGap() map[string]time.Duration {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	out := map[string]time.Duration{}
	for h, ts := range fm.starts {
		ts = slices.Clone(ts)
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ts); i++ {
			if g := ts[i].Sub(ts[i-1]); i == 1 || g < out[h] {
				out[h] = g
			}
		}
	}
	return out
}

// sharedConfig are the settings every daemon of a shared test runs with.
type sharedConfig struct {
	interval time.Duration // every feed's poll interval (±10%)
	lease    time.Duration
	perHost  int
	gap      time.Duration
}

// recFetcher tells the test which daemon fetched what.
type recFetcher struct {
	inner Fetcher
	who   int
	note  func(who int, url string)
}

func (r recFetcher) Fetch(ctx context.Context, req fetch.Request) (*fetch.Response, error) {
	r.note(r.who, req.URL)
	return r.inner.Fetch(ctx, req)
}

// sharedDaemon builds daemon number who of a shared test over st.
func sharedDaemon(st store.Store, cfg sharedConfig, who int, note func(int, string)) *Daemon {
	p := &Poller{
		Store:      st,
		Fetch:      recFetcher{inner: fetch.New(fetch.Options{Timeout: 10 * time.Second}), who: who, note: note},
		Parse:      parse.New(parse.Options{}),
		Policy:     schedule.Policy{Default: cfg.interval, Min: cfg.interval, Max: cfg.interval, MaxBackoff: cfg.interval, Jitter: 0.1},
		Workers:    4,
		PerHost:    cfg.perHost,
		MinHostGap: cfg.gap,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	d := NewDaemon(p)
	d.Owner = fmt.Sprintf("daemon-%d", who)
	d.Lease = cfg.lease
	d.SlotHold = cfg.lease + 2*time.Second // requests here take at most 1.2 s
	d.ClaimEvery = 100 * time.Millisecond
	return d
}

// fetchLog records which daemon fetched which URL.
type fetchLog struct {
	mu sync.Mutex
	by map[string][]int
}

func (l *fetchLog) note(who int, url string) {
	l.mu.Lock()
	l.by[url] = append(l.by[url], who)
	l.mu.Unlock()
}

// testSharedCycles runs a daemon per poller over one farm until every feed
// has been polled twice, and checks that no feed was fetched twice within
// its interval, no host saw more than perHost requests at once, every
// daemon did a share, and no item was stored twice.
func testSharedCycles(t *testing.T, pollers []sharedPoller, hosts, feedsPerHost int) {
	cfg := sharedConfig{interval: 2 * time.Second, lease: 30 * time.Second, perHost: 2, gap: 5 * time.Millisecond}
	fm, urls := newFarm(t, hosts, feedsPerHost, 10*time.Millisecond)
	addFeeds(t, pollers[0].store, urls)
	log := &fetchLog{by: map[string][]int{}}
	var errs atomic.Int64
	polls := make([]atomic.Int64, len(pollers))
	start := time.Now()
	var daemons []*Daemon
	for i, sp := range pollers {
		d := sharedDaemon(sp.store, cfg, i, log.note)
		d.OnOutcome = func(o Outcome) {
			polls[i].Add(1)
			if o.Err != nil {
				errs.Add(1)
				t.Errorf("daemon %d, feed %s: %v", i, o.Feed.URL, o.Err)
			}
		}
		daemons = append(daemons, d)
	}
	stopAll := runDaemons(t, daemons...)
	var firstCycle time.Duration
	deadline := time.Now().Add(safety)
	for {
		counts := fm.fetchCounts()
		least := 0
		if len(counts) == len(urls) {
			least = slices.Min(mapValues(counts))
		}
		if least >= 1 && firstCycle == 0 {
			firstCycle = time.Since(start)
		}
		if least >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d of %d feeds fetched, the least %d times", safety, len(counts), len(urls), least)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopAll()

	fm.mu.Lock()
	log.mu.Lock()
	for path, ts := range fm.fetches {
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d < cfg.interval/2 {
				var who []int
				for u, w := range log.by {
					if strings.HasSuffix(u, path) {
						who = w
					}
				}
				t.Errorf("feed %s fetched twice %v apart (by daemons %v); its interval is %v", path, d, who, cfg.interval)
			}
		}
	}
	log.mu.Unlock()
	for host, n := range fm.peak {
		if n > cfg.perHost {
			t.Errorf("host %s saw %d requests at once; the limit is %d across all pollers", host, n, cfg.perHost)
		}
	}
	peaks := fmt.Sprint(fm.peak)
	fm.mu.Unlock()
	var shares []int64
	for i := range polls {
		shares = append(shares, polls[i].Load())
		if polls[i].Load() == 0 {
			t.Errorf("daemon %d polled nothing", i)
		}
	}
	if n, err := pollers[0].store.ItemCount(); err != nil || n != 3*len(urls) {
		t.Errorf("%d items stored (%v), want %d", n, err, 3*len(urls))
	}
	t.Logf("%d feeds on %d hosts, %d daemons: first cycle %v; polls per daemon %v; most requests at once per host %v; shortest gap between request starts per host %v (MinHostGap %v)",
		len(urls), len(fm.hosts), len(pollers), firstCycle.Round(time.Millisecond), shares, peaks, fm.minGap(), cfg.gap)
}

// testSharedCrash runs a daemon per poller over one farm, kills the first
// daemon mid-cycle (it neither saves nor releases anything after that), and
// checks that the others poll every feed, taking the dead one's over once
// its leases run out, without polling a feed it had saved, and that no
// item is stored twice.
func testSharedCrash(t *testing.T, pollers []sharedPoller, hosts, feedsPerHost int) {
	cfg := sharedConfig{interval: time.Hour, lease: time.Second, perHost: 2, gap: 5 * time.Millisecond}
	fm, urls := newFarm(t, hosts, feedsPerHost, 20*time.Millisecond)
	feeds := addFeeds(t, pollers[0].store, urls)
	log := &fetchLog{by: map[string][]int{}}
	var mu sync.Mutex
	savedByVictim := map[string]bool{}
	var total atomic.Int64
	polls := make([]atomic.Int64, len(pollers))
	var daemons []*Daemon
	for i, sp := range pollers {
		d := sharedDaemon(sp.store, cfg, i, log.note)
		d.OnOutcome = func(o Outcome) {
			total.Add(1)
			polls[i].Add(1)
			if i == 0 && o.Err == nil {
				mu.Lock()
				savedByVictim[o.Feed.URL] = true
				mu.Unlock()
			}
		}
		daemons = append(daemons, d)
	}
	stopVictim := runDaemons(t, daemons[0])
	stopOthers := runDaemons(t, daemons[1:]...)
	// Kill the first daemon while it holds leases, a quarter into the
	// cycle.
	deadline := time.Now().Add(safety)
	held := 0
	for {
		_, held = daemons[0].QueueLen()
		if total.Load() >= int64(len(urls)/4) && held > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no moment with the first daemon holding leases a quarter into the cycle (%d polled)", total.Load())
		}
		time.Sleep(time.Millisecond)
	}
	killed, killedAt := time.Now(), total.Load()
	pollers[0].crash()
	stopVictim()
	mu.Lock()
	victimSaved := len(savedByVictim)
	mu.Unlock()

	// The others finish the cycle, the dead one's feeds included.
	for {
		done := 0
		fs, err := pollers[1].store.Feeds()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if !f.LastSuccess.IsZero() {
				done++
			}
		}
		if done == len(feeds) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d feeds polled %v after the crash", done, len(feeds), safety)
		}
		time.Sleep(20 * time.Millisecond)
	}
	finished := time.Since(killed)
	stopOthers()

	log.mu.Lock()
	takenOver := 0
	for _, u := range urls {
		var victim, others int
		for _, who := range log.by[u] {
			if who == 0 {
				victim++
			} else {
				others++
			}
		}
		switch {
		case others > 1 || victim > 1:
			t.Errorf("feed %s fetched %d times by the dead daemon, %d times by the others", u, victim, others)
		case others > 0 && savedByVictim[u]:
			t.Errorf("feed %s fetched again after the dead daemon had saved it", u)
		case others > 0 && victim > 0:
			takenOver++
		}
	}
	log.mu.Unlock()
	fm.mu.Lock()
	for host, n := range fm.peak {
		if n > cfg.perHost {
			t.Errorf("host %s saw %d requests at once; the limit is %d across all pollers", host, n, cfg.perHost)
		}
	}
	fm.mu.Unlock()
	if n, err := pollers[1].store.ItemCount(); err != nil || n != 3*len(urls) {
		t.Errorf("%d items stored (%v), want %d", n, err, 3*len(urls))
	}
	var shares []int64
	for i := range polls {
		shares = append(shares, polls[i].Load())
	}
	t.Logf("killed daemon 0 holding %d leases after %d polls (%d of them its own); %d feeds it had fetched without saving were polled again by the others; the cycle ended %v after the kill (lease %v); polls per daemon %v",
		held, killedAt, victimSaved, takenOver, finished.Round(time.Millisecond), cfg.lease, shares)
}

// testSharedGap runs a daemon per poller on feeds of one host and checks
// that the request starts, across all daemons, are MinHostGap apart (with
// the loose bound of TestMinHostGap: the store spaces the moments it lets
// requests go, the fetches start a few instructions later).
func testSharedGap(t *testing.T, pollers []sharedPoller) {
	const gap = 100 * time.Millisecond
	cfg := sharedConfig{interval: time.Hour, lease: time.Minute, perHost: 2, gap: gap}
	_, urls := newFarm(t, 1, 8, 0)
	addFeeds(t, pollers[0].store, urls)
	var mu sync.Mutex
	var starts []time.Time
	who := map[int]bool{}
	note := func(w int, _ string) {
		mu.Lock()
		starts = append(starts, time.Now())
		who[w] = true
		mu.Unlock()
	}
	var daemons []*Daemon
	for i, sp := range pollers {
		daemons = append(daemons, sharedDaemon(sp.store, cfg, i, note))
	}
	stop := runDaemons(t, daemons...)
	deadline := time.Now().Add(safety)
	for {
		mu.Lock()
		n := len(starts)
		mu.Unlock()
		if n >= len(urls) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d feeds fetched", n, len(urls))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(starts, time.Time.Compare)
	for i := 1; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d < gap*3/4 {
			t.Errorf("requests %d and %d started %s apart, MinHostGap is %s", i-1, i, d, gap)
		}
	}
	t.Logf("%d requests by %d daemons", len(starts), len(who))
}

// testSharedRetryAfter runs a daemon per poller on the feeds of one host,
// the first of which answers 429 with a Retry-After of an hour: the host's
// other feeds are deferred by every daemon, and after the 429 no request
// reaches the host but those already granted a slot (perHost-1 at most).
func testSharedRetryAfter(t *testing.T, pollers []sharedPoller) {
	const perHost = 2
	cfg := sharedConfig{interval: time.Hour, lease: time.Minute, perHost: perHost, gap: 5 * time.Millisecond}
	var mu sync.Mutex
	var starts []time.Time
	var refused time.Time
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		if r.URL.Path == "/feed/0" {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			mu.Lock()
			refused = time.Now()
			mu.Unlock()
			return
		}
		serveFeed(w, rssDoc("Feed", "en", entry{GUID: r.URL.Path, Title: "One", Desc: "one", Pub: time.Now().Add(-time.Hour)}))
	})
	var urls []string
	for i := range 12 {
		urls = append(urls, fmt.Sprintf("%s/feed/%d", srv.URL, i))
	}
	addFeeds(t, pollers[0].store, urls) // the 429 feed first: claimed first
	outcomes := make(chan Outcome, 100)
	var daemons []*Daemon
	for i, sp := range pollers {
		d := sharedDaemon(sp.store, cfg, i, func(int, string) {})
		d.OnOutcome = func(o Outcome) { outcomes <- o }
		daemons = append(daemons, d)
	}
	stop := runDaemons(t, daemons...)
	got := map[string]Outcome{}
	timeout := time.After(safety)
	for len(got) < len(urls) {
		select {
		case o := <-outcomes:
			if _, dup := got[o.Feed.URL]; dup {
				t.Errorf("feed %s polled twice", o.Feed.URL)
			}
			got[o.Feed.URL] = o
		case <-timeout:
			t.Fatalf("%d of %d feeds polled", len(got), len(urls))
		}
	}
	stop()
	deferred := 0
	for u, o := range got {
		switch {
		case u == urls[0]:
			if o.Status != http.StatusTooManyRequests {
				t.Errorf("the refusing feed: status %d, err %v", o.Status, o.Err)
			}
		case o.Deferred:
			deferred++
			if o.Feed.NextPoll.Before(time.Now().Add(50 * time.Minute)) {
				t.Errorf("feed %s deferred only until %v", u, o.Feed.NextPoll)
			}
		case o.Err != nil || o.Status != 200:
			t.Errorf("feed %s: status %d, err %v", u, o.Status, o.Err)
		}
	}
	mu.Lock()
	late := 0
	for _, st := range starts {
		if st.After(refused) {
			late++
		}
	}
	mu.Unlock()
	if late > perHost-1 {
		t.Errorf("%d requests reached the host after it answered 429 with Retry-After", late)
	}
	until, err := pollers[1].store.(store.Coordinator).HostBlockedUntil(context.Background(), hostOf(srv.URL))
	if err != nil || until.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("host blocked until %v (%v) in the store", until, err)
	}
	t.Logf("%d feeds deferred, %d fetched before the 429 came back, %d after", deferred, len(urls)-1-deferred-late, late)
}

// testSharedPollFeeds runs a PollFeeds pass (the poll command) on a shared
// store: it polls what no other poller holds, reports the rest as leased,
// and gives its leases back.
func testSharedPollFeeds(t *testing.T, pollers []sharedPoller) {
	fm, urls := newFarm(t, 1, 3, 0)
	feeds := addFeeds(t, pollers[0].store, urls)
	other := pollers[1].store.(store.Coordinator)
	ctx := context.Background()
	if got, err := other.ClaimFeeds(ctx, "other", []uint64{feeds[2].ID}, time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("other poller's claim: %v, %v", got, err)
	}
	d := sharedDaemon(pollers[0].store, sharedConfig{interval: time.Hour, lease: time.Minute, perHost: 2}, 0, func(int, string) {})
	out := d.Poller.PollFeeds(ctx, feeds, nil)
	for i, o := range out[:2] {
		if o.Err != nil || o.Status != 200 || o.Added != 3 {
			t.Errorf("feed %d: status %d, added %d, err %v", i, o.Status, o.Added, o.Err)
		}
	}
	if !errors.Is(out[2].Err, ErrLeased) {
		t.Errorf("feed held by another poller: %v", out[2].Err)
	}
	if counts := fm.fetchCounts(); counts["/feed/h0-2"] != 0 || counts["/feed/h0-0"] != 1 {
		t.Errorf("fetches %v", counts)
	}
	if got, err := other.ClaimFeeds(ctx, "third", []uint64{feeds[0].ID, feeds[1].ID}, time.Hour); err != nil || len(got) != 2 {
		t.Errorf("leases of the pass not given back: %d claimable, %v", len(got), err)
	}
}

// testSharedLongPoll runs two daemons with leases far shorter than a
// fetch: the daemon polling a feed keeps its lease, and the other never
// takes the feed over.
func testSharedLongPoll(t *testing.T, pollers []sharedPoller) {
	var fetches atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		time.Sleep(1200 * time.Millisecond)
		serveFeed(w, rssDoc("Slow", "en", entry{GUID: "1", Title: "One", Desc: "one", Pub: time.Now().Add(-time.Hour)}))
	})
	addFeeds(t, pollers[0].store, []string{srv.URL + "/slow"})
	outcomes := make(chan Outcome, 10)
	var daemons []*Daemon
	for i, sp := range pollers {
		d := sharedDaemon(sp.store, sharedConfig{interval: time.Hour, lease: 200 * time.Millisecond, perHost: 2}, i, func(int, string) {})
		// One worker: busy, the daemon claims nothing (a claim would renew
		// its own due feeds' leases too).
		d.Poller.Workers = 1
		d.OnOutcome = func(o Outcome) { outcomes <- o }
		daemons = append(daemons, d)
	}
	stop := runDaemons(t, daemons...)
	select {
	case o := <-outcomes:
		if o.Err != nil || o.Status != 200 {
			t.Errorf("slow feed: status %d, err %v", o.Status, o.Err)
		}
	case <-time.After(safety):
		t.Fatal("slow feed never polled")
	}
	time.Sleep(300 * time.Millisecond) // a second poll would have started by now
	stop()
	if n := fetches.Load(); n != 1 {
		t.Errorf("slow feed fetched %d times", n)
	}
}

// runDaemons runs daemons and returns a function that stops them all at
// once (one stopping first would leave its cancelled fetches to the
// others, to be fetched again at once: right, but not what a test of one
// fetch per interval wants to see) and waits for them.
func runDaemons(t *testing.T, daemons ...*Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range daemons {
		wg.Go(func() {
			if err := d.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(safety):
				t.Fatal("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func addFeeds(t *testing.T, st store.Store, urls []string) []babelfeed.Feed {
	t.Helper()
	feeds := make([]babelfeed.Feed, len(urls))
	for i, u := range urls {
		feeds[i] = babelfeed.Feed{URL: u}
	}
	added, _, err := st.AddFeeds(feeds, false)
	if err != nil || len(added) != len(urls) {
		t.Fatalf("add feeds: %d added, %v", len(added), err)
	}
	return added
}

func mapValues[K comparable, V cmp.Ordered](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func memPollers(t *testing.T, n int) []sharedPoller {
	s := newMemShared(t)
	var out []sharedPoller
	for range n {
		v := s.view()
		out = append(out, sharedPoller{store: v, crash: func() { v.crashed.Store(true) }})
	}
	return out
}

// Three daemons sharing a store poll every feed once per interval, within
// the per-host limits across all of them. (The in-process store takes a
// smaller farm than the PostgreSQL test: the race detector makes its
// polls slow.)
func TestSharedDaemonsCycles(t *testing.T) {
	testSharedCycles(t, memPollers(t, 3), 4, 15)
}

// A daemon that dies mid-cycle leaves its feeds to the others once its
// leases run out.
func TestSharedDaemonsCrash(t *testing.T) {
	testSharedCrash(t, memPollers(t, 3), 4, 15)
}

// The gap between requests to a host holds across daemons.
func TestSharedDaemonsGap(t *testing.T) {
	testSharedGap(t, memPollers(t, 3))
}

// A host's Retry-After holds for every daemon.
func TestSharedDaemonsRetryAfter(t *testing.T) {
	testSharedRetryAfter(t, memPollers(t, 3))
}

// The poll command's pass leases what it polls on a shared store.
func TestSharedPollFeeds(t *testing.T) {
	testSharedPollFeeds(t, memPollers(t, 2))
}

// A poll longer than a lease keeps its feed.
func TestSharedDaemonsLongPoll(t *testing.T) {
	testSharedLongPoll(t, memPollers(t, 2))
}

// PollWait on a shared store polls the feeds asked for, due or not, waits
// while another poller holds one, and reports an unknown feed.
func TestSharedDaemonPollWait(t *testing.T) {
	pollers := memPollers(t, 2)
	fm, urls := newFarm(t, 1, 3, 0)
	feeds := addFeeds(t, pollers[0].store, urls)
	// Nothing is due: only what is asked for is polled.
	for i := range feeds {
		feeds[i].NextPoll = time.Now().Add(time.Hour)
		if err := pollers[0].store.UpdateFeed(feeds[i]); err != nil {
			t.Fatal(err)
		}
	}
	other := pollers[1].store.(store.Coordinator)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if got, err := other.ClaimFeeds(ctx, "other", []uint64{feeds[2].ID}, time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("other poller's claim: %v, %v", got, err)
	}
	d := sharedDaemon(pollers[0].store, sharedConfig{interval: time.Hour, lease: time.Minute, perHost: 2}, 0, func(int, string) {})
	runDaemon(t, d)

	out, err := d.PollWait(ctx, []uint64{feeds[0].ID, 9999})
	if err != nil {
		t.Fatal(err)
	}
	if o := out[0]; o.Err != nil || o.Status != 200 || o.Added != 3 {
		t.Errorf("feed asked for: status %d, added %d, err %v", o.Status, o.Added, o.Err)
	}
	if o := out[1]; !errors.Is(o.Err, store.ErrNotFound) {
		t.Errorf("unknown feed: %v", o.Err)
	}

	held := make(chan Outcome, 1)
	go func() {
		out, err := d.PollWait(ctx, []uint64{feeds[2].ID})
		if err != nil {
			t.Error(err)
			close(held)
			return
		}
		held <- out[0]
	}()
	// Let the daemon ask for the held feed a few times.
	time.Sleep(300 * time.Millisecond)
	if n := fm.fetchCounts()["/feed/h0-2"]; n != 0 {
		t.Fatalf("feed held by another poller fetched %d times", n)
	}
	if err := other.Release(ctx, "other", feeds[2].ID); err != nil {
		t.Fatal(err)
	}
	if o := <-held; o.Err != nil || o.Status != 200 {
		t.Errorf("feed released by the other poller: status %d, err %v", o.Status, o.Err)
	}
	if counts := fm.fetchCounts(); counts["/feed/h0-0"] != 1 || counts["/feed/h0-1"] != 0 || counts["/feed/h0-2"] != 1 {
		t.Errorf("fetches %v, want h0-0 and h0-2 once, h0-1 never", counts)
	}
}
