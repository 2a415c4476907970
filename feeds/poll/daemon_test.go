package poll

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"babelfeed"
)

// safety bounds how long a daemon test waits for something that should
// happen at once; reaching it is a failure, not a measurement.
const safety = 30 * time.Second

// conditionalFeed serves body with an ETag and answers 304 to a request
// that sends it back.
func conditionalFeed(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"same"`)
		if r.Header.Get("If-None-Match") == `"same"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		serveFeed(w, body)
	}
}

// runDaemon starts d.Run and returns a function that cancels it and waits
// for it to return.
func runDaemon(t *testing.T, d *Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(safety):
				t.Fatal("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// outcomes collects what a daemon reports.
func outcomes(d *Daemon) <-chan Outcome {
	ch := make(chan Outcome, 100)
	d.OnOutcome = func(o Outcome) { ch <- o }
	return ch
}

// waitPolled reads outcomes until every id has been seen once.
func waitPolled(t *testing.T, ch <-chan Outcome, ids ...uint64) map[uint64]Outcome {
	t.Helper()
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[uint64]Outcome{}
	timeout := time.After(safety)
	for len(got) < len(want) {
		select {
		case o := <-ch:
			if !want[o.Feed.ID] {
				t.Errorf("feed %d polled unexpectedly: %+v", o.Feed.ID, o)
				continue
			}
			if _, dup := got[o.Feed.ID]; dup {
				t.Errorf("feed %d polled twice", o.Feed.ID)
			}
			got[o.Feed.ID] = o
		case <-timeout:
			t.Fatalf("polled %d of %d feeds within %s", len(got), len(want), safety)
		}
	}
	return got
}

// The daemon polls every due feed once, PollWait polls on demand, a
// cancelled Run returns, and a restarted daemon carries on from the
// schedule in the store.
func TestDaemonRunAndResume(t *testing.T) {
	e := newEnv(t)
	e.realClock()
	now := time.Now()
	srvA := newServer(t, conditionalFeed(italianFeed(now)))
	srvB := newServer(t, conditionalFeed(rssDoc("Noticias", "es",
		entry{GUID: "es-1", Title: "Carriles bici", Desc: sentES, Pub: now.Add(-time.Hour)},
		entry{GUID: "de-1", Title: "Radwege", Desc: sentDE, Pub: now.Add(-2 * time.Hour)},
		entry{GUID: "fr-1", Title: "Pistes cyclables", Desc: sentFR, Pub: now.Add(-3 * time.Hour)},
	)))
	feeds := e.add(srvA.URL+"/1", srvA.URL+"/2", srvB.URL+"/3")
	ids := []uint64{feeds[0].ID, feeds[1].ID, feeds[2].ID}

	d := NewDaemon(e.poller)
	polled := outcomes(d)
	stop := runDaemon(t, d)
	for id, o := range waitPolled(t, polled, ids...) {
		if o.Err != nil || o.Added != 3 || o.Status != 200 {
			t.Errorf("feed %d: status %d, added %d, err %v", id, o.Status, o.Added, o.Err)
		}
		if !o.Feed.NextPoll.After(now) {
			t.Errorf("feed %d: NextPoll %v", id, o.Feed.NextPoll)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	out, err := d.PollWait(ctx, []uint64{ids[2], ids[0]})
	if err != nil {
		t.Fatalf("PollWait: %v", err)
	}
	if len(out) != 2 || out[0].Feed.ID != ids[2] || out[1].Feed.ID != ids[0] {
		t.Fatalf("PollWait outcomes %+v, want feeds %d and %d in that order", out, ids[2], ids[0])
	}
	for _, o := range out {
		if o.Err != nil || !o.NotModified || o.Status != 304 {
			t.Errorf("PollWait feed %d: status %d, not modified %v, err %v", o.Feed.ID, o.Status, o.NotModified, o.Err)
		}
	}
	if queued, running := d.QueueLen(); queued != 3 || running != 0 {
		t.Errorf("QueueLen = %d queued, %d running; want 3, 0", queued, running)
	}
	stop()
	if a1, a2, b3 := srvA.Hits("/1"), srvA.Hits("/2"), srvB.Hits("/3"); a1 != 2 || a2 != 1 || b3 != 2 {
		t.Errorf("requests /1 %d, /2 %d, /3 %d; want 2, 1, 2", a1, a2, b3)
	}
	e.checkConsistent()
	got := e.feed(ids[2])
	if got.Languages["es"] != 1 || got.Languages["de"] != 1 || got.Languages["fr"] != 1 {
		t.Errorf("feed 3 languages %v, want es, de and fr once each", got.Languages)
	}

	// Restart: feed 2 is made due, feeds 1 and 3 are not due for a while.
	f2 := e.feed(ids[1])
	f2.NextPoll = time.Time{}
	if err := e.store.UpdateFeed(f2); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	e.store = e.openStore()
	e.poller = e.newPoller()
	e.realClock()
	d2 := NewDaemon(e.poller)
	polled2 := outcomes(d2)
	stop2 := runDaemon(t, d2)
	o := waitPolled(t, polled2, ids[1])[ids[1]]
	if o.Err != nil || !o.NotModified {
		t.Errorf("feed 2 after restart: status %d, err %v", o.Status, o.Err)
	}
	if queued, _ := d2.QueueLen(); queued != 3 {
		t.Errorf("restarted daemon has %d feeds queued, want 3", queued)
	}
	stop2()
	if a1, a2, b3 := srvA.Hits("/1"), srvA.Hits("/2"), srvB.Hits("/3"); a1 != 2 || a2 != 2 || b3 != 2 {
		t.Errorf("after restart: requests /1 %d, /2 %d, /3 %d; want 2, 2, 2 (only the due feed polled)", a1, a2, b3)
	}
	select {
	case o := <-polled2:
		t.Errorf("restarted daemon polled feed %d, which was not due", o.Feed.ID)
	default:
	}
	e.checkConsistent()
}

// Cancelling Run while fetches are in flight stops them, records nothing
// for them, and leaves every feed whole.
func TestDaemonCancelMidFetch(t *testing.T) {
	e := newEnv(t)
	e.realClock()
	e.poller.Workers = 8
	now := time.Now()
	fast := newServer(t, func(w http.ResponseWriter, r *http.Request) { serveFeed(w, italianFeed(now)) })
	entered := make(chan string, 10)
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- r.URL.Path
		<-r.Context().Done()
	})
	slow2 := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- r.URL.Path
		// Half a body, then nothing: the cancel strikes while reading it.
		w.Header().Set("Content-Type", "application/rss+xml")
		body := italianFeed(now)
		w.Write([]byte(body[:len(body)/2]))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	feeds := e.add(fast.URL+"/1", fast.URL+"/2", slow.URL+"/3", fast.URL+"/4", slow2.URL+"/5")
	d := NewDaemon(e.poller)
	polled := outcomes(d)
	stop := runDaemon(t, d)
	waitPolled(t, polled, feeds[0].ID, feeds[1].ID, feeds[3].ID)
	for range 2 {
		select {
		case <-entered:
		case <-time.After(safety):
			t.Fatal("the slow servers never got their requests")
		}
	}
	stop()
	for _, f := range []babelfeed.Feed{feeds[2], feeds[4]} {
		got := e.feed(f.ID)
		if got.State != babelfeed.StateOK || got.ErrorCount != 0 || got.LastError != "" || !got.LastFetched.IsZero() || got.ETag != "" || got.BodyHash != "" {
			t.Errorf("feed %d interrupted by the cancel was recorded: %+v", f.ID, got)
		}
	}
	for _, f := range []babelfeed.Feed{feeds[0], feeds[1], feeds[3]} {
		if got := e.feed(f.ID); got.Items != 3 || got.BodyHash == "" {
			t.Errorf("feed %d: %d items, hash %q", f.ID, got.Items, got.BodyHash)
		}
	}
	e.checkConsistent()
	select {
	case o := <-polled:
		t.Errorf("OnOutcome called for feed %d after the cancel", o.Feed.ID)
	default:
	}
}

// A poll-now made before Run has loaded the schedule is not undone by it
// (the CLI socket is served before the daemon starts).
func TestDaemonPollNowBeforeRun(t *testing.T) {
	e := newEnv(t)
	e.realClock()
	srv := newServer(t, conditionalFeed(italianFeed(time.Now())))
	f := e.add(srv.URL + "/feed")[0]
	f.NextPoll = time.Now().Add(time.Hour)
	if err := e.store.UpdateFeed(f); err != nil {
		t.Fatal(err)
	}
	d := NewDaemon(e.poller)
	polled := outcomes(d)
	if err := d.PollNow([]uint64{f.ID}); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	if o := waitPolled(t, polled, f.ID)[f.ID]; o.Err != nil || o.Added != 3 {
		t.Errorf("outcome %+v", o)
	}
}

// Gone feeds are not queued by Run, PollNow or Schedule; asked for by ID
// they come back as they are, without a request.
func TestDaemonSkipsGoneFeeds(t *testing.T) {
	e := newEnv(t)
	e.realClock()
	gone := newServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	live := newServer(t, conditionalFeed(italianFeed(time.Now())))
	feeds := e.add(gone.URL+"/old", live.URL+"/feed")
	goneID, liveID := feeds[0].ID, feeds[1].ID
	if o := e.poll(goneID); o.Feed.State != babelfeed.StateGone {
		t.Fatalf("410 did not mark the feed gone: %+v", o)
	}

	d := NewDaemon(e.poller)
	polled := outcomes(d)
	runDaemon(t, d)
	waitPolled(t, polled, liveID)
	isQueued := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.queue.When(goneID)
		return ok
	}
	if isQueued() {
		t.Error("Run queued the gone feed")
	}
	if err := d.PollNow(nil); err != nil {
		t.Fatal(err)
	}
	if isQueued() {
		t.Error("PollNow(all) queued the gone feed")
	}
	d.Schedule(e.feed(goneID))
	if isQueued() {
		t.Error("Schedule queued the gone feed")
	}

	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	out, err := d.PollWait(ctx, []uint64{goneID})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Feed.State != babelfeed.StateGone || out[0].Err != nil || out[0].Status != 0 {
		t.Errorf("PollWait on a gone feed: %+v", out[0])
	}
	if isQueued() {
		t.Error("the gone feed was queued again after PollWait")
	}
	if n := gone.TotalHits(); n != 1 {
		t.Errorf("the gone feed's server got %d requests, want only the first", n)
	}
}

// PollWait for a feed that does not exist returns an error outcome and
// leaves the daemon running.
func TestDaemonPollWaitUnknownFeed(t *testing.T) {
	e := newEnv(t)
	e.realClock()
	srv := newServer(t, conditionalFeed(italianFeed(time.Now())))
	f := e.add(srv.URL + "/feed")[0]
	d := NewDaemon(e.poller)
	runDaemon(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	out, err := d.PollWait(ctx, []uint64{f.ID + 100, f.ID})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err == nil || out[0].Feed.ID != f.ID+100 {
		t.Errorf("unknown feed: %+v", out[0])
	}
	if out[1].Err != nil || out[1].Feed.ID != f.ID {
		t.Errorf("known feed: %+v", out[1])
	}
	if queued, _ := d.QueueLen(); queued != 1 {
		t.Errorf("%d feeds queued, want 1 (the unknown one dropped)", queued)
	}
}

// A feed whose failure could not be recorded is retried later, not at
// once: the daemon must not spin on it. Gone feeds are not requeued.
func TestDaemonRequeueAt(t *testing.T) {
	e := newEnv(t) // frozen clock at t0
	d := NewDaemon(e.poller)
	storeErr := errors.New("store unavailable")
	for _, tc := range []struct {
		name string
		o    Outcome
		want time.Time
		ok   bool
	}{
		{"success", Outcome{Feed: babelfeed.Feed{NextPoll: t0.Add(time.Hour)}}, t0.Add(time.Hour), true},
		{"recorded failure", Outcome{Feed: babelfeed.Feed{NextPoll: t0.Add(10 * time.Minute)}, Err: storeErr}, t0.Add(10 * time.Minute), true},
		{"unrecorded failure, past", Outcome{Feed: babelfeed.Feed{NextPoll: t0.Add(-time.Hour)}, Err: storeErr}, t0.Add(time.Minute), true},
		{"unrecorded failure, never", Outcome{Err: storeErr}, t0.Add(time.Minute), true},
		{"deferred", Outcome{Feed: babelfeed.Feed{NextPoll: t0.Add(time.Hour)}, Deferred: true}, t0.Add(time.Hour), true},
		{"gone", Outcome{Feed: babelfeed.Feed{State: babelfeed.StateGone}, Err: storeErr}, time.Time{}, false},
	} {
		at, ok := d.requeueAt(tc.o)
		if ok != tc.ok || !at.Equal(tc.want) {
			t.Errorf("%s: requeueAt = %v, %v; want %v, %v", tc.name, at, ok, tc.want, tc.ok)
		}
	}
}
