package lang

import (
	"runtime"
	"testing"
	"time"

	"github.com/pemistahl/lingua-go"
)

func TestCompactLoadAll(t *testing.T) {
	start := time.Now()
	total := 0
	for _, l := range lingua.AllLanguages() {
		m, err := compactModelsOf(l)
		if err != nil {
			t.Fatal(err)
		}
		total += m.bytes()
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("all 75: %d MB compact, loaded in %v, heap %d MB, peak RSS %s", total>>20, time.Since(start), ms.HeapAlloc>>20, peakRSS())
}

func TestCompactVsLingua(t *testing.T) {
	dir := linguaTestdata(t)
	codes := []string{"de", "nl", "en", "sv", "da", "nb", "af", "fr", "it", "es", "pt", "ca", "ro", "pl", "cs", "sk"}
	langs, _ := parseCodes(codes)
	det := lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).Build()
	agree, n, rules, maxDiff := 0, 0, 0, 0.0
	for _, set := range []string{"single-words", "word-pairs", "sentences"} {
		for _, c := range codes {
			lines := readLines(t, dir, set, c)
			for _, s := range lines[:60] {
				if len([]rune(s)) >= 110 {
					continue
				}
				want := fromLingua(det.ComputeLanguageConfidenceValues(s))
				if len(want) == 0 || want[0].p == 1 {
					rules++
					continue
				}
				var cands []lingua.Language
				for _, w := range want {
					cands = append(cands, w.lang)
				}
				var models [numLanguages]*compactModels
				for _, l := range cands {
					m, err := compactModelsOf(l)
					if err != nil {
						t.Fatal(err)
					}
					models[l] = m
				}
				got := compactDistribution(s, cands, &models)
				n++
				if len(got) > 0 && got[0].lang == want[0].lang {
					agree++
				} else {
					t.Logf("%s %q: lingua %v, compact %v", set, s, want[:min(3, len(want))], got[:min(3, len(got))])
				}
				for _, w := range want {
					for _, g := range got {
						if g.lang == w.lang {
							maxDiff = max(maxDiff, abs(g.p-w.p))
						}
					}
				}
			}
		}
	}
	t.Logf("top-1 agree %d/%d (%d decided by rules), max confidence difference %.4f", agree, n, rules, maxDiff)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
