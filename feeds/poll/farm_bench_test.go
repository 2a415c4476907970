package poll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/poll"
	"babelfeed/feeds/schedule"
	"babelfeed/filter/lang"
	"babelfeed/store"
)

// BenchmarkFarmCycle polls a local farm of feeds spread over several hosts
// (one listener per host) twice: a first cycle where every feed answers 200
// with new items, and a second where every feed answers 304 to the
// conditional GET. Politeness is on (at most PerHost requests at once per
// host). It reports wall time per cycle, requests/s, CPU seconds and peak RSS.
//
//	BABELFEED_FARM_FEEDS=10000 go test -run '^$' -bench FarmCycle -benchtime 1x ./feeds/poll
//
// The detector is limited to two languages so that the number measures the
// poller, not language tagging (see BenchmarkIngest for that).
func BenchmarkFarmCycle(b *testing.B) {
	feeds := 2000
	if v, err := strconv.Atoi(os.Getenv("BABELFEED_FARM_FEEDS")); err == nil && v > 0 {
		feeds = v
	}
	const hosts = 20
	const itemsPerFeed = 3

	var requests, conditional, inFlightMax atomic.Int64
	var servers []*httptest.Server
	for h := range hosts {
		var inFlight atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := inFlightMax.Load()
				if n <= m || inFlightMax.CompareAndSwap(m, n) {
					break
				}
			}
			etag := `"` + r.URL.Path + `"`
			if r.Header.Get("If-None-Match") == etag {
				conditional.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
			w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
			var sb strings.Builder
			fmt.Fprintf(&sb, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>host %d feed %s</title><link>http://farm.example/</link>`, h, r.URL.Path)
			for i := range itemsPerFeed {
				fmt.Fprintf(&sb, `<item><title>The council approves the new budget for the harbour district, item %d</title><link>http://farm.example%s/%d</link><guid>%s-%d</guid><pubDate>Mon, 23 Nov 2026 09:%02d:00 +0000</pubDate><description>The vote came after a long debate about the cost of repairs to the old piers and the future of the fish market.</description></item>`, i, r.URL.Path, i, r.URL.Path, i, i)
			}
			sb.WriteString(`</channel></rss>`)
			_, _ = w.Write([]byte(sb.String()))
		}))
		servers = append(servers, srv)
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()

	s, err := store.Open(filepath.Join(b.TempDir(), "farm.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var subs []babelfeed.Feed
	for i := range feeds {
		subs = append(subs, babelfeed.Feed{URL: servers[i%hosts].URL + "/feed/" + strconv.Itoa(i)})
	}
	if _, _, err := s.AddFeeds(subs, false); err != nil {
		b.Fatal(err)
	}
	det, err := lang.New(lang.Config{Languages: []string{"en", "it"}, MaxChars: 300, MinConfidence: 0.5})
	if err != nil {
		b.Fatal(err)
	}
	p := &poll.Poller{
		Store:   s,
		Fetch:   fetch.New(fetch.Options{Timeout: 30 * time.Second}),
		Parse:   parse.New(parse.Options{}),
		Tagger:  det,
		Policy:  schedule.DefaultPolicy(),
		Workers: 32,
		PerHost: 2,
	}
	b.ResetTimer()
	for range b.N {
		for cycle, name := range []string{"first (200)", "second (304)"} {
			all, err := s.Feeds()
			if err != nil {
				b.Fatal(err)
			}
			req0 := requests.Load()
			cpu0 := cpuSeconds()
			start := time.Now()
			outs := p.PollFeeds(context.Background(), all, nil)
			took := time.Since(start)
			cpu := cpuSeconds() - cpu0
			failed := 0
			for _, o := range outs {
				if o.Err != nil {
					failed++
				}
			}
			if failed > 0 {
				b.Fatalf("cycle %d: %d feeds failed, e.g. %v", cycle, failed, firstErr(outs))
			}
			reqs := requests.Load() - req0
			b.Logf("%s cycle: %d feeds on %d hosts in %s: %.0f requests/s, %.2f CPU s, peak RSS %.0f MB, max in flight per host %d",
				name, feeds, hosts, took.Round(time.Millisecond), float64(reqs)/took.Seconds(), cpu, peakRSSMB(), inFlightMax.Load())
			suffix := []string{"first", "304"}[cycle]
			b.ReportMetric(took.Seconds(), suffix+"-cycle-s")
			b.ReportMetric(float64(reqs)/took.Seconds(), suffix+"-req/s")
			b.ReportMetric(cpu, suffix+"-cpu-s")
		}
		// Make every feed due again for the next iteration.
		if b.N > 1 {
			all, _ := s.Feeds()
			for _, f := range all {
				f.ETag = ""
				f.BodyHash = ""
				_ = s.UpdateFeed(f)
			}
		}
	}
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
	b.ReportMetric(float64(conditional.Load()), "304s")
	if inFlightMax.Load() > 2 {
		b.Errorf("a host saw %d requests at once, PerHost is 2", inFlightMax.Load())
	}
}

func firstErr(outs []poll.Outcome) error {
	for _, o := range outs {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
