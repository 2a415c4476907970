package lang

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pemistahl/lingua-go"
)

// BenchmarkDetect tags feed-like items (a word-pair title and ~500
// characters of body) from lingua's test sentences in the 22 common
// languages, in parallel on every core; BenchmarkDetectHeadline tags single
// sentences. Each reports items/s (wall) and items per CPU-second. Run them
// one at a time (raw lingua in high-accuracy mode loads ~1-2 GB of
// models). BABELFEED_LANG_CONFIG (JSON) changes the "default"
// configuration.
//
//	go test -run '^$' -bench 'Detect/default' -benchtime 3000x -cpu 2 ./filter/lang
//	go test -run '^$' -bench 'Detect/lingua-low' -benchtime 300x -cpu 2 ./filter/lang
//	go test -run '^$' -bench 'Detect/lingua-high' -benchtime 300x -cpu 2 ./filter/lang
//	go test -run '^$' -bench 'DetectHeadline/default' -benchtime 20000x -cpu 2 ./filter/lang
func BenchmarkDetect(b *testing.B) {
	dir := linguaTestdata(b)
	benchTaggers(b, feedItems(b, dir, CommonWebLanguages(), 50))
}

func BenchmarkDetectHeadline(b *testing.B) {
	dir := linguaTestdata(b)
	var items []testItem
	for _, l := range CommonWebLanguages() {
		for i, s := range readLines(b, dir, "sentences", l) {
			if i >= 100 {
				break
			}
			items = append(items, testItem{lang: l, title: s})
		}
	}
	benchTaggers(b, items)
}

// benchTaggers runs the default Detector and raw lingua over items.
func benchTaggers(b *testing.B, items []testItem) {
	run := func(b *testing.B, tag func(title, text string)) {
		var next atomic.Int64
		cpu0 := cpuTime()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				it := items[int(next.Add(1))%len(items)]
				tag(it.title, it.text)
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
		// Wall time depends on what else the shared machine runs; CPU time
		// much less so.
		if cpu := cpuTime() - cpu0; cpu > 0 {
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "items/cpu-s")
		}
	}
	b.Run("default", func(b *testing.B) {
		d := benchDetector(b, configFromEnv(b))
		run(b, func(title, text string) { d.Detect(title, text, "", nil) })
	})
	for _, low := range []bool{true, false} {
		name := "lingua-high"
		if low {
			name = "lingua-low"
		}
		b.Run(name, func(b *testing.B) {
			bld := lingua.NewLanguageDetectorBuilder().FromAllLanguages().WithPreloadedLanguageModels()
			if low {
				bld = bld.WithLowAccuracyMode()
			}
			det := bld.Build()
			run(b, func(title, text string) { det.DetectLanguageOf(joinTitle(title, text)) })
		})
	}
}

var benchDetectors sync.Map // string → *Detector

// benchDetector builds a Detector once per configuration and test binary.
func benchDetector(b *testing.B, cfg Config) *Detector {
	key := fmtConfig(cfg)
	if d, ok := benchDetectors.Load(key); ok {
		return d.(*Detector)
	}
	d, err := New(cfg)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	benchDetectors.Store(key, d)
	return d
}
