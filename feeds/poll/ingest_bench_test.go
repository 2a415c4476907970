package poll_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// The ingest benchmark measures the path from feed bytes to stored items
// (parse + normalise + tag + store), without the network: feeds built from
// lingua's labelled sentences in 20 languages, 50 items each, ~500
// characters of text per item.
//
//	go test -run '^$' -bench Ingest -benchtime 40x ./feeds/poll

var ingestLangs = []string{"it", "en", "es", "fr", "de", "pt", "nl", "ru", "uk", "pl", "cs", "sv", "tr", "ja", "zh", "ar", "el", "ro", "hu", "fi"}

const ingestItemsPerFeed = 50

func corporaSentences(tb testing.TB) map[string][]string {
	tb.Helper()
	dir := ""
	for d, _ := os.Getwd(); d != "/"; d = filepath.Dir(d) {
		c := filepath.Join(d, "..", "shared", "corpora", "lingua-language-testdata", "cmd", "language-testdata", "sentences")
		if _, err := os.Stat(c); err == nil {
			dir = c
			break
		}
	}
	if dir == "" {
		tb.Skip("corpora not found: ../shared/corpora/lingua-language-testdata beside the repository")
	}
	out := map[string][]string{}
	for _, l := range ingestLangs {
		f, err := os.Open(filepath.Join(dir, l+".txt"))
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() && len(out[l]) < 400 {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				out[l] = append(out[l], s)
			}
		}
		f.Close()
	}
	return out
}

// ingestFeed renders feed n as RSS 2.0: its items in one language, titles
// from the first words of a sentence, descriptions of about 500 characters.
func ingestFeed(sent map[string][]string, n int) []byte {
	l := ingestLangs[n%len(ingestLangs)]
	ss := sent[l]
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>feed %d</title><link>https://bench%d.example/</link><language>%s</language>`, n, n, l)
	pub := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range ingestItemsPerFeed {
		k := (n*ingestItemsPerFeed + i) % len(ss)
		words := strings.Fields(ss[k])
		title := strings.Join(words[:min(8, len(words))], " ")
		var desc strings.Builder
		for j := 0; desc.Len() < 500; j++ {
			desc.WriteString(ss[(k+j)%len(ss)])
			desc.WriteString(" ")
		}
		fmt.Fprintf(&b, `<item><title>%s</title><link>https://bench%d.example/%d</link><guid>b%d-%d</guid><pubDate>%s</pubDate><description>%s</description></item>`,
			html.EscapeString(title), n, i, n, i, pub.Add(time.Duration(i)*time.Hour).Format(time.RFC1123Z), html.EscapeString("<p>"+desc.String()+"</p>"))
	}
	b.WriteString(`</channel></rss>`)
	return []byte(b.String())
}

// memFetcher serves feed bodies from memory.
type memFetcher struct {
	mu     sync.Mutex
	bodies map[string][]byte
}

func (m *memFetcher) Fetch(ctx context.Context, req fetch.Request) (*fetch.Response, error) {
	m.mu.Lock()
	b := m.bodies[req.URL]
	m.mu.Unlock()
	return &fetch.Response{Status: 200, Body: b, ContentType: "application/rss+xml; charset=utf-8", URL: req.URL}, nil
}

var (
	benchDetOnce sync.Once
	benchDet     *lang.Detector
	benchDetErr  error
)

func benchDetector(b *testing.B) *lang.Detector {
	benchDetOnce.Do(func() { benchDet, benchDetErr = lang.New(lang.DefaultConfig()) })
	if benchDetErr != nil {
		b.Fatal(benchDetErr)
	}
	return benchDet
}

func BenchmarkIngest(b *testing.B) {
	sent := corporaSentences(b)
	det := benchDetector(b)
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = ingestFeed(sent, i)
	}
	p := parse.New(parse.Options{})

	b.Run("parse", func(b *testing.B) {
		items := 0
		for i := 0; b.Loop(); i++ {
			res, err := p.Parse(context.Background(), bodies[i%len(bodies)], "application/rss+xml")
			if err != nil {
				b.Fatal(err)
			}
			items += len(res.Items)
		}
		b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
	})

	b.Run("tag", func(b *testing.B) {
		var all []babelfeed.Item
		for _, body := range bodies {
			res, err := p.Parse(context.Background(), body, "")
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, res.Items...)
		}
		// One goroutine per core, as the poller's workers would use them.
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				it := all[int(next.Add(1))%len(all)]
				det.Detect(it.Title, it.Summary, "", nil)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	})

	b.Run("all", func(b *testing.B) {
		dir := b.TempDir()
		s, err := store.Open(filepath.Join(dir, "bench.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		mf := &memFetcher{bodies: map[string][]byte{}}
		poller := &poll.Poller{Store: s, Fetch: mf, Parse: p, Tagger: det, Policy: schedule.DefaultPolicy()}
		var feeds []babelfeed.Feed
		for i := range b.N {
			feeds = append(feeds, babelfeed.Feed{URL: "https://bench" + strconv.Itoa(i) + ".example/feed"})
			mf.bodies[feeds[i].URL] = ingestFeed(sent, i)
		}
		added, _, err := s.AddFeeds(feeds, false)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		outs := poller.PollFeeds(context.Background(), added, nil)
		took := time.Since(start)
		b.StopTimer()
		items := 0
		for _, o := range outs {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
			items += o.Added
		}
		st, err := s.Stats()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(items)/took.Seconds(), "items/s")
		if items > 0 {
			b.ReportMetric(float64(st.DataBytes)/float64(items), "disk-bytes/item")
		}
		b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
	})
}

// peakRSSMB reads the process's peak resident set (VmHWM) on Linux.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
