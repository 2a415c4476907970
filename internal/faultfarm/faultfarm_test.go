package faultfarm

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// Every fault answers (or hangs) as catalogued, and Close ends the ones
// that hang. The farm runs at small sizes here: the attacks themselves are
// exercised by the tests of the packages they attack.
func TestFarmServesEveryFault(t *testing.T) {
	f, err := New(Options{BigBody: 1 << 20, BombSize: 8 << 20, Items: 1000, TitleSize: 4096, Depth: 1000, Drip: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	client := &http.Client{
		Timeout:   500 * time.Millisecond,
		Transport: &http.Transport{DisableCompression: true, MaxResponseHeaderBytes: 64 << 10},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	hangs := map[string]bool{"slow-headers": true, "slow-body": true, "no-answer": true}
	broken := map[string]bool{"reset-mid-body": true, "close-mid-body": true, "garbage-response": true, "huge-headers": true, "redirect-scheme": true}
	statuses := map[string]int{"status-500": 500, "status-502": 502, "status-503": 503, "status-429": 429, "status-410": 410,
		"redirect-loop": 302, "redirect-endless": 301}
	names := map[string]bool{}
	for _, ft := range Faults() {
		if names[ft.Name] {
			t.Errorf("fault %s listed twice", ft.Name)
		}
		names[ft.Name] = true
		// Only the faults that hang get the short timeout; the others may be
		// slow to build on a loaded machine (the bomb under -race) and must
		// not be mistaken for hangs.
		c := client
		if !hangs[ft.Name] {
			c = &http.Client{Transport: client.Transport, CheckRedirect: client.CheckRedirect, Timeout: 2 * time.Minute}
		}
		resp, err := c.Get(f.URL(ft.Name))
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case hangs[ft.Name]:
			if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				t.Errorf("%s: want a timeout, got %v", ft.Name, err)
			}
		case broken[ft.Name]:
			if err == nil {
				t.Errorf("%s: want a broken response, got %d bytes", ft.Name, len(body))
			}
		case err != nil:
			t.Errorf("%s: %v", ft.Name, err)
		case statuses[ft.Name] != 0:
			if resp.StatusCode != statuses[ft.Name] {
				t.Errorf("%s: status %d", ft.Name, resp.StatusCode)
			}
		case resp.StatusCode != 200:
			t.Errorf("%s: status %d", ft.Name, resp.StatusCode)
		}
		switch ft.Name {
		case "big-body", "big-body-chunked":
			if len(body) != 1<<20 {
				t.Errorf("%s: %d bytes", ft.Name, len(body))
			}
		case "gzip-bomb", "gzip-bomb-raw":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Errorf("%s: %v", ft.Name, err)
				break
			}
			n, err := io.Copy(io.Discard, zr)
			if err != nil || n < 8<<20 || len(body) > (8<<20)/500 {
				t.Errorf("%s: %d bytes on the wire inflate to %d (%v)", ft.Name, len(body), n, err)
			}
		}
	}
	for _, lang := range Languages {
		resp, err := client.Get(f.HealthyURL(lang, 3))
		if err != nil {
			t.Fatalf("healthy %s: %v", lang, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Count(body, []byte("<item>")) != 5 {
			t.Errorf("healthy %s: %d\n%s", lang, resp.StatusCode, body)
		}
	}
	if opml := f.OPML(1); bytes.Count(opml, []byte("xmlUrl=")) != len(faults)+len(Languages) {
		t.Errorf("OPML lists %d feeds", bytes.Count(opml, []byte("xmlUrl=")))
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
