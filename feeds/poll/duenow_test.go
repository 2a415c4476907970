package poll

import (
	"context"
	"testing"
	"time"
)

// TestPollNowKeepsWaitingFeedsInPlace: asking again and again to poll every
// feed must not push the feeds already waiting behind the later requests.
// Ties go to the lower ID, so the highest IDs would never be polled while
// the daemon is behind (found by the kill-loop test in cmd/babelfeed, which
// asks for a poll every 50 ms).
func TestPollNowKeepsWaitingFeedsInPlace(t *testing.T) {
	e := newEnv(t)
	feeds := e.add("https://a.example/1", "https://a.example/2", "https://a.example/3")
	d := NewDaemon(e.poller)
	if err := d.PollNow(nil); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := d.PollNow(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.PollWait(ctx, []uint64{feeds[2].ID}); err == nil {
		t.Fatal("PollWait with a cancelled context returned no error")
	}
	for _, f := range feeds {
		if at, ok := d.queue.When(f.ID); !ok || !at.Equal(t0) {
			t.Errorf("feed %d queued at %v (%v), want the first request's %v", f.ID, at, ok, t0)
		}
	}
	// A feed queued for later (its next poll) is brought forward to now.
	d.queue.Push(feeds[0].ID, t0.Add(time.Hour))
	if err := d.PollNow([]uint64{feeds[0].ID}); err != nil {
		t.Fatal(err)
	}
	if at, _ := d.queue.When(feeds[0].ID); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("feed queued for later moved to %v, want now %v", at, t0.Add(time.Minute))
	}
}
