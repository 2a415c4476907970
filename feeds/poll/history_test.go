package poll

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"babelfeed/feeds/schedule"
)

// steadyFeed publishes every 30 minutes, the last item 10 minutes before
// t0.
func steadyFeed() (body string, pubs []time.Time) {
	var entries []entry
	for i := range 8 {
		pub := t0.Add(-10*time.Minute - time.Duration(i)*30*time.Minute)
		pubs = append(pubs, pub)
		desc := sentIT
		if i%2 == 1 {
			desc = sentIT2
		}
		entries = append(entries, entry{GUID: "n" + string(rune('a'+i)), Title: "Notizia", Desc: desc, Pub: pub})
	}
	return rssDoc("Notizie frequenti", "it", entries...), pubs
}

// When nothing changed (a 304, or the same body again), the next poll is
// still timed by the feed's entry rate, read from the stored items, rather
// than falling back to the default interval.
func TestAdaptiveIntervalSurvivesNotModified(t *testing.T) {
	body, pubs := steadyFeed()
	for _, validators := range []bool{true, false} {
		name := "304"
		if !validators {
			name = "same body"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.poller.Policy.Jitter = 0 // exact expectations
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveFeed(w, body) })
			if validators {
				handler = conditionalFeed(body)
			}
			srv := newServer(t, handler)
			f := e.add(srv.URL + "/feed")[0]
			policy := e.poller.Policy

			o := e.poll(f.ID)
			if o.Err != nil || o.Added != len(pubs) {
				t.Fatalf("first poll: added %d, err %v", o.Added, o.Err)
			}
			want := policy.Next(t0, schedule.History{ItemTimes: pubs}, schedule.Hints{}, nil)
			got := e.feed(f.ID)
			if !got.NextPoll.Equal(want.At) || got.NextReason != want.Reason {
				t.Errorf("after 200: next %v (%s), want %v (%s)", got.NextPoll, got.NextReason, want.At, want.Reason)
			}
			if !strings.HasPrefix(got.NextReason, "entry rate") || got.NextPoll.Sub(t0) >= policy.Default {
				t.Errorf("after 200: the steady feed is not on its entry rate: %s", got.NextReason)
			}

			now := got.NextPoll
			e.clock.Set(now)
			o = e.poll(f.ID)
			if o.Err != nil || !o.NotModified {
				t.Fatalf("second poll: not modified %v, err %v", o.NotModified, o.Err)
			}
			want = policy.Next(now, schedule.History{ItemTimes: pubs}, schedule.Hints{}, nil)
			got = e.feed(f.ID)
			if !got.NextPoll.Equal(want.At) || got.NextReason != want.Reason {
				t.Errorf("after %s: next %v (%s), want %v (%s)", name, got.NextPoll, got.NextReason, want.At, want.Reason)
			}
			if !strings.HasPrefix(got.NextReason, "entry rate") {
				t.Errorf("after %s: fell back from the entry rate: %s", name, got.NextReason)
			}
			if e.parses.Load() != 1 {
				t.Errorf("%d parses, want 1", e.parses.Load())
			}
		})
	}
}

// Items without dates count from when they were first seen: after a
// second poll brings a new undated item, the feed has a rate, although
// every undated item in the document looks brand new to the parser.
func TestAdaptiveIntervalUndatedItems(t *testing.T) {
	e := newEnv(t)
	e.poller.Policy.Jitter = 0
	var mu sync.Mutex
	entries := []entry{
		{GUID: "u1", Title: "Primo", Desc: sentIT},
		{GUID: "u2", Title: "Secondo", Desc: sentIT2},
		{GUID: "u3", Title: "First", Desc: sentEN},
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		serveFeed(w, rssDoc("Senza date", "it", entries...))
	})
	f := e.add(srv.URL + "/feed")[0]
	policy := e.poller.Policy

	if o := e.poll(f.ID); o.Err != nil || o.Added != 3 {
		t.Fatalf("first poll: added %d, err %v", o.Added, o.Err)
	}
	got := e.feed(f.ID)
	if !strings.Contains(got.NextReason, "one publication") {
		t.Errorf("after the first poll: %s (want the default: one publication so far)", got.NextReason)
	}

	mu.Lock()
	entries = append([]entry{{GUID: "u4", Title: "Terzo", Desc: sentIT}}, entries...)
	mu.Unlock()
	now := t0.Add(30 * time.Minute)
	e.clock.Set(now)
	if o := e.poll(f.ID); o.Err != nil || o.Added != 1 || o.Unchanged != 3 {
		t.Fatalf("second poll: %+v", o)
	}
	want := policy.Next(now, schedule.History{ItemTimes: []time.Time{t0, t0, t0, now}}, schedule.Hints{}, nil)
	got = e.feed(f.ID)
	if !got.NextPoll.Equal(want.At) || got.NextReason != want.Reason {
		t.Errorf("after the second poll: next %v (%s), want %v (%s)", got.NextPoll, got.NextReason, want.At, want.Reason)
	}
	if !strings.HasPrefix(got.NextReason, "entry rate") {
		t.Errorf("after the second poll: no entry rate: %s", got.NextReason)
	}
	// The stored items kept the times they were first seen.
	for _, it := range e.items(f.ID) {
		wantSeen := t0
		if it.Key == "u4" {
			wantSeen = now
		}
		if !it.FirstSeen.Equal(wantSeen) || !it.Published.Equal(wantSeen) {
			t.Errorf("item %s: first seen %v, published %v; want %v", it.Key, it.FirstSeen, it.Published, wantSeen)
		}
	}
}

// A feed with nothing stored yet that answers 304 (validators from an
// import, say) gets the default interval.
func TestNotModifiedWithoutHistory(t *testing.T) {
	e := newEnv(t)
	e.poller.Policy.Jitter = 0
	srv := newServer(t, conditionalFeed(italianFeed(t0)))
	f := e.add(srv.URL + "/feed")[0]
	f.ETag = `"same"`
	if err := e.store.UpdateFeed(f); err != nil {
		t.Fatal(err)
	}
	if o := e.poll(f.ID); o.Err != nil || !o.NotModified {
		t.Fatalf("poll: %+v", o)
	}
	got := e.feed(f.ID)
	if !got.NextPoll.Equal(t0.Add(e.poller.Policy.Default)) || !strings.Contains(got.NextReason, "default") {
		t.Errorf("next %v (%s), want the default interval", got.NextPoll, got.NextReason)
	}
}

// Cache-Control max-age counts from when the response was made, not from
// when a cache handed it over: the time it spent in caches (Age) is taken
// off.
func TestMaxAgeLessAge(t *testing.T) {
	body, _ := steadyFeed() // its entry rate alone gives about 17m
	for _, tc := range []struct {
		name, age string
		want      time.Duration
		reason    string
	}{
		{"fresh from the origin", "", 2 * time.Hour, "max-age 2h honoured"},
		{"held by a cache for 90m", "5400", 30 * time.Minute, "max-age 30m honoured"},
		{"stale in the cache", "9000", 0, "entry rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.poller.Policy.Jitter = 0
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=7200")
				if tc.age != "" {
					w.Header().Set("Age", tc.age)
				}
				serveFeed(w, body)
			})
			f := e.add(srv.URL + "/feed")[0]
			if o := e.poll(f.ID); o.Err != nil {
				t.Fatal(o.Err)
			}
			got := e.feed(f.ID)
			if !strings.Contains(got.NextReason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", got.NextReason, tc.reason)
			}
			if tc.want > 0 && !got.NextPoll.Equal(t0.Add(tc.want)) {
				t.Errorf("next poll in %s, want %s", got.NextPoll.Sub(t0), tc.want)
			}
			if tc.want == 0 && got.NextPoll.Sub(t0) >= 30*time.Minute {
				t.Errorf("a stale response still lengthened the interval: next poll in %s (%s)", got.NextPoll.Sub(t0), got.NextReason)
			}
		})
	}
}
