package poll

import "time"

// dueNow makes a feed due at once, at the latest at now: it is queued at
// since if that is earlier (say, the feed's last fetch, so that a "poll
// everything" request takes the least recently fetched feeds first). A feed
// already waiting in the queue with an earlier time keeps its place. Both
// rules keep repeated requests fair: with every feed moved to the same now,
// ties would go to the lower IDs, and a client that keeps asking for
// everything while the daemon is behind (a poll button, a cron job calling
// the API), or a daemon restarted often, would starve the highest IDs:
// feeds that silently stop updating. The caller holds d.mu.
func (d *Daemon) dueNow(id uint64, now, since time.Time) {
	at := now
	if since.Before(now) {
		at = since
	}
	if cur, ok := d.queue.When(id); ok && !cur.After(at) {
		return
	}
	d.queue.Push(id, at)
}
