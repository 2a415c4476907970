package poll

import "time"

// dueNow makes a queued or idle feed due at now, unless it already waits in
// the queue with an earlier time: it keeps its place. Moving it to now
// would put it behind feeds asked for later, and since ties go to the
// lower ID, a client that keeps asking for everything while the daemon is
// behind (a poll button, a cron job calling the API) would starve the
// highest IDs for good: feeds that silently stop updating. The caller
// holds d.mu.
func (d *Daemon) dueNow(id uint64, now time.Time) {
	if at, ok := d.queue.When(id); ok && !at.After(now) {
		return
	}
	d.queue.Push(id, now)
}
