package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
)

// migrateWords are a few words per language, so that keyword queries have
// something to find in every language.
var migrateWords = map[string][]string{
	"it": {"il sindaco inaugura la piazza", "la squadra vince il campionato", "nuove regole per il mercato"},
	"es": {"el gobierno aprueba la reforma", "la ciudad celebra su fiesta mayor", "nuevas reglas para el mercado"},
	"de": {"die Regierung beschließt das Gesetz", "der Bürgermeister eröffnet den Markt", "neue Regeln für den Markt"},
	"en": {"the mayor opens the market square", "the team wins the league", "new rules for the market"},
}

// buildMigrateSource writes a bbolt store with something of every kind
// migrate must carry: feeds in categories (one redirected), items in four
// languages (one with a key too long to keep verbatim), stories in
// several feeds, rules with counts, drop records, saved queries, and
// items removed by retention.
func buildMigrateSource(t *testing.T, path string, perFeed int) {
	t.Helper()
	s, err := store.Open(path, storeOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var feeds []babelfeed.Feed
	for i, lang := range []string{"it", "es", "de", "en"} {
		added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: fmt.Sprintf("https://%s.example/feed", lang), Title: "Feed " + lang,
			Category: []string{"News", strings.ToUpper(lang)}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		f := added[0]
		if i == 3 {
			f.URL = "https://en.example/moved" // a permanent redirect
			if err := s.UpdateFeed(f); err != nil {
				t.Fatal(err)
			}
		}
		feeds = append(feeds, f)
	}
	base := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	for fi, f := range feeds {
		lang := []string{"it", "es", "de", "en"}[fi]
		var items []babelfeed.Item
		for i := range perFeed {
			title := fmt.Sprintf("%s (%d)", migrateWords[lang][i%3], i)
			link := fmt.Sprintf("https://%s.example/story/%d", lang, i)
			if i%10 == 0 {
				// The same story in every feed: all but the first are
				// duplicates.
				link = fmt.Sprintf("https://wire.example/story/%d?utm_source=%s", i, lang)
			}
			key := link
			if i == 1 {
				key = strings.Repeat("k", 300) + lang
			}
			items = append(items, babelfeed.Item{
				Key: key, GUID: key, URL: link, Title: title,
				Summary:   title + ". " + migrateWords[lang][(i+1)%3] + ".",
				Author:    "Redazione " + lang,
				Published: base.Add(time.Duration(i*len(feeds)+fi) * time.Minute), FirstSeen: base,
				Lang: lang, LangConfidence: 0.9, LangMethod: babelfeed.LangDetected, DeclaredLang: lang,
				ContentHash: fmt.Sprintf("h%d-%s", i, lang),
			})
		}
		if _, err := s.SaveFetch(f, items); err != nil {
			t.Fatal(err)
		}
	}
	block, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleBlock, Query: "oroscopo"})
	gone, _, _ := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:it", FeedID: feeds[0].ID})
	if _, _, err := s.AddRule(babelfeed.Rule{Action: babelfeed.RuleKeep, Query: "lang:es", Category: "News/ES"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(gone.ID); err != nil {
		t.Fatal(err)
	}
	_, version, _ := s.Rules()
	if err := s.SaveRuleOutcome(store.RuleOutcome{FeedID: feeds[0].ID, Version: version,
		Drops: []store.Drop{{Key: "oroscopo-1", ContentHash: "x", RuleID: block.ID}},
		Kept:  map[uint64]int{block.ID: 3}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []store.SavedQuery{{Name: "mercato", Query: "mercado OR market OR mercato"}, {Name: "italiano", Query: "lang:it"}} {
		if err := s.SaveQuery(q, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), store.Retention{MaxPerFeed: perFeed - 3}, base); err != nil {
		t.Fatal(err)
	}
}

// migrateViews are the commands whose output must be the same on a store
// and its copy.
var migrateViews = [][]string{
	{"query", "--format", "jsonl", "--limit", "0", "--all-duplicates"},
	{"query", "--format", "jsonl", "--limit", "0"},
	{"query", "--format", "jsonl", "--limit", "0", "--lang", "it,de"},
	{"query", "--format", "jsonl", "--limit", "0", "--category", "News/ES"},
	{"query", "--format", "jsonl", "--limit", "0", "mercato OR markt OR mercado"},
	{"query", "--format", "jsonl", "--limit", "10", "--sort", "relevance", "market"},
	{"feeds", "--format", "jsonl"},
	{"rules", "list", "--format", "jsonl"},
	{"saved", "list", "--format", "jsonl"},
}

// sameViews checks that every view of copy prints what it prints of orig.
// The cursor of a next page is opaque and each engine spells its own, so
// it is compared only between stores of one engine.
func sameViews(t *testing.T, orig, copy string) {
	t.Helper()
	for _, view := range migrateViews {
		want := mustRun(t, orig, view...)
		got := mustRun(t, copy, view...)
		if isPostgres(orig) != isPostgres(copy) {
			want, got = withoutCursor(want), withoutCursor(got)
		}
		if got != want {
			t.Errorf("babelfeed %s differs on the copy %s:\n got %.1500s\nwant %.1500s", strings.Join(view, " "), copy, got, want)
		}
		if strings.Count(want, "\n") < 2 {
			t.Errorf("babelfeed %s prints too little to compare: %q", strings.Join(view, " "), want)
		}
	}
}

func withoutCursor(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "more: --cursor ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestMigrateBoltToBolt(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	buildMigrateSource(t, src, 30)
	dst := filepath.Join(dir, "copy", "dst.db")
	out := mustRun(t, src, "migrate", "--from", src, "--to", dst, "--batch", "7")
	if !strings.Contains(out, "migrated 4 feeds, 108 items (") || !strings.Contains(out, "2 rules, 2 saved queries, 1 drop records, 12 tombstones") {
		t.Errorf("summary: %s", out)
	}
	sameViews(t, src, dst)
	if out := mustRun(t, dst, "check"); !strings.Contains(out, "ok: no problems found") {
		t.Errorf("check of the copy: %s", out)
	}

	// A destination that holds anything is refused and left alone.
	before, _ := os.ReadFile(dst)
	out, err := runCLI(t, src, "migrate", "--from", src, "--to", dst)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("migrating into a store with feeds: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(dst); string(after) != string(before) {
		t.Error("the refused destination was changed")
	}
	// A missing source, and a source and destination that are one.
	if _, err := runCLI(t, src, "migrate", "--from", filepath.Join(dir, "nothing.db"), "--to", filepath.Join(dir, "new.db")); err == nil || !strings.Contains(err.Error(), "no store at") {
		t.Errorf("a missing source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		t.Error("a destination was created for a missing source")
	}
	if _, err := runCLI(t, src, "migrate", "--from", src, "--to", src); err == nil {
		t.Error("migrating a store onto itself: no error")
	}
}

func TestMigrateBoltPostgresBolt(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	buildMigrateSource(t, src, 30)
	out := mustRun(t, src, "migrate", "--from", src, "--to", dsn, "--batch", "50")
	if !strings.Contains(out, "migrated 4 feeds, 108 items (") || strings.Contains(out, "babelfeed:babelfeed@") {
		t.Errorf("summary (and no password): %s", out)
	}
	sameViews(t, src, dsn)
	back := filepath.Join(dir, "back.db")
	mustRun(t, dsn, "migrate", "--to", back) // --from is the store of --store
	sameViews(t, src, back)
	if out := mustRun(t, back, "check"); !strings.Contains(out, "ok: no problems found") {
		t.Errorf("check of the copy: %s", out)
	}
	// Record for record, what went to PostgreSQL and came back is what
	// left: feeds, items, rules and their version, saved queries, drop
	// records and tombstones.
	want, got := exportRecords(t, src), exportRecords(t, back)
	if len(got) != len(want) {
		t.Errorf("%d records came back, %d left", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("record %d came back as\n%s\nleft as\n%s", i, recordString(got[i]), recordString(want[i]))
		}
	}
	// The PostgreSQL store now holds feeds: a second copy is refused.
	if _, err := runCLI(t, src, "migrate", "--from", src, "--to", dsn); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("migrating into a database with feeds: %v", err)
	}
}

func exportRecords(t *testing.T, path string) []store.Record {
	t.Helper()
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []store.Record
	if err := s.Export(context.Background(), func(r store.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

func recordString(r store.Record) string {
	switch {
	case r.Feed != nil:
		return fmt.Sprintf("feed %+v", *r.Feed)
	case r.Item != nil:
		return fmt.Sprintf("item %+v", *r.Item)
	case r.Rule != nil:
		return fmt.Sprintf("rule %+v (version %d)", *r.Rule, r.RulesVersion)
	case r.Saved != nil:
		return fmt.Sprintf("saved query %+v", *r.Saved)
	case r.Dropped != nil:
		return fmt.Sprintf("drop record %+v", *r.Dropped)
	case r.Tombstone != nil:
		return fmt.Sprintf("tombstone %+v", *r.Tombstone)
	}
	return "empty record"
}
