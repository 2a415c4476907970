package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"babelfeed/filter/search"
	"babelfeed/internal/feedfarm"
	"babelfeed/internal/pgtest"
	"babelfeed/store/postgres"
)

// sharedFlags are the poller flags of the shared-store tests: a small
// detector, short timeouts, and no host gap, so that the limit of requests
// at once per host is what holds the pollers back.
func sharedFlags(workers int, lease, gap string) []string {
	return []string{"--languages", testLanguages, "--timeout", "5s", "--lease", lease,
		"--workers", strconv.Itoa(workers), "--per-host", "2", "--host-gap", gap}
}

// farmOPML writes the farm's subscription list to a file.
func farmOPML(t testing.TB, f *feedfarm.Farm) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "farm.opml")
	if err := os.WriteFile(p, f.OPML(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// itemCount counts the items of a PostgreSQL store as another process sees
// them.
func itemCount(t testing.TB, dsn string) int {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{Indexer: search.Indexer()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.ItemCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// listedItem is what the comparison of two stores looks at: everything an
// item shows but its IDs, which each store gives out itself.
type listedItem struct {
	GUID, URL, Title, Lang, Published string
}

// listing runs `query --format jsonl` and returns its items, sorted.
func listing(t *testing.T, store string, args ...string) []listedItem {
	t.Helper()
	out, code := cli(t, store, append([]string{"query", "--format", "jsonl", "--limit", "0", "--all-duplicates"}, args...)...)
	if code != 0 {
		t.Fatalf("query %v: exit %d\n%s", args, code, out)
	}
	var items []listedItem
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("query %v: line %q: %v", args, line, err)
		}
		str := func(k string) string { s, _ := rec[k].(string); return s }
		items = append(items, listedItem{str("guid"), str("url"), str("title"), str("lang"), str("published")})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].GUID < items[j].GUID })
	return items
}

// TestSharedPollersOnPostgres runs three real `babelfeed run` processes
// against one PostgreSQL store and a farm of feeds, kills one of them
// midway, and checks: every feed polled, no feed polled twice but those the
// killed poller was fetching, never more than --per-host requests at once
// on a host across all pollers, every item stored once, nothing lost; and
// the queries answer what a bbolt store that polled the same farm answers.
func TestSharedPollersOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	const feeds, hosts, workers = 240, 6, 4
	farm := feedfarm.Start(feedfarm.Options{Feeds: feeds, Hosts: hosts, ItemsPerFeed: 3, Delay: 40 * time.Millisecond})
	defer farm.Close()
	opml := farmOPML(t, farm)
	if out, code := cli(t, dsn, "import", opml); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, out)
	}

	var ds []*daemonProc
	for range 3 {
		ds = append(ds, startDaemonArgs(t, dsn, sharedFlags(workers, "8s", "0")...))
	}
	// Kill one poller once a third of the farm has been asked for.
	deadline := time.Now().Add(3 * time.Minute)
	for farm.Stats().Polled < feeds/3 {
		if time.Now().After(deadline) {
			t.Fatalf("pollers did not get going: %+v\n%s", farm.Stats(), ds[0].logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ds[0].kill(t)
	killedAt := farm.Stats()
	for farm.Stats().Polled < feeds || itemCount(t, dsn) < farm.Items() {
		if time.Now().After(deadline) {
			t.Fatalf("the farm was not polled in full: %+v, %d items stored of %d\n%s", farm.Stats(), itemCount(t, dsn), farm.Items(), ds[1].logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A little longer: a double poll would show now.
	time.Sleep(2 * time.Second)
	for _, d := range ds[1:] {
		d.stop(t)
	}
	st := farm.Stats()
	t.Logf("killed at %d feeds asked for; at the end %+v", killedAt.Polled, st)
	if st.MaxAtOnce > 2 {
		t.Errorf("a host saw %d requests at once across the pollers, want at most --per-host 2", st.MaxAtOnce)
	}
	// Only the feeds the killed poller was fetching (at most its workers)
	// may have been asked for again, by the poller that took them over.
	if st.Twice > workers {
		t.Errorf("%d feeds were polled twice (%v), want at most the killed poller's %d in flight", st.Twice, farm.TwiceFeeds(), workers)
	}
	if n := itemCount(t, dsn); n != farm.Items() {
		t.Errorf("%d items stored, want the farm's %d, each once", n, farm.Items())
	}
	if out, code := cli(t, dsn, "check"); code != 0 {
		t.Errorf("check after the kill: exit %d\n%s", code, out)
	}

	// The same farm polled into a bbolt store answers the same queries.
	db := filepath.Join(t.TempDir(), "same.db")
	if out, code := cli(t, db, "import", opml); code != 0 {
		t.Fatalf("bbolt import: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "poll", "--languages", testLanguages, "--timeout", "5s", "--host-gap", "0", "--workers", "16"); code != 0 {
		t.Fatalf("bbolt poll: exit %d\n%s", code, out)
	}
	for _, q := range [][]string{
		nil,
		{"--lang", "it"},
		{"--lang", "de,fr"},
		{"council"},
		{"biblioteca", "--lang", "es"},
		{`"late harvest"`},
		{"intitle:bibliothèque"},
		{"manzanas OR maçãs"},
	} {
		pg, bb := listing(t, dsn, q...), listing(t, db, q...)
		if q == nil && len(pg) != farm.Items() {
			t.Errorf("PostgreSQL lists %d items, want the farm's %d", len(pg), farm.Items())
		}
		if len(bb) == 0 && len(q) > 0 {
			t.Errorf("query %v finds nothing in bbolt: the comparison proves nothing", q)
		}
		if fmt.Sprint(pg) != fmt.Sprint(bb) {
			t.Errorf("query %v: PostgreSQL lists %d items, bbolt %d; first difference: %s", q, len(pg), len(bb), firstDiff(pg, bb))
		}
	}
}

func firstDiff(a, b []listedItem) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%+v vs %+v", a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}
