package poll

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/schedule"
	"babelfeed/filter/lang"
	"babelfeed/store"
)

// conformanceLanguages are the languages of the real feeds in the corpora,
// plus their usual confusions, so a wrong answer is possible.
var conformanceLanguages = []string{"it", "en", "es", "de", "fr", "pt", "nl", "uk", "ru", "be", "bg", "zh", "ja", "sk", "cs", "sv", "pl", "ur", "fa", "ar", "ca"}

var (
	confDetOnce sync.Once
	confDet     *lang.Detector
	confDetErr  error
)

// conformanceDetector runs in low-accuracy mode for the reason given at
// detector(); a feed's dominant language over many items does not need
// more.
func conformanceDetector(t *testing.T) *lang.Detector {
	t.Helper()
	confDetOnce.Do(func() {
		cfg := lang.DefaultConfig()
		cfg.Languages = conformanceLanguages
		cfg.LowAccuracy = true
		confDet, confDetErr = lang.New(cfg)
	})
	if confDetErr != nil {
		t.Fatalf("build detector: %v", confDetErr)
	}
	return confDet
}

// TestConformanceCorpora sends every feed file of the shared corpora through
// the whole ingest path (HTTP → decode → parse → normalise → tag → store)
// and checks nothing panics, every outcome is either stored items or an
// error recorded on the feed, and the real multilingual feeds come out with
// their language.
func TestConformanceCorpora(t *testing.T) {
	root := corpora(t)
	var files []string
	for _, dir := range []string{"feed-rs-fixtures", "miniflux-testdata", "rss-parser-inputs", "node-feedparser-feeds",
		"feeder-testfeeds", "rsparser-feeds", "feedjira-sample-feeds", "rome-testfeeds", "newsboat-testdata", "gofeed-testdata"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			ext := strings.ToLower(filepath.Ext(p))
			switch ext {
			case ".xml", ".rss", ".atom", ".rdf", ".json":
			default:
				return nil
			}
			// gofeed's golden outputs sit beside their inputs.
			if ext == ".json" && strings.Contains(p, "gofeed-testdata") {
				if _, err := os.Stat(strings.TrimSuffix(p, ".json") + ".xml"); err == nil {
					return nil
				}
			}
			if strings.HasSuffix(p, ".serde.json") || strings.Contains(p, string(filepath.Separator)+"opml"+string(filepath.Separator)) {
				return nil
			}
			files = append(files, p)
			return nil
		})
	}
	if len(files) == 0 {
		t.Skipf("no feed files under %s", root)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
	}))
	defer srv.Close()

	s, err := store.Open(filepath.Join(t.TempDir(), "conformance.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	urls := map[string]string{} // feed URL -> corpus path
	var subs []babelfeed.Feed
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		u := srv.URL + "/" + filepath.ToSlash(rel)
		urls[u] = rel
		subs = append(subs, babelfeed.Feed{URL: u})
	}
	added, _, err := s.AddFeeds(subs, false)
	if err != nil {
		t.Fatal(err)
	}
	p := &Poller{
		Store:   s,
		Fetch:   fetch.New(fetch.Options{}),
		Parse:   parse.New(parse.Options{}),
		Tagger:  conformanceDetector(t),
		Policy:  schedule.DefaultPolicy(),
		Workers: 4,
		PerHost: 4,
	}
	outs := p.PollFeeds(context.Background(), added, nil)
	stored, failed, items := 0, 0, 0
	for _, o := range outs {
		if o.Err != nil {
			failed++
			if o.Feed.LastError == "" || o.Feed.State != babelfeed.StateFailing {
				t.Errorf("%s: failure not recorded on the feed: %+v", urls[o.Feed.URL], o.Feed)
			}
			continue
		}
		stored++
		items += o.Added
	}
	t.Logf("%d corpus feed files: %d stored (%d items), %d rejected with an error on the feed", len(files), stored, items, failed)
	if stored < len(files)/2 {
		t.Errorf("only %d of %d corpus feeds went through", stored, len(files))
	}

	// The real multilingual feeds: each one's dominant language.
	const feeder = "feeder-testfeeds/app/src/androidTest/resources/com/nononsenseapps/feeder/model/"
	const rsparser = "rsparser-feeds/Tests/RSParserTests/Resources/"
	want := map[string]string{
		feeder + "rss_lemonde.xml":                                        "fr", // Le Monde, no language tag
		rsparser + "lanacion.xml":                                         "es", // La Nación, no language tag
		feeder + "golem-de.xml":                                           "de", // Golem, ISO-8859-1
		feeder + "rss_ukrnet.xml":                                         "uk", // Suspilne, no language tag
		feeder + "rss_geekpark.xml":                                       "zh", // GeekPark, no language tag
		"feed-rs-fixtures/feed-rs/fixture/rss2/rss_2.0_ilgiornale.xml":    "it",
		rsparser + "aktuality.rss":                                        "sk",
		feeder + "rss_cyklistbloggen.xml":                                 "sv",
		rsparser + "phpxml.rss":                                           "nl",
		"rss-parser-inputs/test/input/uolNoticias.rss":                    "pt", // Latin-1, undeclared
		"miniflux-testdata/internal/reader/parser/testdata/urdu_UTF8.xml": "ur",
		"node-feedparser-feeds/test/feeds/iconv.xml":                      "ru", // windows-1251
	}
	feeds, err := s.Feeds()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]babelfeed.Feed{}
	for _, f := range feeds {
		byPath[urls[f.URL]] = f
	}
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f, ok := byPath[p]
		if !ok {
			t.Errorf("%s: not in the corpora", p)
			continue
		}
		if got := dominant(f.Languages); got != want[p] {
			t.Errorf("%s: dominant language %q (%v), want %s", p, got, f.Languages, want[p])
		}
	}
}

func dominant(m map[string]int) string {
	best, n := "", 0
	for l, c := range m {
		if c > n || (c == n && l < best) {
			best, n = l, c
		}
	}
	return best
}
