package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"babelfeed/api"
	"babelfeed/internal/feedcheck"
	"babelfeed/server"
	"babelfeed/store"
)

type ruleListRow struct {
	ID       uint64 `json:"id"`
	Action   string `json:"action"`
	Query    string `json:"query"`
	Scope    string `json:"scope"`
	Category string `json:"category"`
	Dropped  int    `json:"dropped"`
	Kept     int    `json:"kept"`
	Timeouts int    `json:"timeouts"`
}

func rulesList(t *testing.T, db string) []ruleListRow {
	t.Helper()
	var rows []ruleListRow
	out := mustRun(t, db, "rules", "list", "--format", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("rules list: %v\n%s", err, out)
	}
	return rows
}

func titles(items []api.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Lang+" "+it.Title)
	}
	sort.Strings(out)
	return out
}

// TestRulesTestAddExportImportPoll: rules are tried on the stored items,
// added, exported with the subscriptions, imported into a fresh store, and
// applied when that store polls: what they drop is counted once and
// remembered.
func TestRulesTestAddExportImportPoll(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "a.db")
	mustRun(t, db, "import", writeOPML(t, f))
	mustRun(t, db, "poll", "--languages", testLanguages)
	if n := len(queryJSONL(t, db)); n != 15 {
		t.Fatalf("%d items after the first poll, want 15", n)
	}

	// Try before saving: the keep rule would drop the 7 items in German,
	// French, Portuguese and English; nothing is written.
	out := mustRun(t, db, "rules", "test", "keep", "lang:it,es")
	if !strings.Contains(out, "15 stored items in scope: with this rule 8 kept, 7 dropped; it would drop 7") {
		t.Errorf("rules test summary:\n%s", out)
	}
	for _, want := range []string{"Wasserstoffzug", "vélo", "Apple updates"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules test does not list %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Xiaomi") {
		t.Errorf("rules test lists an item the rule keeps:\n%s", out)
	}
	out = mustRun(t, db, "rules", "test", "--category", "italiano", "--all", "--format", "jsonl", "block", "intitle:biblioteca")
	if n := countLines(out); n != 7+1 { // every Italiano item, and the summary on stderr
		t.Errorf("rules test --all in category Italiano: %d lines:\n%s", n, out)
	}
	if rs := rulesList(t, db); len(rs) != 0 {
		t.Fatalf("rules test saved a rule: %+v", rs)
	}

	mustRun(t, db, "rules", "add", "keep", "lang:it,es")
	mustRun(t, db, "rules", "add", "block", "--category", "Italiano", "--", "intitle:biblioteca")
	mustRun(t, db, "rules", "add", "block", "--feed", f.url("/mutable"), "--", `/^Chiusa\b/`)
	if out := mustRun(t, db, "rules", "add", "keep", "lang:it,es"); !strings.Contains(out, "already") {
		t.Errorf("adding a rule twice: %s", out)
	}
	for _, bad := range [][]string{
		{"rules", "add", "drop", "x"},
		{"rules", "add", "keep", "lang:italian"},
		{"rules", "add", "keep", "--feed", "999", "x"},
		{"rules", "add", "keep", "--feed", "1", "--category", "A", "x"},
		{"rules", "rm", "999"},
		{"rules", "test", "block", "(unclosed"},
	} {
		if out, err := runCLI(t, db, bad...); err == nil {
			t.Errorf("babelfeed %s: want an error\n%s", strings.Join(bad, " "), out)
		}
	}
	// Rules act on new items only: the stored ones stay.
	if n := len(queryJSONL(t, db)); n != 15 {
		t.Errorf("adding rules changed the stored items: %d", n)
	}

	exported := filepath.Join(t.TempDir(), "export.opml")
	mustRun(t, db, "export", "-o", exported)
	doc, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	feedcheck.XMLLint(t, doc)
	if !strings.Contains(string(doc), `xmlns:babelfeed="https://babelfeed.example/ns"`) || strings.Count(string(doc), "babelfeed:rules=") != 3 {
		t.Fatalf("export does not carry the rules:\n%s", doc)
	}

	db2 := filepath.Join(t.TempDir(), "b.db")
	out = mustRun(t, db2, "import", exported)
	if !strings.Contains(out, "added 8") || !strings.Contains(out, "rules: added 3, already present 0, not imported 0") {
		t.Fatalf("import of the export:\n%s", out)
	}
	if out := mustRun(t, db2, "import", exported); !strings.Contains(out, "rules: added 0, already present 3") {
		t.Errorf("importing again should add no rule:\n%s", out)
	}
	describe := func(rs []ruleListRow) string {
		var s []string
		for _, r := range rs {
			scope := r.Scope
			if strings.HasPrefix(scope, "feed ") {
				scope = "feed" // IDs may differ between stores
			}
			s = append(s, r.Action+" "+r.Query+" @"+scope)
		}
		sort.Strings(s)
		return strings.Join(s, "\n")
	}
	if a, b := describe(rulesList(t, db)), describe(rulesList(t, db2)); a != b {
		t.Fatalf("rules after the round trip:\n%s\nwant\n%s", b, a)
	}

	out = mustRun(t, db2, "poll", "--languages", testLanguages)
	got := titles(queryJSONL(t, db2))
	want := []string{
		"es La ciudad de Valencia prueba autobuses eléctricos sin conductor",
		"es Los astrónomos descubren un planeta con dos soles en una galaxia cercana",
		"it Il sindaco inaugura la nuova piazza del mercato coperto",
		"it Nuovi orari per la raccolta dei rifiuti a partire da dicembre",
		"it Torna il concerto di Natale nella chiesa di San Michele",
		"it Xiaomi presenta il nuovo telefono pieghevole a Milano",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored after polling with the rules:\n%s\nwant\n%s\npoll said:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	counts := func() map[string][3]int {
		m := map[string][3]int{}
		for _, r := range rulesList(t, db2) {
			m[r.Query] = [3]int{r.Dropped, r.Kept, r.Timeouts}
		}
		return m
	}
	wantCounts := map[string][3]int{"lang:it,es": {7, 6, 0}, "intitle:biblioteca": {1, 0, 0}, `/^Chiusa\b/`: {1, 0, 0}}
	if c := counts(); fmt.Sprint(c) != fmt.Sprint(wantCounts) {
		t.Errorf("rule counts %v, want %v", c, wantCounts)
	}
	// Polling again (the mutable feed changes, so it is parsed): the
	// dropped items stay dropped and are not counted again.
	f.setMutable(mutableFeed("Il sindaco inaugura la nuova piazza del mercato coperto, le foto"))
	mustRun(t, db2, "poll", "--all", "--languages", testLanguages)
	if n := len(queryJSONL(t, db2)); n != 6 {
		t.Errorf("after a second poll: %d items, want 6", n)
	}
	if c := counts(); fmt.Sprint(c) != fmt.Sprint(wantCounts) {
		t.Errorf("rule counts after a second poll %v, want %v", c, wantCounts)
	}
	// Removing a rule (what it dropped is judged again when its feed next
	// changes: see feeds/poll's tests).
	for _, r := range rulesList(t, db2) {
		if r.Query == `/^Chiusa\b/` {
			mustRun(t, db2, "rules", "rm", fmt.Sprint(r.ID))
		}
	}
	if rs := rulesList(t, db2); len(rs) != 2 {
		t.Errorf("after rules rm: %+v", rs)
	}
}

// serveStore serves the HTTP API of a store file (closed by cleanup).
func serveStore(t *testing.T, db string) *httptest.Server {
	t.Helper()
	s, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&server.Server{Store: s}).Handler())
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return srv
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, b)
	}
	return b
}

// TestPublishedFeedsReadByFeedparserAndBabelfeed publishes a saved query,
// has independent clients read it, and subscribes a fresh babelfeed to it:
// the same items come back, in the same languages, and the Atom and the
// JSON Feed copy of each story are one story with a duplicate.
func TestPublishedFeedsReadByFeedparserAndBabelfeed(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "a.db")
	mustRun(t, db, "import", writeOPML(t, f))
	mustRun(t, db, "poll", "--languages", testLanguages)
	mustRun(t, db, "saved", "add", "latino", "--", "lang:it,es -intitle:biblioteca")
	if out, err := runCLI(t, db, "saved", "add", "latino", "lang:it"); err == nil {
		t.Errorf("saving over a name without --replace: %s", out)
	}
	if out, err := runCLI(t, db, "saved", "add", "bad/name", "lang:it"); err == nil {
		t.Errorf("a name that is no URL segment: %s", out)
	}
	if out, err := runCLI(t, db, "saved", "add", "bad", "lang:"); err == nil {
		t.Errorf("a query that does not parse: %s", out)
	}
	mustRun(t, db, "saved", "add", "tutto", "--", "lang:de")
	mustRun(t, db, "saved", "rm", "tutto")
	if out := mustRun(t, db, "saved", "list"); !strings.Contains(out, "latino") || !strings.Contains(out, "/feeds/latino.atom") || strings.Contains(out, "tutto") {
		t.Errorf("saved list:\n%s", out)
	}
	want := queryJSONL(t, db, "--lang", "it,es")
	var wantTitles []string
	for _, it := range want {
		if !strings.Contains(it.Title, "biblioteca") {
			wantTitles = append(wantTitles, it.Lang+" "+it.Title)
		}
	}
	sort.Strings(wantTitles)
	if len(wantTitles) != 7 {
		t.Fatalf("want 7 items in the saved query, the store has %d", len(wantTitles))
	}

	srv := serveStore(t, db)
	atom := httpGet(t, srv.URL+"/feeds/latino.atom")
	feedcheck.XMLLint(t, atom)
	parsed := feedcheck.Feedparser(t, atom)
	if parsed.Bozo {
		t.Fatalf("feedparser: bozo: %s", parsed.BozoText)
	}
	var seen []string
	for _, e := range parsed.Entries {
		seen = append(seen, e.Lang+" "+e.Title)
	}
	sort.Strings(seen)
	if strings.Join(seen, "\n") != strings.Join(wantTitles, "\n") {
		t.Errorf("feedparser saw (language, title):\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(wantTitles, "\n"))
	}
	jf := feedcheck.CheckJSONFeed(t, httpGet(t, srv.URL+"/feeds/latino.json"))
	if len(jf.Items) != 7 {
		t.Errorf("JSON Feed: %d items", len(jf.Items))
	}

	// A fresh babelfeed subscribes to both published feeds.
	subs := filepath.Join(t.TempDir(), "self.opml")
	opmlDoc := `<?xml version="1.0"?><opml version="2.0"><head><title>self</title></head><body>
<outline type="rss" text="atom" xmlUrl="` + srv.URL + `/feeds/latino.atom"/>
<outline type="rss" text="json" xmlUrl="` + srv.URL + `/feeds/latino.json"/>
</body></opml>`
	if err := os.WriteFile(subs, []byte(opmlDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	db2 := filepath.Join(t.TempDir(), "self.db")
	mustRun(t, db2, "import", subs)
	out := mustRun(t, db2, "poll", "--languages", testLanguages)
	if !strings.Contains(out, "14 items added") {
		t.Errorf("subscribing to the published feeds: %s", out)
	}
	back := queryJSONL(t, db2)
	if got := titles(back); strings.Join(got, "\n") != strings.Join(wantTitles, "\n") {
		t.Errorf("babelfeed read back (language, title):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantTitles, "\n"))
	}
	byTitle := map[string]api.Item{}
	for _, it := range want {
		byTitle[it.Title] = it
	}
	for _, it := range back {
		orig := byTitle[it.Title]
		if it.URL != orig.URL || it.Published != orig.Published || !strings.Contains(orig.Summary, strings.TrimSpace(strings.SplitN(it.Summary, "…", 2)[0])) {
			t.Errorf("read back %q: url %q published %s, want %q %s", it.Title, it.URL, it.Published, orig.URL, orig.Published)
		}
	}
	// Each story came through two feeds: one shown, both with --all-duplicates.
	all := queryJSONL(t, db2, "--all-duplicates")
	dups := 0
	for _, it := range all {
		if it.DuplicateOf != 0 {
			dups++
		}
	}
	if len(all) != 14 || dups != 7 {
		t.Errorf("--all-duplicates: %d items, %d duplicates; want 14, 7", len(all), dups)
	}

	// query --format atom|jsonfeed print what the server publishes.
	out = mustRun(t, db2, "query", "--format", "atom", "--lang", "es")
	feedcheck.XMLLint(t, []byte(out))
	if a := feedcheck.Feedparser(t, []byte(out)); a.Bozo || len(a.Entries) != 2 || a.Entries[0].Lang != "es" {
		t.Errorf("query --format atom: %+v", a)
	}
	out = mustRun(t, db2, "query", "--format", "jsonfeed", "--all-duplicates", "--lang", "es")
	if j := feedcheck.CheckJSONFeed(t, []byte(out)); len(j.Items) != 4 || j.Items[0].Language != "es" {
		t.Errorf("query --format jsonfeed --all-duplicates: %+v", j.Items)
	}
}
