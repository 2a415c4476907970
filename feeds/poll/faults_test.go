package poll

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/schedule"
	"babelfeed/filter/lang"
	"babelfeed/internal/faultfarm"
	"babelfeed/store"
)

// Caps of the fault test's poller: timeouts short enough that the
// dripping faults end soon, long enough that a fast answer never misses
// them on a loaded machine under the race detector; and an 8 MiB body cap
// the attacks exceed.
const (
	faultTimeout       = 8 * time.Second
	faultHeaderTimeout = 4 * time.Second
	faultMaxBody       = 8 << 20
	faultMaxItems      = 200
	faultMaxTitle      = 300
	faultMaxText       = 5000
)

// faultCheck says how one fault must end, beyond its faultfarm.Want.
type faultCheck struct {
	is       error  // the error must wrap it
	contains string // the error must contain it
	status   int    // the error is a *fetch.StatusError with this code
	gone     bool   // the feed ends gone (410) rather than failing
	items    int    // WantBounded/WantReadable: exactly this many items stored (-1: at least one)
	note     string // "truncated" or "partial": the outcome must say so
	check    func(t *testing.T, items []babelfeed.Item)
}

var faultChecks = map[string]faultCheck{
	"slow-headers":     {is: fetch.ErrTimeout},
	"slow-body":        {is: fetch.ErrTimeout},
	"no-answer":        {is: fetch.ErrTimeout},
	"reset-mid-body":   {contains: "read body"},
	"close-mid-body":   {contains: "read body"},
	"garbage-response": {contains: "malformed HTTP"},
	"huge-headers":     {contains: "headers exceeded"},
	"status-500":       {status: 500},
	"status-502":       {status: 502},
	"status-503":       {status: 503},
	"status-429":       {status: 429},
	"status-410":       {status: 410, gone: true},
	"redirect-loop":    {is: fetch.ErrRedirectLoop},
	"redirect-endless": {is: fetch.ErrTooManyRedirects},
	"redirect-scheme":  {is: fetch.ErrUnsupportedScheme},
	"big-body":         {is: fetch.ErrTooLarge},
	"big-body-chunked": {is: fetch.ErrTooLarge},
	"gzip-bomb":        {is: fetch.ErrTooLarge},
	"gzip-bomb-raw":    {contains: "inflates to more than"},
	"bad-gzip":         {contains: "gzip"},
	"html-page":        {is: &parse.NotAFeedError{Kind: parse.KindHTML}},
	"empty-body":       {is: &parse.NotAFeedError{Kind: parse.KindEmpty}},
	"binary-body":      {contains: "parse"},
	"deep-nesting":     {is: parse.ErrTooDeep},
	"json-wrong-types": {contains: "json"},
	"json-deep":        {contains: "depth"},

	"truncated-xml": {items: 7, note: "partial"},
	"billion-laughs": {items: 2, check: func(t *testing.T, items []babelfeed.Item) {
		for _, it := range items {
			if strings.Contains(it.Title, "lollol") {
				t.Errorf("entity expanded: %.60q", it.Title)
			}
		}
	}},
	"external-entity": {items: 1, check: func(t *testing.T, items []babelfeed.Item) {
		if strings.Contains(items[0].Text(), "root:") {
			t.Errorf("external entity read a local file: %q", items[0].Text())
		}
	}},
	"many-items": {items: faultMaxItems, note: "truncated"},
	"huge-titles": {items: 3, check: func(t *testing.T, items []babelfeed.Item) {
		for _, it := range items {
			if n := utf8.RuneCountInString(it.Summary); n > faultMaxText || n < faultMaxText/2 {
				t.Errorf("summary of %d characters, cap %d", n, faultMaxText)
			}
		}
	}},
	"huge-ids": {items: 3, check: func(t *testing.T, items []babelfeed.Item) {
		for _, it := range items {
			if len(it.Key) > 2048 || it.URL != "" {
				t.Errorf("key of %d bytes, URL of %d bytes kept", len(it.Key), len(it.URL))
			}
		}
	}},
	"many-categories": {items: 1, check: func(t *testing.T, items []babelfeed.Item) {
		if n := len(items[0].Categories); n == 0 || n > 32 {
			t.Errorf("%d categories kept", n)
		}
	}},
	"many-attributes":       {items: 1},
	"markup-injection":      {items: 3, check: checkNoMarkup},
	"markup-injection-json": {items: 2, check: checkNoMarkup},
	"date-chaos":            {items: 6},
	"json-many-items":       {items: faultMaxItems, note: "truncated"},

	"wrong-charset":          {items: 1, check: checkItalian},
	"wrong-declared-charset": {items: 1, check: checkItalian},
	"missing-charset":        {items: 1, check: checkItalian},
	"invalid-utf8":           {items: 2},
}

func checkItalian(t *testing.T, items []babelfeed.Item) {
	if want := "Perché la città è più bella"; items[0].Title != want {
		t.Errorf("title %q, want %q", items[0].Title, want)
	}
}

// checkNoMarkup: what a feed says can reach a reader only as plain text and
// web links: no tags, no script links, no terminal control sequences.
func checkNoMarkup(t *testing.T, items []babelfeed.Item) {
	for _, it := range items {
		for _, s := range append([]string{it.Title, it.Summary, it.Content, it.Author}, it.Categories...) {
			l := strings.ToLower(s)
			if strings.Contains(l, "<script") || strings.Contains(l, "<img") || strings.Contains(l, "<svg") || strings.Contains(l, "<iframe") || strings.Contains(l, "onerror=") {
				t.Errorf("markup kept: %q", s)
			}
			if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
				t.Errorf("control character kept: %q", s)
			}
		}
		if it.URL != "" && !strings.HasPrefix(it.URL, "http://") && !strings.HasPrefix(it.URL, "https://") {
			t.Errorf("link %q kept", it.URL)
		}
	}
}

// faultPoller is a poller over a fresh store with the fault test's caps.
func faultPoller(t *testing.T, fo fetch.Options) (*Poller, *store.DB) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "faults.db"), store.Options{MmapSize: 1 << 20})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	fo.Timeout, fo.HeaderTimeout, fo.MaxBody = faultTimeout, faultHeaderTimeout, faultMaxBody
	return &Poller{
		Store:   s,
		Fetch:   fetch.New(fo),
		Parse:   parse.New(parse.Options{MaxItems: faultMaxItems, MaxTitle: faultMaxTitle, MaxText: faultMaxText, MaxGunzip: faultMaxBody}),
		Tagger:  detector(t),
		Policy:  schedule.DefaultPolicy(),
		Workers: 8,
		PerHost: 8,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, s
}

func faultFarm(t *testing.T) *faultfarm.Farm {
	t.Helper()
	farm, err := faultfarm.New(faultSizes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(farm.Close)
	farm.Warm()
	return farm
}

func subscribe(t *testing.T, s *store.DB, urls []string) []babelfeed.Feed {
	t.Helper()
	feeds := make([]babelfeed.Feed, len(urls))
	for i, u := range urls {
		feeds[i] = babelfeed.Feed{URL: u}
	}
	added, _, err := s.AddFeeds(feeds, false)
	if err != nil || len(added) != len(urls) {
		t.Fatalf("subscribe: %d of %d added: %v", len(added), len(urls), err)
	}
	return added
}

func storedItems(t *testing.T, s *store.DB, id uint64) []babelfeed.Item {
	t.Helper()
	var out []babelfeed.Item
	err := s.Items(context.Background(), babelfeed.Query{FeedIDs: []uint64{id}}, nil, func(it babelfeed.Item) bool {
		out = append(out, it)
		return true
	})
	if err != nil {
		t.Fatalf("items of feed %d: %v", id, err)
	}
	return out
}

// memPeak samples the heap while a pass runs and reads the process's peak
// RSS. The heap is sampled every millisecond, so a spike shorter than that
// can be missed; VmHWM cannot miss one, but counts everything the process
// ever touched (and, under the race detector, its shadow memory).
type memPeak struct {
	heap     uint64 // peak bytes in heap objects, sampled
	rss      uint64 // VmHWM since the start of the measure, 0 if unknown
	rssReset bool   // whether VmHWM could be reset for this measure
}

func measure(fn func()) memPeak {
	runtime.GC()
	var m memPeak
	m.rssReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			m.heap = max(m.heap, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	m.rss = vmHWM()
	return m
}

// vmHWM reads the peak resident set size from /proc/self/status, 0 when it
// cannot.
func vmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Every fault of the farm, at full size (50 MB bodies, 4 GiB gzip bombs,
// 100,000 items, 1 MB titles, 100,000-deep nesting; the documents are
// smaller under the race detector, see faultSizes), is polled in one pass
// through the real poller, store, parser and detector, beside healthy
// feeds. Each fault ends as a clear error on its feed or as a bounded
// result; the healthy feeds of the same pass are stored; and memory stays
// bounded: the pass is measured against one of healthy feeds alone.
func TestPollFaults(t *testing.T) {
	farm := faultFarm(t)
	// A fault that asks the whole host to wait is served by a farm of its
	// own: the poller rightly defers the other feeds of such a host.
	p, s := faultPoller(t, fetch.Options{})

	healthy := func(from, n int) []string {
		var urls []string
		for _, lang := range faultfarm.Languages {
			for i := from; i < from+n; i++ {
				urls = append(urls, farm.HealthyURL(lang, i))
			}
		}
		return urls
	}
	faults := faultfarm.Faults()
	var urls []string
	for _, ft := range faults {
		if _, ok := faultChecks[ft.Name]; !ok {
			t.Errorf("fault %s has no check in this test", ft.Name)
		}
		if ft.HostWide {
			urls = append(urls, faultFarm(t).URL(ft.Name))
		} else {
			urls = append(urls, farm.URL(ft.Name))
		}
	}
	// Healthy feeds go between the faults, so they share the pass.
	good := healthy(4, 4)
	mixed := make([]string, 0, len(urls)+len(good))
	for i := range max(len(urls), len(good)) {
		if i < len(urls) {
			mixed = append(mixed, urls[i])
		}
		if i < len(good) {
			mixed = append(mixed, good[i])
		}
	}
	baseFeeds := subscribe(t, s, healthy(0, 4))
	attackFeeds := subscribe(t, s, mixed)

	ctx := context.Background()
	var baseOut, attackOut []Outcome
	base := measure(func() { baseOut = p.PollFeeds(ctx, baseFeeds, nil) })
	attack := measure(func() { attackOut = p.PollFeeds(ctx, attackFeeds, nil) })

	for _, o := range baseOut {
		if o.Err != nil || o.Added != 5 {
			t.Errorf("healthy %s (alone): added %d, err %v", o.Feed.URL, o.Added, o.Err)
		}
	}
	byURL := map[string]Outcome{}
	for _, o := range attackOut {
		byURL[o.Feed.URL] = o
	}
	for _, u := range good {
		if o := byURL[u]; o.Err != nil || o.Added != 5 {
			t.Errorf("healthy %s (beside the faults): added %d, err %v", u, o.Added, o.Err)
		}
	}
	for i, ft := range faults {
		t.Run(ft.Name, func(t *testing.T) {
			o := byURL[urls[i]]
			t.Logf("took %s", o.Duration.Round(time.Millisecond))
			checkFault(t, s, ft, o)
		})
	}

	t.Logf("healthy pass (%d feeds): peak heap %s, peak RSS %s", len(baseFeeds), mib(base.heap), mib(base.rss))
	t.Logf("attack pass (%d faults + %d healthy): peak heap %s, peak RSS %s (RSS peak reset per pass: %v)",
		len(faults), len(good), mib(attack.heap), mib(attack.rss), attack.rssReset)
	// The bound: a fault holds about one body (capped at faultMaxBody) in
	// a few copies (the read buffer, the decoded text, gofeed's strings)
	// while it is parsed, 8 at once. 48 bodies' worth (384 MiB) over the
	// healthy pass is about three times the most measured here (between
	// +37 and +132 MiB, with and without the race detector), so it cannot
	// flake on GC timing, and a fraction of what one uncapped attack can
	// cost (gigabytes).
	// The per-fault checks catch a lost cap more precisely.
	if limit := base.heap + 48*faultMaxBody; attack.heap > limit {
		t.Errorf("peak heap under attack %s, over the bound %s", mib(attack.heap), mib(limit))
	}
}

// checkFault checks how one fault ended: the outcome, the feed as stored,
// and the items stored for it.
func checkFault(t *testing.T, s *store.DB, ft faultfarm.Fault, o Outcome) {
	c := faultChecks[ft.Name]
	if o.Feed.ID == 0 {
		t.Fatalf("not polled")
	}
	f, err := s.Feed(o.Feed.ID)
	if err != nil {
		t.Fatal(err)
	}
	items := storedItems(t, s, f.ID)
	for _, it := range items {
		for _, str := range []string{it.Title, it.Summary, it.Content, it.Author, it.GUID, it.URL, it.Key} {
			if !utf8.ValidString(str) {
				t.Errorf("invalid UTF-8 stored: %q", str)
			}
		}
		if n := utf8.RuneCountInString(it.Title); n > faultMaxTitle {
			t.Errorf("title of %d characters stored", n)
		}
	}
	if n := utf8.RuneCountInString(f.Title); n > faultMaxTitle && f.Title != f.URL {
		t.Errorf("feed title of %d characters", n)
	}

	if ft.Want == faultfarm.WantError {
		if o.Err == nil {
			t.Fatalf("no error; %d items stored", len(items))
		}
		t.Logf("error: %.300s", o.Err)
		if len(items) != 0 {
			t.Errorf("%d items stored from a failed fetch", len(items))
		}
		if f.LastError == "" || f.ErrorCount != 1 {
			t.Errorf("failure not recorded on the feed: last error %q, error count %d", f.LastError, f.ErrorCount)
		}
		wantState := babelfeed.StateFailing
		if c.gone {
			wantState = babelfeed.StateGone
		}
		if f.State != wantState {
			t.Errorf("state %s, want %s", f.State, wantState)
		}
		if !c.gone && f.NextPoll.IsZero() {
			t.Errorf("failing feed not rescheduled")
		}
		if c.is != nil {
			if naf, ok := c.is.(*parse.NotAFeedError); ok {
				var got *parse.NotAFeedError
				if !errors.As(o.Err, &got) || got.Kind != naf.Kind {
					t.Errorf("want a NotAFeedError of kind %s", naf.Kind)
				}
			} else if !errors.Is(o.Err, c.is) {
				t.Errorf("error does not wrap %v", c.is)
			}
		}
		if c.contains != "" && !strings.Contains(o.Err.Error(), c.contains) {
			t.Errorf("error does not say %q", c.contains)
		}
		if c.status != 0 {
			var se *fetch.StatusError
			if !errors.As(o.Err, &se) || se.Code != c.status || f.LastStatus != c.status {
				t.Errorf("want HTTP %d recorded", c.status)
			}
		}
		return
	}

	if o.Err != nil {
		t.Fatalf("error %v; want a %s result", o.Err, ft.Want)
	}
	if f.State != babelfeed.StateOK || f.LastError != "" {
		t.Errorf("feed state %s, last error %q", f.State, f.LastError)
	}
	if c.items >= 0 && len(items) != c.items {
		t.Errorf("%d items stored, want %d", len(items), c.items)
	}
	if len(items) == 0 {
		t.Fatalf("nothing stored")
	}
	if o.Added != len(items) {
		t.Errorf("outcome says %d added, %d stored", o.Added, len(items))
	}
	if (c.note == "truncated") != o.Truncated || (c.note == "partial") != o.Partial {
		t.Errorf("outcome truncated %v, partial %v; want %q", o.Truncated, o.Partial, c.note)
	}
	if c.check != nil {
		// Newest first from the store; the checks read them in any order.
		c.check(t, items)
	}
}

// With DenyPrivate the poller refuses a feed on a loopback address, and
// says why on the feed; without it the same feed is stored.
func TestPollDenyPrivate(t *testing.T) {
	farm := faultFarm(t)
	for _, deny := range []bool{true, false} {
		p, s := faultPoller(t, fetch.Options{DenyPrivate: deny})
		feeds := subscribe(t, s, []string{farm.HealthyURL("it", 0)})
		o := p.PollOne(context.Background(), feeds[0])
		f, err := s.Feed(feeds[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case deny && (!errors.Is(o.Err, fetch.ErrPrivateAddress) || !strings.Contains(f.LastError, "127.0.0.1") || f.State != babelfeed.StateFailing):
			t.Errorf("DenyPrivate: err %v, last error %q, state %s", o.Err, f.LastError, f.State)
		case !deny && (o.Err != nil || o.Added != 5):
			t.Errorf("allowed: added %d, err %v", o.Added, o.Err)
		}
	}
}

// panicTagger panics on the items of German feeds, as a detector bug met
// by a hostile document would.
type panicTagger struct{ Tagger }

func (p panicTagger) Detect(title, text, declared string, prior map[string]int) lang.Result {
	if declared == "de" {
		panic("tagger bug")
	}
	return p.Tagger.Detect(title, text, declared, prior)
}

// A panic while polling one feed is that feed's failure, recorded on it,
// and the other feeds of the pass are stored.
func TestPanicIsAFeedFailure(t *testing.T) {
	farm := faultFarm(t)
	p, s := faultPoller(t, fetch.Options{})
	p.Tagger = panicTagger{detector(t)}
	feeds := subscribe(t, s, []string{farm.HealthyURL("it", 0), farm.HealthyURL("de", 0), farm.HealthyURL("en", 0)})
	out := p.PollFeeds(context.Background(), feeds, nil)
	for i, o := range out {
		f, err := s.Feed(feeds[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		n := len(storedItems(t, s, f.ID))
		if i == 1 {
			if !errors.Is(o.Err, ErrPanic) || f.State != babelfeed.StateFailing || !strings.Contains(f.LastError, "tagger bug") || n != 0 {
				t.Errorf("panicking feed: err %v, state %s, last error %q, %d items", o.Err, f.State, f.LastError, n)
			}
			continue
		}
		if o.Err != nil || n != 5 {
			t.Errorf("feed %s beside it: err %v, %d items", f.URL, o.Err, n)
		}
	}
}
