package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Retag re-decides stored languages with new settings and loses nothing:
// narrowed to Italian and English, the Spanish items can no longer be
// Spanish; widened again, they are Spanish once more.
func TestRetag(t *testing.T) {
	f := newFarm(t)
	db := filepath.Join(t.TempDir(), "babelfeed.db")
	mustRun(t, db, "import", writeOPML(t, f))
	mustRun(t, db, "poll", "--languages", testLanguages)
	before := queryJSONL(t, db)
	if n := len(queryJSONL(t, db, "--lang", "es")); n != 2 {
		t.Fatalf("want 2 Spanish items before retag, got %d", n)
	}

	out := mustRun(t, db, "retag", "--languages", "it,en")
	if !strings.Contains(out, "retagged 15 items") {
		t.Fatalf("retag summary: %s", out)
	}
	if n := len(queryJSONL(t, db, "--lang", "es")); n != 0 {
		t.Errorf("after retag to it,en: %d Spanish items remain", n)
	}
	if after := queryJSONL(t, db); len(after) != len(before) {
		t.Fatalf("retag lost items: %d before, %d after", len(before), len(after))
	}

	mustRun(t, db, "retag", "--languages", testLanguages)
	if n := len(queryJSONL(t, db, "--lang", "es")); n != 2 {
		t.Errorf("after retag back: %d Spanish items, want 2", n)
	}
	if _, err := runCLI(t, db, "retag", "--languages", "xx"); err == nil {
		t.Error("retag --languages xx: want an error")
	}
}
