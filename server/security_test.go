package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/store"
)

// hostile is text as a hostile feed might send it, stored as it is: the
// API must hand it over as data, never as markup.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes" </title>`

func securityServer(t *testing.T, token string) (*httptest.Server, *store.DB) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "api.db"), store.Options{MmapSize: 1 << 20})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	added, _, err := s.AddFeeds([]babelfeed.Feed{{URL: "https://feed.example/rss", Title: hostile}}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := added[0]
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	_, err = s.SaveFetch(f, []babelfeed.Item{{FeedID: f.ID, Key: "k1", GUID: "k1", URL: "https://feed.example/1",
		Title: hostile, Summary: hostile, Published: now, FirstSeen: now, Lang: "it", LangMethod: babelfeed.LangDetected, ContentHash: "h1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Server{Store: s, Metrics: NewMetrics(), Token: token}).Handler())
	t.Cleanup(srv.Close)
	return srv, s
}

func do(t *testing.T, method, url, auth, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const opmlBody = `<opml version="2.0"><body><outline type="rss" text="new" xmlUrl="https://new.example/rss"/></body></opml>`

// With a token, every route but /healthz answers 401 to a request without
// the right bearer token, and does nothing.
func TestTokenRequired(t *testing.T) {
	srv, s := securityServer(t, "s3cret")
	routes := []struct{ method, path, body string }{
		{"GET", "/api/items", ""}, {"GET", "/api/items/1", ""}, {"GET", "/api/feeds", ""},
		{"GET", "/api/feeds/1", ""}, {"GET", "/api/stats", ""}, {"GET", "/api/export", ""},
		{"POST", "/api/import", opmlBody}, {"POST", "/api/poll", ""}, {"GET", "/metrics", ""},
	}
	for _, r := range routes {
		for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic czNjcmV0", "Bearer s3cret2", "Bearer "} {
			resp, body := do(t, r.method, srv.URL+r.path, auth, r.body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d, want 401", r.method, r.path, auth, resp.StatusCode)
				continue
			}
			if resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(body), "token") {
				t.Errorf("%s %s: 401 without a challenge or a reason: %s", r.method, r.path, body)
			}
		}
	}
	if feeds, _ := s.Feeds(); len(feeds) != 1 {
		t.Errorf("an unauthorised import subscribed: %d feeds", len(feeds))
	}
	if resp, _ := do(t, "GET", srv.URL+"/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	for _, path := range []string{"/api/items", "/api/feeds", "/api/stats", "/metrics"} {
		if resp, body := do(t, "GET", srv.URL+path, "Bearer s3cret", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the token: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, _ := do(t, "POST", srv.URL+"/api/import", "Bearer s3cret", opmlBody)
	if feeds, _ := s.Feeds(); resp.StatusCode != http.StatusOK || len(feeds) != 2 {
		t.Errorf("import with the token: %d, %d feeds", resp.StatusCode, len(feeds))
	}
}

// Text from feeds comes back as JSON strings, with a JSON content type the
// browser is told not to second-guess: never as markup.
func TestFeedTextIsData(t *testing.T) {
	srv, _ := securityServer(t, "")
	for _, path := range []string{"/api/items", "/api/items/1", "/api/feeds", "/api/feeds/1"} {
		resp, body := do(t, "GET", srv.URL+path, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", path)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: not JSON: %v", path, err)
		}
		if !strings.Contains(flatten(v), hostile) {
			t.Errorf("%s: the stored text did not come back intact as a string: %s", path, body)
		}
	}
	// An error echoing the request is JSON too.
	resp, body := do(t, "GET", srv.URL+"/api/items?limit=%3Cscript%3E", "", "")
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !json.Valid(body) {
		t.Errorf("bad request: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// flatten joins every string in a decoded JSON value.
func flatten(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
			b.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}
