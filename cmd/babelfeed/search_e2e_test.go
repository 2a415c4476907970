package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/api"
	"babelfeed/store"
)

// TestSearchThroughTheCLI: the query language in the arguments, pages
// with --cursor, --sort relevance, and the keyword index going stale and
// being rebuilt with reindex.
func TestSearchThroughTheCLI(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "s.db")
	mustRun(t, db, "import", writeOPML(t, f))
	mustRun(t, db, "poll", "--languages", testLanguages)
	all := queryJSONL(t, db)
	if len(all) < 10 {
		t.Fatalf("only %d items stored", len(all))
	}

	// Pages of two, each continued with the cursor the last one printed,
	// list everything once, newest first.
	next := regexp.MustCompile(`more: --cursor (\S+)`)
	var paged []uint64
	args := []string{"query", "--limit", "2", "--format", "jsonl"}
	for range 100 {
		out := mustRun(t, db, args...)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, "{") {
				var it api.Item
				if err := json.Unmarshal([]byte(line), &it); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				paged = append(paged, it.ID)
			}
		}
		m := next.FindStringSubmatch(out)
		if m == nil {
			break
		}
		args = []string{"query", "--limit", "2", "--format", "jsonl", "--cursor", m[1]}
	}
	var want []uint64
	for _, it := range all {
		want = append(want, it.ID)
	}
	if !slices.Equal(paged, want) {
		t.Errorf("pages of 2: %v, want %v", paged, want)
	}

	// The query language and the flags together; words by stem.
	if got := queryJSONL(t, db, "--lang", "it", "(xiaomi OR samsung) -calcio"); len(got) == 0 {
		t.Error("(xiaomi OR samsung) -calcio --lang it found nothing")
	}
	ranked := queryJSONL(t, db, "--sort", "relevance", "xiaomi OR citta")
	if len(ranked) == 0 || ranked[0].Score <= 0 {
		t.Fatalf("--sort relevance: %+v", ranked)
	}
	for i := 1; i < len(ranked); i++ {
		if ranked[i].Score > ranked[i-1].Score {
			t.Errorf("ranked %v after %v", ranked[i].Score, ranked[i-1].Score)
		}
	}
	if _, err := runCLI(t, db, "query", "--sort", "best"); err == nil {
		t.Error("--sort best accepted")
	}
	if out, err := runCLI(t, db, "query", `"unclosed`); err == nil || !strings.Contains(out+err.Error(), "unclosed quote") {
		t.Errorf("a syntax error: %v %s", err, out)
	}

	// A write without the keyword Indexer (an older babelfeed, say) makes
	// the index stale: queries scan, with the same answers, and relevance
	// is refused until reindex.
	before := queryJSONL(t, db, "xiaomi")
	s, err := store.Open(db, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	feeds, _ := s.Feeds()
	item := babelfeed.Item{Key: "late", Title: "Xiaomi arriva tardi", Lang: "it", Published: time.Now(), ContentHash: "late"}
	if _, err := s.SaveFetch(feeds[0], []babelfeed.Item{item}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, err := runCLI(t, db, "query", "--format", "jsonl", "xiaomi")
	if err != nil || !strings.Contains(out, "keyword index is not built") || strings.Count(out, `"id"`) != len(before)+1 {
		t.Errorf("query on a stale index: %v\n%s", err, out)
	}
	if out, err := runCLI(t, db, "query", "--sort", "relevance", "xiaomi"); err == nil || !strings.Contains(out+err.Error(), "reindex") {
		t.Errorf("relevance on a stale index: %v %s", err, out)
	}
	out = mustRun(t, db, "reindex")
	if !strings.Contains(out, "indexed ") {
		t.Errorf("reindex said: %s", out)
	}
	if got := queryJSONL(t, db, "--sort", "relevance", "xiaomi"); len(got) != len(before)+1 {
		t.Errorf("after reindex: %d items, want %d", len(got), len(before)+1)
	}
	out, err = runCLI(t, db, "query", "--format", "jsonl", "xiaomi")
	if err != nil || strings.Contains(out, "not built") {
		t.Errorf("query after reindex: %v\n%s", err, out)
	}
}
