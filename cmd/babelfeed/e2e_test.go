package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"babelfeed/api"
)

// testLanguages keeps the detector small in tests: the race detector
// multiplies lingua's memory.
const testLanguages = "it,en,es,de,fr,pt,nl,ca"

// runCLI runs one babelfeed command in-process, as a user would type it.
func runCLI(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs(append([]string{"--db", db}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String() + errOut.String(), err
}

func mustRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, db, args...)
	if err != nil {
		t.Fatalf("babelfeed %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// farm serves the test feeds from testdata plus a feed whose content the
// test changes, and records the conditional headers each request carried.
type farm struct {
	srv *httptest.Server

	mu          sync.Mutex
	mutable     string
	requests    map[string]int
	conditional map[string]int
}

func newFarm(t *testing.T) *farm {
	t.Helper()
	f := &farm{requests: map[string]int{}, conditional: map[string]int{}}
	files := map[string]string{
		"/it.rss":   "italiano.rss",
		"/es.atom":  "espanol.atom",
		"/de.rdf":   "deutsch.rdf",
		"/fr.json":  "francais.json",
		"/pt.rss":   "portugues-latin1.rss",
		"/mutable":  "",
		"/missing":  "",
		"/page.htm": "",
	}
	f.mutable = mutableFeed("Il sindaco inaugura la nuova piazza del mercato coperto")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests[r.URL.Path]++
		if r.Header.Get("If-None-Match") != "" {
			f.conditional[r.URL.Path]++
		}
		body := f.mutable
		f.mu.Unlock()
		name, ok := files[r.URL.Path]
		switch {
		case !ok || r.URL.Path == "/missing":
			http.NotFound(w, r)
			return
		case r.URL.Path == "/page.htm":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html><head><title>Home</title><link rel="alternate" type="application/rss+xml" href="/it.rss"></head><body><p>Benvenuti</p></body></html>`)
			return
		case name != "":
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			body = string(b)
		}
		sum := sha256.Sum256([]byte(body))
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, ".json"):
			w.Header().Set("Content-Type", "application/feed+json")
		case r.URL.Path == "/pt.rss":
			w.Header().Set("Content-Type", "application/rss+xml") // no charset, like the real ones
		default:
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *farm) url(p string) string { return f.srv.URL + p }

func (f *farm) setMutable(body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mutable = body
}

// mutableFeed has items without GUIDs and two items sharing one GUID, the
// awkward identities real feeds have.
func mutableFeed(firstTitle string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Notizie di quartiere</title><link>https://quartiere.example.it/</link>
<item><title>` + firstTitle + `</title><link>https://quartiere.example.it/piazza</link>
<description>I commercianti della zona aspettavano da dieci anni questo momento e hanno organizzato una festa per tutta la città.</description>
<pubDate>Wed, 25 Nov 2026 10:00:00 +0100</pubDate></item>
<item><title>Chiusa per lavori la strada che porta alla stazione</title><link>https://quartiere.example.it/strada</link>
<description>Le auto dovranno seguire un percorso alternativo fino alla fine del mese, mentre gli autobus manterranno le fermate abituali.</description>
<pubDate>Tue, 24 Nov 2026 08:00:00 +0100</pubDate></item>
<item><title>Torna il concerto di Natale nella chiesa di San Michele</title><link>https://quartiere.example.it/concerto</link><guid isPermaLink="false">stesso-guid</guid>
<description>Il coro dei bambini canterà insieme all'orchestra della scuola di musica, e l'ingresso sarà libero per tutti i cittadini.</description>
<pubDate>Mon, 23 Nov 2026 20:00:00 +0100</pubDate></item>
<item><title>Nuovi orari per la raccolta dei rifiuti a partire da dicembre</title><link>https://quartiere.example.it/rifiuti</link><guid isPermaLink="false">stesso-guid</guid>
<description>Il camion passerà la mattina presto invece che la sera, per non disturbare il traffico nelle ore in cui la gente torna a casa.</description>
<pubDate>Sun, 22 Nov 2026 07:00:00 +0100</pubDate></item>
</channel></rss>`
}

func writeOPML(t *testing.T, f *farm) string {
	t.Helper()
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>prova</title></head><body>
  <outline text="Italiano">
    <outline text="Tecnologia">
      <outline type="rss" text="Cronache di Tecnologia" xmlUrl="` + f.url("/it.rss") + `"/>
    </outline>
    <outline type="rss" text="Quartiere" xmlUrl="` + f.url("/mutable") + `"/>
  </outline>
  <outline text="Europa">
    <outline type="rss" text="Ciencia" xmlUrl="` + f.url("/es.atom") + `"/>
    <outline type="rss" text="Technik" xmlUrl="` + f.url("/de.rdf") + `"/>
    <outline type="rss" text="Carnet" xmlUrl="` + f.url("/fr.json") + `"/>
    <outline type="rss" text="Regiao" xmlUrl="` + f.url("/pt.rss") + `"/>
    <outline type="rss" text="Regiao again" xmlUrl="` + f.url("/pt.rss") + `"/>
  </outline>
  <outline text="Broken">
    <outline type="rss" text="Gone missing" xmlUrl="` + f.url("/missing") + `"/>
    <outline type="rss" text="A web page" xmlUrl="` + f.url("/page.htm") + `"/>
    <outline type="rss" text="Not http" xmlUrl="ftp://example.org/feed.xml"/>
    <outline type="rss" text="No URL at all"/>
  </outline>
</body></opml>`
	p := filepath.Join(t.TempDir(), "subs.opml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func queryJSONL(t *testing.T, db string, args ...string) []api.Item {
	t.Helper()
	out := mustRun(t, db, append([]string{"query", "--format", "jsonl", "--limit", "0"}, args...)...)
	var items []api.Item
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var it api.Item
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("query output line is not JSON: %v\n%s", err, line)
		}
		items = append(items, it)
	}
	return items
}

func feedsJSONL(t *testing.T, db string) map[string]api.Feed {
	t.Helper()
	out := mustRun(t, db, "feeds", "--format", "jsonl")
	m := map[string]api.Feed{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f api.Feed
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("feeds output line is not JSON: %v\n%s", err, line)
		}
		m[f.URL] = f
	}
	return m
}

func TestEndToEnd(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "data", "babelfeed.db")
	subs := writeOPML(t, f)

	// Import: the good outlines are added once, the bad ones reported.
	out := mustRun(t, db, "import", subs)
	if !strings.Contains(out, "added 8, already present 0, skipped 3") {
		t.Fatalf("import summary wrong:\n%s", out)
	}
	for _, want := range []string{"ftp", "No URL at all", "duplicate"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output does not report %q:\n%s", want, out)
		}
	}
	out = mustRun(t, db, "import", subs)
	if !strings.Contains(out, "added 0, already present 8") {
		t.Fatalf("second import should add nothing:\n%s", out)
	}

	// First poll: every feed is due; two of them fail, the pass still succeeds.
	out = mustRun(t, db, "poll", "--languages", testLanguages)
	if !strings.Contains(out, "polled 8 feeds") || !strings.Contains(out, "2 failed") {
		t.Fatalf("poll summary wrong:\n%s", out)
	}
	if !strings.Contains(out, "not a feed") {
		t.Errorf("the HTML page should be reported as not a feed:\n%s", out)
	}

	all := queryJSONL(t, db)
	if len(all) != 15 {
		t.Fatalf("want 15 items after the first poll, got %d", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Published < all[i].Published {
			t.Fatalf("items not newest first: %s before %s", all[i-1].Published, all[i].Published)
		}
	}
	wantLang := map[string]string{
		"https://tecnologia.example.it/xiaomi-pieghevole":  "it",
		"https://tecnologia.example.it/apple-tools":        "en", // an English item in an Italian feed stays English
		"https://ciencia.example.es/planeta-dos-soles":     "es",
		"https://technik.example.de/zug":                   "de",
		"https://carnet.example.fr/velo":                   "fr",
		"https://regiao.example.pt/estacao":                "pt",
		"https://quartiere.example.it/rifiuti":             "it",
		"https://ciencia.example.es/valencia-autobuses":    "es",
		"https://tecnologia.example.it/bologna-biblioteca": "it",
	}
	byURL := map[string]api.Item{}
	for _, it := range all {
		byURL[it.URL] = it
		if it.ID == 0 || it.FeedID == 0 || it.FeedURL == "" || it.Published == "" || it.Lang == "" {
			t.Errorf("item misses required fields: %+v", it)
		}
		if strings.ContainsAny(it.Title+it.Summary, "<>") || strings.Contains(it.Summary, "&#") || strings.Contains(it.Summary, "&lt;") {
			t.Errorf("markup left in item text: %q / %q", it.Title, it.Summary)
		}
	}
	for u, lang := range wantLang {
		it, ok := byURL[u]
		if !ok {
			t.Errorf("item %s not stored", u)
			continue
		}
		if it.Lang != lang {
			t.Errorf("item %s: lang %s (%.2f, %s), want %s", u, it.Lang, it.LangConfidence, it.LangMethod, lang)
		}
	}
	if it := byURL["https://tecnologia.example.it/xiaomi-pieghevole"]; it.DeclaredLang != "it" || it.FeedTitle != "Cronache di Tecnologia" {
		t.Errorf("declared language / feed title not kept: %+v", it)
	}
	if it := byURL["https://regiao.example.pt/estacao"]; !strings.Contains(it.Title, "câmara") || !strings.Contains(it.Title, "estação") {
		t.Errorf("Latin-1 feed decoded wrongly: %q", it.Title)
	}
	if it := byURL["https://tecnologia.example.it/bologna-biblioteca"]; !strings.Contains(it.Summary, "dell'università") {
		t.Errorf("entities not decoded: %q", it.Summary)
	}
	// Both items sharing one GUID are kept, and so are the GUID-less ones.
	for _, u := range []string{"https://quartiere.example.it/concerto", "https://quartiere.example.it/rifiuti", "https://quartiere.example.it/strada"} {
		if _, ok := byURL[u]; !ok {
			t.Errorf("item %s lost (repeated or missing GUID)", u)
		}
	}

	// The user's query: by language and keyword.
	got := queryJSONL(t, db, "--lang", "it", "xiaomi")
	if len(got) != 1 || got[0].URL != "https://tecnologia.example.it/xiaomi-pieghevole" {
		t.Fatalf("query --lang it xiaomi: got %+v", got)
	}
	if got := queryJSONL(t, db, "--lang", "es", "xiaomi"); len(got) != 0 {
		t.Errorf("query --lang es xiaomi should find nothing, got %d", len(got))
	}
	// Accent-insensitive words compared by their Italian stem: "citta" finds
	// "città", "piazze" finds "piazza", a cut word ("piaz") finds nothing.
	if got := queryJSONL(t, db, "citta"); len(got) != 2 {
		t.Errorf("query citta: want 2 items (xiaomi, piazza), got %d", len(got))
	}
	if got := queryJSONL(t, db, "piazze"); len(got) != 1 {
		t.Errorf("query piazze: want the piazza item, got %d", len(got))
	}
	if got := queryJSONL(t, db, "piaz"); len(got) != 0 {
		t.Errorf("query piaz must not match partial words, got %d", len(got))
	}
	if got := queryJSONL(t, db, "--lang", "it,es"); len(got) != 8 {
		t.Errorf("query --lang it,es: want 8, got %d", len(got))
	}
	if got := queryJSONL(t, db, "--since", "2026-11-24T00:00:00Z"); len(got) != 4 {
		t.Errorf("query --since 2026-11-24: want 4, got %d", len(got))
	}
	if got := queryJSONL(t, db, "--feed", f.url("/de.rdf")); len(got) != 2 {
		t.Errorf("query --feed URL: want 2, got %d", len(got))
	}
	if got := queryJSONL(t, db, "--category", "Italiano"); len(got) != 7 {
		t.Errorf("query --category Italiano: want 7, got %d", len(got))
	}

	// Feeds show state, errors and languages.
	feeds := feedsJSONL(t, db)
	if fd := feeds[f.url("/it.rss")]; fd.Status != 200 || fd.Items != 3 || fd.Languages["it"] != 2 || fd.Languages["en"] != 1 || fd.Category != "Italiano/Tecnologia" || fd.State != "ok" {
		t.Errorf("feed it.rss wrong: %+v", fd)
	}
	if fd := feeds[f.url("/missing")]; fd.Status != 404 || fd.State != "failing" || fd.ErrorCount != 1 || fd.LastError == "" || fd.NextPoll == "" {
		t.Errorf("feed /missing wrong: %+v", fd)
	}

	// Second poll of everything: conditional requests, nothing new.
	out = mustRun(t, db, "poll", "--all", "--languages", testLanguages)
	if !strings.Contains(out, "0 items added, 0 updated") {
		t.Errorf("re-poll of unchanged feeds added items:\n%s", out)
	}
	f.mu.Lock()
	cond := f.conditional["/it.rss"]
	f.mu.Unlock()
	if cond != 1 {
		t.Errorf("second fetch of it.rss was not conditional (If-None-Match seen %d times)", cond)
	}
	if n := len(queryJSONL(t, db)); n != 15 {
		t.Errorf("after re-poll: %d items, want 15", n)
	}

	// An item whose content changed is updated in place, not duplicated.
	before := queryJSONL(t, db, "--feed", f.url("/mutable"))
	f.setMutable(mutableFeed("Il sindaco inaugura la nuova piazza del mercato coperto e il parcheggio"))
	out = mustRun(t, db, "poll", "--all", "--languages", testLanguages)
	if !strings.Contains(out, "0 items added, 1 updated") {
		t.Errorf("changed item not reported as updated:\n%s", out)
	}
	after := queryJSONL(t, db, "--feed", f.url("/mutable"))
	if len(after) != len(before) {
		t.Fatalf("update duplicated items: %d before, %d after", len(before), len(after))
	}
	var updated api.Item
	for _, it := range after {
		if it.URL == "https://quartiere.example.it/piazza" {
			updated = it
		}
	}
	if !strings.HasSuffix(updated.Title, "e il parcheggio") {
		t.Errorf("item not updated: %q", updated.Title)
	}
	for _, it := range before {
		if it.URL == updated.URL && (it.ID != updated.ID || it.FirstSeen != updated.FirstSeen) {
			t.Errorf("update changed identity: id %d→%d, first seen %s→%s", it.ID, updated.ID, it.FirstSeen, updated.FirstSeen)
		}
	}

	// Export, then import into a fresh store: same subscriptions and categories.
	exported := filepath.Join(t.TempDir(), "export.opml")
	mustRun(t, db, "export", "-o", exported)
	db2 := filepath.Join(t.TempDir(), "fresh.db")
	out = mustRun(t, db2, "import", exported)
	if !strings.Contains(out, "added 8, already present 0, skipped 0") {
		t.Fatalf("import of export: %s", out)
	}
	subsOf := func(db string) []string {
		var s []string
		for u, fd := range feedsJSONL(t, db) {
			s = append(s, u+" in "+fd.Category)
		}
		sort.Strings(s)
		return s
	}
	if a, b := subsOf(db), subsOf(db2); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("export/import round trip differs:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}

	// Stats counts per language.
	out = mustRun(t, db, "stats", "--format", "json")
	var st struct {
		Items     int            `json:"items"`
		Languages map[string]int `json:"languages"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats json: %v\n%s", err, out)
	}
	if st.Items != 15 || st.Languages["it"] != 6 || st.Languages["en"] != 1 {
		t.Errorf("stats wrong: %+v", st)
	}
}

func TestImportRejectsBadFilesAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "babelfeed.db")
	cases := map[string]string{
		"not-xml.opml":  "this is not xml at all",
		"broken.opml":   `<?xml version="1.0"?><opml version="2.0"><body><outline text="a" xmlUrl="https://a.example/feed"></body></opml>`,
		"not-opml.opml": `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>`,
	}
	for name, content := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runCLI(t, db, "import", p)
		if err == nil {
			t.Errorf("import %s: want an error, got none:\n%s", name, out)
			continue
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("import %s: error does not name the file: %v", name, err)
		}
	}
	if _, err := os.Stat(db); err == nil {
		out, _ := runCLI(t, db, "feeds", "--format", "jsonl")
		if strings.TrimSpace(out) != "" {
			t.Errorf("rejected imports wrote feeds:\n%s", out)
		}
	}
	if _, err := runCLI(t, db, "import", filepath.Join(dir, "does-not-exist.opml")); err == nil {
		t.Error("import of a missing file: want an error")
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "babelfeed.db")
	out := mustRun(t, db, "import", "--dry-run", writeOPML(t, f))
	if !strings.Contains(out, "would add 8") {
		t.Fatalf("dry run summary: %s", out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a dry run created the store file (%v)", err)
	}
}

func TestBadFlagsFail(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "babelfeed.db")
	mustRun(t, db, "import", writeOPML(t, f))
	for _, args := range [][]string{
		{"query", "--lang", "italian"},
		{"query", "--since", "yesterday"},
		{"query", "--format", "xml"},
		{"query", "--limit", "-1"},
		{"query", "--feed", "999"},
		{"feeds", "--format", "csv"},
		{"poll", "--workers", "0"},
		{"poll", "--languages", "xx"},
		{"nosuchcommand"},
	} {
		if out, err := runCLI(t, db, args...); err == nil {
			t.Errorf("babelfeed %s: want an error, got none:\n%s", strings.Join(args, " "), out)
		}
	}
	if _, err := runCLI(t, filepath.Join(t.TempDir(), "nothing-here.db"), "query"); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("query on a missing store: want a 'no store' error, got %v", err)
	}
}
