package poll

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/schedule"
	"babelfeed/store"
)

// staticFetch answers every fetch with one body, as a server would.
type staticFetch struct {
	body        []byte
	contentType string
}

func (s staticFetch) Fetch(_ context.Context, req fetch.Request) (*fetch.Response, error) {
	return &fetch.Response{Status: 200, Body: s.body, ContentType: s.contentType, URL: req.URL}, nil
}

// fuzzSeedEvery takes one corpora file in this many as a seed: the seeds
// run as ordinary tests, through the detector, and every file of the
// corpora would take minutes under the race detector.
const fuzzSeedEvery = 24

// ingestSeeds returns feed documents from the shared corpora (every
// fuzzSeedEvery-th input of the feed collections, up to 256 KB each), or
// none when the corpora are absent.
func ingestSeeds(f *testing.F) [][]byte {
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	var root string
	for dir := wd; ; dir = filepath.Dir(dir) {
		if st, err := os.Stat(filepath.Join(dir, "shared", "corpora")); err == nil && st.IsDir() {
			root = filepath.Join(dir, "shared", "corpora")
			break
		}
		if filepath.Dir(dir) == dir {
			f.Logf("corpora not found at any shared/corpora above %s: inline seeds only", wd)
			return nil
		}
	}
	var files []string
	for _, folder := range []string{"gofeed-testdata", "feed-rs-fixtures", "miniflux-testdata", "rss-parser-inputs",
		"node-feedparser-feeds", "feeder-testfeeds", "rsparser-feeds", "feedjira-sample-feeds", "rome-testfeeds",
		"newsboat-testdata", "feedparser-tests"} {
		filepath.WalkDir(filepath.Join(root, folder), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".xml", ".rss", ".atom", ".rdf", ".json":
				if !strings.HasSuffix(path, "_expected.json") && !strings.HasSuffix(path, ".serde.json") {
					files = append(files, path)
				}
			}
			return nil
		})
	}
	sort.Strings(files)
	var out [][]byte
	for i := 0; i < len(files); i += fuzzSeedEvery {
		b, err := os.ReadFile(files[i])
		if err == nil && len(b) <= 256<<10 {
			out = append(out, b)
		}
	}
	return out
}

// FuzzIngest drives arbitrary bytes and a Content-Type through the whole
// ingest path of a poll (gunzip, charset decision, bounds, gofeed,
// normalisation, language tagging, the store's write), as PollOne runs
// it. Nothing may panic; a failure is recorded on the feed with nothing
// stored; a success stores at most MaxItems items with sane fields; and a
// second parse of the same document stores nothing new.
func FuzzIngest(f *testing.F) {
	for _, b := range ingestSeeds(f) {
		f.Add(b, "")
	}
	for _, s := range []struct{ body, ctype string }{
		{`<rss version="2.0"><channel><title>x</title><item><title>Il treno è in ritardo</title><guid>a</guid></item><item><guid>a</guid><link>javascript:x</link></item></channel></rss>`, "text/xml; charset=iso-8859-1"},
		{`<?xml version="1.0" encoding="windows-1251"?><rss><channel><item><title>` + "\xcf\xf0\xe8\xe2\xe5\xf2" + `</title></item></channel></rss>`, ""},
		{`<!DOCTYPE rss [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><rss><channel><item><title>&b;</title></item></channel></rss>`, ""},
		{`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><b>Ciao</b> mondo</div></title></entry></feed>`, "application/atom+xml"},
		{`{"version":"https://jsonfeed.org/version/1.1","title":"j","items":[{"id":"1","content_html":"<p>Hola mundo, ¿qué tal?</p>"},{"id":2}]}`, "application/feed+json"},
		{`<rss><channel>` + strings.Repeat(`<item><title>x</title>`, 60) + strings.Repeat(`<a>`, 120), ""},
		{"<html><head><link rel=alternate type=application/rss+xml href=/f></head></html>", "text/html"},
	} {
		f.Add([]byte(s.body), s.ctype)
	}

	// A store on tmpfs, where it is, keeps its fsyncs from setting the pace.
	dir := f.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "babelfeed-fuzz-"); err == nil {
		dir = d
		f.Cleanup(func() { os.RemoveAll(d) })
	}
	var (
		st    *store.DB
		execs int
	)
	f.Cleanup(func() {
		if st != nil {
			st.Close()
		}
	})
	// Small caps keep each run short (tagging dominates it); the caps'
	// own code paths are the same at any size.
	const maxItems, maxTitle, maxText = 20, 200, 500
	parser := parse.New(parse.Options{MaxItems: maxItems, MaxTitle: maxTitle, MaxText: maxText})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		// A fresh store now and then keeps the file small over a long run.
		if st == nil || execs%500 == 0 {
			if st != nil {
				st.Close()
				os.Remove(st.Path())
			}
			var err error
			st, err = store.Open(filepath.Join(dir, "ingest-"+strconv.Itoa(execs)+".db"), store.Options{MmapSize: 1 << 20})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
		}
		execs++
		url := "https://fuzz.example/feed/" + strconv.Itoa(execs)
		added, _, err := st.AddFeeds([]babelfeed.Feed{{URL: url}}, false)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		p := &Poller{Store: st, Fetch: staticFetch{body, contentType}, Parse: parser, Tagger: detector(t),
			Policy: schedule.DefaultPolicy(), Log: log}
		o := p.PollOne(context.Background(), added[0])
		feed, err := st.Feed(added[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		items := storedItems(t, st, feed.ID)
		if errors.Is(o.Err, ErrPanic) {
			t.Fatalf("panic: %v", o.Err)
		}
		if o.Err != nil {
			if len(items) != 0 || feed.State != babelfeed.StateFailing || feed.LastError == "" {
				t.Fatalf("failed (%v) but %d items stored, state %s, last error %q", o.Err, len(items), feed.State, feed.LastError)
			}
			return
		}
		if len(items) != o.Added || len(items) > maxItems || feed.Items != len(items) {
			t.Fatalf("%d stored, %d added, feed counts %d, cap %d", len(items), o.Added, feed.Items, maxItems)
		}
		keys := map[string]bool{}
		for _, it := range items {
			for _, s := range []string{it.Title, it.Summary, it.Content, it.Author, it.GUID, it.URL, it.Key, it.Lang} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 stored: %q", s)
				}
			}
			if it.Key == "" || keys[it.Key] || len(it.Key) > 2048 {
				t.Fatalf("key %.80q empty, repeated or %d bytes long", it.Key, len(it.Key))
			}
			keys[it.Key] = true
			if utf8.RuneCountInString(it.Title) > maxTitle || utf8.RuneCountInString(it.Summary) > maxText || utf8.RuneCountInString(it.Content) > maxText {
				t.Fatalf("field over its cap: title %d, summary %d, content %d characters",
					utf8.RuneCountInString(it.Title), utf8.RuneCountInString(it.Summary), utf8.RuneCountInString(it.Content))
			}
			if it.URL != "" && !strings.HasPrefix(it.URL, "http://") && !strings.HasPrefix(it.URL, "https://") {
				t.Fatalf("link %q stored", it.URL)
			}
			if it.Lang == "" || it.Published.IsZero() || len(it.Categories) > 32 {
				t.Fatalf("item %q: lang %q, published %v, %d categories", it.Key, it.Lang, it.Published, len(it.Categories))
			}
		}
		// The same document parsed again (its body hash forgotten) brings
		// nothing new: no item is stored twice.
		feed.BodyHash = ""
		o2 := p.PollOne(context.Background(), feed)
		if o2.Err != nil || o2.Added != 0 || o2.Updated != 0 {
			t.Fatalf("second ingest of the same body: added %d, updated %d, err %v", o2.Added, o2.Updated, o2.Err)
		}
		if n := len(storedItems(t, st, feed.ID)); n != len(items) {
			t.Fatalf("second ingest: %d items stored, %d before", n, len(items))
		}
	})
}
