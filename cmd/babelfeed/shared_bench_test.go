package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"babelfeed/internal/feedfarm"
	"babelfeed/internal/pgtest"
)

// BenchmarkSharedPollers polls a farm of feeds with 1, 2 and 4 real
// `babelfeed run` processes sharing one PostgreSQL store, each with the
// default language detector, and reports the cycle time (first request to
// the last feed's first request), items stored per second, feeds polled
// twice (must be 0), the most requests one host had at once across all
// pollers, and the pollers' CPU time and peak memory.
//
//	BABELFEED_SHARED_FEEDS=20000 go test -run '^$' -bench SharedPollers -benchtime 1x -timeout 60m ./cmd/babelfeed
func BenchmarkSharedPollers(b *testing.B) {
	feeds := 2000
	if v, err := strconv.Atoi(os.Getenv("BABELFEED_SHARED_FEEDS")); err == nil && v > 0 {
		feeds = v
	}
	hosts := max(20, feeds/100)
	for _, pollers := range []int{1, 2, 4} {
		b.Run(strconv.Itoa(pollers)+"-pollers", func(b *testing.B) {
			for range b.N {
				benchSharedCycle(b, feeds, hosts, pollers)
			}
		})
	}
}

func benchSharedCycle(b *testing.B, feeds, hosts, pollers int) {
	dsn := pgtest.DSN(b)
	farm := feedfarm.Start(feedfarm.Options{Feeds: feeds, Hosts: hosts, ItemsPerFeed: 3, Delay: 20 * time.Millisecond})
	defer farm.Close()
	if out, code := cli(b, dsn, "import", farmOPML(b, farm)); code != 0 {
		b.Fatalf("import: exit %d\n%s", code, out)
	}
	flags := []string{"--timeout", "30s", "--lease", "2m", "--workers", "16", "--per-host", "2", "--host-gap", "50ms"}
	b.ResetTimer()
	start := time.Now()
	var ds []*daemonProc
	for range pollers {
		ds = append(ds, startDaemonArgs(b, dsn, flags...))
	}
	deadline := start.Add(time.Duration(feeds/20+300) * time.Second)
	var stored time.Time
	for {
		if time.Now().After(deadline) {
			b.Fatalf("the farm was not polled in full: %+v, %d items of %d\n%s", farm.Stats(), itemCount(b, dsn), farm.Items(), ds[0].logText())
		}
		if farm.Stats().Polled == feeds && itemCount(b, dsn) >= farm.Items() {
			stored = time.Now()
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.StopTimer()
	// A double poll would show within a few more seconds.
	time.Sleep(3 * time.Second)
	var cpu time.Duration
	var rssMax float64
	for _, d := range ds {
		rssMax = max(rssMax, peakRSSOf(d.cmd.Process.Pid))
		d.stop(b)
		cpu += d.cmd.ProcessState.UserTime() + d.cmd.ProcessState.SystemTime()
	}
	st := farm.Stats()
	first := firstRequest(farm)
	cycle := st.AllPolled.Sub(first)
	items := itemCount(b, dsn)
	b.ReportMetric(cycle.Seconds(), "cycle-s")
	b.ReportMetric(float64(items)/stored.Sub(first).Seconds(), "items/s")
	b.ReportMetric(float64(st.Twice), "polled-twice")
	b.ReportMetric(float64(st.MaxAtOnce), "max-per-host")
	b.ReportMetric(cpu.Seconds(), "poller-cpu-s")
	b.ReportMetric(rssMax, "peak-rss-MB")
	b.Logf("%d pollers, %d feeds on %d hosts: cycle %s (all stored after %s, startup %s), %d items, %d requests, %d feeds polled twice, at most %d requests at once on a host, poller CPU %.1f s, peak RSS %.0f MB",
		len(ds), feeds, hosts, cycle.Round(time.Millisecond), stored.Sub(first).Round(time.Millisecond), first.Sub(start).Round(time.Millisecond),
		items, st.Requests, st.Twice, st.MaxAtOnce, cpu.Seconds(), rssMax)
	if st.Twice != 0 {
		b.Errorf("%d feeds polled twice within their interval: %v", st.Twice, farm.TwiceFeeds())
	}
	if items != farm.Items() {
		b.Errorf("%d items stored, want %d", items, farm.Items())
	}
}

// firstRequest is when the farm saw its first request.
func firstRequest(f *feedfarm.Farm) time.Time { return f.Stats().FirstRequest }

// peakRSSOf reads a live process's peak resident memory in MB (0 where
// /proc is not there).
func peakRSSOf(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
