package lang

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pemistahl/lingua-go"

	"babelfeed"
)

// The accuracy runs need the real corpora, all 75 languages' models (raw
// lingua in high-accuracy mode holds ~1-2 GB) and minutes of CPU, so they
// only run on request:
//
//	BABELFEED_LANG_ACCURACY=1 go test -run TestAccuracy -timeout 60m -v ./filter/lang
//
// BABELFEED_LANG_ACCURACY may instead name some of: default, low, high
// (the no-context runs of the default Detector and of raw lingua on the 22
// CommonWebLanguages), others (the same on the 53 other languages; all
// three taggers unless some are named), items (feed-like items: a title
// and ~500 characters of body), feeds (feed context).
// BABELFEED_LANG_CONFIG is JSON merged into DefaultConfig for the
// "default" tagger, to compare settings. Run "default" alone to read its
// peak RSS at the end.
func accuracyRuns(t *testing.T) map[string]bool {
	v := os.Getenv("BABELFEED_LANG_ACCURACY")
	if v == "" {
		t.Skip("set BABELFEED_LANG_ACCURACY=1 to run the accuracy comparison")
	}
	runs := map[string]bool{}
	if v == "1" || v == "all" {
		v = "default,low,high,items,feeds"
	}
	for _, r := range strings.Split(v, ",") {
		runs[strings.TrimSpace(r)] = true
	}
	return runs
}

// tagger is one way of tagging text without feed context.
type tagger struct {
	name string
	tag  func(title, text string) tagged
}

// tagged is one tagger's answer: Lang as Detect returns it, the best guess
// and its probability (raw lingua: its answer with confidence 1).
type tagged struct {
	lang, guess string
	conf        float64
}

// configFromEnv returns DefaultConfig with BABELFEED_LANG_CONFIG (JSON)
// merged in.
func configFromEnv(tb testing.TB) Config {
	cfg := DefaultConfig()
	if js := os.Getenv("BABELFEED_LANG_CONFIG"); js != "" {
		if err := json.Unmarshal([]byte(js), &cfg); err != nil {
			tb.Fatalf("BABELFEED_LANG_CONFIG: %v", err)
		}
	}
	return cfg
}

func ourTagger(t *testing.T) (tagger, *Detector) {
	cfg := configFromEnv(t)
	start, cpu0 := time.Now(), cpuTime()
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Logf("default Detector %+v built in %v wall, %v CPU (models this process loaded before are not loaded again)",
		cfg, time.Since(start).Round(time.Millisecond), (cpuTime() - cpu0).Round(time.Millisecond))
	return tagger{"default", func(title, text string) tagged {
		r := d.Detect(title, text, "", nil)
		return tagged{r.Lang, r.Guess, r.Confidence}
	}}, d
}

func linguaTagger(name string, low bool) tagger {
	b := lingua.NewLanguageDetectorBuilder().FromAllLanguages()
	if low {
		b = b.WithLowAccuracyMode()
	}
	det := b.Build()
	return tagger{name, func(title, text string) tagged {
		l, ok := det.DetectLanguageOf(joinTitle(title, text))
		if !ok {
			return tagged{lang: babelfeed.Undetermined}
		}
		return tagged{isoCode(l), isoCode(l), 1}
	}}
}

// score holds a tagger's results on one language of one set.
type score struct {
	n, right, und, guessRight int
}

func (s score) acc() float64   { return pct(s.right, s.n) }
func (s score) guess() float64 { return pct(s.guessRight, s.n) }
func (s score) undr() float64  { return pct(s.und, s.n) }

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// tagAll tags texts with one worker per core and returns the results in
// order.
func tagAll(tg tagger, items []testItem) []tagged {
	out := make([]tagged, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = tg.tag(items[i].title, items[i].text)
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func TestAccuracy(t *testing.T) {
	runs := accuracyRuns(t)
	dir := linguaTestdata(t)
	if runs["others"] && !runs["default"] && !runs["high"] && !runs["low"] {
		runs["default"], runs["high"], runs["low"] = true, true, true
	}
	var taggers []tagger
	if runs["default"] {
		tg, _ := ourTagger(t)
		taggers = append(taggers, tg)
	}
	if runs["high"] {
		taggers = append(taggers, linguaTagger("lingua-high", false))
	}
	if runs["low"] {
		taggers = append(taggers, linguaTagger("lingua-low", true))
	}
	if len(taggers) > 0 {
		langs := CommonWebLanguages()
		if runs["others"] {
			langs = nil
			for _, l := range lingua.AllLanguages() {
				if c := isoCode(l); !slices.Contains(CommonWebLanguages(), c) {
					langs = append(langs, c)
				}
			}
		}
		accuracyTable(t, dir, langs, taggers)
	}
	if runs["items"] {
		itemAccuracy(t, dir)
	}
	if runs["feeds"] {
		feedContext(t, dir)
	}
	t.Logf("peak RSS of this test process: %s", peakRSS())
}

// accuracyTable tags every line of the three sets for langs with each
// tagger and prints a Markdown table: per language and set, the share of
// items tagged right ("und" counts as wrong), then the macro averages.
func accuracyTable(t *testing.T, dir string, langs []string, taggers []tagger) {
	scores := map[string]map[string]map[string]score{} // tagger → set → lang
	var calib strings.Builder
	for _, tg := range taggers {
		scores[tg.name] = map[string]map[string]score{}
		for _, set := range testdataSets {
			var items []testItem
			for _, l := range langs {
				for _, line := range readLines(t, dir, set, l) {
					items = append(items, testItem{lang: l, text: line})
				}
			}
			start, cpu0 := time.Now(), cpuTime()
			got := tagAll(tg, items)
			el, cpu := time.Since(start), cpuTime()-cpu0
			per := map[string]score{}
			for i, it := range items {
				s := per[it.lang]
				s.n++
				if got[i].lang == it.lang {
					s.right++
				}
				if got[i].lang == babelfeed.Undetermined {
					s.und++
				}
				if got[i].guess == it.lang {
					s.guessRight++
				}
				per[it.lang] = s
			}
			if tg.name == "default" {
				calibration(&calib, set, items, got)
			}
			scores[tg.name][set] = per
			t.Logf("%s %s: %d items in %v wall, %v CPU (%.0f items/s wall on the shared machine, %.0f items per CPU-second)",
				tg.name, set, len(items), el.Round(time.Millisecond), cpu.Round(time.Millisecond),
				float64(len(items))/el.Seconds(), float64(len(items))/cpu.Seconds())
		}
	}
	var b strings.Builder
	b.WriteString("\n| lang |")
	for _, set := range testdataSets {
		for _, tg := range taggers {
			fmt.Fprintf(&b, " %s %s |", shortSet(set), tg.name)
		}
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---:|", len(testdataSets)*len(taggers)))
	b.WriteString("\n")
	macro := map[string]map[string][3]float64{}
	for _, l := range langs {
		fmt.Fprintf(&b, "| %s |", l)
		for _, set := range testdataSets {
			for _, tg := range taggers {
				s := scores[tg.name][set][l]
				if tg.name == "default" {
					fmt.Fprintf(&b, " %.1f / %.1f |", s.acc(), s.guess())
				} else {
					fmt.Fprintf(&b, " %.1f |", s.acc())
				}
				if macro[tg.name] == nil {
					macro[tg.name] = map[string][3]float64{}
				}
				m := macro[tg.name][set]
				m[0] += s.acc() / float64(len(langs))
				m[1] += s.guess() / float64(len(langs))
				m[2] += s.undr() / float64(len(langs))
				macro[tg.name][set] = m
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("| **macro** |")
	for _, set := range testdataSets {
		for _, tg := range taggers {
			m := macro[tg.name][set]
			if tg.name == "default" {
				fmt.Fprintf(&b, " **%.2f / %.2f** |", m[0], m[1])
			} else {
				fmt.Fprintf(&b, " **%.2f** |", m[0])
			}
		}
	}
	b.WriteString("\n| und share |")
	for _, set := range testdataSets {
		for _, tg := range taggers {
			fmt.Fprintf(&b, " %.2f |", macro[tg.name][set][2])
		}
	}
	b.WriteString("\n\n\"default\" cells: Lang right (\"und\" counts as wrong) / Guess right.\n")
	t.Log(b.String())
	if calib.Len() > 0 {
		t.Log("\nConfidence of the best guess (no context) against MinConfidence: share of items at or above it, and how many of those are right.\n\n| set | threshold | share ≥ | right among them |\n|---|---:|---:|---:|\n" + calib.String())
	}
}

// calibration writes, for a few thresholds, which share of the items have
// a best guess at least that confident and how often those guesses are
// right: how MinConfidence trades coverage for precision.
func calibration(b *strings.Builder, set string, items []testItem, got []tagged) {
	for _, th := range []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9} {
		n, right := 0, 0
		for i, it := range items {
			if got[i].guess != "" && got[i].conf >= th {
				n++
				if got[i].guess == it.lang {
					right++
				}
			}
		}
		fmt.Fprintf(b, "| %s | %.1f | %.1f | %.1f |\n", shortSet(set), th, pct(n, len(items)), pct(right, n))
	}
}

func shortSet(set string) string {
	switch set {
	case "single-words":
		return "word"
	case "word-pairs":
		return "pair"
	}
	return "sentence"
}

// feedContext builds feeds from the test sets, each with a dominant
// language and a minority of items in others, some declaring their
// language, some not, some declaring a wrong one, and tags their items in
// order with the feed's earlier results as the prior, then without any
// context. Titles are single words or word pairs; a third of the items
// also have a sentence as body.
func feedContext(t *testing.T, dir string) {
	_, d := ourTagger(t)
	raw := []tagger{linguaTagger("lingua-high", false), linguaTagger("lingua-low", true)}
	lines := map[string]map[string][]string{}
	for _, set := range testdataSets {
		lines[set] = map[string][]string{}
		for _, l := range CommonWebLanguages() {
			lines[set][l] = readLines(t, dir, set, l)
		}
	}
	rng := rand.New(rand.NewPCG(4, 2024))
	const feedsPerLang, itemsPerFeed, minorityShare = 6, 60, 0.2
	kinds := []string{"word", "pair", "pair+sentence"}
	type key struct{ kind, group string } // group: dominant or minority
	type tally struct {
		n, ctx, noctx, prior int
		raw                  [2]int
	}
	res := map[key]*tally{}
	perLang := map[string]*tally{}
	for _, dom := range CommonWebLanguages() {
		for f := 0; f < feedsPerLang; f++ {
			declared := ""
			switch f % 3 {
			case 0:
				declared = dom
			case 2: // a wrong declaration, as feeds often carry
				declared = "en"
				if dom == "en" {
					declared = "de"
				}
			}
			history := map[string]int{}
			for i := 0; i < itemsPerFeed; i++ {
				lang, group := dom, "dominant"
				if rng.Float64() < minorityShare {
					for lang == dom {
						lang = CommonWebLanguages()[rng.IntN(len(CommonWebLanguages()))]
					}
					group = "minority"
				}
				kind := kinds[rng.IntN(len(kinds))]
				var title, body string
				if kind == "word" {
					ws := lines["single-words"][lang]
					title = ws[rng.IntN(len(ws))]
				} else {
					ps := lines["word-pairs"][lang]
					title = ps[rng.IntN(len(ps))]
				}
				if kind == "pair+sentence" {
					ss := lines["sentences"][lang]
					body = ss[rng.IntN(len(ss))]
				}
				withCtx := d.Detect(title, body, declared, history)
				noCtx := d.Detect(title, body, "", nil)
				if withCtx.Lang != babelfeed.Undetermined {
					history[withCtx.Lang]++
				}
				k := key{kind, group}
				if res[k] == nil {
					res[k] = &tally{}
				}
				tl := res[k]
				tl.n++
				if withCtx.Lang == lang {
					tl.ctx++
				}
				if noCtx.Lang == lang {
					tl.noctx++
				}
				if withCtx.Method == babelfeed.LangPrior {
					tl.prior++
				}
				var rawOK [2]bool
				for r, tg := range raw {
					if tg.tag(title, body).lang == lang {
						tl.raw[r]++
						rawOK[r] = true
					}
				}
				if group == "dominant" && kind != "pair+sentence" {
					if perLang[dom] == nil {
						perLang[dom] = &tally{}
					}
					pl := perLang[dom]
					pl.n++
					if withCtx.Lang == lang {
						pl.ctx++
					}
					if noCtx.Lang == lang {
						pl.noctx++
					}
					for r := range raw {
						if rawOK[r] {
							pl.raw[r]++
						}
					}
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString("\n| items | group | n | lingua-high | lingua-low | default, no context | default, feed prior | decided by prior |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, kind := range kinds {
		for _, group := range []string{"dominant", "minority"} {
			tl := res[key{kind, group}]
			if tl == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", kind, group, tl.n,
				pct(tl.raw[0], tl.n), pct(tl.raw[1], tl.n), pct(tl.noctx, tl.n), pct(tl.ctx, tl.n), pct(tl.prior, tl.n))
		}
	}
	b.WriteString("\nShort (word, pair) items of the dominant language, per feed language:\n\n| lang | lingua-high | lingua-low | default, no context | default, feed prior |\n|---|---:|---:|---:|---:|\n")
	var m [4]float64
	langs := CommonWebLanguages()
	for _, l := range langs {
		pl := perLang[l]
		row := [4]float64{pct(pl.raw[0], pl.n), pct(pl.raw[1], pl.n), pct(pl.noctx, pl.n), pct(pl.ctx, pl.n)}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %.1f |\n", l, row[0], row[1], row[2], row[3])
		for i := range m {
			m[i] += row[i] / float64(len(langs))
		}
	}
	fmt.Fprintf(&b, "| **macro** | **%.2f** | **%.2f** | **%.2f** | **%.2f** |\n", m[0], m[1], m[2], m[3])
	t.Log(b.String())
}

// itemAccuracy tags feed-like items (a word-pair title and ~500 characters
// of body, as the benchmarks use) with the default Detector and raw lingua
// in low-accuracy mode, to check that the text cap costs nothing.
func itemAccuracy(t *testing.T, dir string) {
	ours, _ := ourTagger(t)
	taggers := []tagger{ours, linguaTagger("lingua-low", true)}
	items := feedItems(t, dir, CommonWebLanguages(), 200)
	var b strings.Builder
	b.WriteString("\n| tagger | items | macro accuracy | und share | items/s wall (machine shared) | items per CPU-second |\n|---|---:|---:|---:|---:|---:|\n")
	for _, tg := range taggers {
		start, cpu0 := time.Now(), cpuTime()
		got := tagAll(tg, items)
		el, cpu := time.Since(start), cpuTime()-cpu0
		right, und := map[string]int{}, 0
		for i, it := range items {
			if got[i].lang == it.lang {
				right[it.lang]++
			}
			if got[i].lang == babelfeed.Undetermined {
				und++
			}
		}
		macro := 0.0
		for _, l := range CommonWebLanguages() {
			macro += pct(right[l], 200) / float64(len(CommonWebLanguages()))
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.0f | %.0f |\n", tg.name, len(items), macro, pct(und, len(items)),
			float64(len(items))/el.Seconds(), float64(len(items))/cpu.Seconds())
	}
	t.Log(b.String())
}
