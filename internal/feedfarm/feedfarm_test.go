package feedfarm

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url, etag string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag"), string(b)
}

func TestFarmServesAndCounts(t *testing.T) {
	f := Start(Options{Feeds: 5, Hosts: 2, ItemsPerFeed: 4})
	defer f.Close()
	if st := f.Stats(); st.Polled != 0 || !st.AllPolled.IsZero() {
		t.Fatalf("fresh farm: %+v", st)
	}
	code, etag, body := get(t, f.URL(3), "")
	if code != 200 || etag == "" || strings.Count(body, "<item>") != 4 || !strings.Contains(body, "urn:feedfarm:3:3") {
		t.Fatalf("feed 3: %d %q %s", code, etag, body)
	}
	if code, _, _ := get(t, f.URL(3), etag); code != http.StatusNotModified {
		t.Fatalf("conditional request: %d, want 304", code)
	}
	// Feed 3 lives on host 1: asking host 0 for it is a 404, not a count.
	if code, _, _ := get(t, f.servers[0].URL+"/feed/3", ""); code != 404 {
		t.Fatalf("feed on the wrong host: %d, want 404", code)
	}
	for i := range 5 {
		if i != 3 {
			get(t, f.URL(i), "")
		}
	}
	st := f.Stats()
	if st.Polled != 5 || st.Twice != 1 || st.MaxPerFeed != 2 || st.Requests != 6 || st.AllPolled.IsZero() || st.FirstRequest.After(st.AllPolled) || st.MaxAtOnce != 1 {
		t.Fatalf("stats %+v", st)
	}
	if tw := f.TwiceFeeds(); len(tw) != 1 || tw[0] != 3 {
		t.Fatalf("twice %v", tw)
	}
	if !strings.Contains(string(f.OPML()), f.URL(4)) {
		t.Fatal("OPML lacks feed 4")
	}
}
