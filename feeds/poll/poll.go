// Package poll runs poll passes: it takes due feeds through fetch, parse,
// language tagging and the store, concurrently and politely, and records
// every outcome on its feed so that no failure goes unseen.
package poll

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/schedule"
	"babelfeed/filter/lang"
	"babelfeed/filter/rules"
	"babelfeed/store"
)

// Tagger tells the language of an item. *lang.Detector implements it.
type Tagger interface {
	Detect(title, text, declared string, prior map[string]int) lang.Result
}

// Fetcher does one conditional GET. *fetch.Client implements it.
type Fetcher interface {
	Fetch(ctx context.Context, req fetch.Request) (*fetch.Response, error)
}

// Poller polls feeds into a store. Its fields are set once before use; a
// Poller is safe for concurrent use.
type Poller struct {
	Store  store.Store
	Fetch  Fetcher
	Parse  *parse.Parser
	Tagger Tagger
	Policy schedule.Policy

	Workers    int           // feeds fetched at once; default 8
	PerHost    int           // requests at once to one host; default 2
	MinHostGap time.Duration // least time between two request starts to one host

	Now func() time.Time // injected clock; default time.Now
	Log *slog.Logger     // default slog.Default()

	// RuleTimeout limits the time the rules take on one item (see
	// filter/rules): 0 means rules.DefaultTimeout, negative no limit. An
	// item that runs out of time is kept and the timeout counted.
	RuleTimeout time.Duration
	// adjustRules, in tests, changes the compiled rules before use.
	adjustRules func(*rules.Set)

	rndMu sync.Mutex
	rnd   *rand.Rand

	gateOnce sync.Once
	hosts    *hostGate
}

// ErrPanic is wrapped by the error of a poll that panicked (see PollOne).
var ErrPanic = errors.New("internal error (panic)")

// Outcome is what happened to one feed in a pass.
type Outcome struct {
	Feed        babelfeed.Feed // the feed as saved after the pass
	Status      int            // HTTP status, 0 when no response came
	NotModified bool           // 304, or a body identical to the last one
	Deferred    bool           // not fetched: the host asked to wait (Retry-After)
	Lag         time.Duration  // how late the poll started after the feed fell due (daemon only)
	Added       int
	Updated     int
	Unchanged   int
	// StoredByLang counts the added and updated items by language.
	StoredByLang map[string]int
	// Dropped counts the new items the rules dropped (items dropped on an
	// earlier poll and skipped now are not counted again); RuleTimeouts
	// the items kept because the rules ran out of time on them.
	Dropped      int
	RuleTimeouts int
	// Truncated: the document held more items than the parser keeps
	// (parse.Options.MaxItems); the first ones were stored. Partial: the
	// document was cut short or broken; its complete items were stored.
	Truncated, Partial bool
	Err                error // why the fetch failed; also recorded on Feed.LastError
	Duration           time.Duration
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Poller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// withRand runs fn with the poller's random source for schedule jitter,
// one caller at a time (a rand.Rand is not safe for concurrent use); the
// schedule functions take it as an argument so they stay deterministic in
// tests.
func (p *Poller) withRand(fn func(r *rand.Rand)) {
	p.rndMu.Lock()
	defer p.rndMu.Unlock()
	if p.rnd == nil {
		p.rnd = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6261626c))
	}
	fn(p.rnd)
}

// Due returns the feeds whose next poll time has come. Gone feeds are never
// due; feeds never polled are.
func Due(feeds []babelfeed.Feed, now time.Time) []babelfeed.Feed {
	var due []babelfeed.Feed
	for _, f := range feeds {
		if f.State == babelfeed.StateGone {
			continue
		}
		if f.NextPoll.IsZero() || !f.NextPoll.After(now) {
			due = append(due, f)
		}
	}
	return due
}

// PollFeeds polls every feed once, Workers at a time and politely per host
// (see hostGate), and calls progress (from one goroutine at a time) as each
// finishes. It returns the outcomes in the order of feeds. Cancelling ctx
// stops fetches in flight; feeds not yet started are left as they were.
//
// On a store shared by several pollers (store.Coordinator), each feed is
// polled under a lease, as the daemons sharing the store poll, and within
// the host limits they keep: a feed another poller holds is not polled,
// its outcome's error wraps ErrLeased.
func (p *Poller) PollFeeds(ctx context.Context, feeds []babelfeed.Feed, progress func(Outcome)) []Outcome {
	workers := p.Workers
	if workers <= 0 {
		workers = 8
	}
	gate := p.gate()
	// On a store other pollers share, each feed is leased for its poll
	// and the host limits are the shared ones (see pollLeased).
	co, shared := p.Store.(store.Coordinator)
	var leaser *Daemon
	if shared {
		leaser = &Daemon{Poller: p, Owner: NewOwnerID()}
	}
	outcomes := make([]Outcome, len(feeds))
	var progMu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(len(feeds), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var o Outcome
				if shared {
					o = leaser.pollLeased(ctx, co, gate, feeds[i])
				} else {
					o = p.pollPolitely(ctx, gate, feeds[i])
				}
				outcomes[i] = o
				if progress != nil {
					progMu.Lock()
					progress(o)
					progMu.Unlock()
				}
			}
		}()
	}
	for i := range feeds {
		select {
		case jobs <- i:
		case <-ctx.Done():
			outcomes[i] = Outcome{Feed: feeds[i], Err: ctx.Err()}
		}
	}
	close(jobs)
	wg.Wait()
	return outcomes
}

// gate returns the poller's host gate, made on first use so that a Poller
// literal needs no constructor.
func (p *Poller) gate() *hostGate {
	p.gateOnce.Do(func() {
		perHost := p.PerHost
		if perHost <= 0 {
			perHost = 2
		}
		p.hosts = newHostGate(perHost, p.MinHostGap)
	})
	return p.hosts
}

// pollPolitely waits for the feed's host to be free, polls the feed, and
// extends a host's Retry-After to all its feeds.
func (p *Poller) pollPolitely(ctx context.Context, gate *hostGate, f babelfeed.Feed) Outcome {
	host := hostOf(f.URL)
	if until := gate.BlockedUntil(host); until.After(p.now()) {
		return p.deferToHost(f, until)
	}
	release, err := gate.Acquire(ctx, host)
	if err != nil {
		return Outcome{Feed: f, Err: fmt.Errorf("wait for host %s: %w", host, err)}
	}
	// Another feed of this host may have got a Retry-After while this one
	// waited for a slot: it applies to this feed too.
	if until := gate.BlockedUntil(host); until.After(p.now()) {
		release()
		return p.deferToHost(f, until)
	}
	o := p.PollOne(ctx, f)
	// Block before releasing the slot, or a feed waiting for it could slip
	// through between the two.
	var se *fetch.StatusError
	if errors.As(o.Err, &se) && se.RetryAfter > 0 {
		gate.Block(host, p.now().Add(min(se.RetryAfter, p.maxBackoff())))
	}
	release()
	return o
}

// maxBackoff is the policy's cap on waits, which also caps how long a
// host's Retry-After defers its other feeds: the feed that got the
// Retry-After is retried within it, so its siblings should be too.
func (p *Poller) maxBackoff() time.Duration {
	if p.Policy.MaxBackoff > 0 {
		return p.Policy.MaxBackoff
	}
	return schedule.DefaultPolicy().MaxBackoff
}

// deferToHost reschedules a feed whose host asked everyone to wait. It is
// not a failure of the feed, so its error count is left alone.
func (p *Poller) deferToHost(f babelfeed.Feed, until time.Time) Outcome {
	f.NextPoll = until
	f.NextReason = "host asked to wait (Retry-After) until " + until.UTC().Format(time.RFC3339)
	if err := p.Store.UpdateFeed(f); err != nil {
		return Outcome{Feed: f, Err: fmt.Errorf("save feed %d state: %w", f.ID, err)}
	}
	return Outcome{Feed: f, Deferred: true}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	host := strings.ToLower(u.Host)
	// example.org and example.org:443 are one host to be polite to.
	if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return host
}

// PollOne fetches one feed, stores what it carries and records the outcome
// on the feed. Validators and the body hash are saved only in the same
// transaction as the items they describe, so a failure never makes a later
// poll skip content it has not stored.
//
// A panic while polling (a parser or detector bug met by a hostile
// document) is recorded as the feed's failure rather than taking down the
// pass and every other feed with it; the store's transactions roll back on
// a panic, so nothing is half written.
func (p *Poller) PollOne(ctx context.Context, f babelfeed.Feed) (o Outcome) {
	start := p.now()
	defer func() {
		if r := recover(); r != nil {
			log := p.log().With("feed", f.ID, "url", f.URL)
			log.Error("panic while polling", "panic", r, "stack", string(debug.Stack()))
			o = p.fail(f, fmt.Errorf("poll %s: %w: %v", f.URL, ErrPanic, r), log)
		}
		o.Duration = p.now().Sub(start)
	}()
	return p.pollOne(ctx, f)
}

func (p *Poller) pollOne(ctx context.Context, f babelfeed.Feed) Outcome {
	log := p.log().With("feed", f.ID, "url", f.URL)
	resp, err := p.Fetch.Fetch(ctx, fetch.Request{URL: f.URL, ETag: f.ETag, LastModified: f.LastModified})
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted by the user: not the feed's fault, record nothing.
			return Outcome{Feed: f, Err: fmt.Errorf("fetch %s: %w", f.URL, ctx.Err())}
		}
		return p.fail(f, err, log)
	}
	now := p.now()
	f.LastFetched = now
	f.LastStatus = resp.Status
	if resp.PermanentURL != "" && resp.PermanentURL != f.URL {
		p.moveURL(&f, resp.PermanentURL, log)
	}
	hints := schedule.Hints{MaxAge: freshFor(resp), Expires: resp.Expires, RetryAfter: resp.RetryAfter,
		TTL: time.Duration(f.TTLMinutes) * time.Minute, SkipHours: f.SkipHours, SkipDays: f.SkipDays,
		UpdatePeriod: f.UpdatePeriod, UpdateFrequency: f.UpdateFrequency}

	bodyHash := ""
	if !resp.NotModified {
		sum := sha256.Sum256(resp.Body)
		bodyHash = hex.EncodeToString(sum[:16])
	}
	if resp.NotModified || bodyHash == f.BodyHash {
		// Nothing new: keep validators we had unless the server sent fresh
		// ones, and do not parse.
		if resp.ETag != "" {
			f.ETag = resp.ETag
		}
		if resp.LastModified != "" {
			f.LastModified = resp.LastModified
		}
		// The response carries no items, but the feed's rate is in the
		// items stored before: without it every 304 would fall back to
		// the default interval.
		p.succeed(&f, now, hints, p.history(ctx, f.ID, nil))
		if err := p.Store.UpdateFeed(f); err != nil {
			return Outcome{Feed: f, Status: resp.Status, Err: fmt.Errorf("save feed %d state: %w", f.ID, err)}
		}
		return Outcome{Feed: f, Status: resp.Status, NotModified: true}
	}

	res, err := p.Parse.ParseURL(ctx, resp.Body, resp.ContentType, resp.URL)
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted while parsing: not the feed's fault either.
			return Outcome{Feed: f, Status: resp.Status, Err: fmt.Errorf("parse %s: %w", f.URL, ctx.Err())}
		}
		return p.fail(f, fmt.Errorf("parse %s: %w", f.URL, err), log)
	}
	if res.Truncated {
		log.Warn("document holds more items than are kept; stored the first ones", "kept", len(res.Items))
	}
	if res.Partial {
		log.Warn("document cut short or broken; stored its complete items", "kept", len(res.Items))
	}
	known, err := p.Store.Known(f.ID)
	if err != nil {
		return Outcome{Feed: f, Status: resp.Status, Err: fmt.Errorf("read stored items of feed %d: %w", f.ID, err)}
	}
	gate, err := p.ruleGate(&f, log)
	if err != nil {
		return Outcome{Feed: f, Status: resp.Status, Err: fmt.Errorf("read rules for feed %d: %w", f.ID, err)}
	}
	items := make([]babelfeed.Item, 0, len(res.Items))
	byLang := map[string]int{}
	// Publication times of what this document brings that the store does
	// not have yet; the rest of the history is read from the store.
	var fresh []time.Time
	for _, it := range res.Items {
		it.FeedID = f.ID
		if h, ok := known[it.Key]; ok && h == it.ContentHash {
			// Unchanged: the store will skip it; do not pay for tagging.
			items = append(items, it)
			continue
		}
		fresh = append(fresh, store.SortTime(&it))
		if gate.remembered(&it) {
			continue // dropped before, unchanged since: no tagging
		}
		if p.Tagger != nil {
			body := it.Summary
			if body == "" {
				body = it.Content
			}
			r := p.Tagger.Detect(it.Title, body, res.Language, f.Languages)
			it.Lang, it.LangConfidence, it.LangMethod = r.Lang, r.Confidence, r.Method
		}
		if it.Lang == "" {
			it.Lang, it.LangMethod = babelfeed.Undetermined, babelfeed.LangUndetermined
		}
		it.DeclaredLang = res.Language
		if _, stored := known[it.Key]; !gate.keep(&it, stored) {
			continue
		}
		byLang[it.Lang]++
		items = append(items, it)
	}

	f.ETag, f.LastModified, f.BodyHash = resp.ETag, resp.LastModified, bodyHash
	if f.Title == "" || f.Title == f.URL {
		f.Title = res.Title
	}
	if f.SiteURL == "" {
		f.SiteURL = res.SiteURL
	}
	f.DeclaredLang = res.Language
	f.TTLMinutes = res.TTLMinutes
	f.SkipHours, f.SkipDays = res.SkipHours, res.SkipDays
	f.UpdatePeriod, f.UpdateFrequency = res.UpdatePeriod, res.UpdateFrequency
	hints.TTL = time.Duration(res.TTLMinutes) * time.Minute
	hints.SkipHours, hints.SkipDays = res.SkipHours, res.SkipDays
	hints.UpdatePeriod, hints.UpdateFrequency = res.UpdatePeriod, res.UpdateFrequency
	// The stored history rather than the document's items alone: a
	// document may be short, and undated items the store already has get
	// a new "now" from every parse, while the store kept when they were
	// first seen.
	p.succeed(&f, now, hints, p.history(ctx, f.ID, fresh))

	if err := gate.save(p.Store, res.Items, now); err != nil {
		return Outcome{Feed: f, Status: resp.Status, Err: fmt.Errorf("store items of %s: %w", f.URL, err)}
	}
	sr, err := p.Store.SaveFetch(f, items)
	if err != nil {
		return Outcome{Feed: f, Status: resp.Status, Err: fmt.Errorf("store items of %s: %w", f.URL, err)}
	}
	dropped, timeouts := gate.counts()
	log.Debug("polled", "status", resp.Status, "added", sr.Added, "updated", sr.Updated, "unchanged", sr.Unchanged, "dropped", dropped)
	return Outcome{Feed: f, Status: resp.Status, Added: sr.Added, Updated: sr.Updated, Unchanged: sr.Unchanged, StoredByLang: byLang, Dropped: dropped, RuleTimeouts: timeouts,
		Truncated: res.Truncated, Partial: res.Partial}
}

// freshFor is how long the response stays fresh by Cache-Control: max-age
// less the time it already spent in caches (Age), so that a copy a CDN has
// held for most of its max-age does not put the feed off for a whole
// max-age more. It keeps fetch's meanings: 0 is no hint, negative is never
// fresh.
func freshFor(resp *fetch.Response) time.Duration {
	if resp.MaxAge <= 0 || resp.Age <= 0 {
		return resp.MaxAge
	}
	if left := resp.MaxAge - resp.Age; left > 0 {
		return left
	}
	return -1
}

// moveURL follows a permanent redirect unless another subscription already
// has the new address (then both stay as they are, and the redirect is
// followed on every poll).
func (p *Poller) moveURL(f *babelfeed.Feed, newURL string, log *slog.Logger) {
	if other, err := p.Store.FeedByURL(newURL); err == nil && other.ID != f.ID {
		log.Info("permanent redirect to an address already subscribed; keeping both", "to", newURL, "other", other.ID)
		return
	}
	log.Info("feed moved permanently", "to", newURL)
	f.PrevURLs = append(f.PrevURLs, f.URL)
	f.URL = newURL
}

// historyLimit is how many of a feed's newest stored items inform its
// entry rate: more than a feed document usually holds, few enough to read
// on every poll.
const historyLimit = 50

// history returns the publication times of the feed's newest stored items
// (when first seen, for an item without a date), followed by extra. A
// failed read is logged and leaves only extra: a schedule is still needed.
func (p *Poller) history(ctx context.Context, feedID uint64, extra []time.Time) []time.Time {
	// RecentTimes reads the feed index only: no item or feed is decoded,
	// which keeps a 304 cheap however many feeds the store holds.
	times, err := p.Store.RecentTimes(feedID, historyLimit)
	if err != nil {
		p.log().Warn("read feed history for its schedule", "feed", feedID, "error", err)
	}
	return append(times, extra...)
}

// succeed records a successful fetch and schedules the next one from the
// feed's publication times.
func (p *Poller) succeed(f *babelfeed.Feed, now time.Time, hints schedule.Hints, times []time.Time) {
	f.State = babelfeed.StateOK
	f.ErrorCount = 0
	f.FailingSince = time.Time{}
	f.LastError = ""
	f.LastSuccess = now
	var d schedule.Decision
	p.withRand(func(r *rand.Rand) {
		d = p.Policy.Next(now, schedule.History{ItemTimes: times}, hints, r)
	})
	f.NextPoll, f.NextReason = d.At, d.Reason
}

// fail records a failed fetch on the feed: a 410 marks it gone, anything
// else backs off and keeps the feed in rotation.
func (p *Poller) fail(f babelfeed.Feed, err error, log *slog.Logger) Outcome {
	now := p.now()
	f.LastFetched = now
	f.LastError = err.Error()
	status := 0
	var hints schedule.Hints
	var se *fetch.StatusError
	if errors.As(err, &se) {
		status = se.Code
		hints.RetryAfter = se.RetryAfter
	}
	f.LastStatus = status
	f.ErrorCount++
	if f.FailingSince.IsZero() {
		f.FailingSince = now
	}
	if status == 410 {
		f.State = babelfeed.StateGone
		f.NextPoll, f.NextReason = time.Time{}, "gone (410): not polled until revived"
	} else {
		f.State = babelfeed.StateFailing
		var d schedule.Decision
		p.withRand(func(r *rand.Rand) {
			d = p.Policy.AfterError(now, f.ErrorCount, hints, r)
		})
		f.NextPoll, f.NextReason = d.At, d.Reason
	}
	log.Warn("poll failed", "error", err, "errors", f.ErrorCount)
	if uerr := p.Store.UpdateFeed(f); uerr != nil {
		return Outcome{Feed: f, Status: status, Err: errors.Join(err, fmt.Errorf("save feed %d state: %w", f.ID, uerr))}
	}
	return Outcome{Feed: f, Status: status, Err: err}
}
