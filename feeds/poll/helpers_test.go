package poll

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/schedule"
	"babelfeed/filter/lang"
	"babelfeed/store"
)

// The detector is built once per test binary: lingua's models are large,
// and the race detector multiplies their memory. It runs in low-accuracy
// mode (trigram models): lingua loads its models on the first Detect, and
// under -race the high-accuracy models of these five languages took 36s to
// load here against 1.1s for the trigram ones. These tests are about
// polling; the items are whole sentences, which both modes tell apart, and
// filter/lang measures the accuracy of each mode.
var (
	detOnce sync.Once
	det     *lang.Detector
	detErr  error
)

func detector(t testing.TB) *lang.Detector {
	t.Helper()
	detOnce.Do(func() {
		cfg := lang.DefaultConfig()
		cfg.Languages = []string{"it", "en", "es", "de", "fr"}
		cfg.LowAccuracy = true
		det, detErr = lang.New(cfg)
		if detErr == nil {
			// Load the models now, not inside the first test's fetch.
			det.Detect("", sentIT, "", nil)
		}
	})
	if detErr != nil {
		t.Fatalf("build detector: %v", detErr)
	}
	return det
}

// t0 is the injected "now" of the tests that use a fake clock.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// clock is a fake clock that only moves when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testEnv is a poller over a real bbolt store, a real fetch client, a real
// parser and the real detector. Its clock is fake (frozen at t0 until a
// test moves it) unless realClock is called before the first poll.
type testEnv struct {
	t      *testing.T
	dbPath string
	store  *store.DB
	clock  *clock
	parses atomic.Int64 // documents the parser normalised
	poller *Poller
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dbPath: filepath.Join(t.TempDir(), "babelfeed.db"), clock: &clock{t: t0}}
	e.store = e.openStore()
	e.poller = e.newPoller()
	return e
}

// newPoller builds a poller over e's store with the test defaults: a
// 10s fetch timeout, the default policy, 4 workers, 2 requests per host.
func (e *testEnv) newPoller() *Poller {
	p := &Poller{
		Store:   e.store,
		Fetch:   fetch.New(fetch.Options{Timeout: 10 * time.Second}),
		Tagger:  detector(e.t),
		Policy:  schedule.DefaultPolicy(),
		Workers: 4,
		PerHost: 2,
		Now:     e.clock.Now,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	// The parser's clock counts parses: it is read once per document.
	p.Parse = parse.New(parse.Options{Now: func() time.Time {
		e.parses.Add(1)
		return p.now()
	}})
	return p
}

func (e *testEnv) openStore() *store.DB {
	e.t.Helper()
	s, err := store.Open(e.dbPath, store.Options{MmapSize: 1 << 20})
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// realClock makes the poller run on time.Now, as the daemon must (it
// sleeps on real timers until feeds fall due).
func (e *testEnv) realClock() { e.poller.Now = nil }

// add subscribes to urls and returns the new feeds in order.
func (e *testEnv) add(urls ...string) []babelfeed.Feed {
	e.t.Helper()
	feeds := make([]babelfeed.Feed, len(urls))
	for i, u := range urls {
		feeds[i] = babelfeed.Feed{URL: u}
	}
	added, existing, err := e.store.AddFeeds(feeds, false)
	if err != nil {
		e.t.Fatalf("add feeds: %v", err)
	}
	if len(existing) > 0 || len(added) != len(urls) {
		e.t.Fatalf("add feeds: %d added, %d existing, want %d new", len(added), len(existing), len(urls))
	}
	return added
}

func (e *testEnv) feed(id uint64) babelfeed.Feed {
	e.t.Helper()
	f, err := e.store.Feed(id)
	if err != nil {
		e.t.Fatalf("read feed %d: %v", id, err)
	}
	return f
}

// poll polls the stored copy of feed id once, as a pass would.
func (e *testEnv) poll(id uint64) Outcome {
	e.t.Helper()
	return e.poller.PollOne(context.Background(), e.feed(id))
}

// items returns the stored items of a feed, newest first.
func (e *testEnv) items(id uint64) []babelfeed.Item {
	e.t.Helper()
	var out []babelfeed.Item
	err := e.store.Items(context.Background(), babelfeed.Query{FeedIDs: []uint64{id}}, nil, func(it babelfeed.Item) bool {
		out = append(out, it)
		return true
	})
	if err != nil {
		e.t.Fatalf("read items of feed %d: %v", id, err)
	}
	return out
}

// checkConsistent checks that every feed's derived counts match its stored
// items, and that validators were never saved without items: what a half
// written feed would break.
func (e *testEnv) checkConsistent() {
	e.t.Helper()
	feeds, err := e.store.Feeds()
	if err != nil {
		e.t.Fatalf("list feeds: %v", err)
	}
	total := 0
	for _, f := range feeds {
		items := e.items(f.ID)
		if f.Items != len(items) {
			e.t.Errorf("feed %d: Items = %d, but %d items stored", f.ID, f.Items, len(items))
		}
		byLang := map[string]int{}
		for _, it := range items {
			byLang[it.Lang]++
		}
		for l, n := range byLang {
			if f.Languages[l] != n {
				e.t.Errorf("feed %d: Languages[%s] = %d, but %d items stored", f.ID, l, f.Languages[l], n)
			}
		}
		if len(f.Languages) != len(byLang) {
			e.t.Errorf("feed %d: Languages = %v, stored items give %v", f.ID, f.Languages, byLang)
		}
		if (f.BodyHash != "" || f.ETag != "") && len(items) == 0 {
			e.t.Errorf("feed %d: validators saved (hash %q, ETag %q) without items", f.ID, f.BodyHash, f.ETag)
		}
		total += len(items)
	}
	n, err := e.store.ItemCount()
	if err != nil {
		e.t.Fatalf("count items: %v", err)
	}
	if n != total {
		e.t.Errorf("ItemCount = %d, feeds hold %d", n, total)
	}
}

// server is an httptest server that counts requests per path.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *server) TotalHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hits {
		n += h
	}
	return n
}

// entry is one item of a test feed; a zero Pub leaves out the pubDate.
type entry struct {
	GUID, Title, Desc string
	Pub               time.Time
}

// rssDoc writes an RSS 2.0 document.
func rssDoc(title, language string, entries ...entry) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<rss version="2.0"><channel>`)
	fmt.Fprintf(&b, "<title>%s</title><link>https://example.org/</link><description>test feed</description>", html.EscapeString(title))
	if language != "" {
		fmt.Fprintf(&b, "<language>%s</language>", language)
	}
	for _, en := range entries {
		fmt.Fprintf(&b, "<item><guid isPermaLink=\"false\">%s</guid><title>%s</title><description>%s</description>",
			html.EscapeString(en.GUID), html.EscapeString(en.Title), html.EscapeString(en.Desc))
		if !en.Pub.IsZero() {
			fmt.Fprintf(&b, "<pubDate>%s</pubDate>", en.Pub.UTC().Format(time.RFC1123Z))
		}
		b.WriteString("</item>\n")
	}
	b.WriteString("</channel></rss>\n")
	return b.String()
}

// Sentences written for these tests, one topic in five languages.
const (
	sentIT  = "Il consiglio comunale ha approvato ieri sera il nuovo piano per le piste ciclabili del centro storico."
	sentIT2 = "Domenica mattina la biblioteca civica resterà aperta per una lettura pubblica dedicata ai bambini del quartiere."
	sentEN  = "The city council approved the new plan for cycling lanes in the old town centre late last night."
	sentES  = "El ayuntamiento aprobó anoche el nuevo plan de carriles para bicicletas en el casco antiguo de la ciudad."
	sentDE  = "Der Stadtrat hat gestern Abend den neuen Plan für die Radwege in der historischen Altstadt beschlossen."
	sentFR  = "Le conseil municipal a approuvé hier soir le nouveau plan des pistes cyclables du centre historique."
)

// italianFeed is a small Italian-declared feed with one English item.
func italianFeed(now time.Time) string {
	return rssDoc("Notizie dal comune", "it-IT",
		entry{GUID: "it-1", Title: "Piste ciclabili approvate", Desc: sentIT, Pub: now.Add(-3 * time.Hour)},
		entry{GUID: "it-2", Title: "Letture in biblioteca", Desc: sentIT2, Pub: now.Add(-2 * time.Hour)},
		entry{GUID: "en-1", Title: "Cycling lanes approved", Desc: sentEN, Pub: now.Add(-time.Hour)},
	)
}

// serveFeed answers with body as RSS.
func serveFeed(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	io.WriteString(w, body)
}
