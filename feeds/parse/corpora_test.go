package parse

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// corporaFolders are the feed collections of shared/corpora this package is
// checked against.
var corporaFolders = []string{
	"gofeed-testdata", "feed-rs-fixtures", "miniflux-testdata", "rss-parser-inputs",
	"node-feedparser-feeds", "feeder-testfeeds", "rsparser-feeds", "feedjira-sample-feeds",
	"rome-testfeeds", "newsboat-testdata", "feedparser-tests",
}

// findCorpora walks up from the working directory to the directory that
// has shared/corpora, the repository's sibling.
func findCorpora(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Skipf("corpora not found: %v", err)
	}
	start := dir
	for {
		c := filepath.Join(dir, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("corpora not found at any shared/corpora above %s", start)
		}
		dir = parent
	}
}

// corporaInputs lists the feed inputs of one folder: .xml, .rss, .atom,
// .rdf and .json files, without the expected-output JSON of the suites.
func corporaInputs(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		ext := strings.ToLower(filepath.Ext(name))
		switch ext {
		case ".xml", ".rss", ".atom", ".rdf":
		case ".json":
			stem := strings.TrimSuffix(path, filepath.Ext(path))
			if strings.HasSuffix(name, "_expected.json") || strings.HasSuffix(name, ".serde.json") {
				return nil
			}
			if _, err := os.Stat(stem + ".xml"); err == nil {
				return nil // gofeed's golden output next to its input
			}
		default:
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

// headerRe finds the simulated HTTP header of feedparser's test files.
var headerRe = regexp.MustCompile(`(?mi)^Header:\s*Content-type:\s*(.+?)\s*$`)

func corporaContentType(body []byte) string {
	if m := headerRe.FindSubmatch(body[:min(len(body), 1024)]); m != nil {
		return string(m[1])
	}
	return ""
}

// loadBaseline reads gofeed v1.4.2's own verdicts: path -> "OK" or "ERR".
func loadBaseline(t testing.TB, corpora string) map[string]string {
	f, err := os.Open(filepath.Join(corpora, "_checks", "gofeed-v1.4.2-parse.tsv"))
	if err != nil {
		t.Logf("no baseline: %v", err)
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) >= 2 {
			out[cols[1]] = cols[0]
		}
	}
	return out
}

func TestCorpora(t *testing.T) {
	corpora := findCorpora(t)
	baseline := loadBaseline(t, corpora)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := New(Options{Now: func() time.Time { return now }})
	var rescued, regressed []string
	totalParsed, totalFailed, totalItems := 0, 0, 0
	for _, folder := range corporaFolders {
		dir := filepath.Join(corpora, folder)
		if _, err := os.Stat(dir); err != nil {
			t.Logf("%s: missing, skipped", folder)
			continue
		}
		parsed, notFeed, failed, items := 0, 0, 0, 0
		for _, path := range corporaInputs(t, dir) {
			rel, _ := filepath.Rel(corpora, path)
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Parse(context.Background(), body, corporaContentType(body))
			var naf *NotAFeedError
			switch {
			case errors.As(err, &naf):
				notFeed++
				if testing.Verbose() {
					t.Logf("  %s: %v", rel, err)
				}
			case err != nil:
				failed++
				if testing.Verbose() {
					t.Logf("  %s: %v", rel, err)
				}
			default:
				parsed++
				items += len(res.Items)
				checkInvariants(t, rel, res, now)
			}
			switch baseline[filepath.ToSlash(rel)] {
			case "ERR":
				if err == nil {
					rescued = append(rescued, rel)
				}
			case "OK":
				if err != nil {
					regressed = append(regressed, rel+": "+err.Error())
				}
			}
		}
		t.Logf("%-22s parsed %4d, not a feed %3d, failed %3d, items %5d", folder, parsed, notFeed, failed, items)
		totalParsed += parsed
		totalFailed += notFeed + failed
		totalItems += items
	}
	t.Logf("total: parsed %d, failed %d, items %d", totalParsed, totalFailed, totalItems)
	t.Logf("rescued (gofeed v1.4.2 alone fails, we parse): %d", len(rescued))
	for _, r := range rescued {
		t.Logf("  rescued %s", r)
	}
	for _, r := range regressed {
		t.Errorf("gofeed v1.4.2 alone parses, we fail: %s", r)
	}
}

// TestCorporaLatin1NoDeclaration: the two real feeds in ISO-8859-1 without
// an encoding declaration, which gofeed alone rejects as invalid UTF-8,
// come out with correct accented letters.
func TestCorporaLatin1NoDeclaration(t *testing.T) {
	corpora := findCorpora(t)
	for _, rel := range []string{
		"miniflux-testdata/internal/reader/parser/testdata/no_encoding_ISO-8859-1.xml",
		"rss-parser-inputs/test/input/uolNoticias.rss",
	} {
		body, err := os.ReadFile(filepath.Join(corpora, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		res, err := newTestParser().Parse(context.Background(), body, "")
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		checkInvariants(t, rel, res, testNow)
		if len(res.Items) == 0 {
			t.Errorf("%s: no items", rel)
			continue
		}
		var titles strings.Builder
		titles.WriteString(res.Title + res.Description)
		for _, it := range res.Items {
			titles.WriteString(it.Title)
		}
		all := titles.String()
		if strings.ContainsRune(all, '\uFFFD') {
			t.Errorf("%s: U+FFFD in titles", rel)
		}
		if !strings.ContainsAny(all, "éãçÚí") {
			t.Errorf("%s: no accented letter in titles %q", rel, clip(all))
		}
		t.Logf("%s: %d items, first %q", rel, len(res.Items), res.Items[0].Title)
	}
}
