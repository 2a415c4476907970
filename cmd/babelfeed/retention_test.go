package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"babelfeed/api"
)

// guidsByFeed lists the stored items' GUIDs per feed ID, through the CLI.
func guidsByFeed(t *testing.T, db string) map[uint64][]string {
	t.Helper()
	out, code := cli(t, db, "query", "--format", "jsonl", "--limit", "0")
	if code != 0 {
		t.Fatalf("query: exit %d\n%s", code, out)
	}
	m := map[uint64][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var it api.Item
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("query output: %v\n%s", err, line)
		}
		m[it.FeedID] = append(m[it.FeedID], it.GUID)
	}
	for _, g := range m {
		sort.Strings(g)
	}
	return m
}

// newest are the GUIDs of feed i's items from..to-1 (the crash farm's
// numbering), sorted as guidsByFeed sorts them.
func newest(feed, from, to int) []string {
	var g []string
	for n := from; n < to; n++ {
		g = append(g, crashGUID(feed, n))
	}
	sort.Strings(g)
	return g
}

var removedRe = regexp.MustCompile(`removed (\d+) items`)

func removedCount(t *testing.T, out string) int {
	t.Helper()
	m := removedRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no retention summary in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestRetentionPollPruneCompact: poll with --keep-per-feed keeps each
// feed's newest items, removed items do not come back while their feed
// still carries them, new ones do, and compact gives the space back with
// nothing lost. Then the daemon prunes on its own, refuses compaction
// while it runs, and runs prune and check for the CLI.
func TestRetentionPollPruneCompact(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	farm := newCrashFarm(t, 3, 40, time.Second)
	farm.setTick(39) // every feed carries items 0..39
	db := filepath.Join(t.TempDir(), "babelfeed.db")
	if out, code := cli(t, db, "import", farm.writeOPML(t)); code != 0 {
		t.Fatalf("import: %s", out)
	}
	flags := []string{"--languages", "it,en", "--timeout", "5s", "--host-gap", "0", "--per-host", "4"}
	poll := func(extra ...string) string {
		t.Helper()
		out, code := cli(t, db, append(append([]string{"poll", "--all"}, flags...), extra...)...)
		if code != 0 {
			t.Fatalf("poll: exit %d\n%s", code, out)
		}
		return out
	}
	feedIDs := func() []uint64 {
		var ids []uint64
		for id := range guidsByFeed(t, db) {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		return ids
	}

	out := poll("--keep-per-feed", "10")
	if !strings.Contains(out, "120 items added") || removedCount(t, out) != 90 {
		t.Fatalf("first poll with --keep-per-feed 10:\n%s", out)
	}
	want := func(from, to int) {
		t.Helper()
		got := guidsByFeed(t, db)
		if len(got) != 3 {
			t.Fatalf("items of %d feeds, want 3", len(got))
		}
		for i, id := range feedIDs() {
			if w := newest(i, from, to); strings.Join(got[id], " ") != strings.Join(w, " ") {
				t.Errorf("feed %d keeps %v, want items %d..%d", id, got[id], from, to-1)
			}
		}
	}
	want(30, 40)

	// The feeds still carry the removed items: they stay removed.
	if out := poll("--keep-per-feed", "10"); !strings.Contains(out, "0 items added") || removedCount(t, out) != 0 {
		t.Errorf("second poll of the same documents:\n%s", out)
	}
	// Without retention flags, they stay removed too (tombstones), and
	// new items come in.
	farm.setTick(44)
	if out := poll(); !strings.Contains(out, "15 items added") {
		t.Errorf("poll after 5 new items a feed, no retention:\n%s", out)
	}
	want(30, 45)
	if out := poll("--keep-per-feed", "10"); removedCount(t, out) != 15 {
		t.Errorf("poll with retention after new items:\n%s", out)
	}
	want(35, 45)

	out, code := cli(t, db, "check")
	if code != 0 || !strings.Contains(out, "30 items") || !strings.Contains(out, "105 tombstones") {
		t.Errorf("check after pruning: exit %d\n%s", code, out)
	}
	// Compact: smaller, same content.
	before := guidsByFeed(t, db)
	st0, _ := os.Stat(db)
	out, code = cli(t, db, "compact")
	st1, _ := os.Stat(db)
	if code != 0 || !strings.Contains(out, "before") || st1.Size() >= st0.Size() {
		t.Errorf("compact: exit %d, %d -> %d bytes\n%s", code, st0.Size(), st1.Size(), out)
	}
	if after := guidsByFeed(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("compact changed the items:\n%v\n%v", before, after)
	}
	if out, code := cli(t, db, "check"); code != 0 {
		t.Errorf("check after compact: exit %d\n%s", code, out)
	}

	// The daemon prunes on its own with --keep-per-feed.
	d := startDaemonArgs(t, db, append(flags, "--keep-per-feed", "4")...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Items int `json:"items"`
		}
		getJSON(t, "http://"+d.addr+"/api/stats", &st)
		if st.Items == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon with --keep-per-feed 4 still has %d items\n%s", st.Items, d.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// While it runs: compact is refused, prune and check go through it.
	if out, code := cli(t, db, "compact"); code == 0 || !strings.Contains(out, "stop it first") {
		t.Errorf("compact while the daemon runs: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "prune", "--keep-per-feed", "2"); code != 0 || removedCount(t, out) != 6 {
		t.Errorf("prune through the daemon: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "check"); code != 0 || !strings.Contains(out, "6 items") {
		t.Errorf("check through the daemon: exit %d\n%s", code, out)
	}
	d.stop(t)
	if got := guidsByFeed(t, db); len(got) != 3 || len(got[feedIDs()[0]]) != 2 {
		t.Errorf("after the daemon: %v", got)
	}
	if out, code := cli(t, db, "check"); code != 0 {
		t.Errorf("check after the daemon: exit %d\n%s", code, out)
	}
}
