package lang

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/pemistahl/lingua-go"
)

// numLanguages sizes per-language arrays; lingua.Unknown is the last value.
const numLanguages = int(lingua.Unknown) + 1

// langSet is a set of lingua languages, usable as a map key.
type langSet [2]uint64

func (s *langSet) add(l lingua.Language)    { s[l/64] |= 1 << (l % 64) }
func (s *langSet) remove(l lingua.Language) { s[l/64] &^= 1 << (l % 64) }
func (s langSet) has(l lingua.Language) bool {
	return l >= 0 && int(l) < numLanguages && s[l/64]&(1<<(l%64)) != 0
}
func (s langSet) empty() bool { return s == langSet{} }

// list returns the members in lingua's order.
func (s langSet) list() []lingua.Language {
	var out []lingua.Language
	for _, l := range lingua.AllLanguages() {
		if s.has(l) {
			out = append(out, l)
		}
	}
	return out
}

// parseLanguages turns ISO 639-1 codes into lingua languages; none means
// all of them. At least two are needed.
func parseLanguages(codes []string) ([]lingua.Language, error) {
	if len(codes) == 0 {
		return lingua.AllLanguages(), nil
	}
	langs, err := parseCodes(codes)
	if err != nil {
		return nil, err
	}
	if len(langs) < 2 {
		return nil, fmt.Errorf("need at least two languages, got %v", codes)
	}
	return langs, nil
}

// parseCodes turns ISO 639-1 codes into lingua languages, without
// duplicates.
func parseCodes(codes []string) ([]lingua.Language, error) {
	var set langSet
	var langs []lingua.Language
	for _, c := range codes {
		l := languageOf(normaliseCode(c))
		if l == lingua.Unknown {
			return nil, fmt.Errorf("unknown language code %q", c)
		}
		if !set.has(l) {
			set.add(l)
			langs = append(langs, l)
		}
	}
	return langs, nil
}

// languageOf returns the lingua language of a lower-case ISO 639-1 code,
// Unknown for anything else.
func languageOf(code string) lingua.Language {
	if len(code) != 2 {
		return lingua.Unknown
	}
	iso := lingua.GetIsoCode639_1FromValue(code)
	if iso == lingua.UnknownIsoCode639_1 {
		return lingua.Unknown
	}
	return lingua.GetLanguageFromIsoCode639_1(iso)
}

// isoCode returns the lower-case ISO 639-1 code of l.
func isoCode(l lingua.Language) string {
	return strings.ToLower(l.IsoCode639_1().String())
}

// weighted is a language with a probability or score.
type weighted struct {
	lang lingua.Language
	p    float64
}

// distribution is a list of languages with probabilities, most likely
// first once sorted.
type distribution []weighted

// fromLingua keeps lingua's non-zero confidence values, most likely first.
func fromLingua(vals []lingua.ConfidenceValue) distribution {
	var out distribution
	for _, v := range vals {
		if v.Value() > 0 {
			out = append(out, weighted{v.Language(), v.Value()})
		}
	}
	out.sort()
	return out
}

func (d distribution) sort() {
	sort.SliceStable(d, func(i, j int) bool {
		if d[i].p != d[j].p {
			return d[i].p > d[j].p
		}
		return d[i].lang < d[j].lang
	})
}

// normalise scales d to sum to 1 and sorts it; an all-zero d becomes empty.
func (d *distribution) normalise() {
	sum := 0.0
	for _, w := range *d {
		sum += w.p
	}
	if sum <= 0 || math.IsNaN(sum) {
		*d = nil
		return
	}
	out := (*d)[:0]
	for _, w := range *d {
		if w.p > 0 {
			out = append(out, weighted{w.lang, w.p / sum})
		}
	}
	*d = out
	d.sort()
}

// logFloor stands in for a zero probability in one piece: lingua rounds
// its confidences to 16 decimals, so 0 means "below 1e-16", not "never".
const logFloor = -40.0

// logScores adds up the log probabilities of several lingua calls.
type logScores struct {
	sum  [numLanguages]float64
	seen langSet
}

// add adds one call's confidence values, for only the languages in keep
// when keep is not nil. An all-zero answer (no letters of the script)
// carries no information and is skipped.
func (ls *logScores) add(vals []lingua.ConfidenceValue, keep []lingua.Language) {
	if len(vals) == 0 || vals[0].Value() == 0 {
		return
	}
	var keepSet langSet
	for _, l := range keep {
		keepSet.add(l)
	}
	for _, v := range vals {
		l := v.Language()
		if keep != nil && !keepSet.has(l) {
			continue
		}
		lp := logFloor
		if v.Value() > 0 {
			lp = max(math.Log(v.Value()), logFloor)
		}
		ls.sum[l] += lp
		ls.seen.add(l)
	}
	if keep != nil {
		// Languages dropped from the race stop collecting evidence; make
		// sure they cannot win on missing terms.
		for _, l := range ls.seen.list() {
			if !keepSet.has(l) {
				ls.sum[l] += logFloor
			}
		}
	}
}

// leaders returns, in lingua's order, the languages whose summed log
// probability is within width of the best, at most max of them (the best
// ones).
func (ls *logScores) leaders(width float64, max int) []lingua.Language {
	d := ls.distribution()
	if len(d) == 0 {
		return nil
	}
	limit := d[0].p * math.Exp(-width)
	var out []lingua.Language
	for _, w := range d {
		if w.p < limit || len(out) == max {
			break
		}
		out = append(out, w.lang)
	}
	slices.Sort(out)
	return out
}

// distribution turns the summed logs into probabilities (a softmax).
func (ls *logScores) distribution() distribution {
	langs := ls.seen.list()
	if len(langs) == 0 {
		return nil
	}
	best := math.Inf(-1)
	for _, l := range langs {
		best = max(best, ls.sum[l])
	}
	out := make(distribution, 0, len(langs))
	for _, l := range langs {
		out = append(out, weighted{l, math.Exp(ls.sum[l] - best)})
	}
	out.normalise()
	return out
}
