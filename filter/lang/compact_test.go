package lang

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pemistahl/lingua-go"
)

// TestCompactModelsMatchLingua checks the compact models and their scoring
// against lingua's own high-accuracy detector on short texts of four
// Bantu languages that are easily confused (and whose models are small,
// so that the test stays quick under -race; compact_big_test.go does the
// same for big models without -race): the same best language (but for
// near ties: the compact models keep log probabilities to 1/128 nat) and
// nearly the same confidence values. It also fails if lingua-go no longer
// has its model files where ngrams.go reads them.
func TestCompactModelsMatchLingua(t *testing.T) {
	compareWithLingua(t, []string{"st", "tn", "ts", "sw"}, 40)
}

// compareWithLingua compares the compact models of codes with lingua on
// the first lines of each test set of each language.
func compareWithLingua(t *testing.T, codes []string, lines int) {
	dir := linguaTestdata(t)
	langs, err := parseCodes(codes)
	if err != nil {
		t.Fatal(err)
	}
	var models [numLanguages]*compactModels
	for _, l := range langs {
		if err := checkModelFiles(l); err != nil {
			t.Fatal(err)
		}
		m, err := compactModelsOf(l)
		if err != nil {
			t.Fatalf("load %v: %v", l, err)
		}
		if m.tables[maxOrder-1].bytes() == 0 {
			t.Fatalf("%v: no five-gram model loaded", l)
		}
		models[l] = m
	}
	det := lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).Build()
	n, agree, maxDiff := 0, 0, 0.0
	for _, set := range testdataSets {
		for _, c := range codes {
			for _, s := range readLines(t, dir, set, c)[:lines] {
				if len([]rune(s)) >= shortLetters {
					continue // lingua uses trigrams only
				}
				want := fromLingua(det.ComputeLanguageConfidenceValues(s))
				if len(want) < 2 {
					continue // decided by lingua's rules, not its models
				}
				var cands []lingua.Language
				var ms []*compactModels
				for _, w := range want {
					cands = append(cands, w.lang)
					ms = append(ms, models[w.lang])
				}
				got := compactDistribution(s, cands, ms)
				n++
				if len(got) > 0 && got[0].lang == want[0].lang {
					agree++
				} else if len(got) < 2 || got[0].p-got[1].p > 0.01 {
					t.Errorf("%q: lingua %v, compact %v", s, want, got)
				}
				for _, w := range want {
					p := 0.0
					for _, g := range got {
						if g.lang == w.lang {
							p = g.p
						}
					}
					maxDiff = max(maxDiff, math.Abs(p-w.p))
				}
			}
		}
	}
	t.Logf("%d short texts: same best language %d times, largest difference of a confidence value %.4f", n, agree, maxDiff)
	if n < 100 {
		t.Errorf("only %d texts compared", n)
	}
	if maxDiff > 0.02 {
		t.Errorf("confidence values differ by up to %.4f", maxDiff)
	}
}

func TestCompactTable(t *testing.T) {
	var hs []uint64
	var qs []uint16
	for i := range 1000 {
		hs = append(hs, hashBytes([]byte{byte(i), byte(i >> 8), 'x'}))
		qs = append(qs, uint16(i%qMask))
	}
	tab := buildTable(hs, qs)
	for i, h := range hs {
		lp, ok := tab.lookup(h)
		if !ok || lp != -float64(qs[i])/qScale {
			t.Fatalf("entry %d: got %v %v, want %v", i, lp, ok, -float64(qs[i])/qScale)
		}
	}
	misses := 0
	for i := range 100000 {
		if _, ok := tab.lookup(hashBytes([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'y'})); ok {
			misses++
		}
	}
	if misses > 2 {
		t.Errorf("%d of 100000 absent n-grams found", misses)
	}
	var empty compactTable
	if _, ok := empty.lookup(42); ok {
		t.Error("empty table found an n-gram")
	}
}

// TestLinguaWords checks the word splitting against lingua's own
// expression (constant.go in lingua-go v1.4.0).
func TestLinguaWords(t *testing.T) {
	letters := regexp.MustCompile(`\p{Han}|\p{Hangul}|\p{Hiragana}|\p{Katakana}|\p{L}+`)
	for _, s := range []string{
		"Ciao, MONDO! l'été 2024 — 東京タワー x", "abc東京 한국어 ひらがなカタカナ", "Ǆemal İstanbul ΣΟΦΙΑ",
		"नमस्ते दुनिया", "سلام دنیا", "", "   123 !!", "x",
	} {
		want := letters.FindAllString(strings.ToLower(s), -1)
		if got := linguaWords(s); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	}
}
