package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/internal/feedcheck"
	"babelfeed/store"
)

var pubNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// pubServer serves a store with Italian, Spanish, German and English
// items in two feeds, one story in both, and a saved query.
func pubServer(t *testing.T, token string) (*httptest.Server, *store.DB) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "pub.db"), store.Options{MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	feeds, _, err := s.AddFeeds([]babelfeed.Feed{
		{URL: "https://notizie.example.it/rss", Title: "Notizie", Category: []string{"Italiano"}},
		{URL: "https://mix.example.org/rss", Title: "Mix"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(key, lang, title, link string, h int) babelfeed.Item {
		return babelfeed.Item{Key: key, URL: link, Title: title, Summary: "Testo di " + title,
			Published: pubNow.Add(-time.Duration(h) * time.Hour), Lang: lang, LangMethod: babelfeed.LangDetected, LangConfidence: 0.9, ContentHash: key}
	}
	if _, err := s.SaveFetch(feeds[0], []babelfeed.Item{
		mk("it1", "it", "Il consiglio approva le piste ciclabili", "https://notizie.example.it/piste", 1),
		mk("it2", "it", "Calcio: il derby finisce in parità", "https://notizie.example.it/derby", 2),
		mk("it3", "it", "La biblioteca resta aperta la domenica", "https://notizie.example.it/biblioteca", 3),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveFetch(feeds[1], []babelfeed.Item{
		mk("es1", "es", "El ayuntamiento aprueba los carriles bici", "https://mix.example.org/carriles", 1),
		mk("de1", "de", "Der Stadtrat beschließt neue Radwege", "https://mix.example.org/radwege", 2),
		mk("en1", "en", "Library opens on Sundays", "https://mix.example.org/library", 4),
		// The Italian story again, with tracking parameters: a duplicate.
		mk("it1copy", "it", "Piste ciclabili approvate", "https://notizie.example.it/piste?utm_source=mix", 5),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(store.SavedQuery{Name: "latino", Query: "lang:it,es -calcio"}, false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Server{Store: s, Token: token, Now: func() time.Time { return pubNow }}).Handler())
	t.Cleanup(srv.Close)
	return srv, s
}

func get(t *testing.T, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestSavedQueryPublishedAsAtomAndJSONFeed(t *testing.T) {
	srv, _ := pubServer(t, "")
	resp, body := get(t, srv.URL+"/feeds/latino.atom")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("atom: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	feedcheck.XMLLint(t, body)
	a := feedcheck.Feedparser(t, body)
	if a.Bozo {
		t.Fatalf("feedparser bozo: %s\n%s", a.BozoText, body)
	}
	var got []string
	for _, e := range a.Entries {
		got = append(got, e.Lang+" "+e.Link)
	}
	// Newest first; at equal times, the item stored last first.
	want := []string{"es https://mix.example.org/carriles", "it https://notizie.example.it/piste", "it https://notizie.example.it/biblioteca"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("atom entries (language, link):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	resp, body = get(t, srv.URL+"/feeds/latino.json?all_duplicates=1")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/feed+json") {
		t.Fatalf("json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	j := feedcheck.CheckJSONFeed(t, body)
	if len(j.Items) != 4 || j.Items[3].URL != "https://notizie.example.it/piste?utm_source=mix" || j.Items[3].Language != "it" {
		t.Errorf("json with duplicates: %+v", j.Items)
	}

	for path, status := range map[string]int{
		"/feeds/nosuch.atom": 404, "/feeds/latino.rss": 404, "/feeds/latino": 404,
		"/feed.atom?q=" + url.QueryEscape("lang:italian"): 400, "/feed.atom?q=" + url.QueryEscape("(unclosed"): 400,
		"/feeds/latino.atom?limit=0": 400, "/feeds/latino.atom?cursor=zzz": 400,
	} {
		if resp, body := get(t, srv.URL+path); resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, status, body)
		}
	}
}

func TestAdHocFeedPagesAndConditionalGET(t *testing.T) {
	srv, s := pubServer(t, "")
	q := url.QueryEscape("-lang:de")
	var links []string
	next := srv.URL + "/feed.atom?limit=2&q=" + q
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		resp, body := get(t, next)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", next, resp.StatusCode, body)
		}
		a := feedcheck.Feedparser(t, body)
		if a.Bozo || len(a.Entries) > 2 {
			t.Fatalf("page %d: bozo %v (%s), %d entries", pages, a.Bozo, a.BozoText, len(a.Entries))
		}
		for _, e := range a.Entries {
			links = append(links, e.Link)
		}
		next = a.Next
	}
	want := "https://mix.example.org/carriles https://notizie.example.it/piste https://notizie.example.it/derby https://notizie.example.it/biblioteca https://mix.example.org/library"
	if strings.Join(links, " ") != want {
		t.Errorf("pages gave\n%s\nwant\n%s", strings.Join(links, " "), want)
	}

	// JSON Feed pages through next_url the same way.
	var ids []string
	next = srv.URL + "/feed.json?limit=3&q=" + q
	for next != "" {
		_, body := get(t, next)
		j := feedcheck.CheckJSONFeed(t, body)
		for _, it := range j.Items {
			ids = append(ids, it.URL)
		}
		next = j.Next
	}
	if strings.Join(ids, " ") != want {
		t.Errorf("JSON pages gave %v", ids)
	}

	// Conditional GET: the same answer is a 304, by ETag or by date.
	u := srv.URL + "/feed.atom?q=" + q
	resp, _ := get(t, u)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("no validators: ETag %q Last-Modified %q", etag, lm)
	}
	if resp, body := get(t, u, "If-None-Match", etag); resp.StatusCode != 304 || len(body) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get(t, u, "If-Modified-Since", lm); resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	// A new item changes both.
	f, _ := s.FeedByURL("https://mix.example.org/rss")
	if _, err := s.SaveFetch(f, []babelfeed.Item{{Key: "fr1", Title: "Le conseil approuve les pistes cyclables", Lang: "fr",
		Published: pubNow, FirstSeen: pubNow, ContentHash: "fr1"}}); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, u, "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag || !strings.Contains(string(body), `xml:lang="fr"`) {
		t.Errorf("after a new item: %d, ETag %q (was %q)", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	if resp, _ := get(t, u, "If-Modified-Since", lm); resp.StatusCode != 200 {
		t.Errorf("If-Modified-Since after a new item: %d, want 200", resp.StatusCode)
	}
}

func TestFeedTokenInQuery(t *testing.T) {
	srv, _ := pubServer(t, "s3cret")
	if resp, _ := get(t, srv.URL+"/feeds/latino.atom"); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/feeds/latino.atom?token=wrong"); resp.StatusCode != 401 {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/feeds/latino.atom", "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Errorf("bearer: %d", resp.StatusCode)
	}
	resp, body := get(t, srv.URL+"/feed.atom?limit=1&token=s3cret")
	if resp.StatusCode != 200 {
		t.Fatalf("token in query: %d", resp.StatusCode)
	}
	// The next link keeps the token, so a reader can follow it.
	a := feedcheck.Feedparser(t, body)
	if !strings.Contains(a.Next, "token=s3cret") {
		t.Errorf("next link %q lost the token", a.Next)
	}
	if resp, _ := get(t, srv.URL+"/api/items?token=s3cret"); resp.StatusCode != 401 {
		t.Errorf("the API proper must not take the token in the URL: %d", resp.StatusCode)
	}
}

func TestItemsHideDuplicates(t *testing.T) {
	srv, _ := pubServer(t, "")
	count := func(query string) (n, dups int) {
		_, body := get(t, srv.URL+"/api/items?"+query)
		var page struct {
			Items []struct {
				URL string `json:"url"`
			} `json:"items"`
			Next string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		for _, it := range page.Items {
			if strings.Contains(it.URL, "utm_source") {
				dups++
			}
		}
		return len(page.Items), dups
	}
	if n, d := count("lang=it"); n != 3 || d != 0 {
		t.Errorf("lang=it: %d items, %d duplicates; want 3, 0", n, d)
	}
	if n, d := count("lang=it&all_duplicates=1"); n != 4 || d != 1 {
		t.Errorf("lang=it&all_duplicates=1: %d items, %d duplicates; want 4, 1", n, d)
	}
	// Pages stay full when a duplicate is hidden.
	if n, _ := count("limit=6"); n != 6 {
		t.Errorf("limit=6: %d items", n)
	}
	// Only the copy has the phrase "ciclabili approvate" (words are matched
	// by stem, and the original's "approva" has the stem of "approvate"):
	// it is shown.
	if n, d := count("q=%22ciclabili+approvate%22"); n != 1 || d != 1 {
		t.Errorf("q=\"ciclabili approvate\": %d items, %d duplicates; want the copy", n, d)
	}
}

func TestExportImportCarriesRules(t *testing.T) {
	srv, s := pubServer(t, "")
	f, _ := s.FeedByURL("https://mix.example.org/rss")
	for _, r := range []babelfeed.Rule{
		{Action: babelfeed.RuleKeep, Query: "lang:it,es"},
		{Action: babelfeed.RuleBlock, Query: "intitle:calcio", Category: "Italiano"},
		{Action: babelfeed.RuleBlock, Query: `author:"ufficio stampa"`, FeedID: f.ID},
	} {
		if _, _, err := s.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	_, opmlDoc := get(t, srv.URL+"/api/export")
	srv2, s2 := pubServer(t, "") // a fresh store with the same feeds
	resp, err := http.Post(srv2.URL+"/api/import", "text/x-opml", strings.NewReader(string(opmlDoc)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res ImportResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if res.RulesAdded != 3 || len(res.RuleProblems) != 0 {
		t.Fatalf("import: %+v\n%s", res, opmlDoc)
	}
	rs, _, _ := s2.Rules()
	f2, _ := s2.FeedByURL("https://mix.example.org/rss")
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s %s %s %v", r.Action, r.Query, r.Category, r.FeedID == f2.ID))
	}
	want := "keep lang:it,es  false|block intitle:calcio Italiano false|block author:\"ufficio stampa\"  true"
	if strings.Join(got, "|") != want {
		t.Errorf("rules after import:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}
