package poll

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"babelfeed/feeds/parse"
)

// corpora finds the shared corpora directory, a sibling of the repository
// root, by walking up from the test's working directory.
func corpora(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Skipf("corpora not found: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(dir) == dir {
			t.Skipf("corpora not found at any shared/corpora above %s", wd)
		}
	}
}

// Real feeds from other projects' test material, served as a careless web
// server would (no charset, no validators), go through the whole pipeline:
// Latin-1 without a declaration, gzip on the wire, an HTML page, and the
// languages come out as the feeds are written. A second pass finds every
// body unchanged and parses nothing.
func TestPollRealFeeds(t *testing.T) {
	root := corpora(t)
	const feeder = "feeder-testfeeds/app/src/androidTest/resources/com/nononsenseapps/feeder/model/"
	cases := []struct {
		path     string
		gzip     bool
		lang     string // the language most items must be tagged with; "" to skip
		notAFeed bool
	}{
		{path: "feed-rs-fixtures/feed-rs/fixture/rss2/rss_2.0_ilgiornale.xml", lang: "it"},
		{path: feeder + "golem-de.xml", lang: "de"}, // ISO-8859-1, declared
		{path: feeder + "rss_lemonde.xml", lang: "fr"},
		{path: "rsparser-feeds/Tests/RSParserTests/Resources/lanacion.xml", lang: "es"},
		{path: "miniflux-testdata/internal/reader/parser/testdata/no_encoding_ISO-8859-1.xml", lang: "fr"}, // Latin-1, undeclared
		{path: "node-feedparser-feeds/test/feeds/compressed.xml", gzip: true},                              // Russian, not in the test detector
		{path: "node-feedparser-feeds/test/feeds/notafeed.html", notAFeed: true},
	}
	bodies := map[string][]byte{}
	for _, c := range cases {
		b, err := os.ReadFile(filepath.Join(root, c.path))
		if err != nil {
			t.Skipf("corpora incomplete at %s: %v", root, err)
		}
		bodies["/"+c.path] = b
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if filepath.Ext(r.URL.Path) == ".html" {
			w.Header().Set("Content-Type", "text/html")
		} else {
			w.Header().Set("Content-Type", "application/xml")
		}
		for _, c := range cases {
			if "/"+c.path == r.URL.Path && c.gzip {
				w.Header().Set("Content-Encoding", "gzip")
			}
		}
		w.Write(b)
	})
	e := newEnv(t)
	var urls []string
	for _, c := range cases {
		urls = append(urls, srv.URL+"/"+c.path)
	}
	feeds := e.add(urls...)
	outcomes := e.poller.PollFeeds(context.Background(), feeds, nil)
	for i, c := range cases {
		o := outcomes[i]
		if c.notAFeed {
			var naf *parse.NotAFeedError
			if !errors.As(o.Err, &naf) {
				t.Errorf("%s: err = %v, want not a feed", c.path, o.Err)
			}
			continue
		}
		if o.Err != nil || o.Added == 0 {
			t.Errorf("%s: added %d, err %v", c.path, o.Added, o.Err)
			continue
		}
		if c.lang == "" {
			continue
		}
		got := e.feed(o.Feed.ID)
		if top := got.Languages[c.lang]; 2*top <= got.Items {
			t.Errorf("%s: %d of %d items tagged %s (languages %v)", c.path, top, got.Items, c.lang, got.Languages)
		}
	}
	parses := e.parses.Load()

	e.clock.Advance(24 * time.Hour)
	for i := range feeds {
		feeds[i] = e.feed(feeds[i].ID) // with the body hashes of the first pass
	}
	for i, o := range e.poller.PollFeeds(context.Background(), feeds, nil) {
		if cases[i].notAFeed {
			continue // failed pages have no body hash: parsed again, and failing again
		}
		if o.Err != nil || !o.NotModified {
			t.Errorf("%s second pass: not modified %v, err %v", cases[i].path, o.NotModified, o.Err)
		}
	}
	// (The counter sees documents that reached normalisation, so the HTML
	// page, rejected before, is not in it.)
	if extra := e.parses.Load() - parses; extra != 0 {
		t.Errorf("second pass parsed %d feeds again", extra)
	}
	e.checkConsistent()
}
