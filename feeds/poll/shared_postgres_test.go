package poll

import (
	"context"
	"testing"
	"time"

	"babelfeed/internal/pgtest"
	"babelfeed/store/postgres"
)

// postgresPollers opens n connections, each with a pool of its own as a
// separate process would have, to one fresh PostgreSQL schema. Crashing
// one closes its pool: from then on it can neither save nor release.
func postgresPollers(t *testing.T, n int) []sharedPoller {
	t.Helper()
	dsn := pgtest.DSN(t)
	var out []sharedPoller
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		db, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 8})
		cancel()
		if err != nil {
			t.Fatalf("open PostgreSQL store: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		out = append(out, sharedPoller{store: db, crash: func() { db.Close() }})
	}
	return out
}

// Three daemons, each with its own pool, poll a farm of 200 feeds through
// one PostgreSQL schema: every feed once per interval, within the per-host
// limits across all of them, no item twice.
func TestPostgresDaemonsCycles(t *testing.T) {
	testSharedCycles(t, postgresPollers(t, 3), 4, 50)
}

// One of three daemons on PostgreSQL dies mid-cycle (120 feeds); the
// others take its feeds over once its leases run out.
func TestPostgresDaemonsCrash(t *testing.T) {
	testSharedCrash(t, postgresPollers(t, 3), 4, 30)
}

// The gap between requests to a host holds across daemons on PostgreSQL.
func TestPostgresDaemonsGap(t *testing.T) {
	testSharedGap(t, postgresPollers(t, 3))
}

// A host's Retry-After holds for every daemon on PostgreSQL.
func TestPostgresDaemonsRetryAfter(t *testing.T) {
	testSharedRetryAfter(t, postgresPollers(t, 3))
}

// The poll command's pass leases what it polls on PostgreSQL.
func TestPostgresPollFeeds(t *testing.T) {
	testSharedPollFeeds(t, postgresPollers(t, 2))
}

// A poll longer than a lease keeps its feed on PostgreSQL.
func TestPostgresDaemonsLongPoll(t *testing.T) {
	testSharedLongPoll(t, postgresPollers(t, 2))
}
