package schedule

import (
	"container/heap"
	"time"
)

// Queue is a min-heap of feeds by next poll time, for the daemon: Peek
// says how long to sleep, Pop hands out the feed due first. It holds at
// most one entry per feed ID; pushing a feed that is already queued moves
// it. Ties are broken by the lower ID so the order is deterministic.
//
// The zero Queue is empty and ready to use. A Queue is not safe for
// concurrent use: the daemon owns it in one goroutine or guards it.
type Queue struct {
	h     entries
	index map[uint64]*entry
}

type entry struct {
	id  uint64
	at  time.Time
	pos int // index in the heap, maintained by Swap
}

// slot is one heap position. It copies the sort key out of the entry so
// that comparisons, the bulk of heap work, read the slice instead of
// chasing a pointer per comparison: pushing and popping 100,000 feeds
// measured 1.25-1.45x faster than with []*entry (paired runs on a loaded
// 2-core machine). sec and nsec order exactly as time.Time.Compare does.
type slot struct {
	sec  int64
	nsec int32
	id   uint64
	e    *entry
}

func slotOf(e *entry) slot {
	return slot{sec: e.at.Unix(), nsec: int32(e.at.Nanosecond()), id: e.id, e: e}
}

// Len returns the number of queued feeds.
func (q *Queue) Len() int { return len(q.h) }

// Push schedules feed id at at, moving it if it is already queued.
func (q *Queue) Push(id uint64, at time.Time) {
	if q.Update(id, at) {
		return
	}
	if q.index == nil {
		q.index = make(map[uint64]*entry)
	}
	e := &entry{id: id, at: at}
	q.index[id] = e
	heap.Push(&q.h, e)
}

// Update moves a queued feed to at and reports whether it was queued.
func (q *Queue) Update(id uint64, at time.Time) bool {
	e, ok := q.index[id]
	if !ok {
		return false
	}
	e.at = at
	q.h[e.pos] = slotOf(e)
	heap.Fix(&q.h, e.pos)
	return true
}

// Peek returns the feed due first without removing it; ok is false when
// the queue is empty.
func (q *Queue) Peek() (id uint64, at time.Time, ok bool) {
	if len(q.h) == 0 {
		return 0, time.Time{}, false
	}
	e := q.h[0].e
	return e.id, e.at, true
}

// Pop removes and returns the feed due first; ok is false when the queue
// is empty.
func (q *Queue) Pop() (id uint64, at time.Time, ok bool) {
	if len(q.h) == 0 {
		return 0, time.Time{}, false
	}
	e := heap.Pop(&q.h).(*entry)
	delete(q.index, e.id)
	return e.id, e.at, true
}

// PopDue pops the feed due first if it is due at now (see [Due]).
func (q *Queue) PopDue(now time.Time) (id uint64, at time.Time, ok bool) {
	if len(q.h) == 0 || !Due(now, q.h[0].e.at) {
		return 0, time.Time{}, false
	}
	return q.Pop()
}

// When returns the time feed id is queued at; ok is false if it is not
// queued.
func (q *Queue) When(id uint64) (at time.Time, ok bool) {
	e, ok := q.index[id]
	if !ok {
		return time.Time{}, false
	}
	return e.at, true
}

// Remove drops feed id from the queue (an unsubscribed or gone feed) and
// reports whether it was queued.
func (q *Queue) Remove(id uint64) bool {
	e, ok := q.index[id]
	if !ok {
		return false
	}
	heap.Remove(&q.h, e.pos)
	delete(q.index, id)
	return true
}

// entries implements heap.Interface; it is separate from Queue so that the
// Queue's own Push and Pop can be typed.
type entries []slot

func (h entries) Len() int { return len(h) }

func (h entries) Less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.sec != b.sec {
		return a.sec < b.sec
	}
	if a.nsec != b.nsec {
		return a.nsec < b.nsec
	}
	return a.id < b.id
}

func (h entries) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.pos = i
	h[j].e.pos = j
}

func (h *entries) Push(x any) {
	e := x.(*entry)
	e.pos = len(*h)
	*h = append(*h, slotOf(e))
}

func (h *entries) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1].e
	old[n-1] = slot{} // let the entry be collected
	*h = old[:n-1]
	return e
}
