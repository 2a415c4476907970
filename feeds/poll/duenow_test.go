package poll

import (
	"context"
	"testing"
	"time"
)

// TestPollNowIsFair: asking again and again to poll every feed must not push
// the feeds already waiting behind later requests, and takes the least
// recently fetched feeds first. Ties go to the lower ID, so with every feed
// moved to the same "now" the highest IDs would never be polled while the
// daemon is behind (found by the kill-loop test in cmd/babelfeed, which asks
// for a poll every 50 ms and restarts the daemon every second or so).
func TestPollNowIsFair(t *testing.T) {
	e := newEnv(t)
	feeds := e.add("https://a.example/1", "https://a.example/2", "https://a.example/3", "https://a.example/4")
	// Feed 1 was fetched last, feed 3 first; feed 4 never.
	for i, ago := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		f := feeds[i]
		f.LastFetched = t0.Add(-ago)
		f.NextPoll = t0.Add(time.Hour)
		if err := e.store.UpdateFeed(f); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDaemon(e.poller)
	if err := d.PollNow(nil); err != nil {
		t.Fatal(err)
	}
	var order []uint64
	want := map[uint64]time.Time{}
	for d.queue.Len() > 0 {
		id, at, _ := d.queue.Pop()
		order = append(order, id)
		want[id] = at
	}
	if len(order) != 4 || order[0] != feeds[3].ID || order[1] != feeds[2].ID || order[2] != feeds[1].ID || order[3] != feeds[0].ID {
		t.Errorf("poll-all order %v, want never fetched first, then least recently fetched", order)
	}
	for id, at := range want {
		d.queue.Push(id, at)
	}

	// Asking again later, by PollNow or PollWait, changes no place.
	e.clock.Advance(time.Minute)
	if err := d.PollNow(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.PollWait(ctx, []uint64{feeds[2].ID}); err == nil {
		t.Fatal("PollWait with a cancelled context returned no error")
	}
	for id, w := range want {
		if at, ok := d.queue.When(id); !ok || !at.Equal(w) {
			t.Errorf("feed %d queued at %v (%v), want still %v", id, at, ok, w)
		}
	}
	// A feed queued for later (its next poll) is brought forward to now.
	d.queue.Push(feeds[0].ID, t0.Add(time.Hour))
	if _, err := d.PollWait(ctx, []uint64{feeds[0].ID}); err == nil {
		t.Fatal("PollWait with a cancelled context returned no error")
	}
	if at, _ := d.queue.When(feeds[0].ID); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("feed queued for later moved to %v, want now %v", at, t0.Add(time.Minute))
	}
}
