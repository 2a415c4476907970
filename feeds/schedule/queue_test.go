package schedule

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

type queued struct {
	id uint64
	at time.Time
}

func drain(q *Queue) []queued {
	var out []queued
	for {
		id, at, ok := q.Pop()
		if !ok {
			return out
		}
		out = append(out, queued{id, at})
	}
}

func TestQueueOrdering(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var q Queue
	want := make([]queued, 0, 1000)
	for id := uint64(1); id <= 1000; id++ {
		// Few distinct times, so ties are common and must go by ID.
		at := now.Add(time.Duration(r.IntN(50)) * time.Minute)
		q.Push(id, at)
		want = append(want, queued{id, at})
	}
	if q.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", q.Len())
	}
	slices.SortFunc(want, func(a, b queued) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.id) - int(b.id)
	})
	id, at, ok := q.Peek()
	if !ok || id != want[0].id || !at.Equal(want[0].at) {
		t.Errorf("Peek = %d %v %v, want %d %v", id, at, ok, want[0].id, want[0].at)
	}
	if got := drain(&q); !slices.Equal(got, want) {
		t.Errorf("pop order differs from (time, id) order; first got %v want %v", got[:5], want[:5])
	}
	if q.Len() != 0 {
		t.Errorf("Len after draining = %d", q.Len())
	}
}

func TestQueueUpdate(t *testing.T) {
	var q Queue
	for id := uint64(1); id <= 5; id++ {
		q.Push(id, now.Add(time.Duration(id)*time.Minute))
	}
	if !q.Update(5, now) { // to the front
		t.Fatal("Update(5) = false for a queued feed")
	}
	if !q.Update(1, now.Add(time.Hour)) { // to the back
		t.Fatal("Update(1) = false for a queued feed")
	}
	q.Push(3, now.Add(30*time.Second)) // Push of a queued feed moves it
	if q.Update(42, now) {
		t.Error("Update(42) = true for a feed never queued")
	}
	if at, ok := q.When(1); !ok || !at.Equal(now.Add(time.Hour)) {
		t.Errorf("When(1) = %v %v, want now+1h", at, ok)
	}
	if _, ok := q.When(42); ok {
		t.Error("When(42) ok for a feed never queued")
	}
	if q.Len() != 5 {
		t.Errorf("Len = %d, want 5: Push of a queued feed must not duplicate it", q.Len())
	}
	var ids []uint64
	for _, e := range drain(&q) {
		ids = append(ids, e.id)
	}
	if want := []uint64{5, 3, 2, 4, 1}; !slices.Equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
}

func TestQueueRemove(t *testing.T) {
	var q Queue
	for id := uint64(1); id <= 10; id++ {
		q.Push(id, now.Add(time.Duration(id)*time.Minute))
	}
	for _, id := range []uint64{1, 5, 10} {
		if !q.Remove(id) {
			t.Errorf("Remove(%d) = false for a queued feed", id)
		}
	}
	if q.Remove(5) {
		t.Error("Remove(5) twice = true")
	}
	var ids []uint64
	for _, e := range drain(&q) {
		ids = append(ids, e.id)
	}
	if want := []uint64{2, 3, 4, 6, 7, 8, 9}; !slices.Equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
	q.Push(5, now) // a popped or removed feed can come back
	if id, _, ok := q.Pop(); !ok || id != 5 {
		t.Errorf("Pop after re-Push = %d %v, want 5", id, ok)
	}
}

func TestQueueEmptyAndDue(t *testing.T) {
	var q Queue
	if _, _, ok := q.Peek(); ok {
		t.Error("Peek on an empty queue ok")
	}
	if _, _, ok := q.Pop(); ok {
		t.Error("Pop on an empty queue ok")
	}
	if _, _, ok := q.PopDue(now); ok {
		t.Error("PopDue on an empty queue ok")
	}
	q.Push(1, now.Add(time.Minute))
	q.Push(2, time.Time{}) // never scheduled: due at once
	q.Push(3, now)
	var due []uint64
	for {
		id, _, ok := q.PopDue(now)
		if !ok {
			break
		}
		due = append(due, id)
	}
	if want := []uint64{2, 3}; !slices.Equal(due, want) {
		t.Errorf("due at now: %v, want %v", due, want)
	}
	if q.Len() != 1 {
		t.Errorf("Len = %d, want the future feed left", q.Len())
	}
}

// BenchmarkQueue measures the daemon's queue at 100,000 feeds.
//
//	go test -run '^$' -bench Queue -benchmem ./feeds/schedule
func BenchmarkQueue(b *testing.B) {
	const n = 100_000
	r := rand.New(rand.NewPCG(9, 9))
	times := make([]time.Time, n)
	for i := range times {
		times[i] = now.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
	}
	b.Run("PushPopAll", func(b *testing.B) {
		// One op pushes all 100,000 feeds and pops them all.
		for b.Loop() {
			var q Queue
			for i, at := range times {
				q.Push(uint64(i), at)
			}
			for q.Len() > 0 {
				q.Pop()
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/feed")
	})
	b.Run("Update", func(b *testing.B) {
		// One op moves one feed of a full queue to a new time, as the
		// daemon does after each poll.
		var q Queue
		for i, at := range times {
			q.Push(uint64(i), at)
		}
		ids := make([]uint64, 1<<16)
		moves := make([]time.Time, len(ids))
		for i := range ids {
			ids[i] = r.Uint64N(n)
			moves[i] = now.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
		}
		i := 0
		for b.Loop() {
			q.Update(ids[i&(len(ids)-1)], moves[i&(len(ids)-1)])
			i++
		}
	})
}
