package poll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
)

func TestDue(t *testing.T) {
	now := t0
	feeds := []babelfeed.Feed{
		{ID: 1},                                 // never polled
		{ID: 2, NextPoll: now},                  // due exactly now
		{ID: 3, NextPoll: now.Add(-time.Hour)},  // overdue
		{ID: 4, NextPoll: now.Add(time.Minute)}, // not yet
		{ID: 5, State: babelfeed.StateGone},     // gone, never due
		{ID: 6, State: babelfeed.StateFailing},  // failing feeds stay in rotation
		{ID: 7, State: babelfeed.StateGone, NextPoll: now.Add(-time.Hour)},
	}
	var got []uint64
	for _, f := range Due(feeds, now) {
		got = append(got, f.ID)
	}
	if want := []uint64{1, 2, 3, 6}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Due = %v, want %v", got, want)
	}
}

// A 200 stores the items with their languages; the next poll is
// conditional, and the 304 it gets parses nothing and keeps the validators.
func TestPoll200Then304(t *testing.T) {
	e := newEnv(t)
	const etag = `"v1"`
	lastMod := t0.Add(-time.Hour).Format(http.TimeFormat)
	body := italianFeed(t0)
	var mu sync.Mutex
	var problems []string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
		if inm != "" || ims != "" {
			if inm != etag || ims != lastMod {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("conditional request with If-None-Match %q, If-Modified-Since %q", inm, ims))
				mu.Unlock()
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if n := strings.Count(r.Header.Get("User-Agent"), "babelfeed"); n == 0 {
			mu.Lock()
			problems = append(problems, "no babelfeed User-Agent: "+r.Header.Get("User-Agent"))
			mu.Unlock()
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		serveFeed(w, body)
	})
	f := e.add(srv.URL + "/feed.xml")[0]

	o := e.poll(f.ID)
	if o.Err != nil || o.Status != 200 || o.NotModified {
		t.Fatalf("first poll: status %d, not modified %v, err %v", o.Status, o.NotModified, o.Err)
	}
	if o.Added != 3 || o.Updated != 0 || o.Unchanged != 0 {
		t.Errorf("first poll: added %d updated %d unchanged %d, want 3 0 0", o.Added, o.Updated, o.Unchanged)
	}
	if o.StoredByLang["it"] != 2 || o.StoredByLang["en"] != 1 {
		t.Errorf("first poll: StoredByLang = %v, want it:2 en:1", o.StoredByLang)
	}
	got := e.feed(f.ID)
	if got.State != babelfeed.StateOK || got.ETag != etag || got.LastModified != lastMod || got.BodyHash == "" {
		t.Errorf("after 200: state %q, ETag %q, Last-Modified %q, hash %q", got.State, got.ETag, got.LastModified, got.BodyHash)
	}
	if got.Title != "Notizie dal comune" || got.DeclaredLang != "it" || got.LastStatus != 200 {
		t.Errorf("after 200: title %q, declared %q, status %d", got.Title, got.DeclaredLang, got.LastStatus)
	}
	if !got.LastFetched.Equal(t0) || !got.LastSuccess.Equal(t0) {
		t.Errorf("after 200: LastFetched %v, LastSuccess %v, want %v", got.LastFetched, got.LastSuccess, t0)
	}
	if !got.NextPoll.After(t0) || got.NextReason == "" {
		t.Errorf("after 200: NextPoll %v (now %v), reason %q", got.NextPoll, t0, got.NextReason)
	}
	if got.Items != 3 || got.Languages["it"] != 2 || got.Languages["en"] != 1 {
		t.Errorf("after 200: Items %d, Languages %v", got.Items, got.Languages)
	}
	langs := map[string]string{}
	for _, it := range e.items(f.ID) {
		langs[it.Key] = it.Lang
		if it.DeclaredLang != "it" || it.FeedID != f.ID || it.LangMethod == "" {
			t.Errorf("item %s: declared %q, feed %d, method %q", it.Key, it.DeclaredLang, it.FeedID, it.LangMethod)
		}
	}
	if want := map[string]string{"it-1": "it", "it-2": "it", "en-1": "en"}; fmt.Sprint(langs) != fmt.Sprint(want) {
		t.Errorf("stored languages %v, want %v", langs, want)
	}
	if n := e.parses.Load(); n != 1 {
		t.Errorf("%d parses after the first poll, want 1", n)
	}

	e.clock.Advance(2 * time.Hour)
	o = e.poll(f.ID)
	if o.Err != nil || o.Status != 304 || !o.NotModified {
		t.Fatalf("second poll: status %d, not modified %v, err %v", o.Status, o.NotModified, o.Err)
	}
	if o.Added+o.Updated+o.Unchanged != 0 {
		t.Errorf("304 stored items: %+v", o)
	}
	if n := e.parses.Load(); n != 1 {
		t.Errorf("the 304 was parsed: %d parses", n)
	}
	got = e.feed(f.ID)
	now := t0.Add(2 * time.Hour)
	if got.State != babelfeed.StateOK || got.ETag != etag || got.LastModified != lastMod || got.LastStatus != 304 {
		t.Errorf("after 304: state %q, ETag %q, Last-Modified %q, status %d", got.State, got.ETag, got.LastModified, got.LastStatus)
	}
	if !got.LastFetched.Equal(now) || !got.LastSuccess.Equal(now) {
		t.Errorf("after 304: LastFetched %v, LastSuccess %v, want %v", got.LastFetched, got.LastSuccess, now)
	}
	if !got.NextPoll.After(now) || got.NextReason == "" {
		t.Errorf("after 304: NextPoll %v (now %v), reason %q", got.NextPoll, now, got.NextReason)
	}
	if got.Items != 3 || len(e.items(f.ID)) != 3 {
		t.Errorf("after 304: %d items counted, %d stored, want 3", got.Items, len(e.items(f.ID)))
	}
	if srv.Hits("/feed.xml") != 2 {
		t.Errorf("server saw %d requests, want 2", srv.Hits("/feed.xml"))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error("server:", p)
	}
}

// A 304 that carries a new validator replaces the stored one; one without
// validators keeps the stored ones.
func TestPoll304UpdatesValidators(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	current := `"a"`
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") != "" {
			w.Header().Set("ETag", current)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", current)
		serveFeed(w, italianFeed(t0))
	})
	f := e.add(srv.URL + "/f")[0]
	if o := e.poll(f.ID); o.Err != nil {
		t.Fatal(o.Err)
	}
	mu.Lock()
	current = `"b"`
	mu.Unlock()
	if o := e.poll(f.ID); o.Err != nil || !o.NotModified {
		t.Fatalf("second poll: %+v", o)
	}
	if got := e.feed(f.ID).ETag; got != `"b"` {
		t.Errorf("ETag after a 304 with a new one = %q, want \"b\"", got)
	}
}

// A 200 whose body is byte for byte the last one is not parsed again; a
// changed body is, and only its changed items are stored.
func TestPollIdenticalBodyNotParsed(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	body := italianFeed(t0)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			t.Errorf("conditional request without validators having been sent")
		}
		mu.Lock()
		b := body
		mu.Unlock()
		serveFeed(w, b) // no validators: every answer is a 200
	})
	f := e.add(srv.URL + "/feed.xml")[0]
	if o := e.poll(f.ID); o.Err != nil || o.Added != 3 {
		t.Fatalf("first poll: added %d, err %v", o.Added, o.Err)
	}
	first := e.feed(f.ID)

	e.clock.Advance(time.Hour)
	o := e.poll(f.ID)
	if o.Err != nil || o.Status != 200 || !o.NotModified {
		t.Fatalf("identical body: status %d, not modified %v, err %v", o.Status, o.NotModified, o.Err)
	}
	if n := e.parses.Load(); n != 1 {
		t.Errorf("identical body parsed again: %d parses", n)
	}
	if o.Added+o.Updated+o.Unchanged != 0 {
		t.Errorf("identical body stored items: %+v", o)
	}
	got := e.feed(f.ID)
	if got.BodyHash != first.BodyHash || got.State != babelfeed.StateOK || !got.LastSuccess.Equal(t0.Add(time.Hour)) {
		t.Errorf("after identical body: hash %q (was %q), state %q, LastSuccess %v", got.BodyHash, first.BodyHash, got.State, got.LastSuccess)
	}
	if !got.NextPoll.After(t0.Add(time.Hour)) {
		t.Errorf("after identical body: NextPoll %v", got.NextPoll)
	}

	// One item edited, one added: parsed once more, one update, one add.
	mu.Lock()
	body = rssDoc("Notizie dal comune", "it",
		entry{GUID: "it-1", Title: "Piste ciclabili approvate", Desc: sentIT + " Il cantiere apre a maggio.", Pub: t0.Add(-3 * time.Hour)},
		entry{GUID: "it-2", Title: "Letture in biblioteca", Desc: sentIT2, Pub: t0.Add(-2 * time.Hour)},
		entry{GUID: "en-1", Title: "Cycling lanes approved", Desc: sentEN, Pub: t0.Add(-time.Hour)},
		entry{GUID: "es-1", Title: "Carriles bici aprobados", Desc: sentES, Pub: t0.Add(30 * time.Minute)},
	)
	mu.Unlock()
	e.clock.Advance(time.Hour)
	o = e.poll(f.ID)
	if o.Err != nil || o.NotModified || o.Added != 1 || o.Updated != 1 || o.Unchanged != 2 {
		t.Fatalf("changed body: %+v", o)
	}
	if n := e.parses.Load(); n != 2 {
		t.Errorf("changed body: %d parses, want 2", n)
	}
	if o.StoredByLang["es"] != 1 || o.StoredByLang["it"] != 1 || len(o.StoredByLang) != 2 {
		t.Errorf("changed body: StoredByLang %v, want es:1 it:1 (unchanged items are not re-tagged)", o.StoredByLang)
	}
	got = e.feed(f.ID)
	if got.Items != 4 || got.Languages["es"] != 1 || got.BodyHash == first.BodyHash {
		t.Errorf("after changed body: Items %d, Languages %v, hash unchanged %v", got.Items, got.Languages, got.BodyHash == first.BodyHash)
	}
	e.checkConsistent()
}

// 301 and 308 move the subscription; 302 and 307 do not.
func TestPollRedirects(t *testing.T) {
	for _, tc := range []struct {
		code  int
		moves bool
	}{
		{http.StatusMovedPermanently, true},
		{http.StatusPermanentRedirect, true},
		{http.StatusFound, false},
		{http.StatusTemporaryRedirect, false},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			e := newEnv(t)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/old":
					http.Redirect(w, r, "/new", tc.code)
				case "/new":
					w.Header().Set("ETag", `"x"`)
					if r.Header.Get("If-None-Match") == `"x"` {
						w.WriteHeader(http.StatusNotModified)
						return
					}
					serveFeed(w, italianFeed(t0))
				default:
					http.NotFound(w, r)
				}
			})
			oldURL, newURL := srv.URL+"/old", srv.URL+"/new"
			f := e.add(oldURL)[0]
			o := e.poll(f.ID)
			if o.Err != nil || o.Added != 3 {
				t.Fatalf("poll: added %d, err %v", o.Added, o.Err)
			}
			got := e.feed(f.ID)
			if tc.moves {
				if got.URL != newURL || len(got.PrevURLs) != 1 || got.PrevURLs[0] != oldURL {
					t.Errorf("after %d: URL %q, PrevURLs %q; want %q, [%q]", tc.code, got.URL, got.PrevURLs, newURL, oldURL)
				}
				if byOld, err := e.store.FeedByURL(oldURL); err != nil || byOld.ID != f.ID {
					t.Errorf("the old URL no longer finds the feed: %v", err)
				}
			} else if got.URL != oldURL || len(got.PrevURLs) != 0 {
				t.Errorf("after %d: URL %q, PrevURLs %q; want it unchanged", tc.code, got.URL, got.PrevURLs)
			}

			e.clock.Advance(2 * time.Hour)
			if o := e.poll(f.ID); o.Err != nil || !o.NotModified {
				t.Fatalf("second poll: not modified %v, err %v", o.NotModified, o.Err)
			}
			wantOld := 2
			if tc.moves {
				wantOld = 1 // the second poll went straight to the new URL
			}
			if n := srv.Hits("/old"); n != wantOld {
				t.Errorf("/old requested %d times, want %d", n, wantOld)
			}
			if n := srv.Hits("/new"); n != 2 {
				t.Errorf("/new requested %d times, want 2", n)
			}
		})
	}
}

// A permanent redirect to an address another subscription already has
// leaves both subscriptions where they are.
func TestPollRedirectToSubscribedURL(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
			return
		}
		serveFeed(w, italianFeed(t0))
	})
	feeds := e.add(srv.URL+"/old", srv.URL+"/new")
	if o := e.poll(feeds[0].ID); o.Err != nil {
		t.Fatal(o.Err)
	}
	if got := e.feed(feeds[0].ID); got.URL != srv.URL+"/old" || len(got.PrevURLs) != 0 {
		t.Errorf("feed moved onto another subscription's URL: URL %q, PrevURLs %q", got.URL, got.PrevURLs)
	}
	if byNew, err := e.store.FeedByURL(srv.URL + "/new"); err != nil || byNew.ID != feeds[1].ID {
		t.Errorf("/new no longer finds its own feed: %+v, %v", byNew.ID, err)
	}
}

// Redirect loops and chains that are too long fail the poll and are
// recorded on the feed.
func TestPollRedirectErrors(t *testing.T) {
	srvHandler := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/a":
			http.Redirect(w, r, "/b", http.StatusFound)
		case r.URL.Path == "/b":
			http.Redirect(w, r, "/a", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n+1), http.StatusMovedPermanently)
		default:
			http.NotFound(w, r)
		}
	}
	for _, tc := range []struct {
		name, path string
		want       error
		msg        string
	}{
		{"loop", "/a", fetch.ErrRedirectLoop, "redirect loop"},
		{"too many", "/hop/0", fetch.ErrTooManyRedirects, "too many redirects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			srv := newServer(t, srvHandler)
			f := e.add(srv.URL + tc.path)[0]
			o := e.poll(f.ID)
			if !errors.Is(o.Err, tc.want) {
				t.Fatalf("err = %v, want %v", o.Err, tc.want)
			}
			got := e.feed(f.ID)
			if got.State != babelfeed.StateFailing || got.ErrorCount != 1 || !strings.Contains(got.LastError, tc.msg) {
				t.Errorf("state %q, errors %d, LastError %q", got.State, got.ErrorCount, got.LastError)
			}
			if got.URL != srv.URL+tc.path || !got.NextPoll.After(t0) {
				t.Errorf("URL %q, NextPoll %v", got.URL, got.NextPoll)
			}
		})
	}
}

// 404 and 500 back off exponentially, keep the first failure's time, and a
// later 200 clears the failure.
func TestPollErrorBackoff(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			e := newEnv(t)
			var mu sync.Mutex
			failing := true
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				fail := failing
				mu.Unlock()
				if fail {
					http.Error(w, "nope", code)
					return
				}
				serveFeed(w, italianFeed(t0))
			})
			f := e.add(srv.URL + "/feed")[0]
			first := e.clock.Now()
			var prevWait time.Duration
			for n := 1; n <= 4; n++ {
				now := e.clock.Now()
				o := e.poll(f.ID)
				var se *fetch.StatusError
				if !errors.As(o.Err, &se) || se.Code != code || o.Status != code {
					t.Fatalf("poll %d: status %d, err %v", n, o.Status, o.Err)
				}
				got := e.feed(f.ID)
				if got.State != babelfeed.StateFailing || got.ErrorCount != n || got.LastStatus != code {
					t.Errorf("poll %d: state %q, errors %d, status %d", n, got.State, got.ErrorCount, got.LastStatus)
				}
				if !got.FailingSince.Equal(first) {
					t.Errorf("poll %d: FailingSince %v, want the first failure %v", n, got.FailingSince, first)
				}
				if !strings.Contains(got.LastError, strconv.Itoa(code)) {
					t.Errorf("poll %d: LastError %q does not name HTTP %d", n, got.LastError, code)
				}
				if !strings.Contains(got.NextReason, fmt.Sprintf("error #%d", n)) {
					t.Errorf("poll %d: NextReason %q", n, got.NextReason)
				}
				wait := got.NextPoll.Sub(now)
				if wait <= prevWait {
					t.Errorf("poll %d: wait %s does not grow (previous %s)", n, wait, prevWait)
				}
				prevWait = wait
				// Still in rotation, due when its time comes.
				if len(Due([]babelfeed.Feed{got}, got.NextPoll)) != 1 || len(Due([]babelfeed.Feed{got}, now)) != 0 {
					t.Errorf("poll %d: failing feed not due at its NextPoll, or due before", n)
				}
				e.clock.Set(got.NextPoll)
			}
			if items := e.items(f.ID); len(items) != 0 {
				t.Errorf("%d items stored from error pages", len(items))
			}

			mu.Lock()
			failing = false
			mu.Unlock()
			o := e.poll(f.ID)
			if o.Err != nil || o.Added != 3 {
				t.Fatalf("recovery: added %d, err %v", o.Added, o.Err)
			}
			got := e.feed(f.ID)
			if got.State != babelfeed.StateOK || got.ErrorCount != 0 || !got.FailingSince.IsZero() || got.LastError != "" || got.LastStatus != 200 {
				t.Errorf("after recovery: state %q, errors %d, since %v, LastError %q, status %d",
					got.State, got.ErrorCount, got.FailingSince, got.LastError, got.LastStatus)
			}
		})
	}
}

// 429 and 503 with Retry-After, in seconds or as an HTTP date, are waited
// out in full.
func TestPollRetryAfter(t *testing.T) {
	const wait = 2 * time.Hour
	serverDate := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // skewed from the poller's clock on purpose
	for _, tc := range []struct {
		name  string
		code  int
		value string
	}{
		{"429 seconds", http.StatusTooManyRequests, strconv.Itoa(int(wait.Seconds()))},
		{"503 date", http.StatusServiceUnavailable, serverDate.Add(wait).Format(http.TimeFormat)},
		{"429 date", http.StatusTooManyRequests, serverDate.Add(wait).Format(http.TimeFormat)},
		{"503 seconds", http.StatusServiceUnavailable, strconv.Itoa(int(wait.Seconds()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Date", serverDate.Format(http.TimeFormat))
				w.Header().Set("Retry-After", tc.value)
				http.Error(w, "slow down", tc.code)
			})
			f := e.add(srv.URL + "/feed")[0]
			o := e.poll(f.ID)
			var se *fetch.StatusError
			if !errors.As(o.Err, &se) || se.Code != tc.code || se.RetryAfter != wait {
				t.Fatalf("err = %v, want HTTP %d with Retry-After %s", o.Err, tc.code, wait)
			}
			got := e.feed(f.ID)
			if got.NextPoll.Before(t0.Add(wait)) {
				t.Errorf("NextPoll %v is before now + Retry-After (%v)", got.NextPoll, t0.Add(wait))
			}
			if got.State != babelfeed.StateFailing || got.ErrorCount != 1 || !strings.Contains(got.NextReason, "Retry-After") {
				t.Errorf("state %q, errors %d, reason %q", got.State, got.ErrorCount, got.NextReason)
			}
		})
	}
}

// A Retry-After from one feed's host defers every other feed of that host,
// without counting it as their error; other hosts are not affected, and the
// host is asked again once the wait is over.
func TestRetryAfterAppliesToHost(t *testing.T) {
	e := newEnv(t)
	e.poller.PerHost = 1
	var mu sync.Mutex
	limited := true
	busy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		l := limited
		mu.Unlock()
		if l {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		serveFeed(w, italianFeed(t0))
	})
	other := newServer(t, func(w http.ResponseWriter, r *http.Request) { serveFeed(w, italianFeed(t0)) })
	feeds := e.add(busy.URL+"/a", busy.URL+"/b", other.URL+"/c")

	outcomes := e.poller.PollFeeds(context.Background(), feeds, nil)
	if busy.TotalHits() != 1 {
		t.Fatalf("the busy host got %d requests, want 1 (the second feed should wait)", busy.TotalHits())
	}
	var failed, deferred *Outcome
	for i := range outcomes[:2] {
		o := &outcomes[i]
		switch {
		case o.Deferred:
			deferred = o
		case o.Status == http.StatusTooManyRequests:
			failed = o
		}
	}
	if failed == nil || deferred == nil {
		t.Fatalf("outcomes %+v: want one 429 and one deferred", outcomes[:2])
	}
	until := t0.Add(time.Hour)
	if deferred.Err != nil || deferred.Status != 0 {
		t.Errorf("deferred outcome: status %d, err %v", deferred.Status, deferred.Err)
	}
	d := e.feed(deferred.Feed.ID)
	if d.State != babelfeed.StateOK || d.ErrorCount != 0 || d.LastError != "" || !d.LastFetched.IsZero() {
		t.Errorf("deferred feed counted as failing: state %q, errors %d, LastError %q, LastFetched %v", d.State, d.ErrorCount, d.LastError, d.LastFetched)
	}
	if !d.NextPoll.Equal(until) || !strings.Contains(d.NextReason, "Retry-After") {
		t.Errorf("deferred feed: NextPoll %v (want the host's %v), reason %q", d.NextPoll, until, d.NextReason)
	}
	if fl := e.feed(failed.Feed.ID); fl.ErrorCount != 1 || fl.NextPoll.Before(until) {
		t.Errorf("429 feed: errors %d, NextPoll %v", fl.ErrorCount, fl.NextPoll)
	}
	if o := outcomes[2]; o.Err != nil || o.Added != 3 || other.TotalHits() != 1 {
		t.Errorf("feed on another host: %+v, %d requests", o, other.TotalHits())
	}

	// Half way through the wait, neither feed of the host is fetched.
	e.clock.Set(t0.Add(30 * time.Minute))
	for _, o := range e.poller.PollFeeds(context.Background(), []babelfeed.Feed{e.feed(feeds[0].ID), e.feed(feeds[1].ID)}, nil) {
		if !o.Deferred {
			t.Errorf("feed %d polled during the host's Retry-After: %+v", o.Feed.ID, o)
		}
	}
	if busy.TotalHits() != 1 {
		t.Errorf("the busy host got %d requests during its Retry-After", busy.TotalHits())
	}

	// After it, both are fetched.
	mu.Lock()
	limited = false
	mu.Unlock()
	e.clock.Set(until)
	for _, o := range e.poller.PollFeeds(context.Background(), []babelfeed.Feed{e.feed(feeds[0].ID), e.feed(feeds[1].ID)}, nil) {
		if o.Deferred || o.Err != nil || o.Added != 3 {
			t.Errorf("feed %d after the wait: %+v", o.Feed.ID, o)
		}
	}
	if busy.TotalHits() != 3 {
		t.Errorf("the busy host got %d requests in all, want 3", busy.TotalHits())
	}
}

// A Retry-After far in the future defers the host's other feeds no longer
// than the policy's MaxBackoff, as for the feed that got it.
func TestRetryAfterHostCap(t *testing.T) {
	e := newEnv(t)
	e.poller.PerHost = 1
	e.poller.Workers = 1 // the 429 feed goes first
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", strconv.Itoa(10*24*3600))
		http.Error(w, "come back in ten days", http.StatusServiceUnavailable)
	})
	feeds := e.add(srv.URL+"/a", srv.URL+"/b")
	out := e.poller.PollFeeds(context.Background(), feeds, nil)
	if out[0].Status != http.StatusServiceUnavailable || !out[1].Deferred {
		t.Fatalf("outcomes %+v", out)
	}
	limit := t0.Add(e.poller.Policy.MaxBackoff)
	if next := e.feed(feeds[1].ID).NextPoll; !next.Equal(limit) {
		t.Errorf("deferred feed's NextPoll %v, want capped at %v", next, limit)
	}
}

// A 410 marks the feed gone: it is never due again.
func TestPollGone(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	f := e.add(srv.URL + "/feed")[0]
	o := e.poll(f.ID)
	if o.Status != http.StatusGone || o.Err == nil {
		t.Fatalf("outcome %+v", o)
	}
	got := e.feed(f.ID)
	if got.State != babelfeed.StateGone || !got.NextPoll.IsZero() || got.LastStatus != 410 || !strings.Contains(got.LastError, "410") {
		t.Errorf("state %q, NextPoll %v, status %d, LastError %q", got.State, got.NextPoll, got.LastStatus, got.LastError)
	}
	if !strings.Contains(got.NextReason, "gone") {
		t.Errorf("NextReason %q", got.NextReason)
	}
	feeds, err := e.store.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{t0, t0.Add(365 * 24 * time.Hour)} {
		if due := Due(feeds, at); len(due) != 0 {
			t.Errorf("gone feed due at %v", at)
		}
	}
}

// A server that never answers hits the client's timeout, recorded as a
// failure like any other.
func TestPollTimeout(t *testing.T) {
	e := newEnv(t)
	e.poller.Fetch = fetch.New(fetch.Options{Timeout: 300 * time.Millisecond})
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	f := e.add(srv.URL + "/slow")[0]
	o := e.poll(f.ID)
	if !errors.Is(o.Err, fetch.ErrTimeout) {
		t.Fatalf("err = %v, want a timeout", o.Err)
	}
	got := e.feed(f.ID)
	if got.State != babelfeed.StateFailing || got.ErrorCount != 1 || got.LastStatus != 0 || !strings.Contains(got.LastError, "timeout") {
		t.Errorf("state %q, errors %d, status %d, LastError %q", got.State, got.ErrorCount, got.LastStatus, got.LastError)
	}
	if !got.NextPoll.After(t0) {
		t.Errorf("NextPoll %v", got.NextPoll)
	}
}

// A body over the cap is cut off with an error, whether the server says
// its length up front or not.
func TestPollBodyCap(t *testing.T) {
	var many []entry
	for i := range 40 {
		many = append(many, entry{GUID: fmt.Sprint("g", i), Title: "Titolo", Desc: sentIT, Pub: t0.Add(-time.Duration(i) * time.Hour)})
	}
	big := rssDoc("Grande", "it", many...)
	if len(big) < 4096 {
		t.Fatalf("test feed only %d bytes", len(big))
	}
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed=%v", streamed), func(t *testing.T) {
			e := newEnv(t)
			e.poller.Fetch = fetch.New(fetch.Options{Timeout: 10 * time.Second, MaxBody: 2048})
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				if !streamed {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
					w.Write([]byte(big))
					return
				}
				for i := 0; i < len(big); i += 512 {
					w.Write([]byte(big[i:min(i+512, len(big))]))
					w.(http.Flusher).Flush()
				}
			})
			f := e.add(srv.URL + "/big")[0]
			o := e.poll(f.ID)
			if !errors.Is(o.Err, fetch.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", o.Err)
			}
			got := e.feed(f.ID)
			if got.State != babelfeed.StateFailing || !strings.Contains(got.LastError, "too large") || got.BodyHash != "" {
				t.Errorf("state %q, LastError %q, hash %q", got.State, got.LastError, got.BodyHash)
			}
			if n := len(e.items(f.ID)); n != 0 || e.parses.Load() != 0 {
				t.Errorf("%d items stored, %d parses from a cut-off body", n, e.parses.Load())
			}
		})
	}
}

// An HTML page is reported as not a feed, naming the feed it advertises.
func TestPollHTMLPage(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><html lang="it"><head><title>Il comune</title>
<link rel="alternate" type="application/rss+xml" title="Notizie" href="/notizie/feed.xml">
</head><body><p>` + sentIT + `</p></body></html>`))
	})
	f := e.add(srv.URL + "/")[0]
	o := e.poll(f.ID)
	var naf *parse.NotAFeedError
	if !errors.As(o.Err, &naf) || naf.Kind != parse.KindHTML {
		t.Fatalf("err = %v, want a NotAFeedError for HTML", o.Err)
	}
	want := srv.URL + "/notizie/feed.xml"
	if len(naf.Alternates) != 1 || naf.Alternates[0] != want {
		t.Errorf("alternates %q, want [%q]", naf.Alternates, want)
	}
	got := e.feed(f.ID)
	if got.State != babelfeed.StateFailing || !strings.Contains(got.LastError, "not a feed") || !strings.Contains(got.LastError, want) {
		t.Errorf("state %q, LastError %q (want it to say not a feed and name %s)", got.State, got.LastError, want)
	}
	if got.BodyHash != "" || len(e.items(f.ID)) != 0 {
		t.Errorf("hash %q, items %d after an HTML page", got.BodyHash, len(e.items(f.ID)))
	}
}

// Cancelling a poll is not the feed's fault: nothing is recorded.
func TestPollCancelledRecordsNothing(t *testing.T) {
	e := newEnv(t)
	entered := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	f := e.add(srv.URL + "/feed")[0]
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	o := e.poller.PollOne(ctx, e.feed(f.ID))
	if !errors.Is(o.Err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", o.Err)
	}
	got := e.feed(f.ID)
	if got.State != babelfeed.StateOK || got.ErrorCount != 0 || got.LastError != "" || !got.LastFetched.IsZero() || !got.NextPoll.IsZero() {
		t.Errorf("cancelled poll was recorded: %+v", got)
	}
}

// A feed the store no longer has (removed while queued) fails without
// taking the pass down.
func TestPollRemovedFeed(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serveFeed(w, italianFeed(t0)) })
	f := e.add(srv.URL + "/feed")[0]
	if err := e.store.RemoveFeed(f.ID); err != nil {
		t.Fatal(err)
	}
	o := e.poller.PollOne(context.Background(), f)
	if o.Err == nil {
		t.Errorf("polling a removed feed succeeded: %+v", o)
	}
	if _, err := e.store.Feed(f.ID); err == nil {
		t.Errorf("polling a removed feed brought it back")
	}
}

// cancelAfterFetch is the real client, with the caller's context cancelled
// right after the response arrives: the cancel strikes between fetch and
// parse.
type cancelAfterFetch struct {
	Fetcher
	cancel context.CancelFunc
}

func (c cancelAfterFetch) Fetch(ctx context.Context, req fetch.Request) (*fetch.Response, error) {
	resp, err := c.Fetcher.Fetch(ctx, req)
	c.cancel()
	return resp, err
}

// A cancel that comes after the body arrived but before it was parsed is
// not recorded as a parse failure of the feed.
func TestPollCancelledBeforeParse(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serveFeed(w, italianFeed(t0)) })
	f := e.add(srv.URL + "/feed")[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.poller.Fetch = cancelAfterFetch{Fetcher: e.poller.Fetch, cancel: cancel}
	o := e.poller.PollOne(ctx, e.feed(f.ID))
	if !errors.Is(o.Err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", o.Err)
	}
	got := e.feed(f.ID)
	if got.State != babelfeed.StateOK || got.ErrorCount != 0 || got.LastError != "" || !got.LastFetched.IsZero() || got.BodyHash != "" {
		t.Errorf("cancelled poll was recorded: %+v", got)
	}
}
