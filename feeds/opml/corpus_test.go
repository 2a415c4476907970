package opml

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// findCorpora returns the shared/corpora directory found by walking up
// from the working directory, or "" when there is none.
func findCorpora() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// corporaDir returns findCorpora's answer or skips the test.
func corporaDir(t testing.TB) string {
	t.Helper()
	c := findCorpora()
	if c == "" {
		wd, _ := os.Getwd()
		t.Skip("corpora not found at any shared/corpora above " + wd)
	}
	return c
}

// corpusFiles lists every OPML file of the corpora named in the brief.
func corpusFiles(t testing.TB, root string) []string {
	t.Helper()
	type src struct {
		dir   string
		match func(rel string) bool
	}
	isOPMLorXML := func(rel string) bool {
		ext := strings.ToLower(filepath.Ext(rel))
		return ext == ".opml" || ext == ".xml"
	}
	srcs := []src{
		{"awesome-rss-feeds", isOPMLorXML},
		// Includes src/tests/test-atom.xml: an Atom feed, which must be
		// rejected as "not an OPML document".
		{"liferea-opml", isOPMLorXML},
		{"listparser-tests", isOPMLorXML},
		{"newsboat-testdata", func(rel string) bool { return strings.HasSuffix(rel, ".opml") }},
		{"feeder-testfeeds", func(rel string) bool { return strings.Contains(rel, "/opml/") && isOPMLorXML(rel) }},
		{"rsparser-feeds", func(rel string) bool {
			b := filepath.Base(rel)
			return strings.HasPrefix(b, "Subs") && strings.HasSuffix(b, ".opml")
		}},
		{"rome-testfeeds", func(rel string) bool { return strings.Contains(rel, "rome-opml/") && isOPMLorXML(rel) }},
	}
	var files []string
	for _, s := range srcs {
		base := filepath.Join(root, s.dir)
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(base, path)
			if s.match(filepath.ToSlash(rel)) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("walk %s: %v", base, err)
		}
	}
	return files
}

func TestCorpus(t *testing.T) {
	root := corporaDir(t)
	files := corpusFiles(t, root)
	if len(files) < 200 {
		t.Fatalf("found only %d OPML files under %s; corpora incomplete?", len(files), root)
	}
	var parsed, rejected, outlines, skipped int
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("open %s: %v", rel, err)
		}
		doc, err := Parse(f)
		f.Close()
		switch {
		case err != nil && doc != nil:
			t.Errorf("%s: both an error and a document: %v", rel, err)
		case err != nil:
			if err.Error() == "" {
				t.Errorf("%s: empty error message", rel)
			}
			rejected++
			t.Logf("REJECT %s: %v", rel, err)
		default:
			parsed++
			outlines += len(doc.Outlines)
			skipped += len(doc.Skipped)
			checkInvariants(t, rel, doc)
			t.Logf("OK     %s: %d outlines, %d skipped", rel, len(doc.Outlines), len(doc.Skipped))
		}
	}
	t.Logf("corpus summary: %d files, %d parsed, %d rejected; %d outlines imported, %d skipped",
		len(files), parsed, rejected, outlines, skipped)
}
