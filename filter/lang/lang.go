// Package lang tags feed items with the language they are written in. It
// runs lingua-go's models behind a script check, caps and cleans the text,
// scores short text with lingua's high-accuracy models held in a compact
// form (ngrams.go), and lets the feed's declared and earlier languages
// settle short or ambiguous items.
package lang

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pemistahl/lingua-go"

	"babelfeed"
)

// Config chooses the languages, models and thresholds of a Detector. The
// zero Config enables every language in lingua's high-accuracy mode
// without caps or priors (lingua's own scoring, ~150 MB of models);
// DefaultConfig is what babelfeed runs.
type Config struct {
	// Languages are the ISO 639-1 codes to enable; empty means all 75
	// languages lingua knows.
	Languages []string
	// LowAccuracy uses lingua's trigram models only. When false, short text
	// (under 120 letters, where lingua's 1- to 5-gram models make a
	// difference) is re-scored with the high-accuracy models of the
	// HighAccuracy languages among its best candidates.
	LowAccuracy bool
	// HighAccuracy lists the languages whose high-accuracy models are
	// used (in a compact form, 0.2–4 MB each, ~100 MB for all 75, loaded
	// when a short text first needs them). Empty means every enabled
	// language. Ignored when LowAccuracy is set.
	HighAccuracy []string
	// Candidates is how many of the trigram models' best languages for a
	// short text (ranked with the base-rate prior) are re-scored with the
	// high-accuracy models; 0 means all of them.
	Candidates int
	// MaxChars caps the cleaned title + text handed to the models, in
	// runes, cut at a word boundary. 0 means no cap.
	MaxChars int
	// MinConfidence is the confidence below which the models' answer is not
	// trusted on its own: the feed's prior settles it (LangPrior), or,
	// without a prior, the item is "und" (with Result.Guess set).
	MinConfidence float64
	// Favoured lists languages that are a priori common in feeds. With
	// RareWeight in (0, 1), every other enabled language needs that much
	// more evidence to win. Empty means no base-rate prior.
	Favoured []string
	// RareWeight is the prior weight of a language not in Favoured,
	// relative to 1 for a favoured one. 0 or 1 means no base-rate prior.
	RareWeight float64
}

// CommonWebLanguages returns the 22 languages babelfeed favours and
// measures accuracy on: the most common content languages of the web.
func CommonWebLanguages() []string {
	return []string{
		"en", "es", "de", "fr", "it", "pt", "ru", "ja", "zh", "ar", "pl",
		"nl", "tr", "fa", "vi", "id", "ko", "uk", "cs", "sv", "he", "el",
	}
}

// DefaultConfig returns the configuration measured in docs/BENCHMARKS.md
// ("Language tagging"): all 75 languages, a 1,000-rune cap, the
// high-accuracy models of all of them in compact form (~100 MB; lingua's
// own maps would take ~1 GB), a base-rate prior for the 22 common web
// languages, and MinConfidence 0.7.
func DefaultConfig() Config {
	return Config{
		LowAccuracy:   false,
		Candidates:    defaultCandidates,
		MaxChars:      1000,
		MinConfidence: 0.7,
		Favoured:      CommonWebLanguages(),
		RareWeight:    0.2,
	}
}

// Result is the language decided for one item.
type Result struct {
	// Lang is an ISO 639-1 code in lower case, or babelfeed.Undetermined.
	Lang string
	// Confidence is the probability the tagger gives Lang (for "und", the
	// probability of Guess; 0 for LangDeclared, which had no text to
	// measure), between 0 and 1.
	Confidence float64
	// Method says how Lang was decided.
	Method babelfeed.LangMethod
	// Guess is the models' best language even when it was not trusted
	// enough to become Lang; "" when the text gave nothing to go on.
	Guess string
}

const (
	// minLetters is the fewest letters worth handing to the models.
	minLetters = 3
	// shortLetters is where lingua switches from 1- to 5-grams to trigrams
	// only; below it the high-accuracy models matter.
	shortLetters = 120
	// pieceTrigrams bounds the trigrams of one lingua call on long text so
	// that its probabilities stay within float64 range: past ~100 trigrams
	// lingua falls back to arbitrary-precision decimals, 10x slower.
	pieceTrigrams = 40
	// firstPieceTrigrams is the size of the first piece of a long text, the
	// one scored for every language of its script: the most expensive
	// lingua call, kept small.
	firstPieceTrigrams = 20
	// defaultCandidates is how many of the trigram models' best languages
	// go on to the high-accuracy models (short text).
	defaultCandidates = 5
	// beamWidth is how far, in summed log probability (nats), a language
	// may trail the leader of a long text and still be scored on its next
	// piece; maxBeam caps how many are. Odds of e^12 (160,000 to 1) that
	// later pieces, samples of the same text, almost never reverse: on
	// feed-like items (docs/BENCHMARKS.md) the default is as accurate as
	// lingua scoring every trigram for every language.
	beamWidth = 12.0
	maxBeam   = 16
)

// Detector tags text with its language. It is safe for concurrent use;
// build one and share it: the models are loaded once per process.
type Detector struct {
	cfg     Config
	enabled langSet
	// high are the languages whose high-accuracy models short text may be
	// re-scored with: those of HighAccuracy that lingua has n-gram models
	// for.
	high    langSet
	weight  [numLanguages]float64 // base-rate prior per language
	feed    feedPriorParams
	groups  map[script]*group
	subsets subsetCache
}

// group is the set of enabled languages sharing a script, with the
// trigram detector restricted to them.
type group struct {
	langs []lingua.Language
	low   lingua.LanguageDetector // nil when fewer than two languages
	// lowNoKazakh leaves Kazakh out, for Cyrillic text without any
	// letter Kazakh has and Russian and Ukrainian lack (see kazakhLetters).
	lowNoKazakh lingua.LanguageDetector
}

// New builds a Detector and loads the trigram models of its languages (a
// second or two for all of them; models loaded before in this process are
// shared). The compact high-accuracy models of a language are loaded the
// first time a short text needs them, in ~0.1 s each. Unknown language codes are an error.
func New(cfg Config) (*Detector, error) {
	enabled, err := parseLanguages(cfg.Languages)
	if err != nil {
		return nil, fmt.Errorf("build language detector: languages: %w", err)
	}
	if cfg.MinConfidence < 0 || cfg.MinConfidence > 1 {
		return nil, fmt.Errorf("build language detector: MinConfidence %v outside [0, 1]", cfg.MinConfidence)
	}
	if cfg.RareWeight < 0 || cfg.RareWeight > 1 {
		return nil, fmt.Errorf("build language detector: RareWeight %v outside [0, 1]", cfg.RareWeight)
	}
	if cfg.Candidates < 0 {
		return nil, fmt.Errorf("build language detector: negative Candidates %d", cfg.Candidates)
	}
	if cfg.MaxChars < 0 {
		return nil, fmt.Errorf("build language detector: negative MaxChars %d", cfg.MaxChars)
	}
	d := &Detector{cfg: cfg, feed: defaultFeedPrior(), groups: make(map[script]*group)}
	for _, l := range enabled {
		d.enabled.add(l)
	}
	if !cfg.LowAccuracy {
		if len(cfg.HighAccuracy) == 0 {
			d.high = d.enabled
		} else {
			high, err := parseLanguages(cfg.HighAccuracy)
			if err != nil {
				return nil, fmt.Errorf("build language detector: high-accuracy languages: %w", err)
			}
			for _, l := range high {
				if d.enabled.has(l) {
					d.high.add(l)
				}
			}
		}
	}
	if err := d.setWeights(); err != nil {
		return nil, fmt.Errorf("build language detector: %w", err)
	}
	for _, sc := range []script{scLatin, scCyrillic, scArabic, scDevanagari} {
		g := &group{}
		for _, l := range groupLanguages(sc) {
			if d.enabled.has(l) {
				g.langs = append(g.langs, l)
			}
		}
		if len(g.langs) >= 2 {
			g.low = buildLow(g.langs)
			if i := slices.Index(g.langs, lingua.Kazakh); i >= 0 {
				if rest := slices.Delete(slices.Clone(g.langs), i, i+1); len(rest) >= 2 {
					g.lowNoKazakh = buildLow(rest)
				}
			}
		}
		d.groups[sc] = g
	}
	if err := d.checkHigh(); err != nil {
		return nil, fmt.Errorf("build language detector: %w", err)
	}
	return d, nil
}

// buildLow builds a trigram-only detector and loads its models now, so that
// the first items do not pay for it and memory use is known after New.
func buildLow(langs []lingua.Language) lingua.LanguageDetector {
	return lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).
		WithLowAccuracyMode().WithPreloadedLanguageModels().Build()
}

// checkHigh keeps the high-accuracy languages that have n-gram models
// (not those decided by their script) and makes sure lingua's model files
// are there: the models themselves are loaded when a short text first
// needs them (see compactModelsOf).
func (d *Detector) checkHigh() error {
	for _, l := range d.high.list() {
		if _, ok := soleLanguageScript(l); ok || l == lingua.Chinese || l == lingua.Japanese {
			d.high.remove(l)
			continue
		}
		if err := checkModelFiles(l); err != nil {
			return err
		}
	}
	return nil
}

func soleLanguageScript(l lingua.Language) (script, bool) {
	for sc, sl := range soleLanguage {
		if sl == l {
			return sc, true
		}
	}
	return scNone, false
}

// setWeights fills the base-rate prior.
func (d *Detector) setWeights() error {
	for i := range d.weight {
		d.weight[i] = 1
	}
	w := d.cfg.RareWeight
	if len(d.cfg.Favoured) == 0 || w == 0 || w == 1 {
		return nil
	}
	fav, err := parseCodes(d.cfg.Favoured)
	if err != nil {
		return fmt.Errorf("favoured languages: %w", err)
	}
	var favoured langSet
	for _, l := range fav {
		favoured.add(l)
	}
	for _, l := range lingua.AllLanguages() {
		if !favoured.has(l) {
			d.weight[l] = w
		}
	}
	return nil
}

// Detect tags title and text. declared is the feed-declared language ("" if
// none; region suffixes such as "pt-BR" are accepted); prior counts the
// languages of the feed's earlier items by ISO 639-1 code (may be nil).
// Text is cleaned first: NFC, no URLs, no e-mail addresses.
func (d *Detector) Detect(title, text, declared string, prior map[string]int) Result {
	return d.decide(d.evidence(title, text), d.parseDeclared(declared), prior, d.cfg.MinConfidence, d.feed)
}

// evidence cleans and caps title and text and returns what the text alone
// says: the likelihood of each language times the base-rate prior,
// normalised, most likely first; empty when there is nothing to go on.
func (d *Detector) evidence(title, text string) distribution {
	s := joinTitle(title, text)
	if d.cfg.MaxChars > 0 && len(s) > 8*d.cfg.MaxChars {
		// Cleaning a long article costs more than tagging it: cut it first,
		// leaving room for the URLs cleaning removes (8 bytes per rune
		// allow for 4-byte runes and as much markup again).
		s = truncate(s, 4*d.cfg.MaxChars)
	}
	s = truncate(clean(s), d.cfg.MaxChars)
	st := statsOf(s)
	if !st.usable() {
		return nil
	}
	dist := d.likelihood(s, &st)
	for i := range dist {
		dist[i].p *= d.weight[dist[i].lang]
	}
	dist.normalise()
	return dist
}

// decide turns the text's evidence, the feed's declared language and the
// languages of its earlier items into a Result.
func (d *Detector) decide(dist distribution, decl lingua.Language, prior map[string]int, minConf float64, fpp feedPriorParams) Result {
	if len(dist) == 0 {
		if decl != lingua.Unknown {
			return Result{Lang: isoCode(decl), Method: babelfeed.LangDeclared}
		}
		return Result{Lang: babelfeed.Undetermined, Method: babelfeed.LangUndetermined}
	}
	top := dist[0]
	guess := isoCode(top.lang)
	if top.p >= minConf {
		return Result{Lang: guess, Confidence: top.p, Method: babelfeed.LangDetected, Guess: guess}
	}
	fp := d.feedPrior(decl, prior, fpp)
	if fp == nil {
		return Result{Lang: babelfeed.Undetermined, Confidence: top.p, Method: babelfeed.LangUndetermined, Guess: guess}
	}
	post := slices.Clone(dist)
	for i := range post {
		post[i].p *= fp[post[i].lang]
	}
	post.normalise()
	return Result{Lang: isoCode(post[0].lang), Confidence: post[0].p, Method: babelfeed.LangPrior, Guess: guess}
}

// likelihood scores the cleaned text: by its script when that names the
// language, else with lingua's models for the languages of its script.
// The result sums to 1, or is empty when nothing could be told.
func (d *Detector) likelihood(s string, st *textStats) distribution {
	sc := st.dominant()
	if l, ok := soleLanguage[sc]; ok {
		if !d.enabled.has(l) {
			return nil
		}
		return distribution{{l, 1}}
	}
	if sc == scHan {
		return d.hanKana(st)
	}
	g := d.groups[sc]
	if g == nil || len(g.langs) == 0 {
		return nil
	}
	if g.low == nil {
		return distribution{{g.langs[0], 1}}
	}
	low := g.low
	if g.lowNoKazakh != nil && !strings.ContainsAny(s, kazakhLetters) {
		low = g.lowNoKazakh
	}
	var dist distribution
	if st.letters >= shortLetters {
		dist = d.scoreLong(low, s)
	} else {
		dist = d.scoreShort(low, s)
	}
	dist.normalise()
	return dist
}

// hanKana tells Chinese from Japanese. Kana mean Japanese (a lone kana in a
// long Chinese text proves less). Han alone is Chinese, but short all-kanji
// Japanese headlines exist: under 20 ideographs the odds stay below the
// default MinConfidence, so that a Japanese feed's prior can settle them.
func (d *Detector) hanKana(st *textStats) distribution {
	zh, ja := d.enabled.has(lingua.Chinese), d.enabled.has(lingua.Japanese)
	han, kana := st.byScript[scHan], st.byScript[scKana]
	var pJa float64
	switch {
	case kana >= 3 || kana*20 >= han+kana:
		pJa = 1
	case kana > 0:
		pJa = 0.6
	case han < 10:
		pJa = 0.45
	case han < 20:
		pJa = 0.35
	default:
		pJa = 0.05
	}
	switch {
	case zh && ja:
		if pJa >= 1 {
			return distribution{{lingua.Japanese, 1}}
		}
		return distribution{{lingua.Chinese, 1 - pJa}, {lingua.Japanese, pJa}}
	case ja:
		return distribution{{lingua.Japanese, 1}}
	case zh && kana == 0:
		return distribution{{lingua.Chinese, 1}}
	}
	return nil
}

// scoreShort scores text under shortLetters letters: trigram models over
// the script's languages, then the high-accuracy models of the best
// candidates that have them.
func (d *Detector) scoreShort(low lingua.LanguageDetector, s string) distribution {
	dist := fromLingua(low.ComputeLanguageConfidenceValues(s))
	if len(dist) < 2 || d.high.empty() {
		return dist
	}
	// Rank by the base-rate prior too, so that common languages get to the
	// expensive models first.
	ranked := slices.Clone(dist)
	for i := range ranked {
		ranked[i].p *= d.weight[ranked[i].lang]
	}
	ranked.sort()
	if k := d.cfg.Candidates; k > 0 && k < len(ranked) {
		ranked = ranked[:k]
	}
	var cands []lingua.Language
	var models []*compactModels
	for _, c := range ranked {
		if !d.high.has(c.lang) {
			continue
		}
		// An error (a model file that does not decode) leaves the language
		// with its trigram score; New checked that the files are there.
		if m, err := compactModelsOf(c.lang); err == nil {
			cands = append(cands, c.lang)
			models = append(models, m)
		}
	}
	if len(cands) < 2 {
		return dist
	}
	hv := compactDistribution(s, cands, models)
	if len(hv) == 0 {
		return dist
	}
	// The candidates keep the share the trigram models gave them together
	// and split it as the high-accuracy models say.
	mass := 0.0
	for _, c := range dist {
		if slices.Contains(cands, c.lang) {
			mass += c.p
		}
	}
	out := dist[:0:0]
	for _, c := range dist {
		if !slices.Contains(cands, c.lang) {
			out = append(out, c)
		}
	}
	for _, h := range hv {
		out = append(out, weighted{h.lang, mass * h.p})
	}
	return out
}

// scoreLong scores text of shortLetters letters or more in pieces (see
// trigramPieces), multiplying the pieces' probabilities (adding their
// logs). The first piece is scored for every language of the script; after
// each piece, languages that fall beamWidth behind the leader are dropped,
// and scoring stops once one language is left.
func (d *Detector) scoreLong(low lingua.LanguageDetector, s string) distribution {
	var logs logScores
	var active []lingua.Language // nil: all of low's languages
	det := low
	for i, piece := range trigramPieces(s, firstPieceTrigrams, pieceTrigrams) {
		if i > 0 && len(active) == 1 {
			break // every other language trails by beamWidth or more
		}
		logs.add(det.ComputeLanguageConfidenceValues(piece), active)
		keep := logs.leaders(beamWidth, maxBeam)
		if len(keep) == 0 || slices.Equal(keep, active) {
			continue
		}
		active = keep
		if len(active) >= 2 {
			det = d.subset(active)
		}
	}
	return logs.distribution()
}

// subset returns a trigram-only detector for exactly langs (at least
// two), cached. Building one is cheap; the models are shared by all
// detectors.
func (d *Detector) subset(langs []lingua.Language) lingua.LanguageDetector {
	var key langSet
	for _, l := range langs {
		key.add(l)
	}
	if det, ok := d.subsets.m.Load(key); ok {
		return det.(lingua.LanguageDetector)
	}
	det := lingua.NewLanguageDetectorBuilder().FromLanguages(slices.Clone(langs)...).
		WithLowAccuracyMode().Build()
	if d.subsets.n.Add(1) <= maxCachedSubsets {
		d.subsets.m.Store(key, det)
	}
	return det
}

// maxCachedSubsets bounds the detector cache; past it, detectors are built
// per call (tens of microseconds).
const maxCachedSubsets = 4096

type subsetCache struct {
	m sync.Map // langSet → lingua.LanguageDetector
	n atomic.Int64
}

// feedPriorParams shape the feed prior.
type feedPriorParams struct {
	// floor is the weight of a language the feed never showed nor
	// declared.
	floor float64
	// declared is the weight added for the declared language; declarations
	// are often wrong, so it counts for less than a long history (whose
	// weights add up to 1).
	declared float64
	// halfItems is the history length at which the history counts half:
	// a history of a few items is weaker evidence than one of hundreds.
	halfItems float64
}

// defaultFeedPrior returns the feed prior measured best in feed context
// (docs/BENCHMARKS.md); the differences between nearby values are tenths
// of a percent.
func defaultFeedPrior() feedPriorParams {
	return feedPriorParams{floor: 0.02, declared: 0.25, halfItems: 2}
}

// feedPrior weighs languages by the feed's declaration and its earlier
// items; nil when the feed tells nothing.
func (d *Detector) feedPrior(decl lingua.Language, prior map[string]int, fpp feedPriorParams) *[numLanguages]float64 {
	total := 0
	for code, n := range prior {
		if l := languageOf(code); n > 0 && d.enabled.has(l) {
			total += n
		}
	}
	if total == 0 && decl == lingua.Unknown {
		return nil
	}
	var p [numLanguages]float64
	for i := range p {
		p[i] = fpp.floor
	}
	if total > 0 {
		shrink := float64(total) / (float64(total) + fpp.halfItems)
		for code, n := range prior {
			if l := languageOf(code); n > 0 && d.enabled.has(l) {
				p[l] += shrink * float64(n) / float64(total)
			}
		}
	}
	if decl != lingua.Unknown {
		p[decl] += fpp.declared
	}
	return &p
}

// parseDeclared returns the enabled language a feed declares, or Unknown.
func (d *Detector) parseDeclared(code string) lingua.Language {
	l := languageOf(normaliseCode(code))
	if !d.enabled.has(l) {
		return lingua.Unknown
	}
	return l
}

// joinTitle joins the title and body with a sentence break so that the last
// word of the title and the first of the body do not glue together.
func joinTitle(title, text string) string {
	switch {
	case title == "":
		return text
	case text == "":
		return title
	}
	return title + ". " + text
}

// normaliseCode lower-cases a language code and drops its region
// ("pt-BR" → "pt", "IT-it" → "it").
func normaliseCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	return code
}
