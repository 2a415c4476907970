package server

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/filter/search"
	"babelfeed/store"
)

func searchServer(t *testing.T, opts store.Options) *httptest.Server {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "s.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	feeds, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://a.example/rss"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	var items []babelfeed.Item
	for i, c := range []struct{ lang, title string }{
		{"it", "Le università italiane riaprono"},
		{"it", "Una università nuova a Bologna, l'università del futuro"},
		{"de", "Die Universitäten öffnen wieder"},
		{"ja", "東京大学の新しい研究"},
		{"it", "Calcio: il derby finisce in parità"},
	} {
		items = append(items, babelfeed.Item{Key: c.title, Lang: c.lang, Title: c.title, ContentHash: c.title,
			Published: pubNow.Add(-time.Duration(i) * time.Hour)})
	}
	if _, err := s.SaveFetch(feeds[0], items); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Server{Store: s, Now: func() time.Time { return pubNow }}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestItemsSearch(t *testing.T) {
	srv := searchServer(t, store.Options{Indexer: search.Indexer(), NoSync: true})
	page := func(query string) (int, ItemsPage, string) {
		resp, body := get(t, srv.URL+"/api/items?"+query)
		var p ItemsPage
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		return resp.StatusCode, p, string(body)
	}
	titles := func(p ItemsPage) string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.Title)
		}
		return strings.Join(out, " | ")
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"q=universita", 2},  // by the Italian stem
		{"q=universitat", 1}, // by the German stem
		{"q=universitaten+OR+universita", 3},
		{"q=universita&lang=it", 2}, // a filter beside the query
		{"q=" + url.QueryEscape("東京"), 1},
		{"q=" + url.QueryEscape(`"università nuova"`), 1},
		{"q=" + url.QueryEscape("universita -lang:de -bologna"), 1},
		{"q=derby+OR+tokyo", 1},
		{"lang=de,ja", 2},
	} {
		code, p, body := page(c.query)
		if code != 200 || len(p.Items) != c.want {
			t.Errorf("%s: %d, %d items (%s), want %d\n%s", c.query, code, len(p.Items), titles(p), c.want, body)
		}
	}

	// Ranked, with scores.
	_, p, _ := page("q=universita&lang=it&sort=relevance")
	if len(p.Items) != 2 || p.Items[1].Score <= 0 || p.Items[0].Score < p.Items[1].Score {
		t.Errorf("by relevance: %s", titles(p))
	}

	// Pages of one follow each other through next_cursor.
	var got []string
	q := "q=universitaten+OR+universita&limit=1"
	for range 10 {
		_, p, _ := page(q)
		got = append(got, titles(p))
		if p.NextCursor == "" {
			break
		}
		q = "q=universitaten+OR+universita&limit=1&cursor=" + p.NextCursor
	}
	if len(got) != 3 {
		t.Errorf("pages of one: %q", got)
	}

	_, first, _ := page("q=universita&limit=1")
	for _, c := range []struct{ query, msg string }{
		{"q=" + url.QueryEscape(`"unclosed`), "unclosed quote"},
		{"sort=best", "sort must be"},
		{"cursor=garbage", "cursor"},
		{"q=calcio&limit=1&cursor=" + first.NextCursor, "another query"},
		{"since=yesterday", "since"},
		{"feed=abc", "feed must be"},
	} {
		if code, _, body := page(c.query); code != 400 || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want 400 with %q", c.query, code, body, c.msg)
		}
	}
}

func TestItemsWithoutIndex(t *testing.T) {
	// A store written without the keyword Indexer: words are found by a
	// scan, and ranking is refused with 503.
	srv := searchServer(t, store.Options{NoSync: true})
	resp, body := get(t, srv.URL+"/api/items?q=universita")
	if resp.StatusCode != 200 || strings.Count(string(body), `"id"`) != 2 {
		t.Errorf("scan: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, srv.URL+"/api/items?q=universita&sort=relevance")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "reindex") {
		t.Errorf("relevance without an index: %d %s", resp.StatusCode, body)
	}
}
